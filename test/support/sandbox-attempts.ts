/**
 * The attempts a running sandbox makes at one uploaded object, on the wall clock: every batch of
 * its queue's event source mapping that carried the object (start, end, the message's receive
 * count), the retry delay the function set (its `Retry scheduled` log line), the `Ingestion Failed`
 * event with `final: true`, and the move to the dead-letter queue. Used by the retry test and the
 * retry measurement (bench/retry).
 */
import * as fs from 'fs';
import * as path from 'path';
import { RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, RETRY_FACTOR, RETRY_JITTER } from '../../lambda/ingestion-pipeline/retry';
import type { Sandbox } from '../../sandbox/src';

export interface Attempt {
  /** The message's receive count for this attempt (1 for the first). */
  readonly receiveCount: number;
  /** Wall clock (ms since the epoch) when the invocation started and ended. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly failed: boolean;
  readonly functionName: string;
  /** The queue the attempt was received from. */
  readonly queue: string;
}

export interface FinalFailure {
  readonly at: number;
  readonly detail: any;
}

/** The documented delay after the n-th failed receive, in seconds: nominal and the jitter band. */
export function documentedDelay(n: number): { nominal: number; min: number; max: number } {
  const nominal = Math.min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * RETRY_FACTOR ** (n - 1));
  return { nominal, min: Math.round(nominal * (1 - RETRY_JITTER)), max: Math.round(nominal * (1 + RETRY_JITTER)) };
}

export class AttemptRecorder {
  readonly attempts: Attempt[] = [];
  finalFailure: FinalFailure | undefined;
  deadLetteredAt: number | undefined;
  private readonly origin: string;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly sandbox: Sandbox, readonly bucket: string, readonly key: string) {
    this.origin = `${bucket}/${key}`;
    sandbox.queues.onBatch((batch) => {
      if (!batch.origins.includes(this.origin)) return;
      const endedAt = Date.now();
      const message = sandbox.queues.byUrlOrName(batch.queue)?.messages.find((m) => m.origin === this.origin);
      this.attempts.push({
        // A message still in the queue has its receive count; one that was deleted succeeded on this receive.
        receiveCount: message?.receiveCount ?? this.attempts.length + 1,
        startedAt: endedAt - batch.durationMs,
        endedAt,
        failed: batch.failed > 0,
        functionName: batch.functionName,
        queue: batch.queue,
      });
      this.wake();
    });
    sandbox.events.onEvent(({ event }) => {
      const detail = event.detail as any;
      if (event['detail-type'] === 'Ingestion Failed' && detail?.objectKey === key && detail?.final === true) {
        this.finalFailure = { at: Date.now(), detail };
        this.wake();
      }
    });
    sandbox.queues.onDeadLetter((move) => {
      if (move.origin !== this.origin) return;
      this.deadLetteredAt = Date.now();
      this.wake();
    });
  }

  /** Resolves when `done()` holds; rejects after `timeoutMs` with `what` and the attempts so far. */
  async waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!done()) {
      const left = until - Date.now();
      if (left <= 0) throw new Error(`${what}: not within ${timeoutMs / 1000} s (attempts so far: ${JSON.stringify(this.attempts)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Seconds from the end of attempt i (0-based) to the start of attempt i + 1: the queue's delay. */
  measuredDelay(i: number): number {
    return (this.attempts[i + 1].startedAt - this.attempts[i].endedAt) / 1000;
  }

  /**
   * The delays the function set (`Retry scheduled` log lines: receive count → seconds), from the
   * function's log file in the sandbox's logs folder.
   */
  delaysSet(): Map<number, number> {
    const out = new Map<number, number>();
    for (const name of new Set(this.attempts.map((a) => a.functionName))) {
      const file = path.join(this.sandbox.info.logs, `${name}.log`);
      if (!fs.existsSync(file)) continue;
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line.includes('"Retry scheduled"')) continue;
        const entry = JSON.parse(line);
        out.set(Number(entry.receiveCount), Number(entry.retryInSeconds));
      }
    }
    return out;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
