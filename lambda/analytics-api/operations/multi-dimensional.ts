/**
 * multi_dimensional_analytics: business intelligence over several dimensions at once (CUBE, ROLLUP
 * or GROUPING SETS) over a timeframe, with the daily time series of the same orders: trend (linear
 * regression), seasonality by weekday and by month, and spikes (z-score against a moving window of
 * the preceding days). One statement, so the orders are read once.
 */
import { ApiError, ErrorCode } from '../errors';
import { Binder, CUSTOMER_DIMENSIONS, DAILY_TOTALS_DIMENSIONS, defaultExclusions, LIMIT_SCHEMA, lowerAll, ORDER_CUSTOMER_JOIN, ORDER_DIMENSIONS, STATUSES_SCHEMA, statusIncluded } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from './types';

const DIMENSIONS: Record<string, string> = { ...CUSTOMER_DIMENSIONS, ...ORDER_DIMENSIONS };
const TIMEFRAME = /^\s*([1-9][0-9]{0,3})\s+(day|week|month|year)s?\s*$/i;
const DAYS_PER_UNIT: Record<string, number> = { day: 1, week: 7, month: 31, year: 366 };
/** Longest timeframe (the daily series has one row per day). */
export const MAX_TIMEFRAME_DAYS = 3660;

function prepare(params: Params): void {
  const m = TIMEFRAME.exec(params.timeframe as string)!;
  if (Number(m[1]) * DAYS_PER_UNIT[m[2].toLowerCase()] > MAX_TIMEFRAME_DAYS) {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, '\'timeframe\' must be at most 10 years', [{ path: 'parameters.timeframe', message: 'must be at most 10 years' }]);
  }
  params.timeframe = `${Number(m[1])} ${m[2].toLowerCase()}s`;
  // The default end is today (UTC), made explicit so that it is part of the cache key.
  params.as_of ??= new Date().toISOString().slice(0, 10);
}

/**
 * Orders, revenue and distinct customers per cell of the chosen dimensions, as `summary`.
 *
 * When every dimension is the customer's and the exclusions are the defaults, from the typed
 * storage's aggregates: orders and revenue from the daily totals, customers from the customers'
 * counted order days (migration 0005: the rows of the period whose previous day is before it, one per
 * customer; or the customers whose last day is in or after the period, less those whose first row
 * from the period's start lies after it). Each customer is in one cell, so the counts add up under
 * CUBE, ROLLUP and GROUPING SETS.
 * Otherwise from the period's order facts, summed per customer and cell first.
 */
