/**
 * Bedrock Runtime, locally (HTTP/2, as BedrockRuntimeClient requires): a deterministic stand-in
 * for the Converse API that answers from the statistics it is sent — the counts of flagged
 * values per field, the field statistics — as a structured analysis (insights,
 * recommendations, executive summary, risk level), every text marked as written by the local
 * stand-in, not a model. With `real: true` it forwards each Converse call to real Bedrock with
 * the credentials of the sandbox's own environment instead; with `answer` (the tests) each reply
 * is scripted: a model answer or a service error.
 */
import * as http2 from 'http2';
import type { AddressInfo } from 'net';
import { LOCAL_STAND_IN_LABEL } from '../../lambda/shared/analysis-contract';

/** The label the analyzer and the report recognise (no cost, "not a model"): defined once, in the analysis contract. */
export const STAND_IN_LABEL = LOCAL_STAND_IN_LABEL;

/** A Converse request as received. */
export interface ConverseRequest {
  readonly modelId: string;
  readonly path: string;
  /** The request body as sent (JSON text). */
  readonly raw: string;
  readonly body: {
    readonly system?: Array<{ text?: string }>;
    readonly messages: Array<{ role: string; content: Array<{ text?: string }> }>;
    readonly inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number };
  };
}

/** A reply: a model answer (tokens counted from the texts unless given), or an error the service returns. */
export type ConverseReply =
  | { readonly kind: 'answer'; readonly text: string; readonly stopReason?: string; readonly inputTokens?: number; readonly outputTokens?: number }
  | { readonly kind: 'error'; readonly status: number; readonly type: string; readonly message: string };

export interface LocalBedrockOptions {
  readonly port?: number;
  readonly host?: string;
  /** Forward each call to real Bedrock (the sandbox's own credentials). */
  readonly real?: boolean;
  readonly region?: string;
  /** Scripts the reply to a request (tests); undefined: the stand-in's analysis. */
  readonly answer?: (request: ConverseRequest) => ConverseReply | undefined;
}

export interface LocalBedrock {
  readonly endpoint: string;
  /** Converse calls received. */
  readonly calls: Array<{ modelId: string; at: string; real: boolean }>;
  stop(): Promise<void>;
}

interface Flags {
  field: string;
  label?: string;
  counts: Record<string, number>;
  threshold?: Record<string, number>;
}

