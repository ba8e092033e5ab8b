/**
 * The model call: Bedrock Converse with a low temperature, the answer's JSON extracted (code
 * fences tolerated) and validated; an invalid or refused answer is retried once, then recorded
 * as such. Throttling and 5xx are retried by the SDK with exponential backoff and jitter
 * (BEDROCK_MAX_ATTEMPTS); a transient error that outlives those retries is thrown, so the queue
 * delivers the analysis again, unless this is the last attempt, when it is recorded as `error`.
 */
import {
  BedrockRuntimeClient, ContentBlock, ConversationRole, ConverseCommand, ConverseCommandOutput, Message,
} from '@aws-sdk/client-bedrock-runtime';
import Ajv from 'ajv';
import type { Prompt } from './prompt';
import { AI_OUTPUT_SCHEMA, AiOutput, AiResult, AiStatus, TokenUsage, writtenByLocalStandIn } from '../shared/analysis-contract';

const client = new BedrockRuntimeClient({ maxAttempts: Number(process.env.BEDROCK_MAX_ATTEMPTS ?? 6) });

const ajv = new Ajv({ allErrors: true, strict: false });
const validateOutput = ajv.compile<AiOutput>(AI_OUTPUT_SCHEMA);

export interface ModelSettings {
  readonly modelId: string;
  readonly maxOutputTokens: number;
  readonly temperature: number;
  readonly inputPricePerMillion: number;
  readonly outputPricePerMillion: number;
}

/** A failure worth another delivery (throttling, 5xx, timeouts) rather than a recorded `error`. */
export class TransientModelError extends Error {
  constructor(readonly original: Error) {
    super(`Bedrock call failed transiently: ${original.name}: ${original.message}`);
    this.name = 'TransientModelError';
  }
}

const TRANSIENT_ERRORS = new Set([
  'ThrottlingException', 'ServiceUnavailableException', 'InternalServerException', 'ModelNotReadyException', 'ModelTimeoutException',
  'TimeoutError', 'RequestTimeout', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT',
]);

function isTransient(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  return TRANSIENT_ERRORS.has(e?.name ?? '') || TRANSIENT_ERRORS.has(e?.code ?? '') || (e?.$metadata?.httpStatusCode ?? 0) >= 500;
}

export function estimateCost(usage: TokenUsage, settings: Pick<ModelSettings, 'inputPricePerMillion' | 'outputPricePerMillion'>): number {
  const cost = (usage.inputTokens * settings.inputPricePerMillion + usage.outputTokens * settings.outputPricePerMillion) / 1_000_000;
  return Math.round(cost * 1e8) / 1e8;
}

