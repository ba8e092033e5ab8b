/**
 * SQS with Lambda event source mappings, locally: each queue of the template holds its messages in
 * memory with the semantics the handlers rely on — visibility timeout, receive count,
 * redrive to the dead-letter queue after maxReceiveCount — and each event source mapping polls
 * its queue and invokes the function with an SQS event (batch size, batching window, maximum
 * concurrency, ReportBatchItemFailures), as in the cloud. The SQS API (JSON protocol) serves the
 * calls an operator makes: list, URL, attributes with approximate counts, send/receive/delete,
 * visibility changes (the ingestion's retry back-off), purge, and the dead-letter redrive (StartMessageMoveTask).
 */
import { createHash, randomUUID } from 'crypto';
import { AwsError, LocalAwsApi } from './aws-api';

export interface QueueSpec {
  readonly arn: string;
  readonly name: string;
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  readonly deadLetter?: { arn: string; maxReceiveCount: number };
  readonly createdAt?: number;
}

/** A message moved to a dead-letter queue after maxReceiveCount receives. */
export interface DeadLetterMove {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly receiveCount: number;
  readonly origin?: string;
}

/** A redrive (StartMessageMoveTask), done at once locally. */
export interface MoveTask {
  readonly TaskHandle: string;
  readonly Status: 'COMPLETED';
  readonly SourceArn: string;
  readonly DestinationArn?: string;
  readonly ApproximateNumberOfMessagesMoved: number;
  readonly ApproximateNumberOfMessagesToMove: number;
  readonly StartedTimestamp: number;
}

interface Message {
  readonly id: string;
  readonly body: string;
  readonly sent: number;
  receiveCount: number;
  visibleAt: number;
  firstReceive?: number;
  receipt?: string;
  readonly attributes: Record<string, unknown>;
  /** When the message came from an S3 notification: bucket/key, for upload timing. */
  readonly origin?: string;
}

export interface MappingSpec {
  readonly id: string;
  readonly queueArn: string;
  readonly functionName: string;
  readonly batchSize: number;
  readonly batchingWindowSeconds: number;
  readonly maximumConcurrency: number;
  readonly reportBatchItemFailures: boolean;
  readonly enabled: boolean;
}

export type Invoker = (functionName: string, event: unknown) => Promise<{ payload?: unknown; error?: { errorType: string; errorMessage: string } }>;

export interface BatchOutcome {
  readonly queue: string;
  readonly functionName: string;
  readonly messages: number;
  readonly failed: number;
  readonly error?: string;
  readonly origins: string[];
  readonly durationMs: number;
}

export class LocalQueue {
  readonly messages: Message[] = [];
  private readonly waiters: Array<() => void> = [];
  /** Messages moved to the dead-letter queue from this one. */
  redriven = 0;
  /** Every ChangeMessageVisibility accepted: the timeout asked for, at which time of the queues' clock. */
  readonly visibilityChanges: Array<{ messageId: string; seconds: number; at: number }> = [];

  constructor(readonly spec: QueueSpec, private readonly queues: LocalQueues) {}

