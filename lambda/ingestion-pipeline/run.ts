/**
 * One S3 object → one ingestion run, exactly once.
 *
 * The run row is claimed, every batch is upserted and the run is completed in ONE transaction,
 * so a crash anywhere rolls back everything and a retry starts clean; a redelivered event finds
 * the committed run and only re-sends its manifest/event if those had not gone out. Outputs are
 * staged while the transaction is open and promoted to their keys after the commit, with the
 * manifest and the event (outputs.ts): a run that does not commit leaves none. Trade-off: a very
 * large file holds its transaction (and the row locks of the entities it changed) for the whole
 * file; the Lambda timeout bounds it, and lock_timeout is set so a blocked run fails before it.
 */
import { createHash } from 'crypto';
import type { Readable } from 'stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ClientBase, PoolClient } from 'pg';
import { safeOriginal, structuralReasons } from './checks';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECORD_LENGTH, formatFor, InputFormat, loadConfig, SourceConfig, sourceForKey } from './config';
import { publishFailed, publishSucceeded } from './events';
import { AttemptTrace, newTrace } from './failure';
import { hooks } from './hooks';
import { checkIdNormalization } from './id-keys';
import { publishIdNormalization } from './id-normalization-parameter';
import {
  claimRun, CONTENT_ONCE_INDEX, currentGeneration, findContentDuplicate, findRun, finishRun, firstSightings, firstSightingsInStore, lockUnnotified,
  markNotified,
  prepareSeenIds, recordRun, RunIdentity, RunOutcome,
} from './ledger';
import { mapRecord } from './mapping';
import { recordRunMetrics } from './metrics';
import { Compression, NdjsonUpload, promoteOutputs } from './outputs';
import { decodeText, DecodeLimits, DecodeProgress, DEFAULT_DECODE_LIMITS, FileReadError, ORIGINAL_LIMIT, readRecords, SourceRecord } from './readers';
import { runIdFor } from './run-id';
import { validatorFor } from './validation';
import {
  bumpDataGeneration, CanonicalEntity, NewKeyConflictError, stageEntity, StagedEntity, UpsertOptions, upsertStaged,
} from '../shared/canonical-upsert';
import {
  FileError, IngestionCounts, IngestionManifest, INGESTION_SCHEMA_VERSION, ProcessedRecord, RejectedRecord, RejectionReason, RunStatus,
} from '../shared/ingestion-contract';
import { checkoutClient } from '../shared/pool-registry';

/** One S3 object from an event notification (key already URL-decoded). */
export interface ObjectEvent {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
  readonly eventTime?: string;
}

export interface AttemptInfo {
  /** Time left before the Lambda timeout, to bound lock waits. */
  readonly remainingMs: number;
}

export type IngestResult =
  | { readonly outcome: 'succeeded' | 'rejected' | 'skipped'; readonly runId: string; readonly manifestKey: string }
  | { readonly outcome: 'duplicate_delivery'; readonly runId: string }
  | { readonly outcome: 'ignored'; readonly reason: string };

export const FORCE_METADATA_KEY = 'reingest';
const BATCH_SIZE = Number(process.env.INGEST_BATCH_SIZE ?? 2000);
const REJECTED_FLUSH = 500;
// While a batch is with the database, the reader lets I/O callbacks run this often (in records), so
// the next statement of that batch goes out at once, not after a whole chunk of the file is parsed.
const YIELD_EVERY = 50;
const PROBE_EVERY = 16;

const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });

function compression(): Compression {
  return process.env.OUTPUT_COMPRESSION === 'gzip' ? 'gzip' : 'none';
}

/** Bounds on gzip input (zip bombs): MAX_DECOMPRESSED_BYTES and MAX_COMPRESSION_RATIO override the defaults. */
function decodeLimits(): DecodeLimits {
  const positive = (name: string, fallback: number) => {
    const v = Number(process.env[name]);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    ...DEFAULT_DECODE_LIMITS,
    maxDecompressedBytes: positive('MAX_DECOMPRESSED_BYTES', DEFAULT_DECODE_LIMITS.maxDecompressedBytes),
    maxRatio: positive('MAX_COMPRESSION_RATIO', DEFAULT_DECODE_LIMITS.maxRatio),
  };
}