const REFUSAL = /\b(I can(?:no|')t|I(?: am|'m) (?:not able|unable)|I won't|I will not|I must decline|cannot (?:help|assist|comply))\b/i;

export type ParsedAnswer =
  | { readonly status: 'ok'; readonly output: AiOutput }
  | { readonly status: 'invalid_output' | 'refused'; readonly reason: string };

/** Extracts the JSON object from the answer's text (a code fence or surrounding prose tolerated) and validates it. */
export function parseAnswer(text: string, stopReason: string | undefined): ParsedAnswer {
  if (stopReason === 'content_filtered' || stopReason === 'guardrail_intervened') {
    return { status: 'refused', reason: `stopReason ${stopReason}` };
  }
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const body = fenced ? fenced[1] : text;
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  if (start < 0) {
    if (REFUSAL.test(text)) return { status: 'refused', reason: `the model declined: ${text.slice(0, 200)}` };
    return { status: 'invalid_output', reason: stopReason === 'max_tokens' ? 'the answer was cut at maxTokens' : 'no JSON object in the answer' };
  }
  let value: unknown;
  try {
    value = JSON.parse(end > start ? body.slice(start, end + 1) : body.slice(start));
  } catch (error) {
    const cut = stopReason === 'max_tokens' ? ' (the answer was cut at maxTokens)' : '';
    return { status: 'invalid_output', reason: `the answer is not valid JSON: ${(error as Error).message}${cut}` };
  }
  if (!validateOutput(value)) {
    const errors = (validateOutput.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    return { status: 'invalid_output', reason: `the JSON does not match the schema: ${errors}` };
  }
  const v = value as AiOutput;
  // Only the known properties are kept.
  return {
    status: 'ok',
    output: {
      insights: v.insights.map((s) => s.trim()),
      recommendations: v.recommendations.map((s) => s.trim()),
      executiveSummary: v.executiveSummary.trim(),
      riskLevel: v.riskLevel,
    },
  };
}

function textOf(response: ConverseCommandOutput): string {
  const content: ContentBlock[] = response.output?.message?.content ?? [];
  return content.map((c) => ('text' in c && typeof c.text === 'string' ? c.text : '')).join('');
}

function addUsage(total: TokenUsage, response: ConverseCommandOutput): TokenUsage {
  const u = response.usage;
  const input = total.inputTokens + (u?.inputTokens ?? 0);
  const output = total.outputTokens + (u?.outputTokens ?? 0);
  const both = u?.totalTokens ?? (u?.inputTokens ?? 0) + (u?.outputTokens ?? 0);
  return { inputTokens: input, outputTokens: output, totalTokens: total.totalTokens + both };
}

/**
 * Asks the model; at most two Converse calls. Never throws for the model's behaviour; throws
 * TransientModelError for a transient failure when `finalAttempt` is false.
 */
export async function askModel(prompt: Prompt, settings: ModelSettings, finalAttempt: boolean): Promise<AiResult> {
  const messages: Message[] = [{ role: ConversationRole.USER, content: [{ text: prompt.user }] }];
  let usage: TokenUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  let attempts = 0;
  let status: AiStatus = 'error';
  let error: string | null = null;
  let stopReason: string | null = null;
  let output: AiOutput | null = null;

  while (attempts < 2) {
    attempts++;
    let response: ConverseCommandOutput;
    try {
      response = await client.send(new ConverseCommand({
        modelId: settings.modelId,
        system: [{ text: prompt.system }],
        messages,
        inferenceConfig: { maxTokens: settings.maxOutputTokens, temperature: settings.temperature },
      }));
    } catch (e) {
      const err = e as Error;
      // A retry after an invalid answer that fails keeps what the first answer told us.
      if (isTransient(err) && !finalAttempt && attempts === 1) throw new TransientModelError(err);
      status = 'error';
      error = `${err.name}: ${err.message}`;
      break;
    }
    usage = addUsage(usage, response);
    stopReason = response.stopReason ?? null;
    const text = textOf(response);
    const parsed = parseAnswer(text, response.stopReason);
    if (parsed.status === 'ok') {
      status = 'ok';
      output = parsed.output;
      error = null;
      break;
    }
    status = parsed.status;
    error = parsed.reason;
    if (attempts >= 2) break;
    if (parsed.status === 'invalid_output') {
      // Show the model its answer and what was wrong with it.
      messages.push({ role: ConversationRole.ASSISTANT, content: [{ text: text || '(empty)' }] });
      messages.push({
        role: ConversationRole.USER,
        content: [{ text: `That answer cannot be used: ${parsed.reason}. Reply again with ONLY the JSON object that matches the schema.` }],
      });
    }
    // A refusal is asked again as it was (answers vary); the data is aggregated and pseudonymized.
  }

  // The sandbox's local stand-in: no model ran, nothing is billed (its token counts are made up).
  const standIn = output !== null && writtenByLocalStandIn([output.executiveSummary, ...output.insights, ...output.recommendations]);
  if (standIn) usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  return {
    status,
    modelId: settings.modelId,
    attempts,
    output,
    error,
    stopReason,
    usage,
    estimatedCostUsd: standIn ? 0 : estimateCost(usage, settings),
    promptCharacters: prompt.system.length + prompt.user.length,
    anomaliesInPrompt: prompt.anomaliesInPrompt,
  };
}
