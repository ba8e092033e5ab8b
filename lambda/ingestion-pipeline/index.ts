/**
 * IngestionPipeline processor: SQS (S3 event notifications) → one ingestion run per object.
 * Partial batch responses: a failed message returns to the queue alone (and after
 * MAX_RECEIVE_COUNT attempts goes to the dead-letter queue); records are processed one after
 * the other so memory stays flat.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ingestObject } from './run';
import { objectsIn } from './s3-event';

export { hooks } from './hooks';

const logger = new Logger();
const processor = new BatchProcessor(EventType.SQS);
const MAX_RECEIVE_COUNT = Number(process.env.MAX_RECEIVE_COUNT ?? 3);

function remainingMs(context?: Context): number {
  return context?.getRemainingTimeInMillis?.() ?? 15 * 60_000;
}

async function processMessage(record: SQSRecord, context?: Context): Promise<void> {
  const finalAttempt = Number(record.attributes?.ApproximateReceiveCount ?? 1) >= MAX_RECEIVE_COUNT;
  for (const object of objectsIn(record)) {
    try {
      const result = await ingestObject(object, { finalAttempt, remainingMs: remainingMs(context) });
      logger.info('Object ingested', { bucket: object.bucket, key: object.key, ...result });
    } catch (error) {
      logger.error('Object ingestion failed; the message will be retried', { bucket: object.bucket, key: object.key, finalAttempt, error: error as Error });
      throw error;
    }
  }
}

export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(event, (record: SQSRecord) => processMessage(record, context), processor, {
    context,
    processInParallel: false,
    throwOnFullBatchFailure: false,
  });
}
