/**
 * The tests' Bedrock Runtime: the sandbox's own Converse stand-in over HTTP/2
 * (sandbox/src/bedrock.ts; BedrockRuntimeClient speaks HTTP/2 only), so handlers call the model
 * through the real SDK: the request is really serialized and the response really parsed. Point
 * clients at it with AWS_ENDPOINT_URL_BEDROCK_RUNTIME. Records every request; answers are
 * scripted per test (`enqueue`), else the default answer (a valid analysis).
 */
import { ConverseReply, ConverseRequest, startLocalBedrock as startSandboxBedrock } from '../../sandbox/src/bedrock';

export type RecordedConverse = ConverseRequest;

/** One scripted reply: a model answer, or an error the service returns. */
export type BedrockReply = ConverseReply;

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
  const server = await startSandboxBedrock({
    answer: (request) => {
      requests.push(request);
      return queue.shift() ?? fallback;
    },
  });
  return {
    endpoint: server.endpoint,
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
    close: () => server.stop(),
  };
}
