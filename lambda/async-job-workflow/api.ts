/**
 * The job routes, answered by the workflow's jobs API function (./index.ts `handler`):
 *
 *   POST /analytics/jobs {"operation", "parameters", "cache"?}
 *        → 202 {data: {jobId, status: "SUBMITTED", statusUrl, operation, submittedAt}}
 *          The call is validated first (400 in the API's error shape); the SUBMITTED job is written
 *          (conditional put) before the execution, named by the job id, is started.
 *   GET  /analytics/jobs/{jobId}
 *        → 200 {data: {jobId, status, operation, parameters, submittedAt, startedAt?, finishedAt?, statusUrl,
 *                      result | largeResult+downloadUrl (SUCCEEDED), error (FAILED)}}; 404 for an unknown id.
 *
 * The analytics API function hands a synchronous call of a long-running operation to `delegateToJob`
 * (202 with the job) when the workflow told it about itself (same stack only).
 */
import { randomUUID } from 'crypto';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { executionArnOf, isJobId, jobStateMachineArn, JobStatus, ResultKind, startGraceSeconds } from './config';
import { publicJobError } from './errors';
import { getJob, JobRecord, markJobFailed, putSubmittedJob } from './job-store';
import { ApiError, ErrorCode } from '../analytics-api/errors';
import { baseUrlOf, callFromBody, envelope, jsonResponse, requestIdOf } from '../analytics-api/http';
import type { LargeResultRef } from '../analytics-api/large-results';
import { prepareOperation, PreparedOperation } from '../analytics-api/runner';

let sfn: SFNClient | undefined;
function sfnClient(): SFNClient {
  sfn ??= new SFNClient({});
  return sfn;
}

function stateMachineArn(): string {
  const arn = jobStateMachineArn();
  if (!arn) throw new ApiError(ErrorCode.INTERNAL_ERROR, 'The function is not configured for jobs (JOB_STATE_MACHINE_ARN is not set)');
  return arn;
}

export function statusUrlOf(event: APIGatewayProxyEvent, jobId: string): string {
  return `${baseUrlOf(event)}/analytics/jobs/${jobId}`;
}

/** The execution input: what the state machine passes on to the job runner. */
export interface JobExecutionInput {
  readonly jobId: string;
  readonly operation: string;
  readonly parameters: Record<string, unknown>;
  readonly useCache: boolean;
  readonly submittedAt: string;
}

const THROTTLED_START = new Set(['ThrottlingException', 'ExecutionLimitExceeded', 'TooManyRequestsException']);

function errorBody(event: APIGatewayProxyEvent, code: string, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({ error: details ? { code, message, details } : { code, message }, requestId: requestIdOf(event) });
}

/**
 * Starts a job for a validated call: writes the SUBMITTED job, then starts the execution named by
 * the job id. Answers 202 with the job, or (the job then marked FAILED) 429/503 when Step Functions
 * refused to start it.
 */
export async function startJob(
  prepared: PreparedOperation, event: APIGatewayProxyEvent, options: { useCache: boolean; source: 'api' | 'long-running' },
): Promise<APIGatewayProxyResult> {
  const arn = stateMachineArn();
  const jobId = randomUUID();
  const submittedAt = Date.now();
  const executionArn = executionArnOf(arn, jobId);
  const parameters = prepared.parameters as Record<string, unknown>;
  await putSubmittedJob({
    jobId, operation: prepared.operation.name, parameters, useCache: options.useCache, source: options.source, executionArn, submittedAt,
  });
  const input: JobExecutionInput = {
    jobId, operation: prepared.operation.name, parameters, useCache: options.useCache, submittedAt: new Date(submittedAt).toISOString(),
  };
  try {
    await sfnClient().send(new StartExecutionCommand({ stateMachineArn: arn, name: jobId, input: JSON.stringify(input) }));
  } catch (error) {
    const e = error as { name?: string; message?: string };
    const throttled = THROTTLED_START.has(e.name ?? '');
    const message = throttled ? 'Too many jobs are running; try again later' : 'The job could not be started; try again later';
    await markJobFailed(jobId, 'StartExecutionFailed', `${message} (${e.name ?? 'Error'})`, [JobStatus.SUBMITTED]).catch(() => undefined);
    return jsonResponse(event, throttled ? 429 : 503, errorBody(event, throttled ? ErrorCode.THROTTLED : 'JOB_START_FAILED', message, { jobId }), { 'retry-after': '5' });
  }
  const statusUrl = statusUrlOf(event, jobId);
  const data = { jobId, status: JobStatus.SUBMITTED, statusUrl, operation: prepared.operation.name, submittedAt: input.submittedAt };
  const response = envelope(event, 202, JSON.stringify(data), { operation: prepared.operation.name, job: true });
  response.headers = { ...response.headers, location: statusUrl };
  return response;
}

