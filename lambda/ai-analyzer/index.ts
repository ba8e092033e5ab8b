/**
 * AiAnalyzer handler. Invoked
 * - by SQS: the queue that an EventBridge rule fills with `Ingestion Succeeded` events (partial
 *   batch failures; the queue's redelivery is the retry; after MAX_RECEIVE_COUNT attempts the
 *   message goes to the dead-letter queue and `Analysis Failed` is sent);
 * - directly with an `Ingestion Succeeded` event (e.g. an EventBridge Lambda target);
 * - on demand, with `{ manifestKey }` or `{ sourceName, processedKey, personalDataFields? }` and an
 *   optional `analysisId` (the idempotency key); returns the `Analysis Complete` detail.
 * Idempotent by analysis id (the ingestion run id for events): a redelivered event neither
 * analyzes nor bills twice.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { AttemptInfo, runAnalysis } from './analyze';
import { AnalyzerConfig, loadConfig } from './config';
import { PermanentAnalysisError } from './errors';
import { publishFailed } from './events';
import { recordFailureMetric } from './metrics';
import { AnalysisRequest, isIngestionEvent, OnDemandPayload, requestFromEvent, requestFromPayload } from './request';
import { ANALYSIS_SCHEMA_VERSION, AnalysisCompleteDetail, AnalysisFailedDetail } from '../shared/analysis-contract';
import type { IngestionSucceededDetail } from '../shared/ingestion-contract';

const logger = new Logger();
const processor = new BatchProcessor(EventType.SQS);
const MAX_RECEIVE_COUNT = Number(process.env.MAX_RECEIVE_COUNT ?? 3);
/** Completed analyses are remembered this long (redeliveries come within hours). */
const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;

/**
 * What an analysis id stands for. A second request with the same id gets the first one's result
 * only when these are the same (Powertools payload validation); otherwise it is refused. The
 * request time is left out: the same on-demand request repeated later is the same request.
 */
const REQUEST_IDENTITY = '[sourceName, bucket, processedKey, manifestKey, personalDataFields]';
const idempotencyConfig = new IdempotencyConfig({
  eventKeyJmesPath: 'analysisId',
  payloadValidationJmesPath: REQUEST_IDENTITY,
  expiresAfterSeconds: IDEMPOTENCY_TTL_SECONDS,
});
const runOnce: (request: AnalysisRequest, config: AnalyzerConfig, attempt: AttemptInfo) => Promise<AnalysisCompleteDetail> =
  process.env.IDEMPOTENCY_TABLE_NAME
    ? makeIdempotent(runAnalysis, {
      persistenceStore: new DynamoDBPersistenceLayer({ tableName: process.env.IDEMPOTENCY_TABLE_NAME }),
      config: idempotencyConfig,
      dataIndexArgument: 0,
    })
    : runAnalysis;

/** Runs the analysis once per analysis id; a reused id with another request is a permanent, clear error. */
async function analyzeOnce(request: AnalysisRequest, config: AnalyzerConfig, attempt: AttemptInfo): Promise<AnalysisCompleteDetail> {
  try {
    return await runOnce(request, config, attempt);
  } catch (error) {
    if ((error as Error)?.name !== 'IdempotencyValidationError') throw error;
    throw new PermanentAnalysisError('analysis_id_conflict', `analysisId "${request.analysisId}" was already used for a different request `
      + '(another source, processed object, manifest or personal-data fields), whose result it keeps: use a new analysisId, '
      + 'or repeat the first request unchanged to get that result.');
  }
}

type Outcome = { readonly status: 'analyzed'; readonly detail: AnalysisCompleteDetail } | { readonly status: 'skipped'; readonly reason: string };

function failureDetail(error: PermanentAnalysisError | Error, request: Partial<AnalysisRequest> | null, trigger: AnalysisRequest['trigger'], config: AnalyzerConfig | null): AnalysisFailedDetail {
  const permanent = error instanceof PermanentAnalysisError;
  return {
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    analysisId: request?.analysisId ?? null,
    runId: request?.runId ?? null,
    trigger,
    sourceName: request?.sourceName ?? null,
    dataBucket: request?.bucket ?? config?.dataBucket ?? null,
    processedKey: request?.processedKey ?? null,
    manifestKey: request?.manifestKey ?? null,
    error: { code: permanent ? error.code : 'processing_error', message: permanent ? error.message : `${error.name}: ${error.message}`.slice(0, 2000) },
    final: true,
  };
}

