/**
 * The analytics API function (API Gateway REST API, proxy integration):
 *
 *   GET  /health            the API is up and the database answers (with its latency); 503 otherwise
 *   GET  /analytics?operation=NAME&…params      run an operation synchronously
 *   POST /analytics  {"operation", "parameters", "cache"?}
 *   GET  /download/{key}    302 to a short-lived presigned URL of a large result; 404 when unknown
 *
 * Other routes can be added with `registerRoute`, and long-running operations handed to the async
 * job workflow with `registerLongRunningDelegate` (done here when the AsyncJobWorkflow set
 * JOB_TABLE_NAME and JOB_STATE_MACHINE_ARN: its job routes are answered by its own function).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { withDatabase } from './database';
import { ApiError, ErrorCode, toApiError } from './errors';
import { baseUrlOf, callFromBody, callFromQuery, envelope, errorResponse, findRoute, jsonResponse, logServerError, resourceTemplateOf } from './http';
import { isResultId, presignedDownloadUrl, resultExists } from './large-results';
import { AccessLevel } from './operations/types';
import { defaultTimeoutMs, executeOperation, OperationResult, prepareOperation, PreparedOperation } from './runner';
import { ANALYTICS_METRICS as M, METRICS_NAMESPACE } from '../../src/common/contracts';
import { delegateToJob } from '../async-job-workflow/api';
import { jobsEnabled } from '../async-job-workflow/config';

export * from './runner';
export { ApiError, ErrorCode } from './errors';
export { BUILT_IN_OPERATIONS, getOperation, listOperations, loadUserOperations } from './operations';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'analytics-api' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'analytics-api',
});

export type RouteHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

const routes = new Map<string, RouteHandler>();

/** Adds (or replaces) a route: `registerRoute('POST', '/analytics/jobs', handler)`. */
export function registerRoute(method: string, resource: string, route: RouteHandler): void {
  routes.set(`${method.toUpperCase()} ${resource}`, route);
}

/** Receives a validated call of a long-running operation that missed the cache (e.g. to start a job and answer 202). */
export type LongRunningDelegate = (prepared: PreparedOperation, event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
let longRunningDelegate: LongRunningDelegate | undefined;

export function registerLongRunningDelegate(delegate: LongRunningDelegate | undefined): void {
  longRunningDelegate = delegate;
}

/** The envelope of an operation result (inline data, or the large-result pointer). */
export function resultResponse(event: APIGatewayProxyEvent, result: OperationResult): APIGatewayProxyResult {
  const meta: Record<string, unknown> = {
    operation: result.operation,
    rowCount: result.rowCount,
    durationMs: result.durationMs,
    cache: result.cache,
    dataGeneration: result.dataGeneration,
    stale: result.stale,
    computedAt: new Date(result.computedAt).toISOString(),
  };
  if (result.stale) meta.latestDataGeneration = result.latestDataGeneration;
  if (result.truncated) meta.truncated = true;
  if (result.columns) meta.columns = result.columns;
  if (result.largeResult) {
    const large = result.largeResult;
    meta.largeResult = true;
    const data = {
      largeResult: true,
      downloadUrl: `${baseUrlOf(event)}/download/${large.key}`,
      key: large.key,
      rowCount: large.rowCount,
      bytes: large.bytes,
      expiresAt: large.expiresAt,
      format: large.format,
      contentEncoding: large.contentEncoding,
    };
    return envelope(event, 200, JSON.stringify(data), meta);
  }
  return envelope(event, 200, result.dataJson ?? 'null', meta);
}

/**
 * How long a long-running operation may run synchronously before it is handed to a job: the
 * synchronous budget less a margin to start the job (SYNC_ATTEMPT_MS overrides it).
 */
function syncAttemptMs(): number {
  const configured = Number(process.env.SYNC_ATTEMPT_MS);
  return Number.isFinite(configured) && configured > 0 ? configured : Math.max(1000, defaultTimeoutMs() - HANDOVER_MARGIN_MS);
}
const HANDOVER_MARGIN_MS = 3000;

async function analytics(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const call = event.httpMethod === 'GET' ? callFromQuery(event) : callFromBody(event);
  const prepared = await prepareOperation(call.operation, call.parameters, { coerce: call.coerce });
  const log = (message: string, details: Record<string, unknown>) => logger.warn(message, details);
  if (prepared.operation.longRunning && longRunningDelegate) {
    // Synchronous when fast: a bounded attempt answers 200 when it completes within the budget;
    // past it, PostgreSQL cancels the statement (statement_timeout) before the job runs it, so the
    // query never runs twice at once. Then 202 and the job.
    try {
      return completed(event, await executeOperation(prepared, { useCache: call.useCache, log, timeoutMs: syncAttemptMs() }));
    } catch (error) {
      if (toApiError(error).code !== ErrorCode.QUERY_TIMEOUT) throw error;
      metrics.addMetric(M.HANDED_TO_JOB, MetricUnit.Count, 1);
      logger.info('Synchronous attempt past its budget: handed to a job', { operation: prepared.operation.name, budgetMs: syncAttemptMs() });
      return longRunningDelegate(prepared, event);
    }
  }
  return completed(event, await executeOperation(prepared, { useCache: call.useCache, log }));
}

function completed(event: APIGatewayProxyEvent, result: OperationResult): APIGatewayProxyResult {
  metrics.addMetric(result.cache === 'hit' ? M.CACHE_HIT : M.CACHE_MISS, MetricUnit.Count, 1);
  metrics.addMetric(M.OPERATION_DURATION, MetricUnit.Milliseconds, result.durationMs);
  if (result.largeResult) metrics.addMetric(M.LARGE_RESULT, MetricUnit.Count, 1);
  logger.info('Operation completed', {
    operation: result.operation, cache: result.cache, rowCount: result.rowCount, durationMs: result.durationMs, large: Boolean(result.largeResult),
  });
  return resultResponse(event, result);
}

async function health(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const started = Date.now();
  try {
    const generation = await Promise.race([
      withDatabase(AccessLevel.ANALYTICS, async (client) => {
        const { rows } = await client.query('SELECT generation FROM canonical.data_generation');
        return Number(rows[0]?.generation ?? 0);
      }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new ApiError(ErrorCode.DATABASE_UNAVAILABLE, 'The database did not answer within 5 s')), 5000).unref()),
    ]);
    const latencyMs = Date.now() - started;
    return envelope(event, 200, JSON.stringify({ status: 'ok', database: { status: 'ok', latencyMs }, dataGeneration: generation }), { operation: 'health', durationMs: latencyMs });
  } catch (error) {
    const apiError = toApiError(error);
    const reason = apiError.status === 500 ? 'the database check failed' : apiError.message;
    logger.warn('Health check failed', { error: (error as Error)?.message });
    return jsonResponse(event, 503, JSON.stringify({
      error: { code: ErrorCode.DATABASE_UNAVAILABLE, message: `Unhealthy: ${reason}`, details: { database: { status: 'unavailable', reason, latencyMs: Date.now() - started } } },
      requestId: event.requestContext?.requestId ?? 'unknown',
    }), { 'retry-after': '5' });
  }
}

