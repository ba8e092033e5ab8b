/**
 * HTTP side of the API: reading API Gateway REST proxy events and writing the one success envelope
 * and the one error shape.
 *
 *   200 { "data": …, "meta": { operation, rowCount, durationMs, cache, dataGeneration, requestId, … } }
 *   4xx/5xx { "error": { "code", "message", "details"? }, "requestId" }
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ApiError, ErrorCode } from './errors';

/** Largest accepted request body (MAX_BODY_BYTES, default 64 KiB): larger is 413. */
export function maxBodyBytes(): number {
  return Number(process.env.MAX_BODY_BYTES ?? 64 * 1024);
}

export function requestIdOf(event: APIGatewayProxyEvent): string {
  return event.requestContext?.requestId ?? event.headers?.['x-amzn-trace-id'] ?? 'unknown';
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key ? headers[key] ?? undefined : undefined;
}

/** CORS headers for the request's Origin when it is allowed (CORS_ALLOW_ORIGINS: comma list or `*`). */
export function corsHeaders(event: APIGatewayProxyEvent): Record<string, string> {
  const allowed = (process.env.CORS_ALLOW_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  if (allowed.length === 0) return {};
  if (allowed.includes('*')) return { 'access-control-allow-origin': '*' };
  const origin = header(event, 'origin');
  return origin && allowed.includes(origin) ? { 'access-control-allow-origin': origin, 'vary': 'Origin' } : { vary: 'Origin' };
}

export function jsonResponse(
  event: APIGatewayProxyEvent, statusCode: number, body: string, extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': requestIdOf(event),
      ...corsHeaders(event),
      ...extraHeaders,
    },
    body,
  };
}

/** The success envelope; `dataJson` is already serialized (never serialized twice). */
export function envelope(event: APIGatewayProxyEvent, statusCode: number, dataJson: string, meta: Record<string, unknown>): APIGatewayProxyResult {
  return jsonResponse(event, statusCode, `{"data":${dataJson},"meta":${JSON.stringify({ ...meta, requestId: requestIdOf(event) })}}`);
}

export function errorResponse(event: APIGatewayProxyEvent, error: ApiError): APIGatewayProxyResult {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details !== undefined) body.details = error.details;
  const headers: Record<string, string> = {};
  if (error.retryable) headers['retry-after'] = error.code === ErrorCode.QUERY_TIMEOUT ? '30' : '5';
  return jsonResponse(event, error.status, JSON.stringify({ error: body, requestId: requestIdOf(event) }), headers);
}

/**
 * The resource template of a request: API Gateway's (`event.resource`), or, behind a proxy route
 * (`/{proxy+}`, the sandbox), the path mapped by `templateOf` (e.g. `/download/abc` →
 * `/download/{key}`; the path itself when it returns undefined).
 */
export function resourceTemplateOf(event: APIGatewayProxyEvent, templateOf: (path: string) => string | undefined): string {
  if (event.resource && event.resource !== '/{proxy+}') return event.resource;
  const path = (event.path ?? '/').replace(/\/+$/, '') || '/';
  return templateOf(path) ?? path;
}

/**
 * Logs a request that failed on our side: our own bugs (500) as errors with their stack, an
 * unavailable database or a timeout (other 5XX) as operational warnings. The caller's mistakes
 * (4XX) are answered, not logged.
 */
export function logServerError(logger: Logger, error: unknown, apiError: ApiError): void {
  if (apiError.status < 500) return;
  const log = apiError.status === 500 ? logger.error.bind(logger) : logger.warn.bind(logger);
  log('Request failed', { code: apiError.code, error: (error as Error)?.message, stack: apiError.status === 500 ? (error as Error)?.stack : undefined });
}

/**
 * The public URL prefix of this API (scheme, host and stage or base path), for links in responses.
 * PUBLIC_BASE_URL overrides it (e.g. behind a CDN).
 */
export function baseUrlOf(event: APIGatewayProxyEvent): string {
  if (process.env.PUBLIC_BASE_URL) return process.env.PUBLIC_BASE_URL.replace(/\/+$/, '');
  const ctx = event.requestContext;
  const host = ctx?.domainName ?? header(event, 'host');
  if (!host) return '';
  // requestContext.path is the full path (with the stage or custom-domain base path); event.path is the resource path.
  const full = ctx?.path ?? '';
  const prefix = full && event.path && full.endsWith(event.path) ? full.slice(0, full.length - event.path.length) : ctx?.stage ? `/${ctx.stage}` : '';
  // API Gateway serves HTTPS only; a local emulator may say otherwise in X-Forwarded-Proto.
  const proto = header(event, 'x-forwarded-proto') === 'http' ? 'http' : 'https';
  return `${proto}://${host}${prefix}`;
}

