/**
 * The async job workflow's functions (bundle `async-job-workflow`; the operations are the analytics
 * API's code, bundled in by esbuild):
 *
 *   handler     the jobs API function, behind the routes the AsyncJobWorkflow construct adds to the
 *               analytics API's REST API:
 *                 POST /analytics/jobs           submit a job (202)
 *                 GET  /analytics/jobs/{jobId}   a job's status and result
 *   jobRunner   the state machine's RunQuery task (a function of its own)
 *
 * The analytics API function hands synchronous calls of long-running operations to `delegateToJob`
 * (./api.ts) when it knows the workflow (JOB_TABLE_NAME and JOB_STATE_MACHINE_ARN).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { jobStatus, submitJob } from './api';
import { toApiError } from '../analytics-api/errors';
import { errorResponse, findRoute, jsonResponse, logServerError, resourceTemplateOf } from '../analytics-api/http';

export { jobRunner } from './job-runner';
export type { JobRunnerEvent, JobRunnerResult } from './job-runner';
export { jobsEnabled, JobStatus, ResultKind } from './config';
export { JobErrorName, TRANSIENT_JOB_ERRORS } from './errors';
export { submitJob, jobStatus, delegateToJob, startJob } from './api';

/** The job routes' resource templates (as API Gateway names them in `event.resource`). */
export const JOBS_RESOURCE = '/analytics/jobs';
export const JOB_RESOURCE = '/analytics/jobs/{jobId}';

type Route = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

const ROUTES = new Map<string, Route>([
  [`POST ${JOBS_RESOURCE}`, submitJob],
  [`GET ${JOB_RESOURCE}`, jobStatus],
]);

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'analytics-jobs-api' });

/** The resource template of a job path (`/analytics/jobs/<id>` → `/analytics/jobs/{jobId}`), for proxy routes. */
export function jobResourceOf(path: string): string | undefined {
  if (path === JOBS_RESOURCE) return JOBS_RESOURCE;
  return /^\/analytics\/jobs\/[^/]+$/.test(path) ? JOB_RESOURCE : undefined;
}

/** The jobs API function (Lambda proxy integration). */
export async function handler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  if (context) logger.addContext(context);
  logger.appendKeys({ requestId: event.requestContext?.requestId });
  try {
    const method = (event.httpMethod ?? 'GET').toUpperCase();
    const route = findRoute(ROUTES, method, resourceTemplateOf(event, jobResourceOf));
    if (!route) return jsonResponse(event, 204, '');
    return await route(event);
  } catch (error) {
    const apiError = toApiError(error);
    logServerError(logger, error, apiError);
    return errorResponse(event, apiError);
  } finally {
    logger.removeKeys(['requestId']);
  }
}
