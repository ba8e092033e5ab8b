/**
 * data_integrity_analysis: cross-system integrity and quality scoring.
 * - fuzzy duplicates: pairs of entities whose names are similar (pg_trgm, trigram index);
 * - conflicts: the same canonical key in several source systems with different attribute values;
 * - orphans: orders whose customer is unknown;
 * - per entity type and source system: completeness of the canonical attributes, validity of their
 *   values (formats, plausible ranges), consistency (not in a conflict) and a quality score;
 *   and an overall score weighted by entity counts.
 *
 * Quality score = 0.4 × completeness + 0.4 × validity + 0.2 × consistency (each 0–100).
 */
import { Binder, LIMIT_SCHEMA } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from './types';
import { FUTURE_DATE_RULES, TYPED_ENTITY_TYPES, typedEntityType } from '../../shared/typed-storage';

const ENTITY_TYPES = TYPED_ENTITY_TYPES.map((t) => t.entityType);

/**
 * Completeness and validity counts per entity type and source system, from the quality counters of
 * the typed storage (entities per combination of filled / failed bits).
 */
function qualitySql(types: string[]): string {
  const aggregates: string[] = [];
  for (const type of types) {
    const { expected, rules } = typedEntityType(type);
    const count = (column: string, bit: number) => `coalesce(sum(entities) FILTER (WHERE entity_type = '${type}' AND ${column} & ${2 ** bit} <> 0), 0) AS`;
    expected.forEach((attribute, i) => aggregates.push(`${count('filled', i)} "filled:${type}:${attribute}"`));
    rules.forEach((rule, i) => aggregates.push(`${count('failed', i)} "failed:${type}:${rule.name}"`));
  }
  return `SELECT entity_type, source_system, sum(entities) AS entities,
    ${aggregates.join(',\n    ')}
    FROM canonical.quality_counts
    WHERE entity_type = ANY ($1::text[])
    GROUP BY entity_type, source_system
    ORDER BY entity_type, source_system`;
}

/** Present dates after today, per source system, for the rules that fail them (FUTURE_DATE_RULES). */
async function futureDates(db: QueryRunner, types: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const type of types) {
    for (const [rule, column] of Object.entries(FUTURE_DATE_RULES[type] ?? {})) {
      const rows = await db.rows<{ source_system: string; n: number }>(
        `SELECT source_system, count(*) AS n FROM canonical.${type}_facts WHERE ${column} > current_date GROUP BY 1`);
      for (const row of rows) counts.set(`${type}:${row.source_system}:${rule}`, Number(row.n));
    }
  }
  return counts;
}

function duplicatesSql(b: Binder, params: Params): string {
  const type = b.bind(params.duplicate_entity_type, '::text');
  return `SELECT * FROM (
      SELECT a.source_system AS a_source_system, a.source_id AS a_source_id, a.attributes ->> 'name' AS a_name,
             b.source_system AS b_source_system, b.source_id AS b_source_id, b.attributes ->> 'name' AS b_name,
             round(similarity(lower(a.attributes ->> 'name'), lower(b.attributes ->> 'name'))::numeric, 3) AS similarity,
             (a.canonical_key IS NOT NULL AND a.canonical_key = b.canonical_key) AS same_canonical_key
      FROM canonical.entities a
      JOIN canonical.entities b
        ON lower(b.attributes ->> 'name') % lower(a.attributes ->> 'name') AND b.entity_type = ${type} AND a.id < b.id
      WHERE a.entity_type = ${type} AND a.entity_type IN ('customer', 'product') AND b.entity_type IN ('customer', 'product')
      LIMIT ${b.bind(params.max_duplicate_pairs)}
    ) d
    ORDER BY similarity DESC, a_source_system, a_source_id, b_source_system, b_source_id`;
}