/** Sends `Analysis Failed` (best effort: the original error matters more). */
async function reportFailure(detail: AnalysisFailedDetail, config: AnalyzerConfig | null): Promise<void> {
  recordFailureMetric(detail.sourceName);
  try {
    await publishFailed(config?.eventBusName ?? process.env.EVENT_BUS_NAME ?? 'default', detail);
  } catch (error) {
    logger.error('Could not send the Analysis Failed event', { error: error as Error, detail });
  }
}

/** Partial request fields from an event that could not be turned into a request, for the failure event. */
function requestHint(event: EventBridgeEvent<string, IngestionSucceededDetail>): Partial<AnalysisRequest> {
  const d = event.detail ?? ({} as IngestionSucceededDetail);
  return {
    analysisId: d.runId,
    runId: d.runId,
    sourceName: d.sourceName,
    bucket: d.bucket,
    processedKey: d.processedKey ?? undefined,
    manifestKey: d.manifestKey,
  };
}

async function analyzeEvent(event: EventBridgeEvent<string, IngestionSucceededDetail>, attempt: AttemptInfo): Promise<Outcome> {
  let config: AnalyzerConfig | null = null;
  let request: AnalysisRequest | null = null;
  try {
    config = loadConfig();
    request = requestFromEvent(event, config);
    if (!request) return { status: 'skipped', reason: 'the run has no processed records' };
    const detail = await analyzeOnce(request, config, attempt);
    logger.info('Analysis complete', { analysisId: detail.analysisId, sourceName: detail.sourceName, aiStatus: detail.aiStatus, anomalies: detail.anomalyCount });
    return { status: 'analyzed', detail };
  } catch (e) {
    const error = e as Error;
    const permanent = error instanceof PermanentAnalysisError;
    logger.error('Analysis failed', { error, permanent, finalAttempt: attempt.finalAttempt });
    if (permanent || attempt.finalAttempt) await reportFailure(failureDetail(error, request ?? requestHint(event), 'ingestion_event', config), config);
    if (permanent) return { status: 'skipped', reason: error.message };
    throw error;
  }
}

async function processMessage(record: SQSRecord): Promise<void> {
  const finalAttempt = Number(record.attributes?.ApproximateReceiveCount ?? 1) >= MAX_RECEIVE_COUNT;
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    logger.error('Message is not JSON; dropped', { messageId: record.messageId });
    return;
  }
  if (!isIngestionEvent(body)) {
    logger.error('Message is not an ingestion event; dropped', { messageId: record.messageId });
    return;
  }
  const outcome = await analyzeEvent(body, { finalAttempt });
  if (outcome.status === 'skipped') logger.info('Nothing analyzed', { reason: outcome.reason, messageId: record.messageId });
}

async function onDemand(payload: OnDemandPayload): Promise<AnalysisCompleteDetail> {
  let config: AnalyzerConfig | null = null;
  let request: AnalysisRequest | null = null;
  try {
    config = loadConfig();
    request = await requestFromPayload(payload, config);
    return await analyzeOnce(request, config, { finalAttempt: true });
  } catch (e) {
    const error = e as Error;
    logger.error('On-demand analysis failed', { error });
    const hint: Partial<AnalysisRequest> = request ?? {
      analysisId: payload?.analysisId, sourceName: payload?.sourceName, processedKey: payload?.processedKey, manifestKey: payload?.manifestKey,
    };
    await reportFailure(failureDetail(error, hint, 'on_demand', config), config);
    throw error;
  }
}

export async function handler(
  event: SQSEvent | EventBridgeEvent<string, IngestionSucceededDetail> | OnDemandPayload, context?: Context,
): Promise<unknown> {
  if (context) {
    logger.addContext(context);
    idempotencyConfig.registerLambdaContext(context);
  }
  if (Array.isArray((event as SQSEvent).Records)) {
    const sqsEvent = event as SQSEvent;
    const response: SQSBatchResponse = await processPartialResponse(sqsEvent, processMessage, processor, {
      context: context as Context,
      processInParallel: false,
      throwOnFullBatchFailure: false,
    });
    return response;
  }
  if (isIngestionEvent(event)) {
    const outcome = await analyzeEvent(event, { finalAttempt: true });
    return outcome.status === 'analyzed' ? outcome.detail : outcome;
  }
  return onDemand(event as OnDemandPayload);
}
