/**
 * Typed storage for the analytics (issue "Analytics in under a second"): the built-in entity types'
 * canonical attributes cast once per write into typed fact tables, an order's customer resolved to
 * its entity id, and the aggregates the built-in operations read, all derived from
 * canonical.entities and canonical.relationships (which stay the source of truth).
 *
 * Kept current by canonical.refresh_typed_storage(), run after each committed data generation (the
 * IngestionPipeline runs it right after its commit): statement-level triggers queue every written
 * entity of a built-in type, and the refresh derives the typed rows of the queued ones, the customers
 * of orders whose customer arrived later, the per-customer totals, the daily order totals, the
 * quality counters and the shared canonical keys they touch. It records the data generation it
 * reflects (canonical.typed_storage_state), so an answer read while a refresh is pending says how
 * current it is. One refresh at a time: callers hold the session advisory lock TYPED_REFRESH_LOCK
 * and run it in a REPEATABLE READ transaction (lambda/shared/typed-refresh.ts), so it reflects
 * exactly one snapshot.
 *
 * The public views (canonical.customers, orders, products, health_readings) keep their names and
 * columns and now read the typed tables. The migration backfills every stored entity.
 */
import { DEFAULT_EXCLUDED_STATUSES, TYPED_ENTITY_TYPES, TypedAttribute, TypedEntityType } from '../../shared/typed-storage';

export const id = '0004_typed_storage';

const SQL_TYPES: Record<TypedAttribute['kind'], string> = { text: 'text', numeric: 'numeric', timestamptz: 'timestamptz', date: 'date' };

/** A raw attribute's alias (r.<name>: its text) and typed alias (t.<name>) in newRowsSql. */
function typedValue(a: TypedAttribute): string {
  return a.kind === 'text' ? `r.${a.name}` : `canonical.try_${a.kind}(r.${a.name})`;
}

const present = (attribute: string) => `nullif(btrim(r.${attribute}), '') IS NOT NULL`;

/** Bit i set when expected attribute i is present. */
function filledBits(t: TypedEntityType): string {
  return t.expected.map((a, i) => `CASE WHEN ${present(a)} THEN ${2 ** i} ELSE 0 END`).join('\n      + ');
}

/** Bit i set when rule i fails on a present value (v: the text, t: the typed value). */
function failedBits(t: TypedEntityType): string {
  return t.rules.map((rule, i) => {
    const check = rule.check.replace(/\bv\b/g, `r.${rule.attribute}`).replace(/\bt\b/g, `t.${rule.attribute}`);
    return `CASE WHEN ${present(rule.attribute)} AND NOT coalesce(${check}, false) THEN ${2 ** i} ELSE 0 END`;
  }).join('\n      + ');
}

function factTableSql(t: TypedEntityType): string {
  const extra = t.entityType === 'order'
    ? `,
  order_day          date GENERATED ALWAYS AS ((order_date AT TIME ZONE 'UTC')::date) STORED,
  customer_entity_id bigint`
    : t.entityType === 'customer'
      ? `,
  orders_counted     bigint,
  revenue_counted    numeric`
      : '';
  return `
CREATE TABLE canonical.${t.entityType}_facts (
  entity_id     bigint PRIMARY KEY,
  source_system text NOT NULL,
  source_id     text NOT NULL,
  canonical_key text,
  ${t.attributes.map((a) => `${a.name} ${SQL_TYPES[a.kind]}`).join(',\n  ')},
  filled        integer NOT NULL,
  failed        integer NOT NULL${extra}
);
COMMENT ON TABLE canonical.${t.entityType}_facts IS
  'Typed canonical attributes of every ${t.entityType} (derived from canonical.entities by canonical.refresh_typed_storage()). filled: bit i = expected attribute i present; failed: bit i = validity rule i failed.';`;
}

function viewSql(t: TypedEntityType): string {
  // LEFT JOIN on the primary key: a query that reads only typed columns skips canonical.entities.
  return `
CREATE OR REPLACE VIEW canonical.${t.view} AS
SELECT f.entity_id AS id, f.source_system, f.source_id, f.canonical_key,
       ${t.attributes.map((a) => `f.${a.name}`).join(', ')},
       e.attributes, e.version, e.source_updated_at, e.created_at, e.updated_at
FROM canonical.${t.entityType}_facts f
LEFT JOIN canonical.entities e ON e.id = f.entity_id;`;
}

/**
 * The typed rows of the queued entities of one type, into a temp table `cdp_new_<type>`. The raw
 * texts (r) and the typed values (t) are computed once per row (OFFSET 0 keeps the planner from
 * inlining them into every use).
 */