// Only canonical keys that several source systems share can conflict: the typed storage keeps them.
const CONFLICTS_SQL = `
  WITH keyed AS MATERIALIZED (
    SELECT e.id, e.entity_type, e.canonical_key, e.source_system, e.source_id, e.attributes
    FROM canonical.shared_canonical_keys s
    JOIN canonical.entities e ON e.entity_type = s.entity_type AND e.canonical_key = s.canonical_key
    WHERE s.entity_type = ANY ($1::text[])
  ), shared AS (
    SELECT entity_type, canonical_key FROM keyed GROUP BY 1, 2 HAVING count(DISTINCT source_system) > 1
  ), pairs AS MATERIALIZED (
    -- two entities of different systems with the same key, and an attribute both have with different values
    SELECT a.entity_type, a.canonical_key, x.key AS attribute, a.id AS a_id, b.id AS b_id
    FROM keyed a
    JOIN shared s ON s.entity_type = a.entity_type AND s.canonical_key = a.canonical_key
    JOIN keyed b ON b.entity_type = a.entity_type AND b.canonical_key = a.canonical_key AND b.source_system > a.source_system
    CROSS JOIN LATERAL jsonb_each(a.attributes) x
    WHERE b.attributes ? x.key AND b.attributes -> x.key <> x.value
  ), involved AS (
    SELECT DISTINCT id FROM (SELECT a_id AS id FROM pairs UNION ALL SELECT b_id FROM pairs) i
  ), attribute_conflicts AS (
    SELECT p.entity_type, p.canonical_key, p.attribute,
           (SELECT jsonb_agg(jsonb_build_object('source_system', k.source_system, 'source_id', k.source_id, 'value', k.attributes -> p.attribute)
                             ORDER BY k.source_system, k.source_id)
            FROM canonical.entities k WHERE k.entity_type = p.entity_type AND k.canonical_key = p.canonical_key AND k.attributes ? p.attribute) AS "values"
    FROM (SELECT DISTINCT entity_type, canonical_key, attribute FROM pairs) p
  )
  SELECT json_build_object(
    'conflicting_keys', (SELECT count(*) FROM (SELECT DISTINCT entity_type, canonical_key FROM pairs) k),
    'by_source', (SELECT coalesce(json_agg(x), '[]') FROM (
        SELECT k.entity_type, k.source_system, count(*) AS entities_in_conflict
        FROM involved i JOIN keyed k ON k.id = i.id GROUP BY 1, 2 ORDER BY 1, 2) x),
    'conflicts', (SELECT coalesce(json_agg(c), '[]') FROM (
        SELECT * FROM attribute_conflicts ORDER BY entity_type, canonical_key, attribute LIMIT $2) c)
  ) AS result`;

const ORPHANS_SQL = `
  WITH orphans AS MATERIALIZED (
    -- orders whose placed_by customer the typed storage could not resolve
    SELECT o.source_system, o.source_id, o.customer_id, r.to_source_system AS customer_source_system
    FROM canonical.order_facts o
    LEFT JOIN canonical.relationships r
      ON r.from_entity_type = 'order' AND r.from_source_system = o.source_system AND r.from_source_id = o.source_id
     AND r.rel_type = 'placed_by' AND r.to_entity_type = 'customer'
    WHERE o.customer_entity_id IS NULL
  )
  SELECT json_build_object(
    'total', (SELECT count(*) FROM orphans),
    'by_source', (SELECT coalesce(json_agg(x), '[]') FROM (
        SELECT source_system, count(*) AS orphans FROM orphans GROUP BY 1 ORDER BY 1) x),
    'sample', (SELECT coalesce(json_agg(s), '[]') FROM (
        SELECT * FROM orphans ORDER BY source_system, source_id LIMIT $1) s)
  ) AS result`;

interface ConflictSection {
  readonly conflicting_keys: number;
  readonly by_source: Array<{ entity_type: string; source_system: string; entities_in_conflict: number }>;
  readonly conflicts: unknown[];
}

