/**
 * Attempts that fail, driven through a local SQS queue as the event source mapping would: each
 * failed attempt comes back after a short, growing delay (the handler changes the message's
 * visibility), and the last one announces `Ingestion Failed` with `final: true` whatever failed —
 * the database refusing every connection, the secret unreadable, S3 down.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { BUCKET, IngestHarness, lambdaContext, sqsEvent, startIngestHarness } from './support/ingest-harness';
import { freePort } from './support/local-postgres';
import { s3Notification } from './support/local-s3';
import { captureLogLines, expectLambdaContext } from './support/log-capture';
import { retryDelaySeconds } from '../lambda/ingestion-pipeline/retry';
import { LocalAwsApi } from '../sandbox/src/aws-api';
import { LocalQueue, LocalQueues } from '../sandbox/src/queues';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

const sqsRecordFor = (key: string) => sqsEvent([{ body: s3Notification(BUCKET, key) }]).Records[0];
const VISIBILITY_TIMEOUT = 5400; // the construct's default: six times the 15-minute function timeout

describe('ingest handler: failed attempts back off, the last one is announced', () => {
  let h: IngestHarness;
  // The sandbox's SQS on its local AWS endpoint, its clock moved forward by the test (no waiting minutes).
  let clockOffset = 0;
  const queues = new LocalQueues(() => Date.now() + clockOffset);
  const api = new LocalAwsApi();
  let queue: LocalQueue;
  let dlq: LocalQueue;
  let client: SQSClient;

  beforeAll(async () => {
    queues.register(api);
    const endpoint = await api.listen(0);
    const spec = (name: string) => ({ name, arn: `arn:aws:sqs:us-east-1:123456789012:${name}`, url: `${endpoint}/123456789012/${name}` });
    dlq = queues.add({ ...spec('raw-data-events-dlq'), visibilityTimeoutSeconds: 30 });
    queue = queues.add({ ...spec('raw-data-events'), visibilityTimeoutSeconds: VISIBILITY_TIMEOUT, deadLetter: { arn: dlq.spec.arn, maxReceiveCount: 3 } });
    // Nothing listens on this port: the database refuses every connection.
    h = await startIngestHarness([BuiltInSources.crmCustomers()], {
      DB_PORT: String(await freePort()),
      AWS_ENDPOINT_URL_SQS: endpoint,
      QUEUE_URL: queue.spec.url,
    });
    client = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  });
  afterAll(async () => {
    client?.destroy();
    await h?.close();
    await Promise.all([queues.stop(), api.close()]);
  });

  /** One poll of the event source mapping: receive, invoke, delete what succeeded. */
  async function poll(): Promise<{ received: number; response?: SQSBatchResponse }> {
    const out = await client.send(new ReceiveMessageCommand({ QueueUrl: queue.spec.url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return { received: 0 };
    const event: SQSEvent = {
      Records: messages.map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: { ApproximateReceiveCount: m.Attributes!.ApproximateReceiveCount!, SentTimestamp: '0', SenderId: 's3', ApproximateFirstReceiveTimestamp: '0' },
        messageAttributes: {},
        md5OfBody: m.MD5OfBody!,
        eventSource: 'aws:sqs',
        eventSourceARN: queue.spec.arn,
        awsRegion: 'us-east-1',
      })),
    };
    const response = await h.handler(event, lambdaContext());
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of messages.filter((x) => !failed.has(x.MessageId!))) {
      await client.send(new DeleteMessageCommand({ QueueUrl: queue.spec.url, ReceiptHandle: m.ReceiptHandle! }));
    }
    return { received: messages.length, response };
  }

  /** Seconds until the message can be received again, found by moving the queue's clock. */
  async function secondsUntilVisible(): Promise<number> {
    for (let s = 1; s <= VISIBILITY_TIMEOUT + 1; s++) {
      clockOffset += 1000;
      const m = queue.messages[0];
      if (m.visibleAt <= queues.now()) return s;
    }
    throw new Error('the message never became visible');
  }

  const eventsFor = (key: string) => h.eventBridge.events.filter((e) => e.detail.objectKey === key);

  test('the database refusing connections on every attempt: delays of ~10 s and ~40 s, then Ingestion Failed (final) and the DLQ', async () => {
    const key = 'crm-data/refused.ndjson';
    await h.put(key, '{"customer_id": "R1", "name": "Refused"}\n');
    await client.send(new SendMessageCommand({ QueueUrl: queue.spec.url, MessageBody: JSON.stringify(s3Notification(BUCKET, key)) }));

    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { received, response } = await poll();
      expect(received).toBe(1);
      expect(response!.batchItemFailures).toHaveLength(1);
      if (attempt < 3) {
        expect(eventsFor(key)).toEqual([]);
        // Not receivable a moment before the delay ends, receivable when it does.
        delays.push(await secondsUntilVisible());
      }
    }
    expect(queue.visibilityChanges.slice(0, 2).map((c) => c.seconds)).toEqual(delays);
    expect(delays[0]).toBeGreaterThanOrEqual(8);
    expect(delays[0]).toBeLessThanOrEqual(12);
    expect(delays[1]).toBeGreaterThanOrEqual(32);
    expect(delays[1]).toBeLessThanOrEqual(48);

    const events = eventsFor(key);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      detailType: 'Ingestion Failed',
      detail: { final: true, sourceName: 'crm-customers', manifestKey: null, counts: null, error: { code: 'database_unavailable' } },
    });
    expect(events[0].detail.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[0].detail.error.message).toMatch(/^Attempt 3 failed and was the last one; the message goes to the dead-letter queue: .*ECONNREFUSED/);

    // The last attempt makes the message visible at once: the next receive moves it to the DLQ,
    // without waiting for the visibility timeout.
    expect(queue.visibilityChanges.map((c) => c.seconds)).toEqual([...delays, 0]);
    expect((await poll()).received).toBe(0);
    expect(dlq.messages).toHaveLength(1);
    expect(queue.messages).toHaveLength(0);
  });

  test('the handler\'s log lines carry the Lambda context (request id, cold start)', async () => {
    const key = 'crm-data/logged.ndjson';
    await h.put(key, '{"customer_id": "L1", "name": "Logged"}\n');
    const context = lambdaContext();
    const event: SQSEvent = { Records: [{ ...sqsRecordFor(key), receiptHandle: 'rh-logged' }] };
    const { lines } = await captureLogLines(() => h.handler(event, context));
    expectLambdaContext(lines.find((l) => l.message === 'Object ingestion failed'), context.awsRequestId);
  });

  test('the delay schedule: 10 s × 4^(n-1), capped at 15 minutes, ±20 %', () => {
    expect([1, 2, 3, 4, 5, 9].map((n) => retryDelaySeconds(n, 0.5))).toEqual([10, 40, 160, 640, 900, 900]);
    expect([1, 2, 5].map((n) => [retryDelaySeconds(n, 0), retryDelaySeconds(n, 0.999999)])).toEqual([[8, 12], [32, 48], [720, 1080]]);
  });

  test('the secret cannot be read: the last attempt says secret_unavailable', async () => {
    const saved = process.env.DB_SECRET_ARN;
    process.env.DB_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret';
    try {
      const key = 'crm-data/no-secret.ndjson';
      await h.put(key, '{"customer_id": "S1", "name": "Secret"}\n');
      const response = await h.deliver(key, { receiveCount: 3, messageId: 'm-secret' });
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-secret' }]);
      expect(eventsFor(key)).toEqual([expect.objectContaining({ detail: expect.objectContaining({ final: true, error: expect.objectContaining({ code: 'secret_unavailable' }) }) })]);
      expect(eventsFor(key)[0].detail.error.message).toMatch(/can't find the specified secret/);
    } finally {
      process.env.DB_SECRET_ARN = saved;
    }
  });

  test('S3 down: the last attempt says object_unreadable (earlier ones send nothing)', async () => {
    const key = 'crm-data/s3-down.ndjson';
    await h.put(key, '{"customer_id": "D1", "name": "Down"}\n');
    await h.localS3.close();
    const first = await h.deliver(key, { receiveCount: 1, messageId: 'm-s3-1' });
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm-s3-1' }]);
    expect(eventsFor(key)).toEqual([]);
    const last = await h.deliver(key, { receiveCount: 3, messageId: 'm-s3-3' });
    expect(last.batchItemFailures).toEqual([{ itemIdentifier: 'm-s3-3' }]);
    expect(eventsFor(key)).toHaveLength(1);
    expect(eventsFor(key)[0].detail).toMatchObject({ final: true, runId: null, sourceName: 'crm-customers', error: { code: 'object_unreadable' } });
  });
});
