/**
 * customer_analysis: customer segmentation with GROUP BY and HAVING. One row per group (industry,
 * country, segment or source system) with the customers in it and the metric's total, average,
 * median, minimum, maximum, share of the grand total and rank.
 */
import { Binder, CUSTOMER_DIMENSIONS, defaultExclusions, LIMIT_SCHEMA, lowerAll, STATUSES_SCHEMA, statusIncluded } from './common';
import { AccessLevel, OperationDefinition, Params, SqlQuery } from './types';

const GROUPS: Record<string, string> = { ...CUSTOMER_DIMENSIONS, source_system: 'c.source_system' };

/** Per-customer metric expressions (t: the customer's order totals). */
const METRICS: Record<string, { expr: string; needsOrders: boolean }> = {
  lifetime_value: { expr: 'c.lifetime_value', needsOrders: false },
  order_count: { expr: 'coalesce(t.order_count, 0)', needsOrders: true },
  revenue: { expr: 'coalesce(t.revenue, 0)', needsOrders: true },
  average_order_value: { expr: 't.revenue / nullif(t.order_count, 0)', needsOrders: true },
};

/**
 * The customers (alias c) with their order totals (alias t): kept per customer by the typed storage
 * for the default excluded statuses, summed from the order facts for any other exclusions.
 */
function customersWithTotals(b: Binder, excluded: string[]): string {
  if (defaultExclusions(excluded)) {
    return `canonical.customer_facts c
      CROSS JOIN LATERAL (SELECT c.orders_counted AS order_count, c.revenue_counted AS revenue) t`;
  }
  return `canonical.customer_facts c
      LEFT JOIN (
        SELECT o.customer_entity_id, count(*) AS order_count, sum(o.amount) AS revenue
        FROM canonical.order_facts o
        WHERE o.customer_entity_id IS NOT NULL AND ${statusIncluded(b, excluded)}
        GROUP BY 1
      ) t ON t.customer_entity_id = c.entity_id`;
}

function query(params: Params): SqlQuery {
  const b = new Binder();
  const metric = METRICS[params.metric as string];
  const group = GROUPS[params.group_by as string];
  const customers = metric.needsOrders ? customersWithTotals(b, lowerAll(params.exclude_statuses)) : 'canonical.customer_facts c';
  // One pass over the customers, sorted once by group and value (the median's own sort then finds
  // its input in order): the groups' aggregates, with the grand total as a window over them (before
  // the HAVING filter, as a share of every customer's value); rank after it.
  const text = `
    WITH groups AS (
      SELECT v.group_value,
             count(*) AS customers,
             count(v.value) AS customers_with_value,
             sum(v.value) AS total,
             avg(v.value) AS average,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value) AS median,
             min(v.value) AS minimum,
             max(v.value) AS maximum,
             sum(sum(v.value)) OVER () AS grand_total
      FROM (
        SELECT ${group} AS group_value, (${metric.expr})::numeric AS value
        FROM ${customers}
        ORDER BY 1, 2::float8
      ) v
      GROUP BY 1
    )
    SELECT group_value, customers, customers_with_value,
           round(total, 2) AS total,
           round(average, 2) AS average,
           round(median::numeric, 2) AS median,
           minimum,
           maximum,
           round(100 * total / nullif(grand_total, 0), 2) AS share_pct,
           rank() OVER (ORDER BY total DESC NULLS LAST) AS rank
    FROM groups
    WHERE customers >= ${b.bind(params.min_group_size)}
    ORDER BY rank, group_value
    LIMIT ${b.bind(params.limit)}`;
  return { text, values: b.values };
}

export const customerAnalysis: OperationDefinition = {
  name: 'customer_analysis',
  description: 'Customer segmentation: a metric per group of customers (GROUP BY … HAVING), with share and rank.',
  access: AccessLevel.ANALYTICS,
  longRunning: false,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      metric: { type: 'string', enum: Object.keys(METRICS), default: 'lifetime_value' },
      group_by: { type: 'string', enum: Object.keys(GROUPS), default: 'segment' },
      min_group_size: { type: 'integer', minimum: 1, maximum: 100_000_000, default: 1 },
      exclude_statuses: STATUSES_SCHEMA,
      limit: LIMIT_SCHEMA(1000, 100),
    },
  },
  plan: { kind: 'tabular', query, bounded: true },
};