function summarySql(b: Binder, dims: string[], excluded: string[], grouping: string): string {
  const dimList = dims.map((_, i) => `d${i}`).join(', ');
  const outputs = `${dims.map((d, i) => `d${i} AS "${d}"`).join(', ')},
             array_remove(ARRAY[${dims.map((d, i) => `CASE WHEN GROUPING(d${i}) = 0 THEN '${d}' END`).join(', ')}]::text[], NULL) AS dimensions`;
  if (dims.every((d) => d in CUSTOMER_DIMENSIONS) && defaultExclusions(excluded)) {
    return `
    cells AS (
      SELECT ${dims.map((d, i) => `${DAILY_TOTALS_DIMENSIONS[d]} AS d${i}`).join(', ')}, sum(d.orders) AS orders, sum(d.revenue) AS revenue
      FROM canonical.order_daily_totals d CROSS JOIN bounds
      WHERE d.order_day >= bounds.start_ts::date AND d.order_day < bounds.end_ts::date AND ${statusIncluded(b, excluded, 'd')}
      GROUP BY ${dimList}
    ), reading AS (
      -- the customers' rows in the period, or the histogram and the rows after it: whichever is fewer
      SELECT (SELECT coalesce(sum(orders), 0) FROM canonical.order_daily_status_totals WHERE order_day >= start_ts::date AND order_day < end_ts::date)
          <= (SELECT coalesce(sum(orders), 0) FROM canonical.order_daily_status_totals WHERE order_day >= end_ts::date) AS period_rows
      FROM bounds
    ), customer_cells AS (
      SELECT ${dimList}, sum(customers) AS customers FROM (
        SELECT ${dims.map((d, i) => `${DAILY_TOTALS_DIMENSIONS[d]} AS d${i}`).join(', ')}, 1 AS customers
        FROM canonical.customer_order_days d CROSS JOIN bounds
        WHERE (SELECT period_rows FROM reading) AND d.order_day >= bounds.start_ts::date AND d.order_day < bounds.end_ts::date
          AND (d.previous_day IS NULL OR d.previous_day < bounds.start_ts::date)
        UNION ALL
        SELECT ${dims.map((d, i) => `h.customer_${d} AS d${i}`).join(', ')}, h.customers
        FROM canonical.customer_last_days h CROSS JOIN bounds
        WHERE NOT (SELECT period_rows FROM reading) AND h.last_day >= bounds.start_ts::date
        UNION ALL
        SELECT ${dims.map((d, i) => `${DAILY_TOTALS_DIMENSIONS[d]} AS d${i}`).join(', ')}, -1
        FROM canonical.customer_order_days d CROSS JOIN bounds
        WHERE NOT (SELECT period_rows FROM reading) AND d.order_day >= bounds.end_ts::date
          AND (d.previous_day IS NULL OR d.previous_day < bounds.start_ts::date)
      ) x
      GROUP BY ${dimList}
    ), summary AS (
      SELECT ${outputs},
             sum(orders) AS orders,
             sum(coalesce(customers, 0))::bigint AS customers,
             round(sum(revenue), 2) AS revenue,
             round(sum(revenue) / sum(orders), 2) AS average_order_value
      FROM cells LEFT JOIN customer_cells USING (${dimList})
      GROUP BY ${grouping}
    )`;
  }
  // When every dimension is the customer's, each customer is one per_customer row, so counting rows
  // counts distinct customers and the grouping sets hash.
  const customers = dims.every((d) => d in CUSTOMER_DIMENSIONS) ? 'count(customer_key)' : 'count(DISTINCT customer_key)';
  return `
    facts AS (
      SELECT o.amount, c.entity_id AS customer_key,
             ${dims.map((d, i) => `${DIMENSIONS[d]}::text AS d${i}`).join(',\n             ')}
      FROM canonical.order_facts o
      ${ORDER_CUSTOMER_JOIN}
      CROSS JOIN bounds
      WHERE o.order_day >= bounds.start_ts::date AND o.order_day < bounds.end_ts::date AND o.amount IS NOT NULL
        AND ${statusIncluded(b, excluded)}
    ), per_customer AS (
      SELECT customer_key, ${dimList}, count(*) AS orders, sum(amount) AS revenue
      FROM facts
      GROUP BY customer_key, ${dimList}
    ), summary AS (
      SELECT ${outputs},
             sum(orders) AS orders,
             ${customers} AS customers,
             round(sum(revenue), 2) AS revenue,
             round(sum(revenue) / sum(orders), 2) AS average_order_value
      FROM per_customer
      GROUP BY ${grouping}
    )`;
}

