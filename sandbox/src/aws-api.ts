/**
 * One local HTTP endpoint for the AWS APIs that have no emulator (Secrets Manager, EventBridge,
 * Step Functions, SNS, SES v2, Lambda Invoke): the handlers' SDK clients are pointed at it with
 * AWS_ENDPOINT_URL_<SERVICE>, and requests are routed by protocol (X-Amz-Target for JSON
 * protocols, the form's Action for query protocols, the path for REST protocols). Signatures are
 * not checked. `/_sandbox/*` is the sandbox's own admin API.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

export class AwsError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
    this.name = type;
  }
}

export interface AwsRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface AwsResponse {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** A JSON-protocol service: `X-Amz-Target: <prefix>.<Operation>`. */
export type JsonOperation = (input: any, request: AwsRequest) => Promise<unknown> | unknown;
/** A query-protocol service (`Action=…` form): returns the XML result element's inner XML. */
export type QueryOperation = (params: URLSearchParams) => Promise<string> | string;
/** A REST route. */
export type RestRoute = (request: AwsRequest, match: RegExpExecArray) => Promise<AwsResponse> | AwsResponse;

interface JsonService {
  readonly contentType: string;
  readonly operations: Record<string, JsonOperation>;
}

interface QueryService {
  readonly xmlns: string;
  readonly operations: Record<string, QueryOperation>;
}

export class LocalAwsApi {
  private readonly json = new Map<string, JsonService>();
  private readonly query: QueryService[] = [];
  private readonly rest: Array<{ method: string; pattern: RegExp; route: RestRoute }> = [];
  private server: http.Server | undefined;
  endpoint = '';
  /** Requests by service, for the summary. */
  readonly counts: Record<string, number> = {};

  /** Registers a JSON 1.0/1.1 service by its target prefix (e.g. `AWSEvents`, `secretsmanager`). */
  jsonService(targetPrefix: string, jsonVersion: '1.0' | '1.1', operations: Record<string, JsonOperation>): void {
    this.json.set(targetPrefix, { contentType: `application/x-amz-json-${jsonVersion}`, operations });
  }

  queryService(xmlns: string, operations: Record<string, QueryOperation>): void {
    this.query.push({ xmlns, operations });
  }

  route(method: string, pattern: RegExp, route: RestRoute): void {
    this.rest.push({ method, pattern, route });
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://local');
        const request: AwsRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks) };
        this.dispatch(request).then(
          (r) => {
            res.writeHead(r.status ?? 200, r.headers ?? {});
            res.end(r.body ?? '');
          },
          (error: Error) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ __type: 'InternalFailure', message: error.message }));
          },
        );
      });
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.endpoint = `http://${host}:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  private count(service: string): void {
    this.counts[service] = (this.counts[service] ?? 0) + 1;
  }

  private async dispatch(request: AwsRequest): Promise<AwsResponse> {
    const target = String(request.headers['x-amz-target'] ?? '');
    if (target) {
      const dot = target.lastIndexOf('.');
      const service = this.json.get(target.slice(0, dot));
      const operation = target.slice(dot + 1);
      const contentType = service?.contentType ?? 'application/x-amz-json-1.1';
      const reply = (status: number, payload: unknown): AwsResponse => ({
        status,
        headers: { 'content-type': contentType, 'x-amzn-requestid': requestId() },
        body: JSON.stringify(payload ?? {}),
      });
      const op = service?.operations[operation];
      if (!op) return reply(400, { __type: 'UnknownOperationException', message: `The sandbox does not implement ${target}` });
      this.count(target.slice(0, dot));
      try {
        const input = request.body.length > 0 ? JSON.parse(request.body.toString('utf8')) : {};
        return reply(200, await op(input, request));
      } catch (error) {
        return errorReply(error, (status, type, message) => ({
          status,
          headers: { 'content-type': contentType, 'x-amzn-errortype': type },
          body: JSON.stringify({ __type: type, message }),
        }));
      }
    }
    const contentType = String(request.headers['content-type'] ?? '');
    if (request.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
      const params = new URLSearchParams(request.body.toString('utf8'));
      const action = params.get('Action') ?? '';
      const service = this.query.find((s) => s.operations[action]);
      if (service) {
        this.count(service.xmlns);
        try {
          const result = await service.operations[action](params);
          return {
            headers: { 'content-type': 'text/xml' },
            body: `<${action}Response xmlns="${service.xmlns}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`,
          };
        } catch (error) {
          return errorReply(error, (status, type, message) => ({
            status,
            headers: { 'content-type': 'text/xml' },
            body: `<ErrorResponse><Error><Type>Sender</Type><Code>${xml(type)}</Code><Message>${xml(message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`,
          }));
        }
      }
    }
    for (const { method, pattern, route } of this.rest) {
      const match = method === request.method ? pattern.exec(request.path) : null;
      if (!match) continue;
      this.count(pattern.source.split('/')[1] ?? 'rest');
      try {
        return await route(request, match);
      } catch (error) {
        return errorReply(error, (status, type, message) => ({
          status,
          headers: { 'content-type': 'application/json', 'x-amzn-errortype': type },
          body: JSON.stringify({ message, __type: type }),
        }));
      }
    }
    return { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: `The sandbox has no API at ${request.method} ${request.path}` }) };
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

function errorReply(error: unknown, format: (status: number, type: string, message: string) => AwsResponse): AwsResponse {
  if (error instanceof AwsError) return format(error.status, error.type, error.message);
  if (error instanceof SyntaxError) return format(400, 'SerializationException', error.message);
  return format(500, 'InternalFailure', (error as Error)?.message ?? String(error));
}

let counter = 0;
export function requestId(): string {
  counter++;
  return `00000000-0000-4000-8000-${(Date.now() * 1000 + counter).toString(16).padStart(12, '0').slice(-12)}`;
}

export function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
