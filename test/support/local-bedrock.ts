/**
 * A local stand-in for Bedrock Runtime's Converse API over HTTP/2 (BedrockRuntimeClient speaks
 * HTTP/2 only), so handlers call the model through the real SDK: the request is really
 * serialized and the response really parsed. Point clients at it with
 * AWS_ENDPOINT_URL_BEDROCK_RUNTIME. Records every request; answers are scripted per test
 * (`enqueue`), else the default answer (a valid analysis).
 */
import * as http2 from 'http2';
import type { AddressInfo } from 'net';

export interface RecordedConverse {
  readonly modelId: string;
  readonly path: string;
  /** The request body as sent (JSON text): assert on it, e.g. that no raw identifier is in it. */
  readonly raw: string;
  readonly body: {
    readonly system?: Array<{ text?: string }>;
    readonly messages: Array<{ role: string; content: Array<{ text?: string }> }>;
    readonly inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number };
  };
}

/** One scripted reply: a model answer, or an error the service returns. */
export type BedrockReply =
  | { readonly kind: 'answer'; readonly text: string; readonly stopReason?: string; readonly inputTokens?: number; readonly outputTokens?: number }
  | { readonly kind: 'error'; readonly status: number; readonly type: string; readonly message: string };

export const VALID_OUTPUT = {
  insights: ['Heart rate crossed the clinical range in several readings.', 'SpO2 below 92% occurred for a few patients.'],
  recommendations: ['Review the flagged readings with the clinical team.', 'Check the sensor calibration of the affected devices.'],
  executiveSummary: 'Most readings are normal; a small number crossed clinical thresholds and need review.',
  riskLevel: 'medium',
};

/** A valid answer (JSON in a code fence, as models often do). */
export function validAnswer(output: object = VALID_OUTPUT, usage: { inputTokens?: number; outputTokens?: number } = {}): BedrockReply {
  return { kind: 'answer', text: '```json\n' + JSON.stringify(output, null, 2) + '\n```', ...usage };
}

export function textAnswer(text: string, usage: { inputTokens?: number; outputTokens?: number; stopReason?: string } = {}): BedrockReply {
  return { kind: 'answer', text, ...usage };
}

export function refusal(): BedrockReply {
  return { kind: 'answer', text: "I'm sorry, but I can't help with analyzing this data.", stopReason: 'end_turn', inputTokens: 900, outputTokens: 15 };
}

export function contentFiltered(): BedrockReply {
  return { kind: 'answer', text: '', stopReason: 'content_filtered', inputTokens: 900, outputTokens: 0 };
}

export function throttling(): BedrockReply {
  return { kind: 'error', status: 429, type: 'ThrottlingException', message: 'Too many requests, please wait before trying again.' };
}

export function accessDenied(): BedrockReply {
  return { kind: 'error', status: 403, type: 'AccessDeniedException', message: 'You don\'t have access to the model with the specified model ID.' };
}

export interface LocalBedrock {
  readonly endpoint: string;
  readonly requests: RecordedConverse[];
  /** Replies for the next requests, in order; then the default. */
  enqueue(...replies: BedrockReply[]): void;
  setDefault(reply: BedrockReply): void;
  /** Forgets requests and queued replies; restores the default answer. */
  reset(): void;
  close(): Promise<void>;
}

export async function startLocalBedrock(): Promise<LocalBedrock> {
  const requests: RecordedConverse[] = [];
  const queue: BedrockReply[] = [];
  let fallback: BedrockReply = validAnswer();
  const sessions = new Set<http2.Http2Session>();

  const server = http2.createServer();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    let raw = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => (raw += chunk));
    stream.on('end', () => {
      const send = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
        stream.respond({ ':status': status, 'content-type': 'application/json', 'x-amzn-requestid': `req-${requests.length}`, ...extra });
        stream.end(JSON.stringify(payload));
      };
      const match = /^\/model\/([^/]+)\/converse$/.exec(path);
      if (headers[':method'] !== 'POST' || !match) {
        return send(404, { message: `Unsupported operation ${headers[':method']} ${path}` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      }
      const modelId = decodeURIComponent(match[1]);
      requests.push({ modelId, path, raw, body: JSON.parse(raw || '{}') });
      const reply = queue.shift() ?? fallback;
      if (reply.kind === 'error') {
        return send(reply.status, { message: reply.message }, { 'x-amzn-errortype': `${reply.type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
      }
      const inputTokens = reply.inputTokens ?? Math.ceil(raw.length / 4);
      const outputTokens = reply.outputTokens ?? Math.ceil(reply.text.length / 4);
      return send(200, {
        output: { message: { role: 'assistant', content: reply.text ? [{ text: reply.text }] : [] } },
        stopReason: reply.stopReason ?? 'end_turn',
        usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
        metrics: { latencyMs: 42 },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    setDefault: (reply) => {
      fallback = reply;
    },
    reset: () => {
      requests.length = 0;
      queue.length = 0;
      fallback = validAnswer();
    },
    close: async () => {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
