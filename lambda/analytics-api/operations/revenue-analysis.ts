/**
 * revenue_analysis: revenue by period with window functions: running totals, period-over-period
 * growth, moving averages and the rank of each segment within its period. Reads the daily order
 * totals of the typed storage (orders with a date and an amount per UTC day and dimensions).
 */
import { Binder, DAILY_TOTALS_DIMENSIONS, LIMIT_SCHEMA, lowerAll, STATUSES_SCHEMA, statusIncluded } from './common';
import { AccessLevel, OperationDefinition, Params, SqlQuery } from './types';

const SEGMENTS: Record<string, string> = { none: '\'all\'', ...DAILY_TOTALS_DIMENSIONS };
const PERIODS = ['day', 'week', 'month', 'quarter', 'year'];

function query(params: Params): SqlQuery {
  const b = new Binder();
  const segment = params.segment_by as string;
  const filters = [statusIncluded(b, lowerAll(params.exclude_statuses), 'd')];
  if (params.from !== undefined) filters.push(`d.order_day >= ${b.bind(params.from, '::date')}`);
  if (params.to !== undefined) filters.push(`d.order_day <= ${b.bind(params.to, '::date')}`);
  if (params.currency !== undefined) filters.push(`d.currency = ${b.bind(params.currency)}`);
  // Days are UTC days: in the UTC session, a day's midnight truncates like any of its order dates.
  const text = `
    WITH per_period AS (
      SELECT date_trunc(${b.bind(params.period, '::text')}, d.order_day::timestamptz) AS period,
             ${SEGMENTS[segment]}::text AS segment,
             sum(d.orders) AS orders,
             sum(d.revenue) AS revenue
      FROM canonical.order_daily_totals d
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
