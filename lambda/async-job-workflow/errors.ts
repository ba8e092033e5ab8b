/**
 * The job runner's errors. Step Functions matches a Lambda error by its `errorType`, which the
 * Node.js runtime takes from the thrown error's `name`: the name alone says whether the state
 * machine retries (transient) or fails the job at once (permanent).
 *
 *   TransientDatabaseError   connection refused/reset/terminated, too many connections, serialization
 *                            failure or deadlock, database starting or shutting down      → retried
 *   TransientServiceError    throttling or a 5xx of an AWS service (S3, DynamoDB) or the network to it → retried
 *   QueryTimeoutError        the query ran past the job's time budget (retrying would time out again)
 *   QueryRejectedError       the database rejected the query (e.g. an unknown table: the caller's error)
 *   InvalidJobError          the job's operation or parameters are invalid (the submit handler checks them first)
 *   JobInternalError         anything else (our bug)
 *
 * The AsyncJobWorkflow construct retries exactly TRANSIENT_JOB_ERRORS (a test checks the two agree).
 */
import { ApiError, ErrorCode } from '../analytics-api/errors';

export enum JobErrorName {
  TRANSIENT_DATABASE = 'TransientDatabaseError',
  TRANSIENT_SERVICE = 'TransientServiceError',
  QUERY_TIMEOUT = 'QueryTimeoutError',
  QUERY_REJECTED = 'QueryRejectedError',
  INVALID_JOB = 'InvalidJobError',
  INTERNAL = 'JobInternalError',
}

/** Error names the workflow retries with backoff. */
export const TRANSIENT_JOB_ERRORS: readonly string[] = [JobErrorName.TRANSIENT_DATABASE, JobErrorName.TRANSIENT_SERVICE];

/** The API error code a job error is reported with. */
const CODE_BY_NAME: Record<JobErrorName, ErrorCode> = {
  [JobErrorName.TRANSIENT_DATABASE]: ErrorCode.DATABASE_UNAVAILABLE,
  [JobErrorName.TRANSIENT_SERVICE]: ErrorCode.INTERNAL_ERROR,
  [JobErrorName.QUERY_TIMEOUT]: ErrorCode.QUERY_TIMEOUT,
  [JobErrorName.QUERY_REJECTED]: ErrorCode.QUERY_REJECTED,
  [JobErrorName.INVALID_JOB]: ErrorCode.VALIDATION_FAILED,
  [JobErrorName.INTERNAL]: ErrorCode.INTERNAL_ERROR,
};

export class JobError extends Error {
  constructor(name: JobErrorName, message: string, options: { cause?: unknown } = {}) {
    super(message);
    this.name = name;
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

interface SdkLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly $retryable?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const THROTTLING_NAMES = new Set([
  'ThrottlingException', 'Throttling', 'ThrottledException', 'TooManyRequestsException', 'RequestLimitExceeded',
  'ProvisionedThroughputExceededException', 'SlowDown', 'RequestThrottled', 'RequestThrottledException',
  'ServiceUnavailable', 'InternalError', 'InternalServerError', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Whether an AWS SDK (or network) error is worth retrying later. */
export function isTransientServiceError(error: unknown): boolean {
  const e = error as SdkLikeError;
  if (!e || typeof e !== 'object') return false;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name && THROTTLING_NAMES.has(e.name)) return true;
  return typeof e.code === 'string' && NETWORK_CODES.has(e.code);
}

/** The job error for anything the runner caught (ApiErrors from the operation runner, SDK errors…). */
export function classifyJobError(error: unknown): JobError {
  if (error instanceof JobError) return error;
  if (error instanceof ApiError) {
    switch (error.code) {
      case ErrorCode.DATABASE_UNAVAILABLE:
        return new JobError(JobErrorName.TRANSIENT_DATABASE, error.message, { cause: error });
      case ErrorCode.THROTTLED:
        return new JobError(JobErrorName.TRANSIENT_SERVICE, error.message, { cause: error });
      case ErrorCode.QUERY_TIMEOUT:
        return new JobError(JobErrorName.QUERY_TIMEOUT, error.message, { cause: error });
      case ErrorCode.QUERY_REJECTED:
        return new JobError(JobErrorName.QUERY_REJECTED, error.message, { cause: error });
      case ErrorCode.INTERNAL_ERROR: {
        const cause = (error as { cause?: unknown }).cause;
        if (isTransientServiceError(cause)) {
          return new JobError(JobErrorName.TRANSIENT_SERVICE, 'An AWS service call failed; the job will be retried', { cause: error });
        }
        return new JobError(JobErrorName.INTERNAL, 'Internal error', { cause: error });
      }
      default:
        // 400/404/413: the job's operation or parameters
        return new JobError(JobErrorName.INVALID_JOB, error.message, { cause: error });
    }
  }
  if (isTransientServiceError(error)) {
    return new JobError(JobErrorName.TRANSIENT_SERVICE, 'An AWS service call failed; the job will be retried', { cause: error });
  }
  return new JobError(JobErrorName.INTERNAL, 'Internal error', { cause: error });
}

export interface PublicJobError {
  /** The API's error code (DATABASE_UNAVAILABLE, QUERY_TIMEOUT, QUERY_REJECTED, …, JOB_TIMEOUT, JOB_ABORTED). */
  readonly code: string;
  readonly message: string;
  /** The workflow's error name (e.g. `QueryRejectedError`, `States.Timeout`). */
  readonly type: string;
}

/** The `errorMessage` of a Lambda error's cause (Step Functions passes `{"errorType","errorMessage","trace"}` as text). */
function lambdaErrorMessage(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed?.errorMessage === 'string' ? parsed.errorMessage : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a caller is told about a failed job. Messages of the runner's own errors are written for the
 * caller; anything else (Step Functions, DynamoDB, Lambda service errors) is described without its
 * cause, which stays on the job record for operators.
 */
export function publicJobError(errorName: string | undefined, errorCause: string | undefined): PublicJobError {
  const type = errorName || 'Unknown';
  const known = (Object.values(JobErrorName) as string[]).includes(type) ? (type as JobErrorName) : undefined;
  if (known) {
    return { code: CODE_BY_NAME[known], message: lambdaErrorMessage(errorCause) ?? errorCause ?? 'The job failed', type };
  }
  if (type === 'States.Timeout' || type === 'Sandbox.Timedout' || type === 'Execution.TIMED_OUT') {
    return { code: 'JOB_TIMEOUT', message: 'The job ran longer than its time limit', type };
  }
  if (type === 'Execution.ABORTED') return { code: 'JOB_ABORTED', message: 'The job was stopped before it finished', type };
  if (type === 'StartExecutionFailed') return { code: 'JOB_START_FAILED', message: errorCause ?? 'The job could not be started', type };
  if (type === 'JobNotStarted') return { code: 'JOB_START_FAILED', message: errorCause ?? 'The job was never started', type };
  return { code: ErrorCode.INTERNAL_ERROR, message: `The job failed (${type.slice(0, 100)})`, type };
}
