/**
 * relationship_analysis: recursive CTEs over the `parent` relationships of customers or products:
 * hierarchies from their roots with depth and descendants' totals, the depth distribution, parent
 * references that point nowhere, and cycles (found by walking up from the entities no root reaches).
 * With `root_id`, the one tree under that entity, node by node, with each node's subtree totals.
 */
import { ApiError, ErrorCode } from '../errors';
import { Binder, LIMIT_SCHEMA } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from './types';

/** Per entity type: its typed table and the typed column whose totals the hierarchies show. */
const TYPED: Record<string, { table: string; value: string }> = {
  customer: { table: 'canonical.customer_facts', value: 'lifetime_value' },
  product: { table: 'canonical.product_facts', value: 'price' },
};

/** Nodes, resolved edges (child → parent entity ids) and dangling parent references of one entity type. */
function graph(b: Binder, entityType: string): string {
  const type = b.bind(entityType, '::text');
  const { table, value } = TYPED[entityType];
  return `
    nodes AS MATERIALIZED (
      SELECT f.entity_id AS id, f.source_system, f.source_id, f.name, f.${value} AS value
      FROM ${table} f
    ), links AS MATERIALIZED (
      SELECT child.id AS child, parent.id AS parent
      FROM canonical.relationships r
      JOIN nodes child ON child.source_system = r.from_source_system AND child.source_id = r.from_source_id
      LEFT JOIN nodes parent ON parent.source_system = r.to_source_system AND parent.source_id = r.to_source_id
      WHERE r.rel_type = 'parent' AND r.from_entity_type = ${type} AND r.to_entity_type = ${type}
    ), edges AS MATERIALIZED (
      SELECT child, parent FROM links WHERE parent IS NOT NULL AND parent <> child
    )`;
}

async function overview(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const b = new Binder();
  const maxDepth = b.bind(params.max_depth, '::int');
  const text = `
    WITH RECURSIVE ${graph(b, params.entity_type as string)},
    roots AS (
      SELECT n.id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.child = n.id)
    ), tree AS (
      SELECT r.id AS root, r.id AS node, 0 AS depth FROM roots r
      UNION ALL
      SELECT t.root, e.child, t.depth + 1
      FROM tree t JOIN edges e ON e.parent = t.node
      WHERE t.depth < ${maxDepth}
    ), per_root AS (
      SELECT t.root, count(*) - 1 AS descendants, max(t.depth) AS depth,
             sum(n.value) FILTER (WHERE t.depth > 0) AS descendants_total, sum(n.value) AS tree_total
      FROM tree t JOIN nodes n ON n.id = t.node
      GROUP BY t.root
    ), unreached AS (
      SELECT n.id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM tree t WHERE t.node = n.id)
    ), walk AS (
      -- Walk up from every entity no root reaches: it is on a cycle or hangs below one.
      SELECT e.child AS start, e.parent AS current, ARRAY[e.child] AS path
      FROM edges e JOIN unreached u ON u.id = e.child
      UNION ALL
      SELECT w.start, e.parent, w.path || w.current
      FROM walk w JOIN edges e ON e.child = w.current
      WHERE w.current <> w.start AND NOT w.current = ANY (w.path[2:]) AND cardinality(w.path) < 1000
    ), cycles AS (
      SELECT DISTINCT (SELECT array_agg(x ORDER BY x) FROM unnest(w.path) x) AS members
      FROM walk w WHERE w.current = w.start
    ), cycle_rows AS (
      SELECT c.members, (SELECT json_agg(json_build_object('source_system', n.source_system, 'source_id', n.source_id, 'name', n.name) ORDER BY n.source_system, n.source_id)
                         FROM nodes n WHERE n.id = ANY (c.members)) AS entities
      FROM cycles c
    )
    SELECT json_build_object(
      'summary', json_build_object(
        'entities', (SELECT count(*) FROM nodes),
        'parent_links', (SELECT count(*) FROM edges),
        'dangling_parent_references', (SELECT count(*) FROM links WHERE parent IS NULL),
        'hierarchies', (SELECT count(*) FROM per_root WHERE descendants > 0),
        'standalone', (SELECT count(*) FROM per_root WHERE descendants = 0),
        'max_depth', (SELECT coalesce(max(depth), 0) FROM per_root),
        'cycles', (SELECT count(*) FROM cycles),
        'entities_in_cycles', (SELECT count(DISTINCT m) FROM cycles, unnest(members) m),
        'unreached_from_roots', (SELECT count(*) FROM unreached)),
      'hierarchies', (SELECT coalesce(json_agg(h ORDER BY h.descendants DESC, h.source_system, h.source_id), '[]') FROM (
          SELECT n.source_system, n.source_id, n.name, p.depth, p.descendants,
                 round(p.descendants_total, 2) AS descendants_total, round(p.tree_total, 2) AS tree_total
          FROM per_root p JOIN nodes n ON n.id = p.root
          WHERE p.descendants > 0
          ORDER BY p.descendants DESC, n.source_system, n.source_id
          LIMIT ${b.bind(params.limit)}) h),
      'depth_distribution', (SELECT coalesce(json_agg(d ORDER BY d.depth), '[]') FROM (
          SELECT depth, count(*) AS entities FROM tree GROUP BY depth) d),
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