function dataBlock(text: string): any {
  const m = /<DATA>\s*([\s\S]*?)\s*<\/DATA>/.exec(text);
  const json = m ? m[1] : text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** The stand-in's answer: derived only from the numbers in the prompt, so it is reproducible. */
export function standInAnalysis(promptText: string): { insights: string[]; recommendations: string[]; executiveSummary: string; riskLevel: string } {
  const data = dataBlock(promptText) ?? {};
  const batch = data.batch ?? {};
  const analyzed = Number(batch.recordsAnalyzed ?? 0);
  const withAnomalies = Number(batch.recordsWithAnomalies ?? 0);
  const flagged = Number(batch.flaggedValues ?? 0);
  const flags: Flags[] = Array.isArray(data.flagsByField) ? data.flagsByField : [];
  const total = (f: Flags) => Object.values(f.counts ?? {}).reduce((a, b) => a + Number(b || 0), 0);
  const ranked = flags.filter((f) => total(f) > 0).sort((a, b) => total(b) - total(a));
  const share = analyzed > 0 ? withAnomalies / analyzed : 0;
  const threshold = ranked.reduce((n, f) => n + Number(f.counts?.below_min ?? 0) + Number(f.counts?.above_max ?? 0), 0);
  const riskLevel = share >= 0.25 || threshold >= 20 ? 'high' : share >= 0.05 || threshold > 0 ? 'medium' : 'low';
  const insights = [
    `${STAND_IN_LABEL} ${withAnomalies} of ${analyzed} records (${(share * 100).toFixed(1)}%) have at least one flagged value; ${flagged} values were flagged in all.`,
    ...ranked.slice(0, 4).map((f) => {
      const parts = Object.entries(f.counts).filter(([, n]) => Number(n) > 0).map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`);
      return `${STAND_IN_LABEL} ${f.label ?? f.field}: ${parts.join(', ')}${f.threshold ? ` (threshold ${JSON.stringify(f.threshold)})` : ''}.`;
    }),
  ];
  if (ranked.length === 0) insights.push(`${STAND_IN_LABEL} No field crossed its thresholds or the statistical outlier checks.`);
  const recommendations = ranked.length > 0
    ? [
      `${STAND_IN_LABEL} Review the flagged ${ranked[0].label ?? ranked[0].field} values first: they account for the most flags.`,
      `${STAND_IN_LABEL} Confirm whether the outliers are data-entry or device errors before acting on them.`,
    ]
    : [`${STAND_IN_LABEL} No action needed for this batch; keep monitoring the next ones.`];
  const executiveSummary = `${STAND_IN_LABEL} Batch from ${batch.source ?? 'the source'}: ${analyzed} records analyzed, ${withAnomalies} with flagged values; risk ${riskLevel}. This text was generated locally from the statistics, not by a model.`;
  return { insights, recommendations, executiveSummary, riskLevel };
}

export async function startLocalBedrock(options: LocalBedrockOptions = {}): Promise<LocalBedrock> {
  const calls: LocalBedrock['calls'] = [];
  const sessions = new Set<http2.Http2Session>();
  const server = http2.createServer();
  let realClient: any;
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    let raw = '';
    stream.setEncoding('utf8');
    stream.on('data', (c) => (raw += c));
    stream.on('end', () => {
      const send = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
        if (stream.destroyed) return;
        stream.respond({ ':status': status, 'content-type': 'application/json', 'x-amzn-requestid': `sandbox-${calls.length}`, ...extra });
        stream.end(JSON.stringify(payload));
      };
      const m = /^\/model\/([^/]+)\/converse$/.exec(path);
      if (headers[':method'] !== 'POST' || !m) {
        return send(404, { message: `The sandbox's Bedrock supports Converse only, not ${headers[':method']} ${path}` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      }
      const modelId = decodeURIComponent(m[1]);
      let body: any;
      try {
        body = JSON.parse(raw || '{}');
      } catch {
        return send(400, { message: 'Malformed JSON' }, { 'x-amzn-errortype': 'ValidationException' });
      }
      calls.push({ modelId, at: new Date().toISOString(), real: Boolean(options.real) });
      if (options.real) {
        void (async () => {
          try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const { BedrockRuntimeClient, ConverseCommand } = require('@aws-sdk/client-bedrock-runtime');
            realClient ??= new BedrockRuntimeClient({ region: options.region });
            const out = await realClient.send(new ConverseCommand({ modelId, ...body }));
            const { $metadata, ...rest } = out;
            void $metadata;
            send(200, rest);
          } catch (error) {
            const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
            send(e.$metadata?.httpStatusCode ?? 500, { message: e.message }, { 'x-amzn-errortype': e.name ?? 'InternalServerException' });
          }
        })();
        return;
      }
      const prompt = (body.messages ?? []).flatMap((msg: any) => (msg.content ?? []).map((c: any) => c.text ?? '')).join('\n');
      const reply = options.answer?.({ modelId, path, raw, body }) ?? { kind: 'answer', text: JSON.stringify(standInAnalysis(prompt)) };
      if (reply.kind === 'error') {
        return send(reply.status, { message: reply.message }, { 'x-amzn-errortype': `${reply.type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
      }
      const inputTokens = reply.inputTokens ?? Math.ceil(raw.length / 4);
      const outputTokens = reply.outputTokens ?? Math.ceil(reply.text.length / 4);
      return send(200, {
        output: { message: { role: 'assistant', content: reply.text ? [{ text: reply.text }] : [] } },
        stopReason: reply.stopReason ?? 'end_turn',
        usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
        metrics: { latencyMs: 1 },
      });
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  return {
    endpoint: `http://${host}:${(server.address() as AddressInfo).port}`,
    calls,
    async stop() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