function datePath(iso: string): string {
  const d = new Date(iso);
  const valid = Number.isNaN(d.getTime()) ? new Date() : d;
  return valid.toISOString().slice(0, 10).replace(/-/g, '/');
}

function zeroCounts(): { -readonly [K in keyof IngestionCounts]: number } {
  return { received: 0, inserted: 0, updated: 0, unchanged: 0, stale: 0, notLoaded: 0, rejected: 0, duplicates: 0 };
}

async function inTransaction<T>(client: ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Processes one object; throws only for failures worth a retry (the SQS message returns to the
 * queue). `trace` records how far it got, for the failure event of a last attempt.
 */
export async function ingestObject(event: ObjectEvent, attempt: AttemptInfo, trace: AttemptTrace = newTrace()): Promise<IngestResult> {
  const startedAt = new Date();
  trace.stage = 'configuration';
  const config = loadConfig();
  const source = sourceForKey(config, event.key);
  if (!source) {
    await publishFailed({
      schemaVersion: INGESTION_SCHEMA_VERSION,
      runId: null,
      sourceName: null,
      sourceSystem: null,
      entityType: null,
      bucket: event.bucket,
      objectKey: event.key,
      objectVersionId: event.versionId ?? null,
      manifestKey: null,
      counts: null,
      final: true,
      error: { code: 'unknown_source', message: `No source definition has a prefix matching "${event.key}".` },
    });
    return { outcome: 'ignored', reason: 'unknown_source' };
  }
  trace.source = source;

  trace.stage = 'object';
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: event.bucket, Key: event.key, VersionId: event.versionId }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404 && status !== 403 && (error as Error).name !== 'NotFound') throw error;
    await publishFailed({
      schemaVersion: INGESTION_SCHEMA_VERSION,
      runId: null,
      sourceName: source.name,
      sourceSystem: source.sourceSystem,
      entityType: source.entityType,
      bucket: event.bucket,
      objectKey: event.key,
      objectVersionId: event.versionId ?? null,
      manifestKey: null,
      counts: null,
      final: true,
      error: { code: 'object_not_found', message: 'The object is gone (deleted or overwritten in an unversioned bucket) before it could be read.' },
    });
    return { outcome: 'ignored', reason: 'object_not_found' };
  }

  const forceToken = head.Metadata?.[FORCE_METADATA_KEY];
  const versionId = head.VersionId && head.VersionId !== 'null' ? head.VersionId : null;
  const etag = head.ETag ?? null;
  const identity: RunIdentity = {
    runId: runIdFor(event.bucket, event.key, versionId, etag, forceToken),
    sourceName: source.name,
    sourceSystem: source.sourceSystem,
    entityType: source.entityType,
    bucket: event.bucket,
    key: event.key,
    versionId,
    etag,
    size: head.ContentLength ?? null,
    forced: Boolean(forceToken),
  };
  const lastModified = head.LastModified?.toISOString() ?? null;
  trace.runId = identity.runId;
  trace.versionId = versionId;
  try {
    return await new Run(source, identity, event, startedAt, lastModified, true).execute(attempt, trace);
  } catch (error) {
    if (!(error instanceof NewKeyConflictError)) throw error;
  }
  // A concurrent run committed a key this one was inserting as new (all rolled back): once more
  // through the merge, which waits for and handles such keys. Rare: only overlapping first loads.
  const elapsedMs = Date.now() - startedAt.getTime();
  return new Run(source, identity, event, startedAt, lastModified, false).execute({ remainingMs: attempt.remainingMs - elapsedMs }, trace);
}

interface BatchItem {
  readonly entity: CanonicalEntity;
  readonly record: SourceRecord;
  /** Encoded for the store (loadToStore sources only). */
  readonly staged?: StagedEntity;
}

