/**
 * API Gateway (REST APIs), locally: an HTTP server per API with the template's resources and
 * methods, answering as API Gateway does — request validation (required parameters, body
 * models as JSON Schema), API keys (x-api-key of the usage plans' keys), stage and usage-plan
 * throttling, the 10 MB payload limit and the integration timeout — each refusal rendered with
 * the template's gateway responses (or API Gateway's defaults). Lambda proxy integrations get
 * the same proxy event (format 1.0) as in the cloud; MOCK integrations (CORS preflight) answer
 * from their integration responses. Served at the root and under `/<stage>`.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import Ajv from 'ajv';
import type { InvokeResult } from './lambda-runtime';

export interface ApiMethod {
  readonly httpMethod: string;
  readonly authorizationType: string;
  readonly apiKeyRequired: boolean;
  readonly validator?: { body: boolean; parameters: boolean };
  /** Required request parameters (`method.request.querystring.x` → true). */
  readonly requestParameters: Record<string, boolean>;
  /** JSON Schemas by content type. */
  readonly requestModels: Record<string, unknown>;
  readonly integration: {
    readonly type: string;
    /** The function, for AWS_PROXY integrations with Lambda. */
    readonly functionArn?: string;
    readonly timeoutMs: number;
    readonly integrationResponses?: Array<{
      StatusCode: string;
      ResponseParameters?: Record<string, string>;
      ResponseTemplates?: Record<string, string>;
      SelectionPattern?: string;
    }>;
  };
  readonly authorizer?: { type: string; functionArn?: string; identitySource?: string };
}

export interface ApiResourceNode {
  readonly path: string;
  readonly methods: Record<string, ApiMethod>;
}

export interface GatewayResponseSpec {
  readonly statusCode?: string;
  readonly responseParameters?: Record<string, string>;
  readonly responseTemplates?: Record<string, string>;
}

export interface RestApiSpec {
  readonly id: string;
  readonly logicalId: string;
  readonly name: string;
  readonly stage: string;
  readonly resources: ApiResourceNode[];
  readonly gatewayResponses: Record<string, GatewayResponseSpec>;
  readonly binaryMediaTypes: string[];
  /** Enabled API keys that unlock this API (value → key id and usage-plan throttle). */
  readonly apiKeys: Array<{ id: string; value: string; name: string; throttle?: { rateLimit?: number; burstLimit?: number } }>;
  readonly stageThrottle?: { rateLimit?: number; burstLimit?: number };
}

export type LambdaInvoker = (functionArn: string, event: unknown) => Promise<InvokeResult>;

export interface ApiRequestLog {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  readonly responseType?: string;
}

