/**
 * The canonical store's write path: set-based upserts of thousands of entities per call.
 *
 * Rows are streamed with COPY into a session temp table, then merged with one statement:
 * new keys are inserted (version 1); a changed content hash that is not older by
 * source_updated_at replaces the attributes (the versioning trigger archives the old version
 * and bumps it); an unchanged hash writes nothing at all. Must run inside the caller's
 * transaction, so the run record and the data commit together.
 */
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { sha256Hex, stableStringify } from './content-hash';
import { copyField, copyFields } from './copy-text';

export interface EntityRelationship {
  /** e.g. `placed_by`, `contains`, `parent`. */
  readonly type: string;
  readonly targetEntityType: string;
  readonly targetSourceSystem: string;
  readonly targetSourceId: string;
}

export interface CanonicalEntity {
  readonly entityType: string;
  readonly sourceSystem: string;
  readonly sourceId: string;
  readonly canonicalKey?: string | null;
  readonly attributes: Record<string, unknown>;
  /** An update older than the stored one is not applied. */
  readonly sourceUpdatedAt?: string | Date | null;
  readonly relationships?: readonly EntityRelationship[];
}

export interface SourceObject {
  readonly bucket?: string;
  readonly key?: string;
  readonly versionId?: string;
}

export interface UpsertOptions {
  readonly runId?: string;
  readonly source?: SourceObject;
}

export interface RejectedEntity {
  /** Position of the entity in the input. */
  readonly index: number;
  readonly reason: string;
}

export interface UpsertResult {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  /** Changed content with a source_updated_at older than the stored one: not applied. */
  readonly stale: number;
  /** Later occurrences of a key already in this call (the last one wins). */
  readonly duplicates: number;
  /** Entities PostgreSQL would refuse (NUL characters, lone surrogates, bad timestamps): not sent. */
  readonly rejected: RejectedEntity[];
}

const STAGING = 'pg_temp.cdp_upsert_staging';
const COPY_CHUNK_CHARS = 64 * 1024;

// A JSON escape PostgreSQL refuses in jsonb: \u0000 or a lone UTF-16 surrogate (JSON.stringify
// only escapes surrogates that are unpaired). An even number of backslashes before it is literal text.
const REFUSED_JSON_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** The hash that decides "changed": attributes, canonical key and relationships (not timestamps). */
export function contentHash(entity: CanonicalEntity): string {
  const relationships = [...(entity.relationships ?? [])]
    .map((r) => [r.type, r.targetEntityType, r.targetSourceSystem, r.targetSourceId])
    .sort();
  // stableStringify({ canonicalKey, attributes, relationships }) spelled out: its keys in sorted order.
  const attributes = entity.attributes === undefined ? '' : `"attributes":${stableStringify(entity.attributes)},`;
  return sha256Hex(`{${attributes}"canonicalKey":${stableStringify(entity.canonicalKey ?? null)},"relationships":${stableStringify(relationships)}}`);
}

function refusedText(value: string): boolean {
  return value.includes('\u0000') || REFUSED_JSON_ESCAPE.test(JSON.stringify(value));
}

/**
 * One entity checked and encoded for the staging COPY (see stageEntity): encoding is client CPU
 * only, so a caller can do it ahead, while the database merges the previous batch.
 */
export interface StagedEntity {
  readonly entity: CanonicalEntity;
  /**
   * COPY text of the entity's canonical.entities columns (ENTITY_COLUMNS, no line end);
   * undefined when PostgreSQL would refuse the entity.
   */
  readonly line?: string;
  /** Its relationships as JSON (set with `line`). */
  readonly relationships?: string;
  /** The run id it was staged with. */
  readonly runId?: string;
  /** Why PostgreSQL would refuse the entity (set exactly when `line` is not). */
  readonly reason?: string;
}

/** Thrown by upsertStaged with `insertNewDirectly` when a key turned out to be stored meanwhile (see there). */
export class NewKeyConflictError extends Error {
  constructor(readonly cause: unknown) {
    super('A key thought new was stored meanwhile by a concurrent writer; the transaction is aborted (redo without insertNewDirectly).');
    this.name = 'NewKeyConflictError';
  }
}

export interface UpsertStagedOptions {
  /**
   * When no key of the call is stored yet (one indexed probe) and none repeats, COPY the rows
   * straight into canonical.entities instead of staging + merge: same rows, versions and counts,
   * with about a third less database time in a first load. A concurrent writer committing one of those
   * keys before this transaction does makes the COPY fail with a unique violation, which aborts
   * the caller's transaction: upsertStaged then throws NewKeyConflictError, and the caller must
   * roll back and redo its whole transaction without this option (the merge handles that race).
   * @default false
   */
  readonly insertNewDirectly?: boolean;
  /**
   * With insertNewDirectly: the caller has just checked, in this transaction, that no key of the
   * call is stored, so the probe is skipped (keys must still be distinct for the direct path).
   * @default false
   */
  readonly keysCheckedNew?: boolean;
}