interface OutcomeParts {
  readonly processedKey: string | null;
  readonly rejectedKey: string | null;
  readonly generation: number | null;
  readonly error?: FileError;
  readonly duplicateOf?: string | null;
}

class Run {
  private readonly counts = zeroCounts();
  private readonly reasons: Record<string, number> = {};
  private readonly processed: NdjsonUpload;
  private readonly rejected: NdjsonUpload;
  private readonly manifestKey: string;
  private readonly format: InputFormat | undefined;
  private pendingRejected: RejectedRecord[] = [];
  private batch: BatchItem[] = [];
  private readonly upsertOptions: UpsertOptions;
  private batches = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private flushing = false;
  private lastBatchNew = true;
  private sha256: string | null = null;
  private readonly progress: DecodeProgress = { bytes: 0, ended: false };
  private client?: PoolClient;
  private clientBroken = false;

  constructor(
    private readonly source: SourceConfig,
    private readonly id: RunIdentity,
    private readonly event: ObjectEvent,
    private readonly startedAt: Date,
    private readonly lastModified: string | null,
    /** Batches whose keys are all new go straight into the store (see UpsertStagedOptions). */
    private readonly insertNewDirectly: boolean,
  ) {
    const day = datePath(event.eventTime ?? startedAt.toISOString());
    const ext = compression() === 'gzip' ? '.ndjson.gz' : '.ndjson';
    const tail = `${source.name}/${day}/${id.runId}`;
    this.processed = new NdjsonUpload(s3, id.bucket, `processed/${tail}${ext}`, compression());
    this.rejected = new NdjsonUpload(s3, id.bucket, `rejected/${tail}${ext}`, compression());
    this.manifestKey = `manifests/${tail}.json`;
    this.format = formatFor(source, id.key);
    this.upsertOptions = { runId: id.runId, source: { bucket: id.bucket, key: id.key, versionId: id.versionId ?? undefined } };
  }

  async execute(attempt: AttemptInfo, trace: AttemptTrace): Promise<IngestResult> {
    trace.stage = 'database';
    const checkout = await checkoutClient();
    this.client = checkout.client;
    trace.stage = 'processing';
    try {
      return await this.executeWith(this.client, attempt);
    } finally {
      checkout.release(this.clientBroken);
    }
  }

  private async executeWith(client: PoolClient, attempt: AttemptInfo): Promise<IngestResult> {
    await client.query('BEGIN');
    let committed = false;
    try {
      // A concurrent attempt at the same run holds its row: wait for it, but not past our own timeout.
      const lockMs = Math.max(1000, attempt.remainingMs - 60_000);
      await client.query(`SET LOCAL lock_timeout = ${Math.floor(lockMs)}`);
      if (!(await claimRun(client, this.id, this.startedAt))) {
        await client.query('ROLLBACK');
        committed = true;
        return await this.redelivered(client);
      }
      await prepareSeenIds(client);
      const fileError = await checkIdNormalization(client, this.source, this.id.runId) ?? await this.readAll(client);
      if (fileError) {
        await client.query('ROLLBACK');
        committed = true;
        return await this.setAside(client, fileError);
      }
      if (!this.id.forced && this.counts.received > 0) {
        const duplicateOf = await findContentDuplicate(client, this.id, this.sha256!);
        if (duplicateOf) {
          await client.query('ROLLBACK');
          committed = true;
          return await this.skip(client, duplicateOf);
        }
      }
      const processedKey = await this.processed.complete();
      const rejectedKey = await this.rejected.complete();
      const changed = this.counts.inserted + this.counts.updated > 0;
      const generation = changed ? await bumpDataGeneration(client) : this.source.loadToStore ? await currentGeneration(client) : null;
      const outcome = this.outcome('succeeded', { processedKey, rejectedKey, generation });
      try {
        await finishRun(client, this.id.runId, outcome);
        await hooks.beforeCommit?.(this.id.key, client);
        await client.query('COMMIT');
        committed = true;
      } catch (error) {
        if ((error as { constraint?: string }).constraint !== CONTENT_ONCE_INDEX) throw error;
        // The same content committed meanwhile by another version's run.
        await client.query('ROLLBACK');
        committed = true;
        const other = await findContentDuplicate(client, this.id, this.sha256!);
        return await this.skip(client, other ?? null);
      }
      // The store now holds this source's normalisation: the synth-time check reads it from there.
      await publishIdNormalization(this.source);
      await this.publish(client, outcome);
      return { outcome: 'succeeded', runId: this.id.runId, manifestKey: this.manifestKey };
    } catch (error) {
      if (!committed) {
        await client.query('ROLLBACK').catch(() => {
          this.clientBroken = true;
        });
        // Nothing of an uncommitted run may become visible. (A committed run keeps its staged
        // outputs: the redelivery promotes them with the manifest and the event.)
        await Promise.all([this.processed.discard(), this.rejected.discard()]).catch(() => undefined);
      }
      throw error;
    }
  }