/** The request body as text: base64 decoded, size-checked (413), or undefined when there is none. */
export function bodyText(event: APIGatewayProxyEvent): string | undefined {
  if (event.body === null || event.body === undefined || event.body === '') return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (raw.length > maxBodyBytes()) {
    throw new ApiError(ErrorCode.PAYLOAD_TOO_LARGE, `The request body is ${raw.length} bytes; at most ${maxBodyBytes()} are accepted`, { limitBytes: maxBodyBytes() });
  }
  return raw.toString('utf8');
}

/** Parses a JSON body; malformed JSON is a 400 that says where. */
export function parseJsonBody(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') throw new ApiError(ErrorCode.BAD_REQUEST, 'The request body is empty; send {"operation": NAME, "parameters": {…}}');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new ApiError(ErrorCode.INVALID_JSON, `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

const FALSE = new Set(['false', '0', 'no', 'off']);
const TRUE = new Set(['true', '1', 'yes', 'on']);

export function parseCacheFlag(value: unknown, path: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && FALSE.has(value.toLowerCase())) return false;
  if (typeof value === 'string' && TRUE.has(value.toLowerCase())) return true;
  throw new ApiError(ErrorCode.VALIDATION_FAILED, `'${path}' must be true or false`, [{ path, message: 'must be true or false' }]);
}

export interface AnalyticsCall {
  readonly operation: unknown;
  readonly parameters: unknown;
  /** false: do not read the cache. */
  readonly useCache: boolean;
  /** Query-string parameters: coerce strings to the schema's types. */
  readonly coerce: boolean;
}

const RESERVED_QUERY_KEYS = new Set(['operation', 'cache']);

/** `GET /analytics?operation=NAME&…` */
export function callFromQuery(event: APIGatewayProxyEvent): AnalyticsCall {
  const multi = event.multiValueQueryStringParameters ?? Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, [v ?? '']]));
  const single = (key: string): string | undefined => {
    const values = multi[key];
    if (!values || values.length === 0) return undefined;
    if (values.length > 1) throw new ApiError(ErrorCode.VALIDATION_FAILED, `'${key}' was given ${values.length} times`, [{ path: key, message: 'must be given once' }]);
    return values[0];
  };
  const parameters: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(multi)) {
    if (RESERVED_QUERY_KEYS.has(key) || !values) continue;
    // key[]=a&key[]=b, or key=a&key=b: an array; otherwise a single string (coerced by the schema).
    const name = key.endsWith('[]') ? key.slice(0, -2) : key;
    parameters[name] = key.endsWith('[]') || values.length > 1 ? values : values[0];
  }
  return { operation: single('operation'), parameters, useCache: parseCacheFlag(single('cache'), 'cache') ?? true, coerce: true };
}

/** `POST /analytics` with `{"operation": NAME, "parameters": {…}, "cache"?: boolean}` */
export function callFromBody(event: APIGatewayProxyEvent): AnalyticsCall {
  const body = parseJsonBody(bodyText(event));
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, 'The request body must be a JSON object: {"operation": NAME, "parameters": {…}}', [{ path: '', message: 'must be an object' }]);
  }
  const unknown = Object.keys(body).filter((k) => !['operation', 'parameters', 'cache'].includes(k));
  if (unknown.length > 0) {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, `Unknown field${unknown.length > 1 ? 's' : ''} in the request body: ${unknown.slice(0, 10).map((k) => `'${k.slice(0, 50)}'`).join(', ')}`,
      unknown.slice(0, 10).map((k) => ({ path: k.slice(0, 50), message: 'is not a known field (operation, parameters, cache)' })));
  }
  const { operation, parameters, cache } = body as Record<string, unknown>;
  if (operation !== undefined && typeof operation !== 'string') {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, "'operation' must be a string", [{ path: 'operation', message: 'must be a string' }]);
  }
  const queryCache = event.queryStringParameters?.cache;
  return {
    operation,
    parameters,
    useCache: parseCacheFlag(cache, 'cache') ?? parseCacheFlag(queryCache ?? undefined, 'cache') ?? true,
    coerce: false,
  };
}

/**
 * The route for `method resource` (keys `METHOD /resource`); undefined for a CORS preflight
 * (OPTIONS) without a route of its own; otherwise the API's 405 (the resource has other methods)
 * or 404.
 */
export function findRoute<R>(routes: ReadonlyMap<string, R>, method: string, resource: string): R | undefined {
  const route = routes.get(`${method} ${resource}`);
  if (route || method === 'OPTIONS') return route;
  const known = [...routes.keys()].filter((k) => k.endsWith(` ${resource}`));
  throw known.length > 0
    ? new ApiError(ErrorCode.METHOD_NOT_ALLOWED, `${method} is not allowed on ${resource}; use ${known.map((k) => k.split(' ')[0]).join(' or ')}`)
    : new ApiError(ErrorCode.NOT_FOUND, `No route ${method} ${resource.slice(0, 200)}`);
}