function newRowsSql(t: TypedEntityType): string {
  const raw = new Set([...t.attributes.map((a) => a.name), ...t.expected, ...t.rules.map((r) => r.attribute)]);
  const customer = t.entityType === 'order'
    ? `
  LEFT JOIN (
    SELECT r.from_source_system, r.from_source_id, min(c.id) AS id
    FROM canonical.relationships r
    JOIN canonical.entities c ON c.entity_type = 'customer' AND c.source_system = r.to_source_system AND c.source_id = r.to_source_id
    WHERE r.from_entity_type = 'order' AND r.rel_type = 'placed_by' AND r.to_entity_type = 'customer'
      AND (r.from_source_system, r.from_source_id) IN (
        SELECT pe.source_system, pe.source_id FROM cdp_pending pp JOIN canonical.entities pe ON pe.id = pp.id WHERE pp.entity_type = 'order')
    GROUP BY 1, 2
  ) placed_by ON placed_by.from_source_system = e.source_system AND placed_by.from_source_id = e.source_id`
    : '';
  return `
  CREATE TEMP TABLE cdp_new_${t.entityType} ON COMMIT DROP AS
  SELECT e.id AS entity_id, e.source_system, e.source_id, e.canonical_key,
    ${t.attributes.map((a) => `t.${a.name}`).join(', ')},
    ${filledBits(t)} AS filled,
    ${failedBits(t)} AS failed${t.entityType === 'order' ? ',\n    placed_by.id AS customer_entity_id' : ''}
  FROM cdp_pending p
  JOIN canonical.entities e ON e.id = p.id
  CROSS JOIN LATERAL (SELECT ${[...raw].map((a) => `e.attributes ->> '${a}' AS ${a}`).join(', ')} OFFSET 0) r
  CROSS JOIN LATERAL (SELECT ${t.attributes.map((a) => `${typedValue(a)} AS ${a.name}`).join(', ')} OFFSET 0) t${customer}
  WHERE p.entity_type = '${t.entityType}';
  ANALYZE cdp_new_${t.entityType};`;
}

function upsertSql(t: TypedEntityType): string {
  // Orders in date order: a backfill stores them by day, so a date range reads neighbouring pages.
  const order = t.entityType === 'order' ? 'order_date, entity_id' : 'entity_id';
  const columns = ['source_system', 'source_id', 'canonical_key', ...t.attributes.map((a) => a.name), 'filled', 'failed',
    ...(t.entityType === 'order' ? ['customer_entity_id'] : [])];
  return `
  INSERT INTO canonical.${t.entityType}_facts AS f (entity_id, ${columns.join(', ')})
  SELECT entity_id, ${columns.join(', ')} FROM cdp_new_${t.entityType} ORDER BY ${order}
  ON CONFLICT (entity_id) DO UPDATE SET ${columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')};`;
}

function oldKeysSql(t: TypedEntityType): string {
  return `
  INSERT INTO cdp_keys SELECT '${t.entityType}', f.canonical_key FROM canonical.${t.entityType}_facts f
  JOIN cdp_pending p ON p.id = f.entity_id WHERE f.canonical_key IS NOT NULL;`;
}

function qualitySql(t: TypedEntityType): string {
  return `
  INSERT INTO canonical.quality_counts (entity_type, source_system, filled, failed, entities)
  SELECT '${t.entityType}', source_system, filled, failed, count(*) FROM canonical.${t.entityType}_facts
  WHERE source_system IN (SELECT source_system FROM cdp_groups WHERE entity_type = '${t.entityType}')
  GROUP BY source_system, filled, failed;`;
}

export const COUNTED = `NOT (lower(coalesce(o.status, '')) = ANY (ARRAY[${DEFAULT_EXCLUDED_STATUSES.map((s) => `'${s}'`).join(', ')}]))`;
const TYPES = TYPED_ENTITY_TYPES.map((t) => `'${t.entityType}'`).join(', ');
const CUSTOMER = TYPED_ENTITY_TYPES.find((t) => t.entityType === 'customer')!;

/**
 * The variable steps of canonical.refresh_typed_storage(), so a later migration can replace the
 * function with other maintenance while 0004's text (whose checksum the runner checks) stays as it
 * is. Each step is SQL inside the function body; the temp tables cdp_pending, cdp_new_<type>,
 * cdp_totals and cdp_keys are there for the steps after they are created.
 */
