/**
 * relationship_analysis: recursive CTEs over the `parent` relationships of customers or products:
 * hierarchies from their roots with depth and descendants' totals, the depth distribution, parent
 * references that point nowhere, and cycles (found by walking up from the entities no root reaches).
 * With `root_id`, the one tree under that entity, node by node, with each node's subtree totals.
 */
import { HIERARCHY_VALUES } from '../../shared/typed-storage';
import { ApiError, ErrorCode } from '../errors';
import { Binder, LIMIT_SCHEMA } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from './types';

/** Per entity type: its typed table and the typed column whose totals the hierarchies show. */
const TYPED: Record<string, { table: string; value: string }> = Object.fromEntries(
  Object.entries(HIERARCHY_VALUES).map(([type, value]) => [type, { table: `canonical.${type}_facts`, value }]));

/**
 * Parent links of one entity type, resolved to entity ids by the typed storage
 * (canonical.parent_links: the parent NULL when it points nowhere, the child's value to total).
 */
function links(type: string): string {
  return `
    edges AS MATERIALIZED (
      SELECT child, parent, child_value FROM canonical.parent_links
      WHERE entity_type = ${type} AND parent IS NOT NULL AND parent <> child
    ), children AS MATERIALIZED (
      SELECT DISTINCT child AS id FROM edges
    )`;
}

/**
 * The whole type's hierarchies. Every entity that is nobody's child is a root (depth 0); the walk
 * starts at the roots' children, so its cost follows the parent links, not the number of entities:
 * a standalone root is counted, never walked.
 */
async function overview(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const b = new Binder();
  const { table, value } = TYPED[params.entity_type as string];
  const type = b.bind(params.entity_type, '::text');
  const maxDepth = b.bind(params.max_depth, '::int');
  const limit = b.bind(params.limit, '::int');
  // The type's entities are counted by the quality counters, which the typed storage keeps per row.
  const text = `
    WITH RECURSIVE ${links(type)},
    counts AS (
      SELECT (SELECT coalesce(sum(entities), 0) FROM canonical.quality_counts WHERE entity_type = ${type}) AS entities,
             (SELECT count(*) FROM children) AS children
    ), tree AS (
      -- paths from a root down, depth ≥ 1 (a root's own depth-0 row is implied)
      SELECT e.parent AS root, e.child AS node, 1 AS depth, e.child_value AS value
      FROM edges e WHERE NOT EXISTS (SELECT 1 FROM children c WHERE c.id = e.parent)
      UNION ALL
      SELECT t.root, e.child, t.depth + 1, e.child_value
      FROM tree t JOIN edges e ON e.parent = t.node
      WHERE t.depth < ${maxDepth}
    ), per_root AS (
      SELECT t.root, count(*) AS descendants, max(t.depth) AS depth, sum(t.value) AS descendants_total
      FROM tree t
      GROUP BY t.root
    ), reached AS MATERIALIZED (
      SELECT DISTINCT node AS id FROM tree
    ), unreached AS (
      SELECT c.id FROM children c WHERE NOT EXISTS (SELECT 1 FROM reached r WHERE r.id = c.id)
    ), walk AS (
      -- Walk up from every entity no root reaches: it is on a cycle or hangs below one.
      SELECT e.child AS start, e.parent AS current, ARRAY[e.child] AS path
      FROM edges e JOIN unreached u ON u.id = e.child
      UNION ALL
      SELECT w.start, e.parent, w.path || w.current
      FROM walk w JOIN canonical.parent_links e ON e.child = w.current AND e.entity_type = ${type} AND e.parent <> e.child
      WHERE w.current <> w.start AND NOT w.current = ANY (w.path[2:]) AND cardinality(w.path) < 1000
    ), cycles AS (
      SELECT DISTINCT (SELECT array_agg(x ORDER BY x) FROM unnest(w.path) x) AS members
      FROM walk w WHERE w.current = w.start
    ), cycle_rows AS (
      SELECT c.members, (SELECT json_agg(json_build_object('source_system', n.source_system, 'source_id', n.source_id, 'name', n.name) ORDER BY n.source_system, n.source_id)
                         FROM ${table} n WHERE n.entity_id = ANY (c.members)) AS entities
      FROM cycles c
    )
    SELECT json_build_object(
      'summary', json_build_object(
        'entities', (SELECT entities FROM counts),
        'parent_links', (SELECT count(*) FROM edges),
        'dangling_parent_references', (SELECT count(*) FROM canonical.parent_links WHERE entity_type = ${type} AND parent IS NULL),
        'hierarchies', (SELECT count(*) FROM per_root),
        'standalone', (SELECT entities - children - (SELECT count(*) FROM per_root) FROM counts),
        'max_depth', (SELECT coalesce(max(depth), 0) FROM per_root),
        'cycles', (SELECT count(*) FROM cycles),
        'entities_in_cycles', (SELECT count(DISTINCT m) FROM cycles, unnest(members) m),
        'unreached_from_roots', (SELECT count(*) FROM unreached)),
      'hierarchies', (SELECT coalesce(json_agg(h ORDER BY h.descendants DESC, h.source_system, h.source_id), '[]') FROM (
          SELECT n.source_system, n.source_id, n.name, p.depth, p.descendants,
                 round(p.descendants_total, 2) AS descendants_total,
                 round(CASE WHEN p.descendants_total IS NULL THEN n.${value} ELSE p.descendants_total + coalesce(n.${value}, 0) END, 2) AS tree_total
          FROM per_root p JOIN ${table} n ON n.entity_id = p.root
          -- only the roots that can be among the first: at least the limit-th most descendants
          WHERE p.descendants >= (SELECT min(descendants) FROM (SELECT descendants FROM per_root ORDER BY descendants DESC LIMIT ${limit}) top)
          ORDER BY p.descendants DESC, n.source_system, n.source_id
          LIMIT ${limit}) h),
      'depth_distribution', (SELECT coalesce(json_agg(d ORDER BY d.depth), '[]') FROM (
          SELECT 0 AS depth, entities - children AS entities FROM counts WHERE entities > children
          UNION ALL
          SELECT depth, count(*) FROM tree GROUP BY depth) d),
      'cycles', (SELECT coalesce(json_agg(cr.entities ORDER BY cr.members), '[]') FROM (SELECT * FROM cycle_rows ORDER BY members LIMIT 100) cr)
    ) AS result`;
  const [row] = await db.rows<{ result: Record<string, unknown> }>(text, b.values);
  return row.result;
}

