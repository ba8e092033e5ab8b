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
  const text = `
    WITH per_customer AS (
      SELECT ${group} AS group_value, (${metric.expr})::numeric AS value
      FROM ${customers}
    ), grand AS (
      SELECT sum(value) AS total FROM per_customer
    )
    SELECT group_value,
           count(*) AS customers,
           count(value) AS customers_with_value,
           round(sum(value), 2) AS total,
           round(avg(value), 2) AS average,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::numeric, 2) AS median,
           min(value) AS minimum,
           max(value) AS maximum,
           round(100 * sum(value) / nullif((SELECT total FROM grand), 0), 2) AS share_pct,
           rank() OVER (ORDER BY sum(value) DESC NULLS LAST) AS rank
    FROM per_customer
    GROUP BY group_value
    HAVING count(*) >= ${b.bind(params.min_group_size)}
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