const DEFAULT_RESPONSES: Record<string, { status: number; message: string }> = {
  ACCESS_DENIED: { status: 403, message: 'Forbidden' },
  API_CONFIGURATION_ERROR: { status: 500, message: 'Internal server error' },
  AUTHORIZER_FAILURE: { status: 500, message: 'Internal server error' },
  BAD_REQUEST_BODY: { status: 400, message: 'Invalid request body' },
  BAD_REQUEST_PARAMETERS: { status: 400, message: 'Missing required request parameters' },
  DEFAULT_4XX: { status: 400, message: 'Bad Request' },
  DEFAULT_5XX: { status: 500, message: 'Internal server error' },
  INTEGRATION_FAILURE: { status: 502, message: 'Internal server error' },
  INTEGRATION_TIMEOUT: { status: 504, message: 'Endpoint request timed out' },
  INVALID_API_KEY: { status: 403, message: 'Forbidden' },
  MISSING_AUTHENTICATION_TOKEN: { status: 403, message: 'Missing Authentication Token' },
  REQUEST_TOO_LARGE: { status: 413, message: 'Request Too Long' },
  RESOURCE_NOT_FOUND: { status: 404, message: 'Not Found' },
  THROTTLED: { status: 429, message: 'Too Many Requests' },
  UNAUTHORIZED: { status: 401, message: 'Unauthorized' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Media Type' },
};
const FIVE_XX = new Set(['API_CONFIGURATION_ERROR', 'AUTHORIZER_FAILURE', 'INTEGRATION_FAILURE', 'INTEGRATION_TIMEOUT', 'DEFAULT_5XX']);
const MAX_PAYLOAD = 10 * 1024 * 1024;

class TokenBucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface Route {
  readonly node: ApiResourceNode;
  readonly params: Record<string, string>;
}

function matchRoute(resources: ApiResourceNode[], path: string): Route | undefined {
  const segments = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  let best: { route: Route; score: number[] } | undefined;
  for (const node of resources) {
    const parts = node.path.split('/').filter(Boolean);
    const params: Record<string, string> = {};
    const score: number[] = [];
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const greedy = /^\{(.+)\+\}$/.exec(p);
      if (greedy) {
        if (i >= segments.length) {
          ok = false;
          break;
        }
        params[greedy[1]] = segments.slice(i).join('/');
        score.push(0);
        i = parts.length;
        break;
      }
      if (i >= segments.length) {
        ok = false;
        break;
      }
      const param = /^\{(.+)\}$/.exec(p);
      if (param) {
        params[param[1]] = segments[i];
        score.push(1);
      } else if (p === segments[i]) {
        score.push(2);
      } else {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const greedyUsed = parts.some((p) => /^\{.+\+\}$/.test(p));
    if (!greedyUsed && parts.length !== segments.length) continue;
    if (!best || compareScores(score, best.score) > 0) best = { route: { node, params }, score };
  }
  return best?.route;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

class GatewayError extends Error {
  constructor(readonly responseType: string, message?: string, readonly validationError?: string, readonly status?: number) {
    super(message ?? DEFAULT_RESPONSES[responseType]?.message ?? 'Error');
  }
}

export class LocalRestApi {
  private server: http.Server | undefined;
  url = '';
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  private readonly validators = new Map<unknown, ReturnType<Ajv['compile']>>();
  private readonly stageBucket: TokenBucket | undefined;
  private readonly keyBuckets = new Map<string, TokenBucket>();
  readonly requests: ApiRequestLog[] = [];

  constructor(
    readonly spec: RestApiSpec, private readonly invoke: LambdaInvoker, private readonly account: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    const t = spec.stageThrottle;
    if (t?.rateLimit !== undefined) this.stageBucket = new TokenBucket(t.rateLimit, Math.max(1, t.burstLimit ?? t.rateLimit));
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`Port ${port} is in use: stop what uses it, or start the sandbox with --port <another>`) : e));
      this.server!.listen(port, host, () => resolve());
    });
    const actual = (this.server.address() as AddressInfo).port;
    this.url = `http://localhost:${actual}`;
    return this.url;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://local');
    let path = url.pathname;
    const stagePrefix = `/${this.spec.stage}`;
    if (path === stagePrefix || path.startsWith(`${stagePrefix}/`)) path = path.slice(stagePrefix.length) || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    const ctx: Record<string, string> = { requestId, 'extendedRequestId': requestId.slice(0, 16), 'stage': this.spec.stage, 'httpMethod': method, 'path': url.pathname, 'resourcePath': '', 'identity.sourceIp': req.socket.remoteAddress ?? '127.0.0.1' };
    const finish = (status: number, headers: Record<string, string | string[]>, body: Buffer | string, responseType?: string) => {
      res.writeHead(status, { 'x-amzn-RequestId': requestId, 'x-amz-apigw-id': ctx.extendedRequestId, ...headers });
      res.end(body);
      this.requests.push({ method, path: url.pathname, status, ms: Date.now() - started, responseType });
      if (this.requests.length > 1000) this.requests.shift();
    };
    const fail = (e: GatewayError) => {
      const r = this.gatewayResponse(e, ctx);
      finish(r.status, r.headers, r.body, e.responseType);
    };
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_PAYLOAD) throw new GatewayError('REQUEST_TOO_LARGE');
        chunks.push(c as Buffer);
      }
      const body = Buffer.concat(chunks);
      const route = matchRoute(this.spec.resources, path);
      const m = route ? route.node.methods[method] ?? route.node.methods.ANY : undefined;
      if (!route || !m) throw new GatewayError('MISSING_AUTHENTICATION_TOKEN');
      ctx.resourcePath = route.node.path;
      const headers = rawHeaders(req);
      const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v[v.length - 1]]));
      // Throttling (stage), then the API key and its usage plan, then authorization, then validation.
      if (this.stageBucket && !this.stageBucket.take()) throw new GatewayError('THROTTLED');
      let apiKey: RestApiSpec['apiKeys'][number] | undefined;
      if (m.apiKeyRequired) {
        apiKey = this.spec.apiKeys.find((k) => k.value === lower['x-api-key']);
        if (!apiKey) throw new GatewayError('INVALID_API_KEY');
        if (apiKey.throttle?.rateLimit !== undefined) {
          let bucket = this.keyBuckets.get(apiKey.id);
          if (!bucket) {
            bucket = new TokenBucket(apiKey.throttle.rateLimit, Math.max(1, apiKey.throttle.burstLimit ?? apiKey.throttle.rateLimit));
            this.keyBuckets.set(apiKey.id, bucket);
          }
          if (!bucket.take()) throw new GatewayError('THROTTLED');
        }
      }
      let authorizerContext: Record<string, unknown> | undefined;
      if (m.authorizationType === 'COGNITO_USER_POOLS' && !lower.authorization) throw new GatewayError('UNAUTHORIZED');
      if (m.authorizationType === 'CUSTOM' && m.authorizer?.functionArn) authorizerContext = await this.authorize(m, lower, method, route, requestId);
      const query = url.searchParams;
      if (m.validator?.parameters) {
        const missing = Object.entries(m.requestParameters).filter(([, required]) => required).map(([name]) => name).filter((name) => {
          const [, , where, key] = name.split('.');
          if (where === 'querystring') return !query.has(key);
          if (where === 'header') return lower[key.toLowerCase()] === undefined;
          if (where === 'path') return route.params[key] === undefined;
          return false;
        }).map((name) => name.split('.').pop()!);
        if (missing.length) throw new GatewayError('BAD_REQUEST_PARAMETERS', `Missing required request parameters: [${missing.join(', ')}]`);
      }
      if (m.validator?.body) {
        const contentType = (lower['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
        const schema = m.requestModels[contentType] ?? m.requestModels.$default ?? (lower['content-type'] ? undefined : m.requestModels['application/json']);
        if (schema !== undefined) this.validateBody(schema, body);
      }
      if (m.integration.type === 'MOCK') {
        const r = m.integration.integrationResponses?.[0];
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(r?.ResponseParameters ?? {})) {
          const name = k.replace(/^method\.response\.header\./, '');
          out[name] = v.replace(/^'(.*)'$/, '$1');
        }
        const template = r?.ResponseTemplates?.['application/json'] ?? '';
        finish(Number(r?.StatusCode ?? 200), out, template);
        return;
      }
      if (m.integration.type !== 'AWS_PROXY' || !m.integration.functionArn) {
        throw new GatewayError('API_CONFIGURATION_ERROR', `The sandbox runs Lambda proxy and MOCK integrations only, not ${m.integration.type}`);
      }
      const binary = this.isBinary(lower['content-type']);
      const event = {
        resource: route.node.path,
        path,
        httpMethod: method,
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v[v.length - 1]])),
        multiValueHeaders: headers,
        queryStringParameters: query.size ? Object.fromEntries([...query.keys()].map((k) => [k, query.getAll(k).slice(-1)[0]])) : null,
        multiValueQueryStringParameters: query.size ? Object.fromEntries([...new Set(query.keys())].map((k) => [k, query.getAll(k)])) : null,
        pathParameters: Object.keys(route.params).length ? route.params : null,
        stageVariables: null,
        requestContext: {
          resourceId: route.node.path,
          resourcePath: route.node.path,
          httpMethod: method,
          extendedRequestId: ctx.extendedRequestId,
          requestTime: new Date(started).toUTCString(),
          path: url.pathname,
          accountId: this.account,
          protocol: `HTTP/${req.httpVersion}`,
          stage: this.spec.stage,
          domainPrefix: (lower.host ?? 'localhost').split('.')[0],
          requestTimeEpoch: started,
          requestId,
          identity: {
            cognitoIdentityPoolId: null,
            accountId: null,
            cognitoIdentityId: null,
            caller: null,
            principalOrgId: null,
            accessKey: null,
            cognitoAuthenticationType: null,
            cognitoAuthenticationProvider: null,
            userArn: null,
            user: null,
            sourceIp: ctx['identity.sourceIp'],
            userAgent: lower['user-agent'] ?? null,
            apiKey: apiKey?.value ?? null,
            apiKeyId: apiKey?.id ?? null,
          },
          ...(authorizerContext ? { authorizer: authorizerContext } : {}),
          domainName: lower.host ?? 'localhost',
          apiId: this.spec.id,
        },
        body: body.length ? (binary ? body.toString('base64') : body.toString('utf8')) : null,
        isBase64Encoded: body.length > 0 && binary,
      };
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), m.integration.timeoutMs).unref());
      const result = await Promise.race([this.invoke(m.integration.functionArn, event), timeout]);
      if (result === 'timeout') throw new GatewayError('INTEGRATION_TIMEOUT');
      if (result.error) {
        this.log(`  ✘ ${method} ${path}: the function failed: ${result.error.errorType}: ${result.error.errorMessage} (502)`);
        throw new GatewayError('DEFAULT_5XX', 'Internal server error', undefined, 502);
      }
      const r = result.payload as any;
      if (!r || typeof r !== 'object' || (r.statusCode !== undefined && !Number.isInteger(Number(r.statusCode)))) {
        throw new GatewayError('DEFAULT_5XX', 'Internal server error', undefined, 502);
      }
      const outHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries<any>(r.multiValueHeaders ?? {})) outHeaders[k] = (v as unknown[]).map(String);
      for (const [k, v] of Object.entries<any>(r.headers ?? {})) outHeaders[k] = String(v);
      if (!Object.keys(outHeaders).some((k) => k.toLowerCase() === 'content-type')) outHeaders['Content-Type'] = 'application/json';
      const responseBody = r.body === undefined || r.body === null ? '' : r.isBase64Encoded ? Buffer.from(String(r.body), 'base64') : String(r.body);
      finish(Number(r.statusCode ?? 200), outHeaders, responseBody);
    } catch (error) {
      if (error instanceof GatewayError) return fail(error);
      return fail(new GatewayError('DEFAULT_5XX', 'Internal server error'));
    }
  }

  private async authorize(
    m: ApiMethod, headers: Record<string, string>, method: string, route: Route, requestId: string,
  ): Promise<Record<string, unknown>> {
    const source = (m.authorizer?.identitySource ?? 'method.request.header.Authorization').split(',')[0].trim();
    const headerName = source.replace(/^method\.request\.header\./, '').toLowerCase();
    const token = headers[headerName];
    if (m.authorizer?.type !== 'REQUEST' && !token) throw new GatewayError('UNAUTHORIZED');
    const methodArn = `arn:aws:execute-api:us-east-1:${this.account}:${this.spec.id}/${this.spec.stage}/${method}${route.node.path}`;
    const event = m.authorizer?.type === 'REQUEST'
      ? { type: 'REQUEST', methodArn, resource: route.node.path, path: route.node.path, httpMethod: method, headers, pathParameters: route.params, requestContext: { requestId, stage: this.spec.stage } }
      : { type: 'TOKEN', authorizationToken: token, methodArn };
    const result = await this.invoke(m.authorizer!.functionArn!, event);
    if (result.error) {
      if (/Unauthorized/.test(result.error.errorMessage)) throw new GatewayError('UNAUTHORIZED');
      throw new GatewayError('AUTHORIZER_FAILURE');
    }
    const policy = (result.payload as any)?.policyDocument;
    const allowed = (policy?.Statement ?? []).some((s: any) => s.Effect === 'Allow') && !(policy?.Statement ?? []).some((s: any) => s.Effect === 'Deny');
    if (!allowed) throw new GatewayError('ACCESS_DENIED', 'User is not authorized to access this resource with an explicit deny');
    return { principalId: (result.payload as any)?.principalId, ...((result.payload as any)?.context ?? {}) };
  }

  private validateBody(schema: unknown, body: Buffer): void {
    let value: unknown;
    try {
      value = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch (e) {
      throw new GatewayError('BAD_REQUEST_BODY', 'Invalid request body', `Invalid JSON: ${(e as Error).message}`);
    }
    let validate = this.validators.get(schema);
    if (!validate) {
      const { $schema, ...rest } = schema as Record<string, unknown>;
      void $schema;
      validate = this.ajv.compile(rest);
      this.validators.set(schema, validate);
    }
    if (value === undefined || !validate(value)) {
      const detail = value === undefined ? 'the request body is empty' : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
      throw new GatewayError('BAD_REQUEST_BODY', 'Invalid request body', `[${detail}]`);
    }
  }

  private isBinary(contentType: string | undefined): boolean {
    if (!contentType) return false;
    const type = contentType.split(';')[0].trim().toLowerCase();
    return this.spec.binaryMediaTypes.some((t) => {
      const pattern = t.replace('~1', '/').toLowerCase();
      return pattern === type || pattern === '*/*' || (pattern.endsWith('/*') && type.startsWith(pattern.slice(0, -1)));
    });
  }

  /** Renders a gateway response: the template's (for the type, else DEFAULT_4XX/5XX), else API Gateway's default. */
  private gatewayResponse(e: GatewayError, ctx: Record<string, string>): { status: number; headers: Record<string, string>; body: string } {
    const fallback = FIVE_XX.has(e.responseType) ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
    const spec = this.spec.gatewayResponses[e.responseType] ?? this.spec.gatewayResponses[fallback];
    const status = Number(spec?.statusCode ?? e.status ?? DEFAULT_RESPONSES[e.responseType]?.status ?? (FIVE_XX.has(e.responseType) ? 500 : 400));
    const values: Record<string, string> = {
      ...ctx,
      'error.message': e.message,
      'error.messageString': JSON.stringify(e.message),
      'error.responseType': e.responseType,
      'error.validationErrorString': e.validationError ?? '',
    };
    const template = spec?.responseTemplates?.['application/json'] ?? '{"message":$context.error.messageString}';
    const body = template
      .replace(ESCAPED_REFERENCE, (_m, k: string, calls: string) => applyStringCalls(escapeJavaScript(values[k] ?? ''), calls))
      .replace(/\$\{context\.([A-Za-z.]+)\}|\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)/g, (_m, braced: string, plain: string) => values[braced ?? plain] ?? '');
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'x-amzn-ErrorType': errorTypeHeader(e.responseType) };
    for (const [k, v] of Object.entries(spec?.responseParameters ?? {})) {
      headers[k.replace(/^gatewayresponse\.header\./, '')] = v.replace(/^'(.*)'$/, '$1');
    }
    return { status, headers, body };
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

