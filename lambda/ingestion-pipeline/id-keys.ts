/**
 * Which id normalisation keyed the stored entities of an identity space (entity type, source
 * system): canonical.source_id_normalization, checked in the run's transaction before any record
 * is read. A source that normalises differently gets a file-level refusal, unless it declares the
 * re-key (`rekeyIdsFrom`), which is then done here, in the same transaction as the run's data
 * (rolled back with it). docs/ingestion.md, "Source ids".
 */
import type { ClientBase } from 'pg';
import type { IdNormalization, SourceConfig } from './config';
import type { FileError } from '../shared/ingestion-contract';

/** Stores from before the table existed: every id was trimmed. */
const LEGACY_NORMALIZATION: IdNormalization = 'trim';

/** SQL normalising the text column `column` as mapping.ts normalizeId does (case mapping by the database). */
function normalizedSql(column: string, normalization: IdNormalization): string {
  const trimmed = `regexp_replace(${column}, '^[[:space:]]+|[[:space:]]+$', '', 'g')`;
  switch (normalization) {
    case 'none': return column;
    case 'trim_and_lowercase': return `lower(${trimmed})`;
    case 'trim_and_uppercase': return `upper(${trimmed})`;
    default: return trimmed;
  }
}

const propValue = (n: string) => n.toUpperCase();

/** Undefined when the run may load; otherwise the file-level error that sets the file aside. */
export async function checkIdNormalization(client: ClientBase, source: SourceConfig, runId: string): Promise<FileError | undefined> {
  if (!source.loadToStore) return undefined;
  const wanted = source.idNormalization ?? LEGACY_NORMALIZATION;
  const identity = [source.entityType, source.sourceSystem];
  await client.query(
    `INSERT INTO canonical.source_id_normalization (entity_type, source_system, id_normalization, run_id)
     SELECT $1, $2, CASE WHEN EXISTS (SELECT 1 FROM canonical.entities WHERE entity_type = $1 AND source_system = $2) THEN $3 ELSE $4 END, $5::uuid
     ON CONFLICT (entity_type, source_system) DO NOTHING`,
    [...identity, LEGACY_NORMALIZATION, wanted, runId],
  );
  const { rows } = await client.query<{ id_normalization: IdNormalization }>(
    'SELECT id_normalization FROM canonical.source_id_normalization WHERE entity_type = $1 AND source_system = $2 FOR SHARE', identity);
  const stored = rows[0].id_normalization;
  if (stored === wanted) return undefined;
  const what = `the stored ${source.entityType} entities of ${source.sourceSystem}`;
  if (source.rekeyIdsFrom !== stored) {
    const declared = source.rekeyIdsFrom ? `declares rekeyIdsFrom ${propValue(source.rekeyIdsFrom)}, but ` : 'has no rekeyIdsFrom, and ';
    return {
      code: 'id_normalization_changed',
      message: `Source "${source.name}" normalises ids with ${propValue(wanted)}, ${declared}${what} were keyed with ${propValue(stored)}: `
        + `set rekeyIdsFrom: ${propValue(stored)} to re-key them, or idNormalization back to ${propValue(stored)}; then re-ingest this file (forced). Nothing was loaded.`,
    };
  }
  return rekey(client, source, stored, wanted, runId, what);
}

async function rekey(
  client: ClientBase, source: SourceConfig, from: IdNormalization, to: IdNormalization, runId: string, what: string,
): Promise<FileError | undefined> {
  const identity = [source.entityType, source.sourceSystem];
  await client.query('SELECT 1 FROM canonical.source_id_normalization WHERE entity_type = $1 AND source_system = $2 FOR UPDATE', identity);
  const id = normalizedSql('source_id', to);
  const collisions = await client.query<{ id: string; ids: string[]; groups: string }>(
    `SELECT ${id} AS id, array_agg(source_id ORDER BY source_id) AS ids, count(*) OVER () AS groups
     FROM canonical.entities WHERE entity_type = $1 AND source_system = $2
     GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5`, identity);
  if (collisions.rows.length > 0) {
    const examples = collisions.rows.map((r) => `${r.ids.map((i) => JSON.stringify(i)).join(', ')} → ${JSON.stringify(r.id)}`).join('; ');
    return {
      code: 'id_normalization_changed',
      message: `Re-keying ${what} from ${propValue(from)} to ${propValue(to)} would make different stored entities one `
        + `(${collisions.rows[0].groups} ids, first ${collisions.rows.length}: ${examples}): merge or remove them, then re-ingest this file (forced). Nothing was changed.`,
    };
  }
  await client.query(`UPDATE canonical.entities SET source_id = ${id} WHERE entity_type = $1 AND source_system = $2 AND source_id <> ${id}`, identity);
  const fromId = normalizedSql('from_source_id', to);
  const toId = normalizedSql('to_source_id', to);
  const isFrom = 'from_entity_type = $1 AND from_source_system = $2';
  const isTo = 'to_entity_type = $1 AND to_source_system = $2';
  // Links are keyed by source ids at both ends: move them (two may become one).
  await client.query(
    `WITH moved AS (
       DELETE FROM canonical.relationships WHERE (${isFrom} AND from_source_id <> ${fromId}) OR (${isTo} AND to_source_id <> ${toId}) RETURNING *
     )
     INSERT INTO canonical.relationships (rel_type, from_entity_type, from_source_system, from_source_id, to_entity_type, to_source_system, to_source_id, run_id, created_at)
     SELECT DISTINCT ON (1, 2, 3, 4, 5, 6, 7) rel_type, from_entity_type, from_source_system, CASE WHEN ${isFrom} THEN ${fromId} ELSE from_source_id END,
       to_entity_type, to_source_system, CASE WHEN ${isTo} THEN ${toId} ELSE to_source_id END, run_id, created_at
     FROM moved ORDER BY 1, 2, 3, 4, 5, 6, 7, created_at
     ON CONFLICT DO NOTHING`, identity);
  await client.query(
    'UPDATE canonical.source_id_normalization SET id_normalization = $3, run_id = $4, updated_at = now() WHERE entity_type = $1 AND source_system = $2',
    [...identity, to, runId]);
  await client.query('SELECT canonical.bump_data_generation()');
  return undefined;
}
