/**
 * IngestionPipeline processor: SQS (S3 event notifications) → one ingestion run per object; and,
 * invoked by the pipeline's rule with an `Ingestion Succeeded` event of a run that loaded the store,
 * the refresh of the store's typed storage (typed-refresh.ts), off the ingestion's own path.
 * Partial batch responses: a failed message returns to the queue alone, after a growing delay
 * (retry.ts), and after MAX_RECEIVE_COUNT attempts goes to the dead-letter queue, its last
 * attempt announced by an `Ingestion Failed` event (failure.ts); records are processed one after
 * the other so memory stays flat.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { announceFinalFailure, failureCode, newTrace } from './failure';
import { logger } from './logger';
import { backOff, receiveCountOf, releaseToDeadLetterQueue } from './retry';
import { ingestObject } from './run';
import { objectsIn } from './s3-event';
import { refreshTypedStorageOnce } from './typed-refresh';

export { hooks } from './hooks';

const processor = new BatchProcessor(EventType.SQS);
const MAX_RECEIVE_COUNT = Number(process.env.MAX_RECEIVE_COUNT ?? 3);

function remainingMs(context?: Context): number {
  return context?.getRemainingTimeInMillis?.() ?? 15 * 60_000;
}

async function processMessage(record: SQSRecord, context?: Context): Promise<void> {
  const receiveCount = receiveCountOf(record);
  const finalAttempt = receiveCount >= MAX_RECEIVE_COUNT;
  try {
    for (const object of objectsIn(record)) {
      const trace = newTrace();
      try {
        const result = await ingestObject(object, { remainingMs: remainingMs(context) }, trace);
        logger.info('Object ingested', { bucket: object.bucket, key: object.key, ...result });
      } catch (error) {
        const code = failureCode(error, trace.stage);
        logger.error('Object ingestion failed', { bucket: object.bucket, key: object.key, receiveCount, finalAttempt, code, error: error as Error });
        if (finalAttempt) {
          await announceFinalFailure({ object, trace, error, receiveCount }).catch((e) => {
            logger.error('The Ingestion Failed event could not be sent (the dead-letter queue alarm still fires)', { key: object.key, error: e as Error });
          });
        }
        throw error;
      }
    }
  } catch (error) {
    const unset = (e: unknown) => logger.warn('Could not change the message\'s visibility; the queue visibility timeout applies', { error: e as Error });
    if (finalAttempt) {
      if (await releaseToDeadLetterQueue(record, unset) !== undefined) logger.info('Released to the dead-letter queue', { messageId: record.messageId, receiveCount });
    } else {
      const delay = await backOff(record, unset);
      if (delay !== undefined) logger.info('Retry scheduled', { messageId: record.messageId, receiveCount, retryInSeconds: delay });
    }
    throw error;
  }
}

export async function handler(event: SQSEvent | EventBridgeEvent<string, unknown>, context: Context): Promise<SQSBatchResponse | void> {
  logger.addContext(context);
  if ('detail-type' in event) {
    // Throws when the refresh keeps failing: Lambda retries the asynchronous invocation.
    await refreshTypedStorageOnce();
    return;
  }
  return processPartialResponse(event, (record: SQSRecord) => processMessage(record, context), processor, {
    context,
    processInParallel: false,
    throwOnFullBatchFailure: false,
  });
}