export interface RefreshSteps {
  /** CREATE (0004) or CREATE OR REPLACE (a later migration). */
  readonly verb: 'CREATE' | 'CREATE OR REPLACE';
  /** More `SET name = value` clauses of the function (0004: none). */
  readonly settings: string;
  /** Before the typed rows are written: what the aggregates will have to change (0004: the days). */
  readonly captureOld: string;
  /** Before the typed rows are written, after the canonical keys (0004: the quality groups). */
  readonly captureGroups: string;
  /** Once the typed rows are written (0004: the new orders' days). */
  readonly captureNew: string;
  /** Once the per-customer totals are written. */
  readonly afterCustomerTotals: string;
  /** Then the aggregates (0004: the daily totals and quality counters of the captured days and groups, derived again). */
  readonly aggregates: string;
}

/** 0004's steps: the daily totals of every touched day and the quality counters of every touched group derived again. */
export const RECOMPUTED_AGGREGATES: RefreshSteps = {
  verb: 'CREATE',
  settings: '',
  captureOld: `  CREATE TEMP TABLE cdp_days (day date NOT NULL) ON COMMIT DROP;
  INSERT INTO cdp_days
  SELECT f.order_day FROM canonical.order_facts f JOIN cdp_pending p ON p.id = f.entity_id WHERE f.order_day IS NOT NULL
  UNION SELECT f.order_day FROM canonical.order_facts f
    JOIN cdp_new_customer n ON f.customer_entity_id = n.entity_id
    JOIN canonical.customer_facts c ON c.entity_id = n.entity_id
    WHERE f.order_day IS NOT NULL AND (c.segment, c.country, c.industry) IS DISTINCT FROM (n.segment, n.country, n.industry);
`,
  captureGroups: `  CREATE TEMP TABLE cdp_groups ON COMMIT DROP AS
  SELECT e.entity_type, e.source_system FROM cdp_pending p JOIN canonical.entities e ON e.id = p.id
${TYPED_ENTITY_TYPES.map((t) => `  UNION SELECT '${t.entityType}', f.source_system FROM canonical.${t.entityType}_facts f JOIN cdp_pending p ON p.id = f.entity_id`).join('\n')};
`,
  captureNew: `  -- The new rows only have their order day once written (a generated column).
  INSERT INTO cdp_days SELECT DISTINCT f.order_day FROM canonical.order_facts f JOIN cdp_new_order n USING (entity_id) WHERE f.order_day IS NOT NULL;

`,
  afterCustomerTotals: '',
  aggregates: `  DELETE FROM canonical.order_daily_totals d USING (SELECT DISTINCT day FROM cdp_days) x WHERE d.order_day = x.day;
  INSERT INTO canonical.order_daily_totals
  SELECT o.order_day, o.status, o.currency, o.source_system, c.segment, c.country, c.industry, count(*), sum(o.amount)
  FROM canonical.order_facts o
  LEFT JOIN canonical.customer_facts c ON c.entity_id = o.customer_entity_id
  WHERE o.order_day IN (SELECT day FROM cdp_days) AND o.amount IS NOT NULL
  GROUP BY 1, 2, 3, 4, 5, 6, 7;

  DELETE FROM canonical.quality_counts q USING cdp_groups g WHERE q.entity_type = g.entity_type AND q.source_system = g.source_system;
${TYPED_ENTITY_TYPES.map(qualitySql).join('\n')}
`,
};