async function subtree(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const b = new Binder();
  const rootFilter = [`n.source_id = ${b.bind(params.root_id, '::text')}`];
  if (params.root_source_system !== undefined) rootFilter.push(`n.source_system = ${b.bind(params.root_source_system, '::text')}`);
  const type = b.bind(params.entity_type, '::text');
  const { table, value } = TYPED[params.entity_type as string];
  // Walks down from the root through the index on the relationships' target (no scan of the whole type).
  const text = `
    WITH RECURSIVE systems AS (
      -- the type's source systems by a loose index scan, so the root is found by unique-index lookups
      SELECT min(source_system) AS s FROM canonical.entities WHERE entity_type = ${type}
      UNION ALL
      SELECT (SELECT min(source_system) FROM canonical.entities WHERE entity_type = ${type} AND source_system > systems.s)
      FROM systems WHERE systems.s IS NOT NULL
    ), root AS (
      SELECT n.id, n.source_system, n.source_id FROM canonical.entities n JOIN systems ON n.source_system = systems.s
      WHERE n.entity_type = ${type} AND ${rootFilter.join(' AND ')} ORDER BY n.source_system LIMIT 1
    ), tree AS (
      SELECT r.id AS node, r.source_system, r.source_id, NULL::bigint AS parent, 0 AS depth, ARRAY[r.id] AS path FROM root r
      UNION ALL
      SELECT c.id, c.source_system, c.source_id, t.node, t.depth + 1, t.path || c.id
      FROM tree t
      JOIN canonical.relationships rel
        ON rel.to_entity_type = ${type} AND rel.to_source_system = t.source_system AND rel.to_source_id = t.source_id
       AND rel.rel_type = 'parent' AND rel.from_entity_type = ${type}
      JOIN canonical.entities c ON c.entity_type = ${type} AND c.source_system = rel.from_source_system AND c.source_id = rel.from_source_id
      WHERE t.depth < ${b.bind(params.max_depth, '::int')} AND NOT c.id = ANY (t.path)
    ), nodes AS MATERIALIZED (
      SELECT f.entity_id AS id, f.source_system, f.source_id, f.name, f.${value} AS value
      FROM ${table} f WHERE f.entity_id IN (SELECT node FROM tree)
    ), subtree_totals AS (
      SELECT ancestor, count(*) - 1 AS descendants, sum(n.value) AS subtree_total
      FROM tree t CROSS JOIN LATERAL unnest(t.path) AS ancestor JOIN nodes n ON n.id = t.node
      GROUP BY ancestor
    )
    SELECT json_build_object(
      'root', (SELECT json_build_object('source_system', n.source_system, 'source_id', n.source_id, 'name', n.name) FROM root JOIN nodes n USING (id)),
      'nodes', (SELECT coalesce(json_agg(x ORDER BY x.depth, x.source_system, x.source_id), '[]') FROM (
          SELECT n.source_system, n.source_id, n.name, t.depth, pn.source_id AS parent_source_id,
                 s.descendants, round(s.subtree_total, 2) AS subtree_total
          FROM tree t JOIN nodes n ON n.id = t.node
          LEFT JOIN nodes pn ON pn.id = t.parent
          JOIN subtree_totals s ON s.ancestor = t.node
          ORDER BY t.depth, n.source_system, n.source_id
          LIMIT ${b.bind(params.limit)}) x)
    ) AS result`;
  const [row] = await db.rows<{ result: Record<string, unknown> }>(text, b.values);
  if (row.result.root === null) {
    throw new ApiError(ErrorCode.NOT_FOUND, `No ${params.entity_type} with source id '${params.root_id}'${params.root_source_system ? ` in source system '${params.root_source_system}'` : ''}`);
  }
  return row.result;
}

export const relationshipAnalysis: OperationDefinition = {
  name: 'relationship_analysis',
  description: 'Hierarchies over parent relationships (recursive CTEs): depth, descendants and their totals, cycles, dangling parents.',
  access: AccessLevel.ANALYTICS,
  longRunning: true,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      entity_type: { type: 'string', enum: Object.keys(TYPED), default: 'customer' },
      root_id: { type: 'string', minLength: 1, maxLength: 256, description: 'Source id of the entity whose subtree to list.' },
      root_source_system: { type: 'string', minLength: 1, maxLength: 128 },
      max_depth: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      limit: LIMIT_SCHEMA(10_000, 100),
    },
    dependencies: { root_source_system: ['root_id'] },
  },
  plan: {
    kind: 'composite',
    run: (db, params) => (params.root_id === undefined ? overview(db, params) : subtree(db, params)),
  },
};
