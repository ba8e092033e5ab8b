/**
 * A local SQS (JSON 1.0 protocol, what the SDK v3 client speaks): queues with visibility timeouts,
 * receive counts, ChangeMessageVisibility and a redrive to a dead-letter queue after
 * maxReceiveCount receives. Its clock can be moved forward (`advance`), so a test sees when a
 * message becomes visible again without waiting minutes. Point clients at it with AWS_ENDPOINT_URL_SQS.
 */
import { createHash, randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface LocalMessage {
  readonly messageId: string;
  readonly body: string;
  receiveCount: number;
  /** Local clock time (ms) from which the message can be received. */
  visibleAt: number;
  receiptHandle?: string;
}

export interface LocalSqsQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  readonly messages: LocalMessage[];
  readonly deadLetter?: { queue: LocalSqsQueue; maxReceiveCount: number };
  /** Every ChangeMessageVisibility accepted: the timeout asked for, at which local time. */
  readonly visibilityChanges: Array<{ messageId: string; seconds: number; at: number }>;
}

export interface QueueOptions {
  readonly visibilityTimeoutSeconds?: number;
  readonly deadLetter?: { queue: LocalSqsQueue; maxReceiveCount: number };
}

export interface LocalSqs {
  readonly endpoint: string;
  createQueue(name: string, options?: QueueOptions): LocalSqsQueue;
  /** The local clock (ms). */
  now(): number;
  /** Moves the local clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

export async function startLocalSqs(): Promise<LocalSqs> {
  const queues = new Map<string, LocalSqsQueue>();
  let offset = 0;
  const now = () => Date.now() + offset;
  let port = 0;

  class SqsError extends Error {
    constructor(readonly type: string, message: string, readonly status = 400) {
      super(message);
    }
  }
  const queueOf = (url: unknown): LocalSqsQueue => {
    const q = queues.get(String(url));
    if (!q) throw new SqsError('QueueDoesNotExist', `The specified queue does not exist: ${url}`);
    return q;
  };
  const inFlight = (q: LocalSqsQueue, handle: unknown): LocalMessage => {
    const m = q.messages.find((x) => x.receiptHandle === handle);
    if (!m) throw new SqsError('ReceiptHandleIsInvalid', `The receipt handle "${handle}" is not valid.`);
    if (m.visibleAt <= now()) throw new SqsError('MessageNotInflight', 'The message is not in flight.');
    return m;
  };

  const operations: Record<string, (input: any) => unknown> = {
    SendMessage(input) {
      const q = queueOf(input.QueueUrl);
      const visibleAt = now() + (input.DelaySeconds ?? 0) * 1000;
      const m: LocalMessage = { messageId: randomUUID(), body: String(input.MessageBody), receiveCount: 0, visibleAt };
      q.messages.push(m);
      return { MessageId: m.messageId, MD5OfMessageBody: md5(m.body) };
    },
    ReceiveMessage(input) {
      const q = queueOf(input.QueueUrl);
      const max = input.MaxNumberOfMessages ?? 1;
      const out: LocalMessage[] = [];
      for (const m of [...q.messages]) {
        if (out.length >= max) break;
        if (m.visibleAt > now()) continue;
        if (q.deadLetter && m.receiveCount >= q.deadLetter.maxReceiveCount) {
          q.messages.splice(q.messages.indexOf(m), 1);
          q.deadLetter.queue.messages.push({ messageId: m.messageId, body: m.body, receiveCount: 0, visibleAt: now() });
          continue;
        }
        m.receiveCount++;
        m.receiptHandle = randomUUID();
        m.visibleAt = now() + (input.VisibilityTimeout ?? q.visibilityTimeoutSeconds) * 1000;
        out.push(m);
      }
      return {
        Messages: out.map((m) => ({
          MessageId: m.messageId,
          ReceiptHandle: m.receiptHandle,
          Body: m.body,
          MD5OfBody: md5(m.body),
          Attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(now()) },
        })),
      };
    },
    ChangeMessageVisibility(input) {
      const q = queueOf(input.QueueUrl);
      const seconds = Number(input.VisibilityTimeout);
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
        throw new SqsError('InvalidParameterValue', `Value ${input.VisibilityTimeout} for parameter VisibilityTimeout is invalid (0 to 43200).`);
      }
      const m = inFlight(q, input.ReceiptHandle);
      m.visibleAt = now() + seconds * 1000;
      q.visibilityChanges.push({ messageId: m.messageId, seconds, at: now() });
      return {};
    },
    DeleteMessage(input) {
      const q = queueOf(input.QueueUrl);
      const i = q.messages.findIndex((x) => x.receiptHandle === input.ReceiptHandle);
      if (i < 0) throw new SqsError('ReceiptHandleIsInvalid', `The receipt handle "${input.ReceiptHandle}" is not valid.`);
      q.messages.splice(i, 1);
      return {};
    },
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(payload));
      };
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
      try {
        const fn = operations[operation];
        if (!fn) throw new SqsError('UnsupportedOperation', `Operation ${operation} is not supported by the local SQS`);
        reply(200, fn(JSON.parse(body || '{}')));
      } catch (error) {
        const e = error as SqsError;
        reply(e.status ?? 500, { __type: `com.amazonaws.sqs#${e.type ?? 'InternalError'}`, message: e.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    createQueue(name, options = {}) {
      const q: LocalSqsQueue = {
        name,
        url: `${endpoint}/123456789012/${name}`,
        arn: `arn:aws:sqs:us-east-1:123456789012:${name}`,
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
        messages: [],
        deadLetter: options.deadLetter,
        visibilityChanges: [],
      };
      queues.set(q.url, q);
      return q;
    },
    now,
    advance(ms) {
      offset += ms;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
