/**
 * A local stand-in for SES API v2 SendEmail (REST-JSON, POST /v2/email/outbound-emails): records
 * each message as the real SDK serialized it and answers with a MessageId. Point clients at it
 * with AWS_ENDPOINT_URL_SESV2. `failNext` makes the next calls fail (retry tests).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface RecordedEmail {
  readonly from: string;
  readonly to: string[];
  readonly cc: string[];
  readonly bcc: string[];
  readonly subject: string;
  readonly text: string | undefined;
  readonly html: string | undefined;
  readonly configurationSetName: string | undefined;
  readonly tags: Array<{ Name: string; Value: string }>;
  /** The request body as sent. */
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

export async function startLocalSes(): Promise<LocalSes> {
  const emails: RecordedEmail[] = [];
  let failures = 0;
  let failure = { status: 429, type: 'TooManyRequestsException', message: 'Too many requests' };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const reply = (status: number, payload: unknown, type?: string) => {
        res.writeHead(status, { 'content-type': 'application/json', ...(type ? { 'x-amzn-errortype': type } : {}) });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST' || req.url !== '/v2/email/outbound-emails') {
        return reply(404, { message: `Unsupported operation ${req.method} ${req.url}` }, 'NotFoundException');
      }
      if (failures > 0) {
        failures--;
        return reply(failure.status, { message: failure.message }, failure.type);
      }
      const body = JSON.parse(raw || '{}');
      const simple = body.Content?.Simple;
      if (!body.FromEmailAddress || !simple?.Subject?.Data) return reply(400, { message: 'FromEmailAddress and a simple message are required' }, 'BadRequestException');
      emails.push({
        from: body.FromEmailAddress,
        to: body.Destination?.ToAddresses ?? [],
        cc: body.Destination?.CcAddresses ?? [],
        bcc: body.Destination?.BccAddresses ?? [],
        subject: simple.Subject.Data,
        text: simple.Body?.Text?.Data,
        html: simple.Body?.Html?.Data,
        configurationSetName: body.ConfigurationSetName,
        tags: body.EmailTags ?? [],
        raw,
      });
      return reply(200, { MessageId: `local-${emails.length}-${Date.now()}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    emails,
    failNext: (n, error) => {
      failures = n;
      if (error) failure = error;
    },
    clear: () => {
      emails.length = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
