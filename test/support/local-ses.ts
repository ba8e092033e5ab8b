/**
 * The tests' SES: the sandbox's own (sandbox/src/messaging.ts: SES API v2 SendEmail behind the
 * sandbox's local AWS endpoint, REST-JSON, each message written to an outbox), recording each
 * message as the real SDK serialized it. Point clients at it with AWS_ENDPOINT_URL_SESV2.
 * `failNext` makes the next calls fail (retry tests).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AwsError, LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalSes as SandboxSes, Outbox } from '../../sandbox/src/messaging';

export interface RecordedEmail {
  /** The MessageId SES answered. */
  readonly messageId: string;
  readonly from: string;
  readonly to: string[];
  readonly cc: string[];
  readonly bcc: string[];
  readonly subject: string;
  readonly text: string | undefined;
  readonly html: string | undefined;
  readonly configurationSetName: string | undefined;
  readonly tags: Array<{ Name: string; Value: string }>;
  /** The request as the SDK serialized it (JSON). */
  readonly raw: string;
}

export interface LocalSes {
  readonly endpoint: string;
  readonly emails: RecordedEmail[];
  /** Fails the next n SendEmail calls with the given error (default: a throttling error, which the SDK retries). */
  failNext(n: number, error?: { status: number; type: string; message: string }): void;
  clear(): void;
  close(): Promise<void>;
}

/** The sandbox's SES, recording each accepted message and failing on demand. */
class RecordingSes extends SandboxSes {
  readonly emails: RecordedEmail[] = [];
  failures = 0;
  failure = { status: 429, type: 'TooManyRequestsException', message: 'Too many requests' };

  send(input: any): string {
    if (this.failures > 0) {
      this.failures--;
      throw new AwsError(this.failure.type, this.failure.message, this.failure.status);
    }
    const messageId = super.send(input);
    const simple = input.Content?.Simple;
    this.emails.push({
      messageId,
      from: input.FromEmailAddress,
      to: input.Destination?.ToAddresses ?? [],
      cc: input.Destination?.CcAddresses ?? [],
      bcc: input.Destination?.BccAddresses ?? [],
      subject: simple?.Subject?.Data,
      text: simple?.Body?.Text?.Data,
      html: simple?.Body?.Html?.Data,
      configurationSetName: input.ConfigurationSetName,
      tags: input.EmailTags ?? [],
      raw: JSON.stringify(input),
    });
    return messageId;
  }
}

export async function startLocalSes(): Promise<LocalSes> {
  const outboxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-ses-'));
  const ses = new RecordingSes(new Outbox(outboxDir));
  const api = new LocalAwsApi();
  ses.register(api);
  const endpoint = await api.listen(0);
  return {
    endpoint,
    emails: ses.emails,
    failNext: (n, error) => {
      ses.failures = n;
      if (error) ses.failure = error;
    },
    clear: () => {
      ses.emails.length = 0;
    },
    async close() {
      await api.close();
      fs.rmSync(outboxDir, { recursive: true, force: true });
    },
  };
}
