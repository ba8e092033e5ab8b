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
import { copyRow } from './copy-text';

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
  return sha256Hex(stableStringify({
    canonicalKey: entity.canonicalKey ?? null,
    attributes: entity.attributes,
    relationships: [...(entity.relationships ?? [])]
      .map((r) => [r.type, r.targetEntityType, r.targetSourceSystem, r.targetSourceId])
      .sort(),
  }));
}

function refusedText(value: string): boolean {
  return value.includes('\u0000') || REFUSED_JSON_ESCAPE.test(JSON.stringify(value));
}

/** The COPY line for one entity, or the reason PostgreSQL would refuse it. */
function stagingLine(entity: CanonicalEntity, ord: number, options: UpsertOptions): string | { reason: string } {
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
  return copyRow([
    ord, entity.entityType, entity.sourceSystem, entity.sourceId, entity.canonicalKey ?? null,
    attributes, contentHash(entity), sourceUpdatedAt, relationships,
    options.source?.bucket ?? null, options.source?.key ?? null, options.source?.versionId ?? null, options.runId ?? null,
  ]);
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
  WHERE s.ord = b.ord
  RETURNING 1
)
SELECT
  (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
  (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
  (SELECT count(*) FROM classified WHERE kind = 'stale')::int AS stale,
  (SELECT count(*) FROM batch)::int AS distinct_keys,
  (SELECT count(*) FROM marked)::int AS marked`;

// Relationships follow the entity's current version: replaced when it is written.
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

/**
 * Upserts entities into canonical.entities in one set-based merge. Call it inside a transaction;
 * batches of a few thousand keep memory flat and locks short.
 */
export async function upsertEntities(
  client: ClientBase,
  entities: Iterable<CanonicalEntity>,
  options: UpsertOptions = {},
): Promise<UpsertResult> {
  await prepareStaging(client);
  const rejected: RejectedEntity[] = [];
  let staged = 0;
  let withRelationships = false;
  // Lines go out in ~64 KB chunks: one socket write per row would cost more than the COPY itself.
  function* chunks(): Generator<string> {
    let index = 0;
    let chunk = '';
    for (const entity of entities) {
      const line = stagingLine(entity, index, options);
      if (typeof line === 'string') {
        staged++;
        withRelationships ||= (entity.relationships?.length ?? 0) > 0;
        chunk += line;
        if (chunk.length >= COPY_CHUNK_CHARS) {
          yield chunk;
          chunk = '';
        }
      } else {
        rejected.push({ index, reason: line.reason });
      }
      index++;
    }
    if (chunk) yield chunk;
  }
  const copy = client.query(copyFrom(`COPY ${STAGING} (ord, entity_type, source_system, source_id, canonical_key,
    attributes, content_hash, source_updated_at, relationships, source_bucket, source_key, source_version_id, run_id) FROM STDIN`));
  await pipeline(Readable.from(chunks()), copy);
  if (staged === 0) return { inserted: 0, updated: 0, unchanged: 0, stale: 0, duplicates: 0, rejected };

  const { rows: [counts] } = await client.query(MERGE);
  if (counts.updated > 0) await client.query(DELETE_RELATIONSHIPS);
  if (withRelationships && counts.marked > 0) await client.query(INSERT_RELATIONSHIPS);
  return {
    inserted: counts.inserted,
    updated: counts.updated,
    stale: counts.stale,
    unchanged: counts.distinct_keys - counts.inserted - counts.updated - counts.stale,
    duplicates: staged - counts.distinct_keys,
    rejected,
  };
}

/** Moves the data generation; call in the same transaction as the writes, only when rows changed. */
export async function bumpDataGeneration(client: ClientBase): Promise<number> {
  const { rows } = await client.query('SELECT canonical.bump_data_generation() AS generation');
  return Number(rows[0].generation);
}