  /** Streams the object through decode → parse → check → validate → map → batches. */
  private async readAll(client: ClientBase): Promise<FileError | undefined> {
    if (!this.format) {
      return { code: 'invalid_format', message: `Cannot tell the format of "${this.id.key}" from its extension; set the source's format.` };
    }
    const object = await s3.send(new GetObjectCommand({
      Bucket: this.id.bucket, Key: this.id.key, ...(this.id.versionId ? { VersionId: this.id.versionId } : { IfMatch: this.id.etag ?? undefined }),
    }));
    const body = object.Body as Readable;
    const hash = createHash('sha256');
    const progress: DecodeProgress = this.progress;
    const validate = validatorFor(this.source, this.format === 'csv');
    const checkOptions = { maxDepth: this.source.maxDepth ?? DEFAULT_MAX_DEPTH, rejectFormulaCells: this.source.rejectFormulaCells ?? true };
    const records = readRecords(decodeText(body, hash, progress, { contentEncoding: object.ContentEncoding, limits: decodeLimits() }), {
      format: this.format,
      recordsPath: this.source.recordsPath,
      csvDelimiter: this.source.csvDelimiter,
      maxRecordLength: this.source.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH,
      progress,
    });
    let sinceYield = 0;
    try {
      for await (const record of records) {
        if (++sinceYield >= YIELD_EVERY && this.flushing) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
        this.counts.received++;
        if (record.reasons) {
          this.reject(record, record.reasons);
          continue;
        }
        let reasons = structuralReasons(record.value, checkOptions);
        if (reasons.length === 0) reasons = validate(record.value);
        // CSV coercion can turn "Infinity" into a number: check the coerced values once more.
        if (reasons.length === 0 && this.format === 'csv') reasons = structuralReasons(record.value, checkOptions);
        if (reasons.length > 0) {
          this.reject(record, reasons);
          continue;
        }
        const mapped = mapRecord(record.value, this.source);
        if ('reasons' in mapped) {
          this.reject(record, mapped.reasons);
          continue;
        }
        // Encoded for the COPY now, while the database is still merging the previous batch.
        const staged = this.source.loadToStore ? stageEntity(mapped.entity, this.upsertOptions) : undefined;
        this.batch.push({ entity: mapped.entity, record, staged });
        if (this.batch.length >= BATCH_SIZE) await this.startFlush(client);
        if (this.pendingRejected.length >= REJECTED_FLUSH) await this.flushRejected();
      }
    } catch (error) {
      body.destroy();
      await this.inFlight;
      if (!(error instanceof FileReadError)) throw error;
      return { code: error.code, message: error.message, ...(error.line ? { line: error.line } : {}) };
    }
    await this.startFlush(client);
    await this.inFlight;
    await this.flushRejected();
    this.sha256 = hash.digest('hex');
    return undefined;
  }