function errorTypeHeader(type: string): string {
  switch (type) {
    case 'INVALID_API_KEY': return 'ForbiddenException';
    case 'MISSING_AUTHENTICATION_TOKEN': return 'MissingAuthenticationTokenException';
    case 'THROTTLED': return 'TooManyRequestsException';
    case 'BAD_REQUEST_BODY':
    case 'BAD_REQUEST_PARAMETERS': return 'BadRequestException';
    default: return type;
  }
}

/** Request headers with their original case, multi-valued. */
function rawHeaders(req: http.IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i];
    (out[k] ??= []).push(req.rawHeaders[i + 1]);
  }
  out['X-Forwarded-Proto'] ??= ['http'];
  out['X-Forwarded-For'] ??= [req.socket.remoteAddress ?? '127.0.0.1'];
  out['X-Forwarded-Port'] ??= [String(req.socket.localPort ?? '')];
  return out;
}

/** `$util.escapeJavaScript($context.x)` with the Java String calls chained on it (`.replaceAll("a", "b")`, `.replace(...)`). */
const ESCAPED_REFERENCE = /\$util\.escapeJavaScript\(\s*\$context\.([A-Za-z.]+)\s*\)((?:\.(?:replaceAll|replace)\(\s*"(?:[^"\\]|\\.)*"\s*,\s*"(?:[^"\\]|\\.)*"\s*\))*)/g;
const STRING_CALL = /\.(replaceAll|replace)\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)/g;

/** API Gateway's `$util.escapeJavaScript`: JavaScript string escapes, single quotes included (`\'`). */
export function escapeJavaScript(value: string): string {
  return JSON.stringify(value).slice(1, -1).replace(/'/g, "\\'");
}

/** Applies chained Java String calls: `replaceAll` takes a regular expression, `replace` a literal. */
export function applyStringCalls(value: string, calls: string): string {
  let result = value;
  for (const [, method, target, replacement] of calls.matchAll(STRING_CALL)) {
    result = method === 'replaceAll'
      ? result.replace(new RegExp(target, 'g'), replacement)
      : result.split(target).join(replacement);
  }
  return result;
}