/** canonical.refresh_typed_storage() with the given steps. */
export function refreshFunctionSql(v: RefreshSteps): string {
  return `${v.verb} FUNCTION canonical.refresh_typed_storage() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = canonical, pg_temp SET TimeZone = 'UTC'${v.settings} AS $$
DECLARE
  target bigint;
  refreshed bigint;
BEGIN
  SELECT generation INTO target FROM canonical.data_generation;

  -- The queued entities; deleted ones (an erasure) lose their typed rows.
  CREATE TEMP TABLE cdp_pending (id bigint PRIMARY KEY, entity_type text NOT NULL, deleted boolean NOT NULL) ON COMMIT DROP;
  WITH queued AS (DELETE FROM canonical.typed_refresh_queue RETURNING entity_id, entity_type)
  INSERT INTO cdp_pending
  SELECT DISTINCT ON (q.entity_id) q.entity_id, q.entity_type, e.id IS NULL
  FROM queued q LEFT JOIN canonical.entities e ON e.id = q.entity_id;
  -- The orders of a deleted customer lose their customer.
  INSERT INTO cdp_pending (id, entity_type, deleted)
  SELECT o.entity_id, 'order', false FROM cdp_pending p JOIN canonical.order_facts o ON o.customer_entity_id = p.id
  WHERE p.deleted AND p.entity_type = 'customer'
  ON CONFLICT DO NOTHING;
  ANALYZE cdp_pending;

  -- Customers first: a new one resolves the orders that named it before it arrived.
  ${newRowsSql(CUSTOMER)}
  INSERT INTO cdp_pending (id, entity_type, deleted)
  SELECT oe.id, 'order', false FROM cdp_new_customer c
  JOIN canonical.relationships r ON r.to_entity_type = 'customer' AND r.to_source_system = c.source_system AND r.to_source_id = c.source_id
   AND r.rel_type = 'placed_by' AND r.from_entity_type = 'order'
  JOIN canonical.order_facts o ON o.source_system = r.from_source_system AND o.source_id = r.from_source_id AND o.customer_entity_id IS NULL
  JOIN canonical.entities oe ON oe.id = o.entity_id
  ON CONFLICT DO NOTHING;
  ANALYZE cdp_pending;
${TYPED_ENTITY_TYPES.filter((t) => t !== CUSTOMER).map(newRowsSql).join('\n')}

  -- What the new rows change, read before they are written: days of the daily totals, customers of
  -- the per-customer totals, canonical keys, (type, source system) groups of the quality counters.
${v.captureOld}  CREATE TEMP TABLE cdp_totals (customer bigint NOT NULL) ON COMMIT DROP;
  INSERT INTO cdp_totals
  SELECT f.customer_entity_id FROM canonical.order_facts f JOIN cdp_pending p ON p.id = f.entity_id WHERE f.customer_entity_id IS NOT NULL
  UNION SELECT customer_entity_id FROM cdp_new_order WHERE customer_entity_id IS NOT NULL;
  CREATE TEMP TABLE cdp_keys (entity_type text NOT NULL, canonical_key text NOT NULL) ON COMMIT DROP;
  INSERT INTO cdp_keys SELECT e.entity_type, e.canonical_key FROM cdp_pending p JOIN canonical.entities e ON e.id = p.id WHERE e.canonical_key IS NOT NULL;
${TYPED_ENTITY_TYPES.map(oldKeysSql).join('\n')}
${v.captureGroups}
${TYPED_ENTITY_TYPES.map((t) => `  DELETE FROM canonical.${t.entityType}_facts f USING cdp_pending p WHERE p.deleted AND f.entity_id = p.id;`).join('\n')}
${TYPED_ENTITY_TYPES.map(upsertSql).join('\n')}

${v.captureNew}  UPDATE canonical.customer_facts c SET orders_counted = t.orders, revenue_counted = t.revenue
  FROM (
    SELECT x.customer, nullif(count(o.entity_id), 0) AS orders, sum(o.amount) AS revenue
    FROM (SELECT DISTINCT customer FROM cdp_totals) x
    LEFT JOIN canonical.order_facts o ON o.customer_entity_id = x.customer AND ${COUNTED}
    GROUP BY x.customer
  ) t
  WHERE c.entity_id = t.customer AND (c.orders_counted, c.revenue_counted) IS DISTINCT FROM (t.orders, t.revenue);${v.afterCustomerTotals}

${v.aggregates}
  DELETE FROM canonical.shared_canonical_keys s USING cdp_keys k WHERE s.entity_type = k.entity_type AND s.canonical_key = k.canonical_key;
  INSERT INTO canonical.shared_canonical_keys (entity_type, canonical_key)
  SELECT e.entity_type, e.canonical_key
  FROM (SELECT DISTINCT entity_type, canonical_key FROM cdp_keys) k
  JOIN canonical.entities e ON e.entity_type = k.entity_type AND e.canonical_key = k.canonical_key
  GROUP BY 1, 2 HAVING count(DISTINCT e.source_system) > 1;

  SELECT count(*) INTO refreshed FROM cdp_pending;
  UPDATE canonical.typed_storage_state SET generation = target, refreshed_at = now();
  RETURN jsonb_build_object('generation', target, 'entities', refreshed);
END $$;
`;
}

