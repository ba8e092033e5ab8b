/**
 * The tests' SNS: the sandbox's own (sandbox/src/messaging.ts behind the sandbox's local AWS
 * endpoint, the query protocol the SDK speaks), recording what was published. Publishing to a
 * topic not registered with `addTopic` fails with NotFound, as SNS does; `failNext` injects
 * SNS's throttling error (HTTP 429 Throttled).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SNSClient } from '@aws-sdk/client-sns';
import { AwsError, LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalSns as SandboxSns, Outbox } from '../../sandbox/src/messaging';

export interface PublishedMessage {
  readonly topicArn: string;
  readonly message: string;
  readonly subject?: string;
  readonly messageAttributes: Record<string, { dataType: string; value: string }>;
  readonly messageId: string;
}

export interface LocalSns {
  readonly endpoint: string;
  /** The sandbox's SNS itself (for the sandbox's other services, e.g. Step Functions' sns:publish). */
  readonly service: SandboxSns;
  readonly client: SNSClient;
  readonly published: PublishedMessage[];
  /** Messages published to one topic, their JSON bodies parsed. */
  messagesTo(topicArn: string): any[];
  /** Registers a topic (only registered topics accept messages). */
  addTopic(topicArn: string): void;
  /** Fails the next n Publish calls with SNS's throttling error (HTTP 429 Throttled). */
  failNext(n: number): void;
  clear(): void;
  close(): Promise<void>;
}

/** The sandbox's SNS, recording each accepted message and failing on demand. */
class RecordingSns extends SandboxSns {
  readonly published: PublishedMessage[] = [];
  failures = 0;

  publish(topicArn: string, message: string, subject?: string, attributes: Record<string, { DataType: string; StringValue?: string }> = {}): string {
    if (this.failures > 0) {
      this.failures--;
      throw new AwsError('Throttled', 'Rate exceeded', 429);
    }
    const messageId = super.publish(topicArn, message, subject, attributes);
    const messageAttributes = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { dataType: v.DataType, value: v.StringValue ?? '' }]));
    this.published.push({ topicArn, message, subject, messageAttributes, messageId });
    return messageId;
  }
}

export async function startLocalSns(region = 'us-east-1'): Promise<LocalSns> {
  const outboxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sns-'));
  const sns = new RecordingSns(new Outbox(outboxDir), async () => undefined, region);
  const api = new LocalAwsApi();
  sns.register(api);
  const endpoint = await api.listen(0);
  const client = new SNSClient({ endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  return {
    endpoint,
    service: sns,
    client,
    published: sns.published,
    messagesTo: (topicArn) => sns.published.filter((m) => m.topicArn === topicArn).map((m) => JSON.parse(m.message)),
    addTopic: (topicArn) => sns.addTopic(topicArn, topicArn.split(':').pop()!),
    failNext: (n) => {
      sns.failures = n;
    },
    clear: () => {
      sns.published.length = 0;
    },
    async close() {
      client.destroy();
      await api.close();
      fs.rmSync(outboxDir, { recursive: true, force: true });
    },
  };
}