async function run(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const b = new Binder();
  const dims = params.dimensions as string[];
  const excluded = lowerAll(params.exclude_statuses);
  const end = b.bind(params.as_of, '::date');
  const start = b.bind(params.timeframe, '::interval');
  const dimList = dims.map((_, i) => `d${i}`).join(', ');
  const grouping = params.grouping === 'rollup' ? `ROLLUP (${dimList})`
    : params.grouping === 'grouping_sets' ? `GROUPING SETS (${dims.map((_, i) => `(d${i})`).join(', ')}, ())`
      : `CUBE (${dimList})`;

  const text = `
    WITH bounds AS (
      SELECT (${end} + 1)::timestamptz AS end_ts, ((${end} + 1)::timestamp - ${start})::timestamptz AS start_ts
    ), ${summarySql(b, dims, excluded, grouping)},
    days AS (
      SELECT d::date AS day
      FROM bounds, generate_series(bounds.start_ts::date, bounds.end_ts::date - 1, interval '1 day') AS d
    ), daily AS (
      -- the daily series from the daily totals (orders with a date and an amount)
      SELECT days.day, coalesce(sum(t.orders), 0) AS orders, coalesce(sum(t.revenue), 0) AS revenue
      FROM days LEFT JOIN canonical.order_daily_status_totals t ON t.order_day = days.day AND ${statusIncluded(b, excluded, 't')}
      GROUP BY days.day
    ), scored AS (
      SELECT day, orders, revenue,
             avg(revenue) OVER w AS baseline,
             stddev_samp(revenue) OVER w AS sd
      FROM daily
      WINDOW w AS (ORDER BY day ROWS BETWEEN ${b.bind(params.moving_window_days, '::int')} PRECEDING AND 1 PRECEDING)
    ), z AS (
      SELECT day, orders, revenue, baseline, (revenue - baseline) / nullif(sd, 0) AS z_score FROM scored
    ), overall AS (
      SELECT avg(revenue) AS avg_daily FROM daily
    )
    SELECT json_build_object(
      'window', (SELECT json_build_object('from', start_ts::date, 'to', end_ts::date - 1) FROM bounds),
      'summary', (SELECT coalesce(json_agg(s ORDER BY cardinality(s.dimensions), s.revenue DESC NULLS LAST), '[]')
                  FROM (SELECT * FROM summary ORDER BY cardinality(dimensions), revenue DESC NULLS LAST LIMIT ${b.bind(params.limit)}) s),
      'timeSeries', (SELECT coalesce(json_agg(json_build_object(
                        'day', day, 'orders', orders, 'revenue', round(revenue, 2),
                        'moving_average', round(baseline, 2), 'z_score', round(z_score, 3)) ORDER BY day), '[]') FROM z),
      'spikes', (SELECT coalesce(json_agg(json_build_object(
                    'day', day, 'revenue', round(revenue, 2), 'moving_average', round(baseline, 2), 'z_score', round(z_score, 3)) ORDER BY day), '[]')
                 FROM z WHERE abs(z_score) >= ${b.bind(params.spike_z_threshold, '::numeric')}),
      'trend', (SELECT json_build_object(
                   'days', count(*),
                   'total_revenue', round(sum(revenue), 2),
                   'average_daily_revenue', round(avg(revenue), 2),
                   'slope_per_day', round(regr_slope(revenue, day - DATE '2000-01-01')::numeric, 4),
                   'r2', round(regr_r2(revenue, day - DATE '2000-01-01')::numeric, 4))
                FROM daily),
      'seasonality', json_build_object(
        'by_weekday', (SELECT coalesce(json_agg(w ORDER BY w.iso_weekday), '[]') FROM (
            SELECT extract(isodow FROM day)::int AS iso_weekday, count(*) AS days, round(avg(revenue), 2) AS average_revenue,
                   round(avg(revenue) / nullif((SELECT avg_daily FROM overall), 0), 3) AS index
            FROM daily GROUP BY 1) w),
        'by_month', (SELECT coalesce(json_agg(m ORDER BY m.month), '[]') FROM (
            SELECT extract(month FROM day)::int AS month, count(*) AS days, round(sum(revenue), 2) AS revenue,
                   round(avg(revenue), 2) AS average_daily_revenue,
                   round(avg(revenue) / nullif((SELECT avg_daily FROM overall), 0), 3) AS index
            FROM daily GROUP BY 1) m))
    ) AS result`;
  const [row] = await db.rows<{ result: Record<string, unknown> }>(text, b.values);
  return row.result;
}

export const multiDimensionalAnalytics: OperationDefinition = {
  name: 'multi_dimensional_analytics',
  description: 'Revenue over several dimensions at once (CUBE / ROLLUP / GROUPING SETS) over a timeframe, with trend, seasonality and spikes.',
  access: AccessLevel.ANALYTICS,
  longRunning: true,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      timeframe: { type: 'string', pattern: TIMEFRAME.source, default: '12 months', description: 'e.g. "3 months", "12 months", "2 years"; ends on as_of.' },
      as_of: { type: 'string', format: 'date', description: 'Last day of the timeframe (default today, UTC).' },
      dimensions: {
        type: 'array',
        items: { type: 'string', enum: Object.keys(DIMENSIONS) },
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        default: ['segment', 'country'],
      },
      grouping: { type: 'string', enum: ['cube', 'rollup', 'grouping_sets'], default: 'cube' },
      moving_window_days: { type: 'integer', minimum: 2, maximum: 90, default: 7 },
      spike_z_threshold: { type: 'number', minimum: 0.5, maximum: 10, default: 2 },
      exclude_statuses: STATUSES_SCHEMA,
      limit: LIMIT_SCHEMA(5000, 500),
    },
  },
  prepare,
  plan: { kind: 'composite', run },
};