interface OrphanSection {
  readonly total: number;
  readonly by_source: Array<{ source_system: string; orphans: number }>;
  readonly sample: unknown[];
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;

async function run(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const types = params.entity_types as string[];
  const dup = new Binder();
  await db.rows('SELECT set_config(\'pg_trgm.similarity_threshold\', $1::text, true)', [String(params.similarity_threshold)]);
  const duplicates = await db.rows(duplicatesSql(dup, params), dup.values);
  const [{ result: conflicts }] = await db.rows<{ result: ConflictSection }>(CONFLICTS_SQL, [types, params.max_conflicts]);
  const [{ result: orphans }] = types.includes('order')
    ? await db.rows<{ result: OrphanSection }>(ORPHANS_SQL, [params.max_orphans])
    : [{ result: { total: 0, by_source: [], sample: [] } as OrphanSection }];
  const quality = await db.rows<Record<string, unknown>>(qualitySql(types), [types]);
  const future = await futureDates(db, types);

  const sources = quality.map((row) => {
    const type = row.entity_type as string;
    const system = row.source_system as string;
    const entities = Number(row.entities);
    const { expected, rules } = typedEntityType(type);
    const completeness: Record<string, number> = {};
    for (const attribute of expected) completeness[attribute] = round2((100 * Number(row[`filled:${type}:${attribute}`])) / entities);
    const failedChecks: Record<string, number> = {};
    let checked = 0;
    let failed = 0;
    for (const rule of rules) {
      const n = Number(row[`failed:${type}:${rule.name}`]) + (future.get(`${type}:${system}:${rule.name}`) ?? 0);
      failedChecks[rule.name] = n;
      failed += n;
      checked += Number(row[`filled:${type}:${rule.attribute}`] ?? 0);
    }
    if (type === 'order') {
      const orphanCount = orphans.by_source.find((o) => o.source_system === system)?.orphans ?? 0;
      failedChecks.customer_known = orphanCount;
      failed += orphanCount;
      checked += entities;
    }
    const inConflict = conflicts.by_source.find((c) => c.entity_type === type && c.source_system === system)?.entities_in_conflict ?? 0;
    const completenessPct = Object.values(completeness).reduce((a, v) => a + v, 0) / expected.length;
    const validityPct = checked === 0 ? 100 : (100 * (checked - failed)) / checked;
    const consistencyPct = (100 * (entities - inConflict)) / entities;
    return {
      entity_type: type,
      source_system: system,
      entities,
      completeness_pct: round2(completenessPct),
      validity_pct: round2(validityPct),
      consistency_pct: round2(consistencyPct),
      quality_score: round1(0.4 * completenessPct + 0.4 * validityPct + 0.2 * consistencyPct),
      completeness_by_attribute: completeness,
      failed_checks: failedChecks,
      entities_in_conflict: inConflict,
    };
  });
  const total = sources.reduce((a, s) => a + s.entities, 0);
  return {
    overall: {
      entities: total,
      quality_score: total === 0 ? null : round1(sources.reduce((a, s) => a + s.quality_score * s.entities, 0) / total),
      fuzzy_duplicate_pairs: duplicates.length,
      conflicting_keys: conflicts.conflicting_keys,
      orphan_orders: orphans.total,
    },
    sources,
    fuzzy_duplicates: duplicates,
    conflicts: conflicts.conflicts,
    orphans: { total: orphans.total, sample: orphans.sample },
    scoring: 'quality_score = 0.4 × completeness_pct + 0.4 × validity_pct + 0.2 × consistency_pct; overall weighted by entities',
  };
}

export const dataIntegrityAnalysis: OperationDefinition = {
  name: 'data_integrity_analysis',
  description: 'Cross-system integrity and quality: fuzzy duplicates, conflicting canonical keys, orphan orders, completeness/validity per source and a quality score.',
  access: AccessLevel.ANALYTICS,
  longRunning: true,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      entity_types: {
        type: 'array',
        items: { type: 'string', enum: ENTITY_TYPES },
        minItems: 1,
        uniqueItems: true,
        default: ENTITY_TYPES,
      },
      duplicate_entity_type: { type: 'string', enum: ['customer', 'product'], default: 'customer' },
      similarity_threshold: { type: 'number', minimum: 0.3, maximum: 1, default: 0.6 },
      max_duplicate_pairs: LIMIT_SCHEMA(1000, 100),
      max_conflicts: LIMIT_SCHEMA(1000, 100),
      max_orphans: LIMIT_SCHEMA(1000, 100),
    },
  },
  plan: { kind: 'composite', run },
};