  /**
   * Hands the full batch to the database and returns at once, so the next batch is read, checked
   * and mapped while PostgreSQL merges this one (one connection: batches still load in order).
   */
  private async startFlush(client: ClientBase): Promise<void> {
    await this.inFlight;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.flushing = true;
    const flushing = this.flush(client, batch).finally(() => {
      this.flushing = false;
    });
    flushing.catch(() => undefined); // surfaced by the next await of inFlight
    this.inFlight = flushing;
  }

  private reject(record: SourceRecord, reasons: RejectionReason[], disposition: 'rejected' | 'duplicate' = 'rejected'): void {
    if (disposition === 'duplicate') this.counts.duplicates++;
    else this.counts.rejected++;
    for (const r of reasons) {
      const key = `${r.code}: ${r.message}`;
      this.reasons[key] = (this.reasons[key] ?? 0) + 1;
    }
    const original = safeOriginal(record.original);
    this.pendingRejected.push({
      recordNumber: record.recordNumber,
      line: record.line,
      ...(record.byteOffset !== undefined ? { byteOffset: record.byteOffset } : {}),
      disposition,
      reasons,
      original: original.slice(0, ORIGINAL_LIMIT),
      originalTruncated: original.length > ORIGINAL_LIMIT,
    });
  }

  private async flushRejected(): Promise<void> {
    const lines = this.pendingRejected;
    this.pendingRejected = [];
    await this.rejected.write(lines);
  }

  /** Drops ids met earlier in the file (first occurrence wins), loads the rest in one set-based upsert. */
  private async flush(client: ClientBase, batch: BatchItem[]): Promise<void> {
    const firstInBatch = new Map<string, number>();
    batch.forEach((item, i) => {
      if (!firstInBatch.has(item.entity.sourceId)) firstInBatch.set(item.entity.sourceId, i);
    });
    // Whether any of these ids is stored already comes back in the same round trip; asked while the
    // batches are new (a first load), and then only every PROBE_EVERY batches (a re-ingest).
    const ids = [...firstInBatch.keys()];
    const probe = this.source.loadToStore && this.insertNewDirectly && (this.lastBatchNew || this.batches % PROBE_EVERY === 0);
    const { fresh, anyStored } = probe
      ? await firstSightingsInStore(client, ids, this.source.entityType, this.source.sourceSystem)
      : { fresh: await firstSightings(client, ids), anyStored: true };
    if (probe) this.lastBatchNew = !anyStored;
    const kept: typeof batch = [];
    batch.forEach((item, i) => {
      const id = item.entity.sourceId;
      if (firstInBatch.get(id) === i && fresh.has(id)) {kept.push(item);} else {
        this.reject(item.record, [{ code: 'duplicate_in_file', message: 'source id already appeared earlier in this file; the first occurrence is kept' }], 'duplicate');
      }
    });

    const refused = new Set<number>();
    if (this.source.loadToStore && kept.length > 0) {
      const staged = kept.map((k) => k.staged ?? stageEntity(k.entity, this.upsertOptions));
      const result = await upsertStaged(client, staged, { insertNewDirectly: this.insertNewDirectly && !anyStored, keysCheckedNew: true });
      this.counts.inserted += result.inserted;
      this.counts.updated += result.updated;
      this.counts.unchanged += result.unchanged;
      this.counts.stale += result.stale;
      for (const r of result.rejected) {
        refused.add(r.index);
        this.reject(kept[r.index].record, [{ code: 'not_storable', message: r.reason }]);
      }
    } else {
      this.counts.notLoaded += kept.length;
    }
    const lines: ProcessedRecord[] = [];
    kept.forEach(({ entity, record }, i) => {
      if (refused.has(i)) return;
      lines.push({
        entityType: entity.entityType,
        sourceSystem: entity.sourceSystem,
        sourceId: entity.sourceId,
        canonicalKey: entity.canonicalKey ?? null,
        attributes: entity.attributes,
        relationships: [...(entity.relationships ?? [])],
        sourceUpdatedAt: (entity.sourceUpdatedAt as string | null) ?? null,
        recordNumber: record.recordNumber,
      });
    });
    await this.processed.write(lines);
    this.batches++;
    await hooks.afterBatch?.(this.batches, client);
  }