async function download(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const key = event.pathParameters?.key ?? event.path?.split('/').pop();
  const notFound = new ApiError(ErrorCode.NOT_FOUND, 'No result with that key (it may have expired)');
  if (!isResultId(key)) throw notFound;
  if (!(await resultExists(key))) throw notFound;
  const { url, expiresInSeconds } = await presignedDownloadUrl(key);
  return jsonResponse(event, 302, JSON.stringify({ data: { downloadUrl: url, expiresInSeconds }, meta: { operation: 'download', requestId: event.requestContext?.requestId } }), { location: url });
}

registerRoute('GET', '/health', health);
registerRoute('GET', '/analytics', analytics);
registerRoute('POST', '/analytics', analytics);
registerRoute('GET', '/download/{key}', download);
// Long-running operations called synchronously become jobs, when the AsyncJobWorkflow wired this function to it.
if (jobsEnabled()) registerLongRunningDelegate(delegateToJob);

/** `/download/<id>` behind a proxy route is the download route. */
const downloadTemplateOf = (path: string): string | undefined => (path.startsWith('/download/') ? '/download/{key}' : undefined);

export async function handler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  if (context) logger.addContext(context);
  logger.appendKeys({ requestId: event.requestContext?.requestId });
  try {
    const method = (event.httpMethod ?? 'GET').toUpperCase();
    const route = findRoute(routes, method, resourceTemplateOf(event, downloadTemplateOf));
    if (!route) return jsonResponse(event, 204, '');
    return await route(event, context);
  } catch (error) {
    const apiError = toApiError(error);
    logServerError(logger, error, apiError);
    if (apiError.status >= 500) {
      metrics.addMetric(apiError.code === ErrorCode.QUERY_TIMEOUT ? M.QUERY_TIMEOUT
        : apiError.code === ErrorCode.DATABASE_UNAVAILABLE ? M.DATABASE_UNAVAILABLE : M.INTERNAL_ERROR, MetricUnit.Count, 1);
    }
    return errorResponse(event, apiError);
  } finally {
    logger.removeKeys(['requestId']);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
