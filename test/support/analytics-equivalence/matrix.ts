/**
 * The parameter matrix of the equivalence test: every enum value of every built-in operation's
 * parameters, crossed where the SQL composes them (period × segment, metric × group, grouping ×
 * dimensions), plus the filters and limits that change the statement.
 */
import { AS_OF } from './data-set';
import type { Params } from '../../../lambda/analytics-api/operations/types';

export interface EquivalenceCase {
  readonly label: string;
  readonly operation: string;
  readonly parameters: Params;
}

const PERIODS = ['day', 'week', 'month', 'quarter', 'year'];
const SEGMENTS = ['none', 'industry', 'country', 'segment', 'status', 'currency', 'order_source_system'];
const METRICS = ['lifetime_value', 'order_count', 'revenue', 'average_order_value'];
const GROUPS = ['industry', 'country', 'segment', 'source_system'];
const GROUPINGS = ['cube', 'rollup', 'grouping_sets'];
const DIMENSION_SETS = [['segment'], ['status'], ['country', 'currency'], ['segment', 'country', 'status'], ['industry', 'order_source_system', 'currency']];

const c = (operation: string, parameters: Params, label = JSON.stringify(parameters)): EquivalenceCase => ({ label: `${operation} ${label}`, operation, parameters });

function revenueCases(): EquivalenceCase[] {
  const cases = PERIODS.flatMap((period) => SEGMENTS.map((segment_by) => c('revenue_analysis', { period, segment_by })));
  return [
    ...cases,
    c('revenue_analysis', { period: 'month', segment_by: 'segment', from: '2024-01-01', to: '2024-12-31' }),
    c('revenue_analysis', { period: 'day', segment_by: 'none', from: '2025-06-01', to: AS_OF }),
    c('revenue_analysis', { period: 'week', segment_by: 'country', to: '2024-06-30' }),
    c('revenue_analysis', { period: 'month', segment_by: 'none', currency: 'USD' }),
    c('revenue_analysis', { period: 'quarter', segment_by: 'status', currency: 'usd' }),
    c('revenue_analysis', { period: 'month', segment_by: 'status', exclude_statuses: [] }),
    c('revenue_analysis', { period: 'month', segment_by: 'industry', exclude_statuses: ['PENDING', 'Shipped', 'completed'] }),
    c('revenue_analysis', { period: 'quarter', segment_by: 'segment', moving_average_periods: 1 }),
    c('revenue_analysis', { period: 'month', segment_by: 'currency', moving_average_periods: 12 }),
    c('revenue_analysis', { period: 'week', segment_by: 'segment', limit: 7 }),
  ];
}

function customerCases(): EquivalenceCase[] {
  return [
    ...METRICS.flatMap((metric) => GROUPS.map((group_by) => c('customer_analysis', { metric, group_by }))),
    c('customer_analysis', { metric: 'revenue', group_by: 'country', min_group_size: 40 }),
    c('customer_analysis', { metric: 'lifetime_value', group_by: 'segment', min_group_size: 200 }),
    c('customer_analysis', { metric: 'order_count', group_by: 'industry', min_group_size: 100_000_000 }),
    c('customer_analysis', { metric: 'revenue', group_by: 'segment', exclude_statuses: [] }),
    c('customer_analysis', { metric: 'average_order_value', group_by: 'country', exclude_statuses: ['COMPLETED', 'pending'] }),
    c('customer_analysis', { metric: 'lifetime_value', group_by: 'country', limit: 3 }),
  ];
}

function multiDimensionalCases(): EquivalenceCase[] {
  const base = { as_of: AS_OF };
  return [
    ...GROUPINGS.flatMap((grouping) => DIMENSION_SETS.map((dimensions) => c('multi_dimensional_analytics', { ...base, grouping, dimensions }))),
    c('multi_dimensional_analytics', { ...base, dimensions: ['segment', 'country', 'status', 'currency'], limit: 40 }),
    c('multi_dimensional_analytics', { ...base, dimensions: ['segment', 'status'], limit: 10 }),
    c('multi_dimensional_analytics', { ...base, timeframe: '30 days', dimensions: ['country'], moving_window_days: 2, spike_z_threshold: 0.5 }),
    c('multi_dimensional_analytics', { ...base, timeframe: '2 years', dimensions: ['segment'], grouping: 'rollup', moving_window_days: 30 }),
    c('multi_dimensional_analytics', { ...base, timeframe: '1 week', dimensions: ['status', 'currency'] }),
    c('multi_dimensional_analytics', { as_of: '2024-02-29', timeframe: '3 months', dimensions: ['industry'], exclude_statuses: [] }),
    // customers per customer dimension read both ways: the period's rows (a short early period), and the
    // last-day histogram with nothing after the period (one that ends after every order)
    c('multi_dimensional_analytics', { as_of: '2024-03-31', timeframe: '1 month', dimensions: ['segment', 'country'] }),
    c('multi_dimensional_analytics', { as_of: '2027-12-31', timeframe: '10 years', dimensions: ['industry'], grouping: 'rollup' }),
  ];
}

function relationshipCases(): EquivalenceCase[] {
  const r = (parameters: Params) => c('relationship_analysis', parameters);
  return [
    r({ entity_type: 'customer' }),
    r({ entity_type: 'product' }),
    r({ entity_type: 'customer', max_depth: 1, limit: 5 }),
    r({ entity_type: 'product', max_depth: 2, limit: 3 }),
    r({ entity_type: 'product', root_id: 'P2' }),
    r({ entity_type: 'product', root_id: 'P25' }),
    r({ entity_type: 'product', root_id: 'P5' }),
    r({ entity_type: 'product', root_id: 'P2', max_depth: 1, limit: 4 }),
    r({ entity_type: 'customer', root_id: 'C1' }),
    r({ entity_type: 'customer', root_id: 'C20', root_source_system: 'crm' }),
    r({ entity_type: 'customer', root_id: 'C10' }),
    r({ entity_type: 'customer', root_id: 'E5' }),
    r({ entity_type: 'customer', root_id: 'C20', root_source_system: 'erp' }),
    r({ entity_type: 'customer', root_id: 'nobody' }),
  ];
}

function integrityCases(): EquivalenceCase[] {
  const d = (parameters: Params) => c('data_integrity_analysis', parameters);
  return [
    d({}),
    d({ entity_types: ['order'], max_orphans: 7 }),
    d({ entity_types: ['customer'], max_conflicts: 3, similarity_threshold: 0.45 }),
    d({ entity_types: ['product', 'health_reading'], duplicate_entity_type: 'product', similarity_threshold: 0.3 }),
    d({ entity_types: ['customer', 'order'], similarity_threshold: 1, max_duplicate_pairs: 5 }),
    d({ duplicate_entity_type: 'customer', similarity_threshold: 0.3, max_duplicate_pairs: 20, max_conflicts: 1000, max_orphans: 1000 }),
  ];
}

/** Every case, in a stable order. */
export function equivalenceCases(): EquivalenceCase[] {
  return [
    c('simple_demo', {}),
    c('simple_demo', { entity_type: 'order', limit: 50 }),
    c('simple_demo', { entity_type: 'nothing' }),
    c('database_info', {}),
    c('database_info', { latest_runs: 1, exact_counts: true }),
    ...customerCases(),
    ...revenueCases(),
    ...multiDimensionalCases(),
    ...relationshipCases(),
    ...integrityCases(),
  ];
}
