/**
 * Async jobs of the analytics API (issue 5): the job routes of the API function and the job runner
 * (the state machine's Lambda task). Wired in ../index.ts:
 *
 *   export { jobRunner } from './jobs';                 // handler `index.jobRunner` of the job-runner function
 *   if (jobsEnabled()) registerJobRoutes(registerRoute, registerLongRunningDelegate);
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { delegateToJob, jobStatus, submitJob } from './api';
import type { PreparedOperation } from '../runner';

export { jobRunner } from './job-runner';
export type { JobRunnerEvent, JobRunnerResult } from './job-runner';
export { jobsEnabled, JobStatus, ResultKind } from './config';
export { JobErrorName, TRANSIENT_JOB_ERRORS } from './errors';
export { submitJob, jobStatus, delegateToJob, startJob } from './api';

/** The job routes' resource templates (as API Gateway names them in `event.resource`). */
export const JOBS_RESOURCE = '/analytics/jobs';
export const JOB_RESOURCE = '/analytics/jobs/{jobId}';

type Route = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/** Registers the job routes and the long-running delegate with the API function's router. */
export function registerJobRoutes(
  registerRoute: (method: string, resource: string, route: Route) => void,
  registerDelegate: (delegate: (prepared: PreparedOperation, event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>) => void,
): void {
  registerRoute('POST', JOBS_RESOURCE, submitJob);
  registerRoute('GET', JOB_RESOURCE, jobStatus);
  registerDelegate(delegateToJob);
}

/** The resource template of a job path (`/analytics/jobs/<id>` → `/analytics/jobs/{jobId}`), for proxy routes. */
export function jobResourceOf(path: string): string | undefined {
  if (path === JOBS_RESOURCE) return JOBS_RESOURCE;
  return /^\/analytics\/jobs\/[^/]+$/.test(path) ? JOB_RESOURCE : undefined;
}
