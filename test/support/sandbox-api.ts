/**
 * HTTP calls to a running sandbox's REST API with its API key, the answer's body parsed as JSON
 * when it is JSON (gateway and handler errors are; a download is not).
 */
import type { Sandbox } from '../../sandbox/src';

export interface ApiAnswer {
  readonly status: number;
  readonly json: any;
  readonly headers: Headers;
}

export interface SandboxApi {
  /** `path` of the first REST API, e.g. `/health`. */
  call(path: string, init?: RequestInit): Promise<ApiAnswer>;
  /** POST `body` (sent as is, so it may be malformed) to `/analytics` as JSON. */
  postAnalytics(body: string): Promise<ApiAnswer>;
}

/** `sandbox` is read at call time (it starts in `beforeAll`); `defaults` apply to every call (e.g. `redirect: 'manual'`). */
export function sandboxApi(sandbox: () => Sandbox, defaults: RequestInit = {}): SandboxApi {
  const call = async (path: string, init: RequestInit = {}): Promise<ApiAnswer> => {
    const s = sandbox();
    const headers = { 'x-api-key': s.apiKey ?? '', ...(init.headers as Record<string, string> ?? {}) };
    const r = await fetch(`${s.apiUrl}${path}`, { ...defaults, ...init, headers });
    const text = await r.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, json, headers: r.headers };
  };
  return {
    call,
    postAnalytics: (body) => call('/analytics', { method: 'POST', body, headers: { 'content-type': 'application/json' } }),
  };
}