  /** Adds a message, receivable at once or `delaySeconds` later (SendMessage's DelaySeconds). */
  send(body: string, origin?: string, attributes: Record<string, unknown> = {}, delaySeconds = 0): string {
    const id = randomUUID();
    const now = this.queues.now();
    this.messages.push({ id, body, sent: now, receiveCount: 0, visibleAt: delaySeconds > 0 ? now + delaySeconds * 1000 : 0, attributes, origin });
    this.wake();
    return id;
  }

  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until a message may be visible (or the timeout). */
  waitForMessages(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Receives up to n visible messages, redriving those past maxReceiveCount first. */
  receive(n: number, visibilityTimeoutSeconds = this.spec.visibilityTimeoutSeconds): Message[] {
    const now = this.queues.now();
    const out: Message[] = [];
    for (const m of [...this.messages]) {
      if (out.length >= n) break;
      if (m.visibleAt > now) continue;
      const dlq = this.spec.deadLetter;
      if (dlq && m.receiveCount >= dlq.maxReceiveCount) {
        this.remove(m);
        this.redriven++;
        this.queues.byArn(dlq.arn)?.send(m.body, m.origin, { ...m.attributes, DeadLetterQueueSourceArn: this.spec.arn });
        this.queues.deadLettered({ messageId: m.id, from: this.spec.name, to: dlq.arn.split(':').pop()!, receiveCount: m.receiveCount, origin: m.origin });
        continue;
      }
      m.receiveCount++;
      m.firstReceive ??= now;
      m.visibleAt = now + visibilityTimeoutSeconds * 1000;
      m.receipt = randomUUID();
      out.push(m);
    }
    return out;
  }

  remove(m: Message): void {
    const i = this.messages.indexOf(m);
    if (i >= 0) this.messages.splice(i, 1);
  }

  /** When the next invisible message becomes visible (ms from now), if any. */
  nextVisibleIn(): number | undefined {
    const now = this.queues.now();
    const times = this.messages.map((m) => m.visibleAt - now).filter((t) => t > 0);
    return times.length ? Math.min(...times) : undefined;
  }

  get depth(): number {
    return this.messages.length;
  }

  /** ApproximateNumberOfMessages (visible), …NotVisible (in flight) and …Delayed (sent with a delay not yet over), as GetQueueAttributes counts them. */
  counts(): { visible: number; inFlight: number; delayed: number } {
    const now = this.queues.now();
    const hidden = this.messages.filter((m) => m.visibleAt > now);
    const delayed = hidden.filter((m) => m.receiveCount === 0).length;
    return { visible: this.messages.length - hidden.length, inFlight: hidden.length - delayed, delayed };
  }

  /** GetQueueAttributes. */
  attributes(): Record<string, string> {
    const { visible, inFlight, delayed } = this.counts();
    const created = String(Math.floor((this.spec.createdAt ?? this.queues.now()) / 1000));
    const dlq = this.spec.deadLetter;
    return {
      QueueArn: this.spec.arn,
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      VisibilityTimeout: String(this.spec.visibilityTimeoutSeconds),
      CreatedTimestamp: created,
      LastModifiedTimestamp: created,
      DelaySeconds: '0',
      MaximumMessageSize: '262144',
      MessageRetentionPeriod: '345600',
      ReceiveMessageWaitTimeSeconds: '0',
      ...(dlq ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: dlq.maxReceiveCount }) } : {}),
    };
  }

  /** Deletes a received message by its receipt handle (false when there is none). */
  deleteByReceipt(receipt: string): boolean {
    const m = this.messages.find((x) => x.receipt === receipt);
    if (m) this.remove(m);
    return Boolean(m);
  }

  /**
   * Makes a received message visible again `seconds` from now (ChangeMessageVisibility: how the
   * ingestion's failed attempts come back after a short, growing delay); false when the receipt
   * handle is unknown.
   */
  changeVisibility(receipt: string, seconds: number): boolean {
    const m = this.messages.find((x) => x.receipt === receipt);
    if (m) {
      m.visibleAt = this.queues.now() + seconds * 1000;
      this.visibilityChanges.push({ messageId: m.id, seconds, at: this.queues.now() });
      this.wake();
    }
    return Boolean(m);
  }

  purge(): void {
    this.messages.splice(0);
  }

  sqsRecord(m: Message): Record<string, unknown> {
    return {
      messageId: m.id,
      receiptHandle: m.receipt,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sent),
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: String(m.firstReceive ?? this.queues.now()),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(m.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.spec.arn,
      awsRegion: this.spec.arn.split(':')[3],
    };
  }
}

export class LocalQueues {
  private readonly queues = new Map<string, LocalQueue>();
  private readonly pollers: Array<{ stop: () => void; done: Promise<void> }> = [];
  private readonly listeners: Array<(o: BatchOutcome) => void> = [];
  private readonly deadLetterListeners: Array<(m: DeadLetterMove) => void> = [];
  private readonly moveTasks: MoveTask[] = [];
  private stopped = false;

  /**
   * @param now the queues' clock (ms): visibility timeouts and delays are measured on it. The
   *   sandbox uses the wall clock; a test can pass one it moves forward, to see when a message
   *   comes back after minutes without waiting for them.
   */
  constructor(readonly now: () => number = Date.now) {}

  add(spec: QueueSpec): LocalQueue {
    const q = new LocalQueue(spec, this);
    this.queues.set(spec.arn, q);
    return q;
  }

  byArn(arn: string): LocalQueue | undefined {
    return this.queues.get(arn);
  }

  byUrlOrName(id: string): LocalQueue | undefined {
    return [...this.queues.values()].find((q) => q.spec.url === id || q.spec.name === id || q.spec.arn === id);
  }

  all(): LocalQueue[] {
    return [...this.queues.values()];
  }

  onBatch(listener: (o: BatchOutcome) => void): void {
    this.listeners.push(listener);
  }

