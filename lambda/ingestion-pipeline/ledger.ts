/**
 * canonical.ingestion_runs: the idempotency record, written in the same transaction as the data.
 */
import type { ClientBase } from 'pg';
import type { IngestionCounts, IngestionManifest, RunStatus } from '../shared/ingestion-contract';

export interface RunIdentity {
  readonly runId: string;
  readonly sourceName: string;
  readonly sourceSystem: string;
  readonly entityType: string;
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly etag: string | null;
  readonly size: number | null;
  readonly forced: boolean;
}

export interface StoredRun {
  readonly status: string;
  readonly manifest: IngestionManifest | null;
  readonly manifestKey: string | null;
  readonly notifiedAt: Date | null;
}

export const CONTENT_ONCE_INDEX = 'ingestion_runs_content_once';

/**
 * Inserts the run as `running`; false when the run exists (or another attempt holds it, once that
 * one commits). `startedAt` is when this attempt started (not the transaction's now(), which would
 * also be its finished_at: every run would look instant).
 */
export async function claimRun(client: ClientBase, run: RunIdentity, startedAt: Date): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO canonical.ingestion_runs (run_id, source_name, source_system, entity_type, bucket, object_key, version_id, etag, size_bytes, forced, status,
       started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running', $11)
     ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.sourceName, run.sourceSystem, run.entityType, run.bucket, run.key, run.versionId, run.etag, run.size, run.forced, startedAt],
  );
  return rowCount === 1;
}

export async function findRun(client: ClientBase, runId: string): Promise<StoredRun | undefined> {
  const { rows } = await client.query(
    'SELECT status, manifest, manifest_key, notified_at FROM canonical.ingestion_runs WHERE run_id = $1', [runId]);
  if (rows.length === 0) return undefined;
  return { status: rows[0].status, manifest: rows[0].manifest, manifestKey: rows[0].manifest_key, notifiedAt: rows[0].notified_at };
}

/** The committed run that already loaded this content for the source, if any. */
export async function findContentDuplicate(client: ClientBase, run: RunIdentity, sha256: string): Promise<string | undefined> {
  const { rows } = await client.query(
    `SELECT run_id FROM canonical.ingestion_runs
     WHERE source_system = $1 AND entity_type = $2 AND sha256 = $3 AND status = 'succeeded' AND NOT forced AND received > 0 AND run_id <> $4
     LIMIT 1`,
    [run.sourceSystem, run.entityType, sha256, run.runId]);
  return rows[0]?.run_id;
}

export interface RunOutcome {
  readonly status: RunStatus;
  readonly sha256: string | null;
  readonly counts: IngestionCounts;
  readonly rejectionReasons: Record<string, number>;
  readonly manifest: IngestionManifest;
  readonly manifestKey: string;
  readonly error: string | null;
  readonly dataGeneration: number | null;
  readonly duplicateOf: string | null;
}

function outcomeValues(o: RunOutcome): unknown[] {
  const c = o.counts;
  return [o.status, o.sha256, c.received, c.inserted, c.updated, c.unchanged, c.stale, c.notLoaded, c.rejected, c.duplicates,
    JSON.stringify(o.rejectionReasons), JSON.stringify(o.manifest), o.manifestKey, o.manifest.outputs.processedKey,
    o.manifest.outputs.rejectedKey, o.error, o.dataGeneration, o.duplicateOf];
}

/** Completes the claimed run (same transaction as the data). */
export async function finishRun(client: ClientBase, runId: string, outcome: RunOutcome): Promise<void> {
  await client.query(
    `UPDATE canonical.ingestion_runs SET status = $2, sha256 = $3, received = $4, inserted = $5, updated = $6, unchanged = $7,
       stale = $8, not_loaded = $9, rejected = $10, duplicates = $11, rejection_reasons = $12, manifest = $13, manifest_key = $14,
       processed_key = $15, rejected_key = $16, error = $17, data_generation = $18, duplicate_of = $19, finished_at = clock_timestamp()
     WHERE run_id = $1`,
    [runId, ...outcomeValues(outcome)]);
}

/** Records a run that loaded nothing (set aside or skipped), in its own transaction. */
export async function recordRun(client: ClientBase, run: RunIdentity, outcome: RunOutcome): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO canonical.ingestion_runs (run_id, source_name, source_system, entity_type, bucket, object_key, version_id, etag,
       size_bytes, forced, status, sha256, received, inserted, updated, unchanged, stale, not_loaded, rejected, duplicates,
       rejection_reasons, manifest, manifest_key, processed_key, rejected_key, error, data_generation, duplicate_of, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
       $26, $27, $28, $29, clock_timestamp())
     ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.sourceName, run.sourceSystem, run.entityType, run.bucket, run.key, run.versionId, run.etag, run.size, run.forced,
      ...outcomeValues(outcome), outcome.manifest.timings.startedAt]);
  return rowCount === 1;
}

/** Locks the run row (inside a transaction); true when its manifest and event have not gone out yet. */
export async function lockUnnotified(client: ClientBase, runId: string): Promise<boolean> {
  const { rows } = await client.query('SELECT notified_at FROM canonical.ingestion_runs WHERE run_id = $1 FOR UPDATE', [runId]);
  return rows.length === 1 && rows[0].notified_at === null;
}

export async function markNotified(client: ClientBase, runId: string): Promise<void> {
  await client.query('UPDATE canonical.ingestion_runs SET notified_at = now() WHERE run_id = $1', [runId]);
}

export async function currentGeneration(client: ClientBase): Promise<number> {
  const { rows } = await client.query('SELECT generation FROM canonical.data_generation');
  return Number(rows[0].generation);
}

/** Source ids met earlier in this file: a temp table, so a 1 GB file's ids never sit in Lambda memory. */
export async function prepareSeenIds(client: ClientBase): Promise<void> {
  await client.query('CREATE TEMP TABLE IF NOT EXISTS ingest_seen_ids (source_id text PRIMARY KEY) ON COMMIT DELETE ROWS');
}

/** Of these (distinct) ids, the ones not met before in this transaction; records them as met. */
export async function firstSightings(client: ClientBase, ids: string[]): Promise<Set<string>> {
  const { rows } = await client.query(
    'INSERT INTO pg_temp.ingest_seen_ids (source_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING source_id', [ids]);
  return new Set(rows.map((r) => r.source_id as string));
}

/**
 * firstSightings, and in the same round trip whether any of the first-seen ids is stored already
 * for this entity type and source system (when none is, the batch can go straight into the store).
 */
export async function firstSightingsInStore(
  client: ClientBase, ids: string[], entityType: string, sourceSystem: string,
): Promise<{ fresh: Set<string>; anyStored: boolean }> {
  const { rows } = await client.query(
    `WITH fresh AS (
       INSERT INTO pg_temp.ingest_seen_ids (source_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING source_id)
     SELECT f.source_id, s.stored IS NOT NULL AS stored
     FROM fresh f
     -- LATERAL + LIMIT: one index probe per id. (An EXISTS here may be planned as a hashed subplan that
     -- reads every stored row of the source, each batch: unanalyzed, the table looks small during a first load.)
     LEFT JOIN LATERAL (SELECT true AS stored FROM canonical.entities e
       WHERE e.entity_type = $2 AND e.source_system = $3 AND e.source_id = f.source_id LIMIT 1) s ON true`, [ids, entityType, sourceSystem]);
  return { fresh: new Set(rows.map((r) => r.source_id as string)), anyStored: rows.some((r) => r.stored) };
}
