/**
 * What became of each uploaded object: pending from its S3 event until the function that got
 * the notification finished, with the time in between, and what the app emitted about it — the
 * last EventBridge event naming the object (`arn:aws:s3:::bucket/key`) in its resources. The
 * sandbox reads nothing of the app's own tables: it reports what the app publishes.
 */
import type { RecordedBusEvent } from './eventbridge';
import { Printer, seconds } from './progress';

/** An event the app put on a bus about an object. */
export interface EmittedEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: any;
}

export interface ObjectProcessing {
  readonly bucket: string;
  readonly key: string;
  readonly status: 'pending' | 'processed' | 'failed';
  /** From the S3 event to the function's end (upload → result). */
  readonly ms?: number;
  readonly functionName?: string;
  readonly error?: string;
  /** The last event the app emitted about the object, if any. */
  readonly event?: EmittedEvent;
}

interface Tracked {
  processing: ObjectProcessing;
  readonly at: number;
}

/** `receivedCount` → `received count`, `notLoaded` → `not loaded`. */
function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase();
}

/** Every count of an emitted detail (`detail.counts`), in the app's order: "41 received, 40 inserted, …". */
export function describeEmitted(e: EmittedEvent): string {
  const counts = e.detail && typeof e.detail.counts === 'object' && e.detail.counts ? e.detail.counts as Record<string, unknown> : {};
  const parts = Object.entries(counts).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${v} ${words(k)}`);
  const error = e.detail?.error?.message ? ` (${e.detail.error.message})` : '';
  return `${e.detailType}${parts.length ? `: ${parts.join(', ')}` : ''}${error}`;
}

export class UploadTracker {
  private readonly objects = new Map<string, Tracked>();
  private readonly waiters = new Map<string, Array<(p: ObjectProcessing) => void>>();

  constructor(private readonly print: Printer) {}

  started(bucket: string, key: string, at: number): void {
    this.objects.set(`${bucket}/${key}`, { processing: { bucket, key, status: 'pending' }, at });
  }

  isPending(origin: string): boolean {
    return this.objects.get(origin)?.processing.status === 'pending';
  }

  /** An event on any bus: kept for the objects it names. */
  onBusEvent(e: RecordedBusEvent): void {
    for (const resource of e.event.resources ?? []) {
      const tracked = /^arn:aws:s3:::(.+)$/.exec(resource) ? this.objects.get(resource.slice('arn:aws:s3:::'.length)) : undefined;
      if (tracked) tracked.processing = { ...tracked.processing, event: { source: e.event.source, detailType: e.event['detail-type'], detail: e.event.detail } };
    }
  }

  /** The function that got the object's notification ended (with an error, or not). */
  finished(origin: string, functionName: string, error?: string): void {
    const tracked = this.objects.get(origin);
    if (!tracked || tracked.processing.status === 'processed') return;
    const ms = Date.now() - tracked.at;
    tracked.processing = { ...tracked.processing, status: error ? 'failed' : 'processed', ms, functionName, error };
    const p = tracked.processing;
    if (error) this.print(`  ✘ s3://${origin} → ${functionName}: ${error} (retried as the queue redelivers it)`);
    else this.print(`  ⇢ s3://${origin} → ${functionName}: ${p.event ? describeEmitted(p.event) : 'processed'}; upload → result ${seconds(ms)}`);
    for (const w of this.waiters.get(origin)?.splice(0) ?? []) w(p);
  }

  get(bucket: string, key: string): ObjectProcessing | undefined {
    return this.objects.get(`${bucket}/${key}`)?.processing;
  }

  /** Waits until an uploaded object was processed (or failed). */
  wait(bucket: string, key: string, timeoutMs = 60_000): Promise<ObjectProcessing> {
    const origin = `${bucket}/${key}`;
    const now = this.get(bucket, key);
    if (now && now.status !== 'pending') return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3://${origin} was not processed within ${timeoutMs} ms (status: ${this.get(bucket, key)?.status ?? 'no event'})`)), timeoutMs);
      const list = this.waiters.get(origin) ?? [];
      list.push((p) => {
        clearTimeout(timer);
        resolve(p);
      });
      this.waiters.set(origin, list);
    });
  }
}