  onDeadLetter(listener: (m: DeadLetterMove) => void): void {
    this.deadLetterListeners.push(listener);
  }

  /** Called by a queue that moved a message to its dead-letter queue. */
  deadLettered(move: DeadLetterMove): void {
    for (const l of this.deadLetterListeners) l(move);
  }

  /** Queues whose redrive policy names this one as their dead-letter queue. */
  sourcesOf(deadLetterArn: string): LocalQueue[] {
    return this.all().filter((q) => q.spec.deadLetter?.arn === deadLetterArn);
  }

  /**
   * Moves every message of a dead-letter queue back (StartMessageMoveTask): to `destinationArn`,
   * else to the queue each message came from. Done at once; the task is listed as COMPLETED.
   */
  moveMessages(sourceArn: string, destinationArn?: string): MoveTask {
    const source = this.byArn(sourceArn);
    if (!source) throw new AwsError('ResourceNotFoundException', `The resource that you specified for the SourceArn parameter doesn't exist: ${sourceArn}`);
    if (this.sourcesOf(sourceArn).length === 0) throw new AwsError('InvalidParameterValue', `Source queue must be configured as a Dead Letter Queue: ${sourceArn}`);
    if (destinationArn && !this.byArn(destinationArn)) throw new AwsError('ResourceNotFoundException', `The resource that you specified for the DestinationArn parameter doesn't exist: ${destinationArn}`);
    const toMove = source.messages.splice(0);
    for (const m of toMove) {
      const back = this.byArn(destinationArn ?? String(m.attributes.DeadLetterQueueSourceArn ?? ''));
      if (!back) throw new AwsError('InvalidParameterValue', `Message ${m.id} has no source queue to return to: pass DestinationArn`);
      const { DeadLetterQueueSourceArn: _source, ...attributes } = m.attributes;
      back.send(m.body, m.origin, attributes);
    }
    const task: MoveTask = {
      TaskHandle: Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn })).toString('base64'),
      Status: 'COMPLETED',
      SourceArn: sourceArn,
      DestinationArn: destinationArn,
      ApproximateNumberOfMessagesMoved: toMove.length,
      ApproximateNumberOfMessagesToMove: toMove.length,
      StartedTimestamp: Date.now(),
    };
    this.moveTasks.unshift(task);
    return task;
  }

  private queue(url: unknown): LocalQueue {
    const q = this.byUrlOrName(String(url ?? ''));
    if (!q) throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return q;
  }

  /** The SQS API (JSON 1.0 protocol, `AmazonSQS.*`), as SDK v3 clients and the AWS CLI v2 call it. */
  register(api: LocalAwsApi): void {
    api.jsonService('AmazonSQS', '1.0', {
      ListQueues: ({ QueueNamePrefix, MaxResults }) => ({
        QueueUrls: this.all().filter((q) => q.spec.name.startsWith(QueueNamePrefix ?? '')).slice(0, MaxResults ?? 1000).map((q) => q.spec.url),
      }),
      GetQueueUrl: ({ QueueName }) => ({ QueueUrl: this.queue(QueueName).spec.url }),
      GetQueueAttributes: ({ QueueUrl, AttributeNames }) => {
        const all = this.queue(QueueUrl).attributes();
        const names: string[] = AttributeNames ?? [];
        return { Attributes: names.length === 0 || names.includes('All') ? all : Object.fromEntries(names.filter((n) => n in all).map((n) => [n, all[n]])) };
      },
      ListDeadLetterSourceQueues: ({ QueueUrl }) => ({ queueUrls: this.sourcesOf(this.queue(QueueUrl).spec.arn).map((q) => q.spec.url) }),
      SendMessage: ({ QueueUrl, MessageBody, MessageAttributes, DelaySeconds }) => {
        const delay = Number(DelaySeconds ?? 0);
        if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
          throw new AwsError('InvalidParameterValue', `Value ${DelaySeconds} for parameter DelaySeconds is invalid. Reason: Must be >= 0 and <= 900.`);
        }
        const id = this.queue(QueueUrl).send(String(MessageBody), undefined, MessageAttributes ?? {}, delay);
        return { MessageId: id, MD5OfMessageBody: createHash('md5').update(String(MessageBody)).digest('hex') };
      },
      ReceiveMessage: ({ QueueUrl, MaxNumberOfMessages, VisibilityTimeout }) => {
        const q = this.queue(QueueUrl);
        const visibility = VisibilityTimeout === undefined ? undefined : Number(VisibilityTimeout);
        const messages = q.receive(Math.min(Number(MaxNumberOfMessages ?? 1), 10), visibility);
        return {
          Messages: messages.map((m) => {
            const r = q.sqsRecord(m) as any;
            return { MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: r.md5OfBody, Body: m.body, Attributes: r.attributes };
          }),
        };
      },
      DeleteMessage: ({ QueueUrl, ReceiptHandle }) => {
        if (!this.queue(QueueUrl).deleteByReceipt(String(ReceiptHandle))) throw new AwsError('ReceiptHandleIsInvalid', `The input receipt handle "${ReceiptHandle}" is not a valid receipt handle.`);
        return {};
      },
      ChangeMessageVisibility: ({ QueueUrl, ReceiptHandle, VisibilityTimeout }) => {
        const seconds = Number(VisibilityTimeout);
        if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43200) {
          throw new AwsError('InvalidParameterValue', `Value ${VisibilityTimeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.`);
        }
        if (!this.queue(QueueUrl).changeVisibility(String(ReceiptHandle), seconds)) {
          throw new AwsError('ReceiptHandleIsInvalid', `The input receipt handle "${ReceiptHandle}" is not a valid receipt handle.`);
        }
        return {};
      },
      PurgeQueue: ({ QueueUrl }) => {
        this.queue(QueueUrl).purge();
        return {};
      },
      StartMessageMoveTask: ({ SourceArn, DestinationArn }) => ({ TaskHandle: this.moveMessages(String(SourceArn), DestinationArn).TaskHandle }),
      ListMessageMoveTasks: ({ SourceArn, MaxResults }) => ({
        Results: this.moveTasks.filter((t) => t.SourceArn === SourceArn).slice(0, MaxResults ?? 1),
      }),
    });
  }

  /** Starts the pollers of an event source mapping (as many as its maximum concurrency). */
  startMapping(mapping: MappingSpec, invoke: Invoker): void {
    const queue = this.queues.get(mapping.queueArn);
    if (!queue || !mapping.enabled) return;
    for (let i = 0; i < Math.max(1, mapping.maximumConcurrency); i++) {
      let stop = false;
      const done = (async () => {
        while (!stop && !this.stopped) {
          let batch = queue.receive(mapping.batchSize);
          if (batch.length === 0) {
            await queue.waitForMessages(Math.min(queue.nextVisibleIn() ?? 1000, 1000));
            continue;
          }
          if (batch.length < mapping.batchSize && mapping.batchingWindowSeconds > 0) {
            await new Promise((r) => setTimeout(r, mapping.batchingWindowSeconds * 1000));
            batch = [...batch, ...queue.receive(mapping.batchSize - batch.length)];
          }
          await this.runBatch(queue, mapping, batch, invoke);
        }
      })();
      this.pollers.push({ stop: () => (stop = true), done });
    }
  }

  private async runBatch(queue: LocalQueue, mapping: MappingSpec, batch: Message[], invoke: Invoker): Promise<void> {
    const started = Date.now();
    const event = { Records: batch.map((m) => queue.sqsRecord(m)) };
    let failedIds: Set<string>;
    let error: string | undefined;
    try {
      const result = await invoke(mapping.functionName, event);
      if (result.error) {
        error = `${result.error.errorType}: ${result.error.errorMessage}`;
        failedIds = new Set(batch.map((m) => m.id));
      } else if (mapping.reportBatchItemFailures && result.payload && typeof result.payload === 'object' && Array.isArray((result.payload as any).batchItemFailures)) {
        failedIds = new Set(((result.payload as any).batchItemFailures as Array<{ itemIdentifier: string }>).map((f) => f.itemIdentifier));
      } else {
        failedIds = new Set();
      }
    } catch (e) {
      error = (e as Error).message;
      failedIds = new Set(batch.map((m) => m.id));
    }
    for (const m of batch) {
      // Failed messages stay, invisible until their visibility timeout ends, then are received again.
      if (!failedIds.has(m.id)) queue.remove(m);
    }
    const outcome: BatchOutcome = {
      queue: queue.spec.name,
      functionName: mapping.functionName,
      messages: batch.length,
      failed: failedIds.size,
      error,
      origins: batch.map((m) => m.origin).filter((o): o is string => Boolean(o)),
      durationMs: Date.now() - started,
    };
    for (const l of this.listeners) l(outcome);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pollers) p.stop();
    for (const q of this.queues.values()) q.wake();
    await Promise.race([Promise.all(this.pollers.map((p) => p.done)), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
