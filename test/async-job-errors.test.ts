/**
 * The job runner's error contract: which failures the workflow retries (by the error's name) and
 * what a caller is told about a failed job.
 */
import { ApiError, ErrorCode, fromDatabaseError } from '../lambda/analytics-api/errors';
import { classifyJobError, JobErrorName, publicJobError, TRANSIENT_JOB_ERRORS } from '../lambda/async-job-workflow/errors';
import { jobBudgetMs, safetyMarginMs } from '../lambda/async-job-workflow/job-runner';
import { TRANSIENT_RUNNER_ERRORS } from '../src/async-job-workflow/job-state-machine';

const pg = (code: string, message = 'x') => Object.assign(new Error(message), { code });
const sdk = (name: string, status?: number, retryable?: boolean) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, $retryable: retryable ? {} : undefined });

test('the state machine retries exactly the runner\'s transient error names', () => {
  expect([...TRANSIENT_RUNNER_ERRORS].sort()).toEqual([...TRANSIENT_JOB_ERRORS].sort());
});

describe('classifyJobError', () => {
  test.each([
    ['connection reset', fromDatabaseError(pg('ECONNRESET')), JobErrorName.TRANSIENT_DATABASE],
    ['connection refused', fromDatabaseError(pg('ECONNREFUSED')), JobErrorName.TRANSIENT_DATABASE],
    ['connection terminated', fromDatabaseError(new Error('Connection terminated unexpectedly')), JobErrorName.TRANSIENT_DATABASE],
    ['serialization failure', fromDatabaseError(pg('40001')), JobErrorName.TRANSIENT_DATABASE],
    ['deadlock', fromDatabaseError(pg('40P01')), JobErrorName.TRANSIENT_DATABASE],
    ['too many connections', fromDatabaseError(pg('53300')), JobErrorName.TRANSIENT_DATABASE],
    ['admin shutdown', fromDatabaseError(pg('57P01')), JobErrorName.TRANSIENT_DATABASE],
    ['statement timeout', fromDatabaseError(pg('57014')), JobErrorName.QUERY_TIMEOUT],
    ['unknown table', fromDatabaseError(pg('42P01', 'relation "x" does not exist')), JobErrorName.QUERY_REJECTED],
    ['division by zero', fromDatabaseError(pg('22012')), JobErrorName.QUERY_REJECTED],
    ['invalid parameters', new ApiError(ErrorCode.VALIDATION_FAILED, 'bad'), JobErrorName.INVALID_JOB],
    ['unknown operation', new ApiError(ErrorCode.UNKNOWN_OPERATION, 'no such'), JobErrorName.INVALID_JOB],
    ['refused SQL', new ApiError(ErrorCode.QUERY_REFUSED, 'no'), JobErrorName.INVALID_JOB],
    ['S3 throttling behind an internal error', new ApiError(ErrorCode.INTERNAL_ERROR, 'Internal error', undefined, { cause: sdk('SlowDown', 503) }), JobErrorName.TRANSIENT_SERVICE],
    ['DynamoDB throughput', sdk('ProvisionedThroughputExceededException', 400, true), JobErrorName.TRANSIENT_SERVICE],
    ['an SDK 500', sdk('InternalServerError', 500), JobErrorName.TRANSIENT_SERVICE],
    ['access denied', new ApiError(ErrorCode.INTERNAL_ERROR, 'Internal error', undefined, { cause: sdk('AccessDenied', 403) }), JobErrorName.INTERNAL],
    ['a bug', new TypeError('undefined is not a function'), JobErrorName.INTERNAL],
  ])('%s → %s', (_label, error, name) => {
    const classified = classifyJobError(error);
    expect(classified.name).toBe(name);
    expect(TRANSIENT_JOB_ERRORS.includes(classified.name)).toBe(name === JobErrorName.TRANSIENT_DATABASE || name === JobErrorName.TRANSIENT_SERVICE);
  });

  test('an internal error never carries its text to the caller', () => {
    expect(classifyJobError(new Error('password=hunter2 at host x')).message).toBe('Internal error');
  });
});

describe('publicJobError', () => {
  const lambdaCause = (errorType: string, errorMessage: string) => JSON.stringify({ errorType, errorMessage, trace: ['at secret/place.js:1'] });

  test('the runner\'s errors: the API code and the runner\'s message, never the trace', () => {
    const e = publicJobError('QueryRejectedError', lambdaCause('QueryRejectedError', 'The database rejected the query: relation "x" does not exist'));
    expect(e).toEqual({ code: 'QUERY_REJECTED', type: 'QueryRejectedError', message: 'The database rejected the query: relation "x" does not exist' });
    expect(JSON.stringify(e)).not.toContain('secret/place');
  });

  test.each([
    ['States.Timeout', 'JOB_TIMEOUT'],
    ['Sandbox.Timedout', 'JOB_TIMEOUT'],
    ['Execution.TIMED_OUT', 'JOB_TIMEOUT'],
    ['Execution.ABORTED', 'JOB_ABORTED'],
    ['Execution.FAILED', 'INTERNAL_ERROR'],
    ['DynamoDB.ConditionalCheckFailedException', 'INTERNAL_ERROR'],
    ['TransientDatabaseError', 'DATABASE_UNAVAILABLE'],
  ])('%s → %s, without the raw cause', (name, code) => {
    const e = publicJobError(name, 'arn:aws:states:secret-internal-cause');
    expect(e.code).toBe(code);
    expect(e.type).toBe(name);
    if (!name.endsWith('Error')) expect(e.message).not.toContain('secret-internal-cause');
  });
});

describe('the job budget', () => {
  test('the query gets the remaining time minus 10% (1 to 30 s)', () => {
    expect(safetyMarginMs(900_000)).toBe(30_000);
    expect(safetyMarginMs(100_000)).toBe(10_000);
    expect(safetyMarginMs(3_000)).toBe(1_000);
    expect(jobBudgetMs({ getRemainingTimeInMillis: () => 900_000 })).toBe(870_000);
    expect(jobBudgetMs({ getRemainingTimeInMillis: () => 3_000 })).toBe(2_000);
  });
});