  /** How the object's bytes were read (null when they were not). */
  private decoding(): IngestionManifest['decoding'] {
    const p = this.progress;
    if (!p.encoding) return null;
    const limits = decodeLimits();
    return {
      compression: p.compression ?? 'none',
      textEncoding: p.encoding,
      byteOrderMark: p.bom ?? false,
      decompressedBytes: p.compression === 'gzip' ? p.decompressedBytes ?? 0 : null,
      limits: p.compression === 'gzip' ? { maxDecompressedBytes: limits.maxDecompressedBytes, maxRatio: limits.maxRatio } : null,
    };
  }

  private outcome(status: RunStatus, o: OutcomeParts): RunOutcome {
    const finishedAt = new Date();
    const eventTime = this.event.eventTime ? new Date(this.event.eventTime).getTime() : NaN;
    const manifest: IngestionManifest = {
      schemaVersion: INGESTION_SCHEMA_VERSION,
      runId: this.id.runId,
      status,
      forced: this.id.forced,
      source: {
        name: this.source.name,
        sourceSystem: this.source.sourceSystem,
        entityType: this.source.entityType,
        format: this.format ?? 'unknown',
        loadToStore: this.source.loadToStore,
        personalDataFields: [...(this.source.personalDataFields ?? [])],
      },
      object: {
        bucket: this.id.bucket,
        key: this.id.key,
        versionId: this.id.versionId,
        etag: this.id.etag,
        size: this.id.size,
        lastModified: this.lastModified,
        sha256: this.sha256,
      },
      decoding: this.decoding(),
      counts: { ...this.counts },
      rejectionReasons: { ...this.reasons },
      outputs: { processedKey: o.processedKey, rejectedKey: o.rejectedKey, compression: compression() },
      dataGeneration: o.generation,
      duplicateOf: o.duplicateOf ?? null,
      error: o.error ?? null,
      timings: {
        startedAt: this.startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - this.startedAt.getTime(),
        latencyMs: Number.isNaN(eventTime) ? null : Math.max(0, finishedAt.getTime() - eventTime),
      },
    };
    return {
      status,
      sha256: this.sha256,
      counts: manifest.counts,
      rejectionReasons: manifest.rejectionReasons,
      manifest,
      manifestKey: this.manifestKey,
      error: o.error ? `${o.error.code}: ${o.error.message}` : null,
      dataGeneration: o.generation,
      duplicateOf: o.duplicateOf ?? null,
    };
  }

  /**
   * The file cannot be read: nothing of it is loaded; every record read so far counts as rejected
   * (the raw object keeps them; replay with a forced re-ingest after fixing the file or the source).
   */
  private async setAside(client: ClientBase, error: FileError): Promise<IngestResult> {
    await this.processed.discard();
    const notYetRejected = this.counts.received - this.counts.rejected;
    if (notYetRejected > 0) {
      const key = `file_error: ${error.code}`;
      this.reasons[key] = (this.reasons[key] ?? 0) + notYetRejected;
    }
    Object.assign(this.counts, { ...zeroCounts(), received: this.counts.received, rejected: this.counts.received });
    this.pendingRejected.push({
      recordNumber: null,
      line: error.line ?? null,
      disposition: 'file_error',
      reasons: [error],
      original: '',
      originalTruncated: false,
    });
    await this.flushRejected();
    const rejectedKey = await this.rejected.complete();
    const outcome = this.outcome('rejected', { processedKey: null, rejectedKey, generation: null, error });
    await inTransaction(client, () => recordRun(client, this.id, outcome));
    await this.publish(client, outcome);
    return { outcome: 'rejected', runId: this.id.runId, manifestKey: this.manifestKey };
  }

