/**
 * The async job workflow's configuration, read from the environment the AsyncJobWorkflow construct
 * sets (the contract between the construct and the handlers):
 *
 *   JOB_TABLE_NAME                the job table (the jobs API function; the analytics API function for the delegate)
 *   JOB_STATE_MACHINE_ARN         the job state machine (the same two: they start executions)
 *   JOB_RETENTION_DAYS            days a job record is kept (the TTL attribute; default 7)
 *   JOB_INLINE_RESULT_MAX_BYTES   results up to this many JSON bytes are stored on the job (default 200,000)
 *   JOB_START_GRACE_SECONDS       a job still SUBMITTED after this long is checked against Step Functions (default 120)
 */

/** A job's lifecycle: SUBMITTED (record written) → RUNNING (the workflow started) → SUCCEEDED | FAILED. */
export enum JobStatus {
  SUBMITTED = 'SUBMITTED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}

/** How a succeeded job's result is stored. */
export enum ResultKind {
  /** gzip JSON of the result's `data` on the job record. */
  INLINE = 'INLINE',
  /** gzip JSON of the large-result pointer (the object is in the results bucket). */
  LARGE = 'LARGE',
}

function positive(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function jobTableName(): string | undefined {
  return process.env.JOB_TABLE_NAME || undefined;
}

export function jobStateMachineArn(): string | undefined {
  return process.env.JOB_STATE_MACHINE_ARN || undefined;
}

/** The API function can submit jobs: it knows the job table and the state machine. */
export function jobsEnabled(): boolean {
  return jobTableName() !== undefined && jobStateMachineArn() !== undefined;
}

export function jobRetentionDays(): number {
  return positive('JOB_RETENTION_DAYS', 7);
}

/** Results up to this many bytes of JSON are stored on the job record (about 200 KB). */
export function inlineResultMaxBytes(): number {
  return positive('JOB_INLINE_RESULT_MAX_BYTES', 200_000);
}

/**
 * The largest encoded (gzip + base64) inline result passed through the workflow's state. Step
 * Functions caps a state's data at 256 KiB and the job's input (≤ 64 KiB request body) shares it.
 */
export const MAX_STATE_RESULT_CHARS = 160_000;

export function startGraceSeconds(): number {
  return positive('JOB_START_GRACE_SECONDS', 120);
}

/** Job ids are UUIDs (also the execution names). */
export const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID.test(value);
}

/** The ARN of the execution named `name` of a state machine (Standard workflows). */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
