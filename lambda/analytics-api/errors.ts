/**
 * The API's errors: one shape (`error.code`, `error.message`, optional `error.details`, `requestId`)
 * and one status per kind of failure. PostgreSQL errors are mapped by SQLSTATE; anything we do not
 * recognise is our own bug (500) and its text is never sent to the caller.
 */

export enum ErrorCode {
  BAD_REQUEST = 'BAD_REQUEST',
  INVALID_JSON = 'INVALID_JSON',
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  UNKNOWN_OPERATION = 'UNKNOWN_OPERATION',
  QUERY_REFUSED = 'QUERY_REFUSED',
  NOT_FOUND = 'NOT_FOUND',
  METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  QUERY_REJECTED = 'QUERY_REJECTED',
  DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE',
  QUERY_TIMEOUT = 'QUERY_TIMEOUT',
  THROTTLED = 'THROTTLED',
  INTERNAL_ERROR = 'INTERNAL_ERROR',
}

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  [ErrorCode.BAD_REQUEST]: 400,
  [ErrorCode.INVALID_JSON]: 400,
  [ErrorCode.VALIDATION_FAILED]: 400,
  [ErrorCode.UNKNOWN_OPERATION]: 400,
  [ErrorCode.QUERY_REFUSED]: 400,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.METHOD_NOT_ALLOWED]: 405,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.QUERY_REJECTED]: 422,
  [ErrorCode.THROTTLED]: 429,
  [ErrorCode.INTERNAL_ERROR]: 500,
  [ErrorCode.DATABASE_UNAVAILABLE]: 503,
  [ErrorCode.QUERY_TIMEOUT]: 504,
};

export interface ErrorDetail {
  /** JSON pointer-ish path of the offending input, e.g. `parameters.min_group_size`. */
  readonly path?: string;
  readonly message: string;
  readonly [key: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  /** Whether retrying the same request later may succeed (database unavailable, timeout, serialization failure). */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[] | Record<string, unknown>,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = STATUS_BY_CODE[code];
    this.retryable = options.retryable ?? (code === ErrorCode.DATABASE_UNAVAILABLE || code === ErrorCode.QUERY_TIMEOUT);
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

interface PgLikeError {
  readonly code?: string;
  readonly message?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly position?: string;
  readonly errno?: number;
  readonly syscall?: string;
}

/** Node.js network errors and pg client messages meaning "could not talk to the database". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE']);
const CONNECTION_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)|server closed the connection/i;

/**
 * Maps a PostgreSQL (or connection) error to the API's error, or undefined when it is not one.
 * The database's message is passed through for 422 (the caller's query was rejected).
 */
export function fromDatabaseError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const e = error as PgLikeError;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const pgDetails = () => {
    const details: Record<string, unknown> = { sqlstate: code };
    if (e.detail) details.detail = e.detail;
    if (e.hint) details.hint = e.hint;
    if (e.position) details.position = Number(e.position);
    return details;
  };

  if (NETWORK_CODES.has(code) || (!code && CONNECTION_MESSAGES.test(message))) {
    return new ApiError(ErrorCode.DATABASE_UNAVAILABLE, 'The database is unavailable; try again later', { reason: 'connection failed' }, { cause: error });
  }
  if (!/^[0-9A-Z]{5}$/.test(code)) return undefined;
  const cls = code.slice(0, 2);
  if (code === '57014') {
    return new ApiError(ErrorCode.QUERY_TIMEOUT, 'The query was cancelled: it ran longer than the statement timeout', { sqlstate: code }, { cause: error });
  }
  if (cls === '08' || cls === '53' || cls === '57' || code === '58000' || code === '58030' || cls === '28' || code === '3D000' || code === '55P03') {
    // connection exceptions, insufficient resources (53300 too many connections), operator intervention
    // (shutdown, cannot connect now), authentication failures after the rotation retry, lock not available.
    return new ApiError(ErrorCode.DATABASE_UNAVAILABLE, 'The database is unavailable; try again later', { sqlstate: code }, { cause: error });
  }
  if (cls === '40') {
    // serialization failure / deadlock: transient
    return new ApiError(ErrorCode.DATABASE_UNAVAILABLE, 'The query conflicted with concurrent work; try again', { sqlstate: code }, { cause: error });
  }
  if (cls === '42' || cls === '22' || cls === '23' || cls === '25' || cls === '2B' || cls === '54' || cls === '0A' || cls === '21' || cls === '44' || cls === '2F' || cls === '38' || cls === '39') {
    // syntax/access rule violations (42P01 undefined table, 42703 undefined column, 42501 permission),
    // data exceptions (22xxx), read-only transaction (25006), program limits (54xxx), feature not supported.
    return new ApiError(ErrorCode.QUERY_REJECTED, `The database rejected the query: ${message}`, pgDetails(), { cause: error });
  }
  return undefined;
}

/** Any error as an ApiError: unknown errors become a 500 without their text. */
export function toApiError(error: unknown): ApiError {
  return fromDatabaseError(error) ?? new ApiError(ErrorCode.INTERNAL_ERROR, 'Internal error', undefined, { cause: error });
}