/** `POST /analytics/jobs` */
export async function submitJob(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const call = callFromBody(event);
  const prepared = await prepareOperation(call.operation, call.parameters, { coerce: false });
  return startJob(prepared, event, { useCache: call.useCache, source: 'api' });
}

/** The long-running delegate: a synchronous call of a long-running operation answers 202 with a job. */
export function delegateToJob(prepared: PreparedOperation, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return startJob(prepared, event, { useCache: true, source: 'long-running' });
}

function jobIdOf(event: APIGatewayProxyEvent): string | undefined {
  return event.pathParameters?.jobId ?? event.path?.split('/').filter(Boolean).pop();
}

/**
 * A job still SUBMITTED well after it was written, whose execution does not exist (the function
 * stopped between the put and StartExecution), is marked FAILED: no job stays SUBMITTED forever.
 */
async function reconcileUnstarted(job: JobRecord): Promise<JobRecord> {
  if (job.status !== JobStatus.SUBMITTED || !job.executionArn) return job;
  if (Date.now() - Date.parse(job.submittedAt) < startGraceSeconds() * 1000) return job;
  try {
    await sfnClient().send(new DescribeExecutionCommand({ executionArn: job.executionArn }));
    return job;
  } catch (error) {
    if ((error as { name?: string }).name !== 'ExecutionDoesNotExist') return job;
  }
  await markJobFailed(job.jobId, 'JobNotStarted', 'The job was accepted but its workflow never started; submit it again', [JobStatus.SUBMITTED]);
  return (await getJob(job.jobId)) ?? job;
}

/** The job as the API shows it (data JSON text: an inline result is embedded without parsing it again). */
export function jobView(event: APIGatewayProxyEvent, job: JobRecord): string {
  const view: Record<string, unknown> = {
    jobId: job.jobId,
    status: job.status,
    operation: job.operation,
    parameters: job.parameters,
    submittedAt: job.submittedAt,
  };
  if (job.startedAt) view.startedAt = job.startedAt;
  if (job.finishedAt) view.finishedAt = job.finishedAt;
  view.statusUrl = statusUrlOf(event, job.jobId);
  if (job.expiresAt) view.expiresAt = new Date(job.expiresAt * 1000).toISOString();
  let inline: string | undefined;
  if (job.status === JobStatus.SUCCEEDED) {
    view.rowCount = job.rowCount;
    view.truncated = job.truncated ?? false;
    view.dataGeneration = job.dataGeneration;
    // As the synchronous answers' meta: the result reflects dataGeneration; a later one was committed.
    view.stale = job.dataGeneration !== undefined && job.latestDataGeneration !== undefined && job.dataGeneration < job.latestDataGeneration;
    if (view.stale) view.latestDataGeneration = job.latestDataGeneration;
    view.durationMs = job.durationMs;
    if (job.resultKind === ResultKind.LARGE && job.resultJson) {
      const pointer = JSON.parse(job.resultJson) as LargeResultRef;
      view.largeResult = true;
      view.downloadUrl = `${baseUrlOf(event)}/download/${pointer.key}`;
      view.resultExpiresAt = pointer.expiresAt;
      view.bytes = pointer.bytes;
      view.format = pointer.format;
      view.contentEncoding = pointer.contentEncoding;
    } else {
      view.largeResult = false;
      inline = job.resultJson ?? 'null';
    }
  }
  if (job.status === JobStatus.FAILED) view.error = publicJobError(job.errorName, job.errorCause);
  const text = JSON.stringify(view);
  return inline === undefined ? text : `${text.slice(0, -1)},"result":${inline}}`;
}

/** `GET /analytics/jobs/{jobId}` */
export async function jobStatus(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const jobId = jobIdOf(event);
  const notFound = new ApiError(ErrorCode.NOT_FOUND, 'No job with that id (it may have expired)');
  if (!isJobId(jobId)) throw notFound;
  let job = await getJob(jobId);
  if (!job) throw notFound;
  job = await reconcileUnstarted(job);
  return envelope(event, 200, jobView(event, job), { operation: 'job_status', jobStatus: job.status });
}
