/**
 * The job runner: the state machine's RunQuery task (a Lambda function of its own, built from the
 * analytics asset with the handler `index.jobRunner`). It runs one operation with the job's time
 * budget and hands the state machine what MarkSucceeded stores:
 *
 *   - a result up to JOB_INLINE_RESULT_MAX_BYTES (about 200 KB) of JSON: gzip + base64 in `resultData`
 *     (resultKind INLINE), small enough for Step Functions' 256 KiB state limit;
 *   - a larger one: streamed to the results bucket by the operation runner (or uploaded here when a
 *     cached result is too large for the state), and only its pointer in `resultData` (resultKind LARGE).
 *
 * Errors are thrown with a `name` that tells the state machine whether to retry (see errors.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { inlineResultMaxBytes, isJobId, MAX_STATE_RESULT_CHARS, ResultKind } from './config';
import { classifyJobError, JobError, JobErrorName } from './errors';
import { encodeResultData } from './job-store';
import { LargeResultRef, ResultUpload } from '../analytics-api/large-results';
import { executeOperation, OperationResult, prepareOperation } from '../analytics-api/runner';

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'analytics-job-runner' });

/** What RunQuery receives (built by the state machine from the execution input). */
export interface JobRunnerEvent {
  readonly jobId: string;
  readonly operation: string;
  readonly parameters?: Record<string, unknown>;
  /** Read the result cache (default true). */
  readonly useCache?: boolean;
}

/**
 * What RunQuery returns (the state's `$.run`). Numbers are decimal strings: DynamoDB's `N` values,
 * passed to UpdateItem as they are.
 */
export interface JobRunnerResult {
  readonly jobId: string;
  readonly operation: string;
  readonly resultKind: ResultKind;
  /** base64 of gzip JSON: the data (INLINE) or the large-result pointer (LARGE). */
  readonly resultData: string;
  readonly rowCount: string;
  readonly dataGeneration: string;
  /** The latest committed data generation when the job ran: above dataGeneration, the result is stale. */
  readonly latestDataGeneration: string;
  readonly durationMs: string;
  readonly truncated: boolean;
  readonly cacheStatus: string;
  readonly finishedAt: string;
}

/** Time kept back from the invocation's remaining time for uploading and answering. */
export function safetyMarginMs(remainingMs: number): number {
  return Math.min(30_000, Math.max(1_000, Math.floor(remainingMs * 0.1)));
}

/** The query budget of this invocation (ms). */
export function jobBudgetMs(context: Pick<Context, 'getRemainingTimeInMillis'> | undefined): number {
  const remaining = context?.getRemainingTimeInMillis?.() ?? Number(process.env.JOB_QUERY_TIMEOUT_MS ?? 840_000);
  return Math.max(1_000, remaining - safetyMarginMs(remaining));
}

/** Same layout as the operation runner's large results: {operation, dataGeneration, generatedAt, columns?, data, rowCount, truncated}. */
async function uploadInlineResult(result: OperationResult): Promise<LargeResultRef> {
  const upload = new ResultUpload(result.operation);
  try {
    const head: Record<string, unknown> = {
      operation: result.operation, dataGeneration: result.dataGeneration, generatedAt: new Date(result.computedAt).toISOString(),
    };
    if (result.columns) head.columns = result.columns;
    await upload.write(`${JSON.stringify(head).slice(0, -1)},"data":${result.dataJson ?? 'null'},"rowCount":${result.rowCount},"truncated":${result.truncated}}`);
    return await upload.finish(result.rowCount);
  } catch (error) {
    await upload.abort();
    throw error;
  }
}

function validEvent(event: unknown): JobRunnerEvent {
  const e = event as Partial<JobRunnerEvent> | undefined;
  if (!e || typeof e !== 'object' || !isJobId(e.jobId) || typeof e.operation !== 'string') {
    throw new JobError(JobErrorName.INVALID_JOB, 'The job input must have a jobId (UUID) and an operation');
  }
  return e as JobRunnerEvent;
}

export async function jobRunner(event: JobRunnerEvent, context?: Context): Promise<JobRunnerResult> {
  if (context) logger.addContext(context);
  const started = Date.now();
  try {
    const job = validEvent(event);
    logger.appendKeys({ jobId: job.jobId, operation: job.operation });
    const prepared = await prepareOperation(job.operation, job.parameters ?? {});
    const maxInlineBytes = inlineResultMaxBytes();
    const result = await executeOperation(prepared, {
      timeoutMs: jobBudgetMs(context),
      maxInlineBytes,
      // Only the size matters for a job: rows are unbounded up to the byte limit.
      maxInlineRows: Number.MAX_SAFE_INTEGER,
      useCache: job.useCache !== false,
      log: (message, details) => logger.warn(message, details),
    });

    let kind = ResultKind.INLINE;
    let large = result.largeResult;
    let resultData = '';
    if (!large && result.dataJson !== undefined) {
      resultData = encodeResultData(result.dataJson);
      // A cached result may be larger than a job keeps inline; and a poorly compressible one may not fit the state.
      if (Buffer.byteLength(result.dataJson) > maxInlineBytes || resultData.length > MAX_STATE_RESULT_CHARS) {
        large = await uploadInlineResult(result);
      }
    }
    if (large) {
      kind = ResultKind.LARGE;
      resultData = encodeResultData(JSON.stringify(large));
    }
    logger.info('Job query finished', { resultKind: kind, rowCount: result.rowCount, cache: result.cache, durationMs: Date.now() - started });
    return {
      jobId: job.jobId,
      operation: result.operation,
      resultKind: kind,
      resultData,
      rowCount: String(result.rowCount),
      dataGeneration: String(result.dataGeneration),
      latestDataGeneration: String(result.latestDataGeneration),
      durationMs: String(Date.now() - started),
      truncated: result.truncated,
      cacheStatus: result.cache,
      finishedAt: new Date().toISOString(),
    };
  } catch (error) {
    const jobError = classifyJobError(error);
    const cause = (error as { cause?: unknown })?.cause ?? error;
    const log = jobError.name === JobErrorName.INTERNAL ? logger.error.bind(logger) : logger.warn.bind(logger);
    log('Job query failed', { errorName: jobError.name, error: (error as Error)?.message, cause: (cause as Error)?.message, stack: jobError.name === JobErrorName.INTERNAL ? (cause as Error)?.stack : undefined });
    throw jobError;
  } finally {
    logger.removeKeys(['jobId', 'operation']);
  }
}
