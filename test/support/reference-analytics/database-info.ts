// REFERENCE COPY for issue 18: lambda/analytics-api/operations/database-info.ts as it was on main at b923fd0,
// the pre-issue-18 queries, kept as the reference that test/analytics-equivalence.test.ts compares
// the shipped operation against. Only the imports differ; the SQL is byte-identical: do not edit it.
/**
 * database_info: schema inspection of the canonical store: its tables and views (kind, estimated
 * rows, size), exact entity counts by type and source system, indexes with their sizes, the data
 * generation and the latest ingestion runs.
 */
import { LIMIT_SCHEMA } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from '../../../lambda/analytics-api/operations/types';

async function run(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const [database] = await db.rows(`
    SELECT current_database() AS name, current_setting('server_version') AS server_version,
           pg_database_size(current_database()) AS size_bytes`);
  const relations = await db.rows(`
    SELECT c.relname AS name,
           CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' END AS kind,
           CASE WHEN c.relkind IN ('r', 'p', 'm') AND c.reltuples >= 0 THEN c.reltuples::bigint END AS estimated_rows,
           CASE WHEN c.relkind IN ('r', 'p', 'm') THEN pg_total_relation_size(c.oid) END AS total_size_bytes,
           obj_description(c.oid, 'pg_class') AS description
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'canonical' AND c.relkind IN ('r', 'p', 'v', 'm')
    ORDER BY kind, name`);
  if (params.exact_counts) {
    for (const relation of relations) {
      if (relation.kind !== 'table') continue;
      // The name comes from the catalog (not from input), quoted as an identifier.
      const name = `"${String(relation.name).replace(/"/g, '""')}"`;
      const [{ n }] = await db.rows<{ n: number }>(`SELECT count(*) AS n FROM canonical.${name}`);
      relation.exact_rows = n;
    }
  }
  const entityCounts = await db.rows(`
    SELECT entity_type, source_system, count(*) AS entities, max(updated_at) AS last_updated_at
    FROM canonical.entities GROUP BY 1, 2 ORDER BY 1, 2`);
  const indexes = await db.rows(`
    SELECT i.tablename AS table_name, i.indexname AS name, i.indexdef AS definition,
           pg_relation_size(format('%I.%I', i.schemaname, i.indexname)::regclass) AS size_bytes
    FROM pg_indexes i WHERE i.schemaname = 'canonical' ORDER BY 1, 2`);
  const [generation] = await db.rows('SELECT generation, updated_at FROM canonical.data_generation');
  const latestRuns = await db.rows(`
    SELECT run_id, source_system, entity_type, bucket, object_key, status, received, inserted, updated, unchanged,
           not_loaded, rejected, duplicates, data_generation, started_at, finished_at, error
    FROM canonical.ingestion_runs ORDER BY started_at DESC LIMIT $1`, [params.latest_runs]);
  return {
    database,
    data_generation: generation ?? null,
    relations,
    entity_counts: entityCounts,
    indexes,
    latest_ingestion_runs: latestRuns,
  };
}

export const databaseInfo: OperationDefinition = {
  name: 'database_info',
  description: 'Schema inspection: tables and views, row counts, entity counts by type and source, sizes, indexes, latest ingestion runs.',
  access: AccessLevel.ANALYTICS,
  longRunning: false,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      latest_runs: LIMIT_SCHEMA(100, 10),
      exact_counts: { type: 'boolean', default: false, description: 'Count the rows of every table exactly (a full scan of each).' },
    },
  },
  plan: { kind: 'composite', run },
};
