/**
 * Back-off of a failed attempt: the failed message's visibility is changed so the queue hands it
 * back after a short, growing delay instead of the queue's visibility timeout (six times the
 * function timeout). Delay after the n-th failed receive: BASE × FACTOR^(n-1), capped, ±JITTER.
 * With the defaults: 10 s, 40 s, 2 min 40 s, 10 min 40 s, then 15 min (each ±20 %).
 */
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

export const RETRY_BASE_SECONDS = 10;
export const RETRY_FACTOR = 4;
export const RETRY_CAP_SECONDS = 15 * 60;
/** Spread of each delay (±), so files that failed together (a database outage) do not all return at once. */
export const RETRY_JITTER = 0.2;

// Short timeouts: when SQS cannot be reached, the queue's own visibility timeout still brings the message back.
const sqs = new SQSClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 2000, requestTimeout: 5000 } });

/** Seconds until the message comes back after its `receiveCount`-th receive failed (random in [0, 1) for the jitter). */
export function retryDelaySeconds(receiveCount: number, random = Math.random()): number {
  const n = Math.max(1, Math.floor(receiveCount));
  const nominal = Math.min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * RETRY_FACTOR ** (n - 1));
  return Math.max(1, Math.round(nominal * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random)));
}

export function receiveCountOf(record: SQSRecord): number {
  return Number(record.attributes?.ApproximateReceiveCount ?? 1) || 1;
}

/**
 * Makes the failed message visible again after retryDelaySeconds. Returns the delay set, or
 * undefined when it could not be set (no QUEUE_URL, SQS unreachable): the message then comes back
 * when the queue's visibility timeout ends. Never throws: the attempt's own error is what matters.
 */
export async function backOff(record: SQSRecord, onError: (error: unknown) => void): Promise<number | undefined> {
  return makeVisibleIn(record, retryDelaySeconds(receiveCountOf(record)), onError);
}

/**
 * After the last attempt: makes the message visible at once, so the queue's next receive moves it
 * to the dead-letter queue (and its alarm fires) now, not when the visibility timeout ends (six
 * times the function timeout). Returns 0, or undefined when it could not be set. Never throws.
 */
export async function releaseToDeadLetterQueue(record: SQSRecord, onError: (error: unknown) => void): Promise<number | undefined> {
  return makeVisibleIn(record, 0, onError);
}

async function makeVisibleIn(record: SQSRecord, seconds: number, onError: (error: unknown) => void): Promise<number | undefined> {
  const queueUrl = process.env.QUEUE_URL;
  if (!queueUrl || !record.receiptHandle) return undefined;
  try {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }));
    return seconds;
  } catch (error) {
    onError(error);
    return undefined;
  }
}