/** The COPY text for one entity (see StagedEntity), or the reason PostgreSQL would refuse it. */
function stagingLine(entity: CanonicalEntity, options: UpsertOptions): { line: string; relationships: string } | { reason: string } {
  for (const field of ['entityType', 'sourceSystem', 'sourceId'] as const) {
    const v = entity[field];
    if (typeof v !== 'string' || v.trim() === '') return { reason: `${field} is missing or empty` };
    if (refusedText(v)) return { reason: `${field} contains a NUL character or an invalid Unicode surrogate` };
  }
  if (entity.canonicalKey != null && refusedText(String(entity.canonicalKey))) {
    return { reason: 'canonicalKey contains a NUL character or an invalid Unicode surrogate' };
  }
  if (entity.attributes === null || typeof entity.attributes !== 'object' || Array.isArray(entity.attributes)) {
    return { reason: 'attributes must be an object' };
  }
  const attributes = JSON.stringify(entity.attributes);
  if (REFUSED_JSON_ESCAPE.test(attributes)) return { reason: 'attributes contain a NUL character or an invalid Unicode surrogate' };
  const relationships = JSON.stringify((entity.relationships ?? []).map((r) => ({
    type: r.type, target_entity_type: r.targetEntityType, target_source_system: r.targetSourceSystem, target_source_id: r.targetSourceId,
  })));
  if (REFUSED_JSON_ESCAPE.test(relationships)) return { reason: 'relationships contain a NUL character or an invalid Unicode surrogate' };
  let sourceUpdatedAt: string | null = null;
  if (entity.sourceUpdatedAt != null) {
    const date = entity.sourceUpdatedAt instanceof Date ? entity.sourceUpdatedAt : new Date(entity.sourceUpdatedAt);
    if (Number.isNaN(date.getTime())) return { reason: `sourceUpdatedAt "${entity.sourceUpdatedAt}" is not a valid timestamp` };
    sourceUpdatedAt = date.toISOString();
  }
  return {
    line: copyFields([
      entity.entityType, entity.sourceSystem, entity.sourceId, entity.canonicalKey ?? null,
      attributes, contentHash(entity), sourceUpdatedAt,
      options.source?.bucket ?? null, options.source?.key ?? null, options.source?.versionId ?? null, options.runId ?? null,
    ]),
    relationships,
  };
}

/**
 * Checks and encodes one entity for upsertStaged: the content hash, the JSON and the COPY text,
 * with the run id and source object of `options` (pass the same options for a whole call).
 */
export function stageEntity(entity: CanonicalEntity, options: UpsertOptions = {}): StagedEntity {
  const staged = stagingLine(entity, options);
  return 'reason' in staged ? { entity, reason: staged.reason } : { entity, ...staged, runId: options.runId };
}