export const sql = /* sql */ `
-- Casts that yield NULL for any text the plain cast would refuse (the as_* functions of 0001 raise
-- on e.g. 2025-02-30, 25:00 or 1e99999): the typed storage must never fail on one value. Plain SQL,
-- so the planner inlines them. Stricter than as_*: at most 1000 characters and a 3-digit exponent
-- for numbers; hours 00-23, UTC offsets up to 15:59 and real calendar days for timestamps.
CREATE FUNCTION canonical.try_numeric(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN length(v) <= 1000 AND v ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]{1,3})?\\s*$' THEN v::numeric END
$$;
CREATE FUNCTION canonical.try_timestamptz(v text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN v ~ '^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
    THEN CASE WHEN substr(v, 9, 2)::int <= extract(day FROM make_date(substr(v, 1, 4)::int, substr(v, 6, 2)::int, 1) + interval '1 month - 1 day')
      THEN v::timestamptz END END
$$;
CREATE FUNCTION canonical.try_date(v text) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT canonical.try_timestamptz(v)::date
$$;

${TYPED_ENTITY_TYPES.map(factTableSql).join('\n')}

CREATE INDEX order_facts_customer_idx ON canonical.order_facts (customer_entity_id);
CREATE INDEX order_facts_day_idx ON canonical.order_facts (order_day);
CREATE INDEX order_facts_unresolved_idx ON canonical.order_facts (source_system, source_id) WHERE customer_entity_id IS NULL;
CREATE INDEX customer_facts_signup_idx ON canonical.customer_facts (signup_date);

-- Orders with a date and an amount per UTC day and dimensions (the customer's current ones).
CREATE TABLE canonical.order_daily_totals (
  order_day         date NOT NULL,
  status            text,
  currency          text,
  source_system     text NOT NULL,
  customer_segment  text,
  customer_country  text,
  customer_industry text,
  orders            bigint NOT NULL,
  revenue           numeric NOT NULL
);
CREATE INDEX order_daily_totals_day_idx ON canonical.order_daily_totals (order_day);
COMMENT ON TABLE canonical.order_daily_totals IS
  'Orders with an order date and an amount per UTC day, status, currency, source system and the current segment, country and industry of their customer.';

-- Entities per type, source system and quality bits (filled / failed, see the fact tables).
CREATE TABLE canonical.quality_counts (
  entity_type   text NOT NULL,
  source_system text NOT NULL,
  filled        integer NOT NULL,
  failed        integer NOT NULL,
  entities      bigint NOT NULL,
  PRIMARY KEY (entity_type, source_system, filled, failed)
);

-- Canonical keys that entities of more than one source system share (candidates for conflicts).
CREATE TABLE canonical.shared_canonical_keys (
  entity_type   text NOT NULL,
  canonical_key text NOT NULL,
  PRIMARY KEY (entity_type, canonical_key)
);

-- The data generation the typed storage reflects.
CREATE TABLE canonical.typed_storage_state (
  singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  generation   bigint NOT NULL DEFAULT 0,
  refreshed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO canonical.typed_storage_state DEFAULT VALUES;

-- Entities written or deleted since the last refresh (appended by the writers' statements: no row
-- is shared, so concurrent writers never wait for each other here).
CREATE TABLE canonical.typed_refresh_queue (entity_id bigint NOT NULL, entity_type text NOT NULL);

CREATE FUNCTION canonical.queue_typed_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO canonical.typed_refresh_queue (entity_id, entity_type) SELECT id, entity_type FROM written WHERE entity_type IN (${TYPES});
  RETURN NULL;
END $$;
CREATE TRIGGER entities_typed_refresh_insert AFTER INSERT ON canonical.entities
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION canonical.queue_typed_refresh();
CREATE TRIGGER entities_typed_refresh_update AFTER UPDATE ON canonical.entities
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION canonical.queue_typed_refresh();
CREATE TRIGGER entities_typed_refresh_delete AFTER DELETE ON canonical.entities
  REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION canonical.queue_typed_refresh();

${refreshFunctionSql(RECOMPUTED_AGGREGATES)}
${TYPED_ENTITY_TYPES.map(viewSql).join('\n')}

GRANT INSERT ON canonical.typed_refresh_queue TO canonical_writer;
-- The writers' statements append to the queue through the triggers, as the writer.
REVOKE EXECUTE ON FUNCTION canonical.refresh_typed_storage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION canonical.refresh_typed_storage() TO canonical_writer;
GRANT SELECT ON canonical.typed_storage_state TO canonical_writer, canonical_sql_reader;

-- Backfill: every stored entity of a built-in type, through the same refresh (with statistics, so
-- that its plans fit the store's size).
ANALYZE canonical.entities, canonical.relationships;
INSERT INTO canonical.typed_refresh_queue (entity_id, entity_type) SELECT id, entity_type FROM canonical.entities WHERE entity_type IN (${TYPES});
SELECT canonical.refresh_typed_storage();
ANALYZE canonical.customer_facts, canonical.order_facts, canonical.product_facts, canonical.health_reading_facts,
  canonical.order_daily_totals, canonical.quality_counts, canonical.shared_canonical_keys;
`;
