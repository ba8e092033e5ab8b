// REFERENCE COPY for issue 18: lambda/analytics-api/operations/revenue-analysis.ts as it was on main at b923fd0,
// the pre-issue-18 queries, kept as the reference that test/analytics-equivalence.test.ts compares
// the shipped operation against. Only the imports differ; the SQL is byte-identical: do not edit it.
/**
 * revenue_analysis: revenue by period with window functions: running totals, period-over-period
 * growth, moving averages and the rank of each segment within its period.
 */
import { Binder, CUSTOMER_DIMENSIONS, LIMIT_SCHEMA, lowerAll, ORDER_CUSTOMER_JOIN, ORDER_DIMENSIONS, STATUSES_SCHEMA, statusIncluded } from './common';
import { AccessLevel, OperationDefinition, Params, SqlQuery } from '../../../lambda/analytics-api/operations/types';

const SEGMENTS: Record<string, string> = { none: '\'all\'', ...CUSTOMER_DIMENSIONS, ...ORDER_DIMENSIONS };
const PERIODS = ['day', 'week', 'month', 'quarter', 'year'];

function query(params: Params): SqlQuery {
  const b = new Binder();
  const segment = params.segment_by as string;
  const joinCustomers = segment in CUSTOMER_DIMENSIONS;
  const filters = [
    'o.order_date IS NOT NULL',
    'o.amount IS NOT NULL',
    statusIncluded(b, lowerAll(params.exclude_statuses)),
  ];
  if (params.from !== undefined) filters.push(`o.order_date >= ${b.bind(params.from, '::date')}`);
  if (params.to !== undefined) filters.push(`o.order_date < ${b.bind(params.to, '::date')} + 1`);
  if (params.currency !== undefined) filters.push(`o.currency = ${b.bind(params.currency)}`);
  const text = `
    WITH per_period AS (
      SELECT date_trunc(${b.bind(params.period, '::text')}, o.order_date) AS period,
             ${SEGMENTS[segment]}::text AS segment,
             count(*) AS orders,
             sum(o.amount) AS revenue
      FROM canonical.orders o
      ${joinCustomers ? ORDER_CUSTOMER_JOIN : ''}
      WHERE ${filters.join(' AND ')}
      GROUP BY 1, 2
    )
    SELECT period::date AS period_start,
           segment,
           orders,
           round(revenue, 2) AS revenue,
           round(sum(revenue) OVER (PARTITION BY segment ORDER BY period ROWS UNBOUNDED PRECEDING), 2) AS running_total,
           round(lag(revenue) OVER by_segment, 2) AS previous_revenue,
           round(100 * (revenue - lag(revenue) OVER by_segment) / nullif(lag(revenue) OVER by_segment, 0), 2) AS growth_pct,
           round(avg(revenue) OVER (PARTITION BY segment ORDER BY period ROWS BETWEEN ${b.bind(Number(params.moving_average_periods) - 1, '::int')} PRECEDING AND CURRENT ROW), 2) AS moving_average,
           rank() OVER (PARTITION BY period ORDER BY revenue DESC) AS rank_in_period,
           round(100 * revenue / nullif(sum(revenue) OVER (PARTITION BY period), 0), 2) AS share_of_period_pct
    FROM per_period
    WINDOW by_segment AS (PARTITION BY segment ORDER BY period)
    ORDER BY period, rank_in_period, segment
    LIMIT ${b.bind(params.limit)}`;
  return { text, values: b.values };
}

export const revenueAnalysis: OperationDefinition = {
  name: 'revenue_analysis',
  description: 'Revenue by period with running totals, period-over-period growth, moving averages and rankings within periods.',
  access: AccessLevel.ANALYTICS,
  longRunning: false,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      period: { type: 'string', enum: PERIODS, default: 'month' },
      segment_by: { type: 'string', enum: Object.keys(SEGMENTS), default: 'none' },
      moving_average_periods: { type: 'integer', minimum: 1, maximum: 60, default: 3 },
      from: { type: 'string', format: 'date', description: 'First day included (UTC).' },
      to: { type: 'string', format: 'date', description: 'Last day included (UTC).' },
      currency: { type: 'string', minLength: 1, maxLength: 10 },
      exclude_statuses: STATUSES_SCHEMA,
      limit: LIMIT_SCHEMA(10_000, 1000),
    },
  },
  plan: { kind: 'tabular', query, bounded: true },
};