async function prepareStaging(client: ClientBase): Promise<void> {
  // Session-scoped and emptied at commit; reused by every call on this connection.
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS cdp_upsert_staging (
    ord bigint NOT NULL, entity_type text NOT NULL, source_system text NOT NULL, source_id text NOT NULL,
    canonical_key text, attributes jsonb NOT NULL, content_hash text NOT NULL, source_updated_at timestamptz,
    relationships jsonb NOT NULL, source_bucket text, source_key text, source_version_id text, run_id uuid,
    written boolean NOT NULL DEFAULT false
  ) ON COMMIT DELETE ROWS`);
  await client.query(`TRUNCATE ${STAGING}`);
}

const MERGE = `
WITH batch AS (
  SELECT DISTINCT ON (entity_type, source_system, source_id) *
  FROM ${STAGING}
  ORDER BY entity_type, source_system, source_id, ord DESC
), classified AS (
  SELECT b.*, CASE
      WHEN e.id IS NULL THEN 'new'
      WHEN e.content_hash = b.content_hash THEN 'unchanged'
      WHEN b.source_updated_at < e.source_updated_at THEN 'stale'
      ELSE 'changed' END AS kind
  FROM batch b
  LEFT JOIN canonical.entities e USING (entity_type, source_system, source_id)
), written AS (
  INSERT INTO canonical.entities AS e (entity_type, source_system, source_id, canonical_key, attributes, content_hash,
    source_updated_at, source_bucket, source_key, source_version_id, last_run_id)
  SELECT entity_type, source_system, source_id, canonical_key, attributes, content_hash,
    source_updated_at, source_bucket, source_key, source_version_id, run_id
  FROM classified WHERE kind IN ('new', 'changed')
  ON CONFLICT ON CONSTRAINT entities_source_key DO UPDATE SET
    canonical_key = EXCLUDED.canonical_key,
    attributes = EXCLUDED.attributes,
    content_hash = EXCLUDED.content_hash,
    source_updated_at = COALESCE(EXCLUDED.source_updated_at, e.source_updated_at),
    source_bucket = EXCLUDED.source_bucket,
    source_key = EXCLUDED.source_key,
    source_version_id = EXCLUDED.source_version_id,
    last_run_id = EXCLUDED.last_run_id
  WHERE e.content_hash <> EXCLUDED.content_hash
    AND (EXCLUDED.source_updated_at IS NULL OR e.source_updated_at IS NULL OR EXCLUDED.source_updated_at >= e.source_updated_at)
  RETURNING e.entity_type, e.source_system, e.source_id, (xmax = 0) AS inserted
), marked AS (
  UPDATE ${STAGING} s SET written = true
  FROM written w JOIN batch b USING (entity_type, source_system, source_id)
  WHERE s.ord = b.ord AND (NOT w.inserted OR b.relationships <> '[]'::jsonb)
  RETURNING 1
)
SELECT
  (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
  (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
  (SELECT count(*) FROM classified WHERE kind = 'stale')::int AS stale,
  (SELECT count(*) FROM batch)::int AS distinct_keys,
  (SELECT count(*) FROM marked)::int AS marked`;

// Relationships follow the entity's current version: replaced when it is written. Only the rows
// these statements read are marked `written` (updated ones, and inserted ones with relationships):
// marking every inserted row cost about a tenth of a first load's merge.
const DELETE_RELATIONSHIPS = `
DELETE FROM canonical.relationships r USING ${STAGING} s
WHERE s.written AND r.from_entity_type = s.entity_type AND r.from_source_system = s.source_system AND r.from_source_id = s.source_id`;

const INSERT_RELATIONSHIPS = `
INSERT INTO canonical.relationships (rel_type, from_entity_type, from_source_system, from_source_id,
  to_entity_type, to_source_system, to_source_id, run_id)
SELECT rel.type, s.entity_type, s.source_system, s.source_id,
  rel.target_entity_type, rel.target_source_system, rel.target_source_id, s.run_id
FROM ${STAGING} s
CROSS JOIN LATERAL jsonb_to_recordset(s.relationships)
  AS rel(type text, target_entity_type text, target_source_system text, target_source_id text)
WHERE s.written
ON CONFLICT DO NOTHING`;

const INSERT_NEW_RELATIONSHIPS = `
INSERT INTO canonical.relationships (rel_type, from_entity_type, from_source_system, from_source_id,
  to_entity_type, to_source_system, to_source_id, run_id)
SELECT rel.type, s.entity_type, s.source_system, s.source_id,
  rel.target_entity_type, rel.target_source_system, rel.target_source_id, s.run_id
FROM jsonb_to_recordset($1::jsonb) AS s (entity_type text, source_system text, source_id text, run_id uuid, relationships jsonb)
CROSS JOIN LATERAL jsonb_to_recordset(s.relationships)
  AS rel(type text, target_entity_type text, target_source_system text, target_source_id text)
ON CONFLICT DO NOTHING`;

/**
 * The upsert stages rows in a temp table that empties at each commit (ON COMMIT DELETE ROWS): outside
 * a transaction every statement commits on its own and nothing would be loaded, silently. Refused.
 * (pg reports the session's transaction status from each ReadyForQuery: I idle, T in a transaction,
 * E in a failed one.)
 */
function requireTransaction(client: ClientBase): void {
  const status = (client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
  if (status === 'I') {
    throw new Error('upsertEntities/upsertStaged must run inside a transaction (BEGIN first, COMMIT after): outside one, '
      + 'each statement commits alone and the staged rows are gone before the merge reads them, so nothing would be loaded.');
  }
}

/**
 * Upserts entities into canonical.entities in one set-based merge. Call it inside a transaction;
 * batches of a few thousand keep memory flat and locks short.
 */
export async function upsertEntities(
  client: ClientBase,
  entities: Iterable<CanonicalEntity>,
  options: UpsertOptions = {},
): Promise<UpsertResult> {
  function* staged(): Generator<StagedEntity> {
    for (const entity of entities) yield stageEntity(entity, options);
  }
  return upsertStaged(client, staged());
}

/**
 * upsertEntities for entities already encoded by stageEntity (same result, same semantics); a
 * refused entity is reported in `rejected` at its position in `staged`.
 */
export async function upsertStaged(
  client: ClientBase,
  staged: Iterable<StagedEntity>,
  options: UpsertStagedOptions = {},
): Promise<UpsertResult> {
  requireTransaction(client);
  if (options.insertNewDirectly) {
    const items = [...staged];
    if (await allNew(client, items, options.keysCheckedNew ?? false)) return insertDirectly(client, items);
    staged = items;
  }
  await prepareStaging(client);
  const rejected: RejectedEntity[] = [];
  let count = 0;
  let withRelationships = false;
  function* lines(): Generator<string> {
    let index = 0;
    for (const item of staged) {
      if (item.line !== undefined) {
        count++;
        withRelationships ||= (item.entity.relationships?.length ?? 0) > 0;
        yield `${index}\t${item.line}\t${copyField(item.relationships)}\n`;
      } else {
        rejected.push({ index, reason: item.reason ?? 'not staged' });
      }
      index++;
    }
  }
  await copyInto(client, `${STAGING} (ord, ${ENTITY_COLUMNS.replace('last_run_id', 'run_id')}, relationships)`, inChunks(lines()));
  if (count === 0) return { inserted: 0, updated: 0, unchanged: 0, stale: 0, duplicates: 0, rejected };

  const { rows: [counts] } = await client.query(MERGE);
  if (counts.updated > 0) await client.query(DELETE_RELATIONSHIPS);
  if (withRelationships && counts.marked > 0) await client.query(INSERT_RELATIONSHIPS);
  return {
    inserted: counts.inserted,
    updated: counts.updated,
    stale: counts.stale,
    unchanged: counts.distinct_keys - counts.inserted - counts.updated - counts.stale,
    duplicates: count - counts.distinct_keys,
    rejected,
  };
}

// The canonical.entities columns of a StagedEntity's line, in order.
const ENTITY_COLUMNS = 'entity_type, source_system, source_id, canonical_key, attributes, content_hash, source_updated_at, '
  + 'source_bucket, source_key, source_version_id, last_run_id';
const UNIQUE_VIOLATION = '23505';

async function copyInto(client: ClientBase, target: string, text: Iterable<string>): Promise<void> {
  await pipeline(Readable.from(text), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
}

/** ~64 KB chunks of lines (each with its line end): one socket write per row would cost more than the COPY itself. */
function* inChunks(lines: Iterable<string>): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= COPY_CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** True when the storable entities have distinct keys, none of them stored (committed) yet. */
async function allNew(client: ClientBase, items: readonly StagedEntity[], checked: boolean): Promise<boolean> {
  const types: string[] = [];
  const systems: string[] = [];
  const ids: string[] = [];
  const keys = new Set<string>();
  for (const { entity, line } of items) {
    if (line === undefined) continue;
    // Staged text holds no NUL character: the joined key is unambiguous.
    const key = `${entity.entityType}\u0000${entity.sourceSystem}\u0000${entity.sourceId}`;
    if (keys.has(key)) return false;
    keys.add(key);
    types.push(entity.entityType);
    systems.push(entity.sourceSystem);
    ids.push(entity.sourceId);
  }
  if (ids.length === 0) return false;
  if (checked) return true;
  const { rows } = await client.query(`SELECT EXISTS (
    SELECT FROM unnest($1::text[], $2::text[], $3::text[]) AS k (entity_type, source_system, source_id)
    JOIN canonical.entities e USING (entity_type, source_system, source_id)) AS stored`, [types, systems, ids]);
  return !rows[0].stored;
}

/** New keys only (checked by allNew): COPY straight into the store, then their relationships. */
async function insertDirectly(client: ClientBase, items: readonly StagedEntity[]): Promise<UpsertResult> {
  const rejected: RejectedEntity[] = [];
  let inserted = 0;
  items.forEach((item, index) => {
    if (item.line === undefined) rejected.push({ index, reason: item.reason ?? 'not staged' });
    else inserted++;
  });
  try {
    await copyInto(client, `canonical.entities (${ENTITY_COLUMNS})`,
      inChunks(items.filter((i) => i.line !== undefined).map((i) => `${i.line}\n`)));
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new NewKeyConflictError(error);
    throw error;
  }
  const linked = items.filter((item) => item.line !== undefined && (item.entity.relationships?.length ?? 0) > 0);
  if (linked.length > 0) {
    // The same JSON and the same conversion as the merge path's INSERT_RELATIONSHIPS, in one statement.
    const json = linked.map(({ entity: e, relationships, runId }) => `{"entity_type":${JSON.stringify(e.entityType)},`
      + `"source_system":${JSON.stringify(e.sourceSystem)},"source_id":${JSON.stringify(e.sourceId)},`
      + `"run_id":${JSON.stringify(runId ?? null)},"relationships":${relationships}}`);
    await client.query(INSERT_NEW_RELATIONSHIPS, [`[${json.join(',')}]`]);
  }
  return { inserted, updated: 0, unchanged: 0, stale: 0, duplicates: 0, rejected };
}

/** Moves the data generation; call in the same transaction as the writes, only when rows changed. */
export async function bumpDataGeneration(client: ClientBase): Promise<number> {
  const { rows } = await client.query('SELECT canonical.bump_data_generation() AS generation');
  return Number(rows[0].generation);
}