  /** Same content already loaded for this source (not forced): record the skip, load nothing, send no event. */
  private async skip(client: ClientBase, duplicateOf: string | null): Promise<IngestResult> {
    // Completed already when the duplicate was found at commit: the staged objects are deleted.
    await Promise.all([this.processed.discard(), this.rejected.discard()]);
    const counts = this.counts;
    Object.assign(counts, { ...zeroCounts() });
    for (const k of Object.keys(this.reasons)) delete this.reasons[k];
    const outcome = this.outcome('skipped', { processedKey: null, rejectedKey: null, generation: null, duplicateOf });
    await inTransaction(client, () => recordRun(client, this.id, outcome));
    await this.publish(client, outcome, false);
    recordRunMetrics(this.source.name, null, 'skipped', outcome.manifest.timings.durationMs, outcome.manifest.timings.latencyMs);
    return { outcome: 'skipped', runId: this.id.runId, manifestKey: this.manifestKey };
  }

  /** A run already committed: re-send what did not go out (a crash between commit and publish). */
  private async redelivered(client: ClientBase): Promise<IngestResult> {
    const stored = await findRun(client, this.id.runId);
    if (stored?.manifest && !stored.notifiedAt) {
      await this.publish(client, { manifest: stored.manifest, manifestKey: stored.manifestKey ?? this.manifestKey }, false);
    }
    return { outcome: 'duplicate_delivery', runId: this.id.runId };
  }

  private async putManifest(manifest: IngestionManifest): Promise<void> {
    await s3.send(new PutObjectCommand({
      Bucket: this.id.bucket, Key: this.manifestKey, Body: JSON.stringify(manifest, null, 2), ContentType: 'application/json',
    }));
  }

  /**
   * Manifest object, then the event, then notified_at, under the run row's lock: a concurrent
   * redelivery waits and then finds notified_at set, so the event goes out once; after a crash
   * before notified_at, the redelivery sends them.
   */
  private async publish(client: ClientBase, outcome: Pick<RunOutcome, 'manifest' | 'manifestKey'>, metricsToo = true): Promise<void> {
    await inTransaction(client, async () => {
      if (await lockUnnotified(client, outcome.manifest.runId)) await this.sendNotifications(client, outcome, metricsToo);
    });
  }

  private async sendNotifications(client: ClientBase, outcome: Pick<RunOutcome, 'manifest' | 'manifestKey'>, metricsToo: boolean): Promise<void> {
    const m = outcome.manifest;
    await promoteOutputs(s3, m.object.bucket, [m.outputs.processedKey, m.outputs.rejectedKey]);
    await this.putManifest(m);
    const ids = {
      schemaVersion: INGESTION_SCHEMA_VERSION,
      runId: m.runId,
      sourceName: m.source.name,
      sourceSystem: m.source.sourceSystem,
      entityType: m.source.entityType,
      bucket: m.object.bucket,
      objectKey: m.object.key,
      objectVersionId: m.object.versionId,
      manifestKey: outcome.manifestKey,
    };
    if (m.status === 'skipped') {
      // Nothing changed: the manifest says why; no event.
    } else if (m.status === 'succeeded') {
      await publishSucceeded({
        ...ids,
        manifestKey: outcome.manifestKey,
        runId: m.runId,
        sourceName: m.source.name,
        sourceSystem: m.source.sourceSystem,
        entityType: m.source.entityType,
        processedKey: m.outputs.processedKey,
        rejectedKey: m.outputs.rejectedKey,
        sha256: m.object.sha256!,
        forced: m.forced,
        loadToStore: m.source.loadToStore,
        counts: m.counts,
        dataGeneration: m.dataGeneration,
        personalDataFields: m.source.personalDataFields,
      });
    } else {
      await publishFailed({ ...ids, error: m.error!, counts: m.counts, final: true });
    }
    await markNotified(client, m.runId);
    if (metricsToo) {
      recordRunMetrics(m.source.name, m.counts, m.status, m.timings.durationMs, m.timings.latencyMs);
    }
  }
}
