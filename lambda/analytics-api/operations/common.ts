/**
 * Pieces shared by the built-in operations. Identifiers that depend on a parameter (a dimension to
 * group by, a period) are never interpolated from input: the parameter is an enum in the schema and
 * picks one of the fixed SQL fragments below. Values always travel as bind parameters.
 */

import { DEFAULT_EXCLUDED_STATUSES } from '../../shared/typed-storage';

export { DEFAULT_EXCLUDED_STATUSES };

/**
 * Joins each order fact (alias o) to the typed row of the customer it was placed by (alias c): the
 * `placed_by` relationship resolved to the customer's entity id by the typed storage.
 */
export const ORDER_CUSTOMER_JOIN = `
  LEFT JOIN canonical.customer_facts c ON c.entity_id = o.customer_entity_id`;

/** Collects bind parameters while a query is assembled: `bind(value)` returns its placeholder. */
export class Binder {
  readonly values: unknown[] = [];
  bind(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

/** `true` for orders (by default alias o) whose status is not one of `statuses` (lower-case). */
export function statusIncluded(b: Binder, statuses: string[], alias = 'o'): string {
  return `NOT (lower(coalesce(${alias}.status, '')) = ANY (${b.bind(statuses, '::text[]')}))`;
}

/** True when `statuses` (lower-case) are the default exclusions, as a set: the per-customer totals of the typed storage apply. */
export function defaultExclusions(statuses: string[]): boolean {
  const set = new Set(statuses);
  return set.size === DEFAULT_EXCLUDED_STATUSES.length && DEFAULT_EXCLUDED_STATUSES.every((s) => set.has(s));
}

/** Customer dimensions (of the customer joined as c), labelled '(none)' when missing. */
export const CUSTOMER_DIMENSIONS: Record<string, string> = {
  industry: 'coalesce(c.industry, \'(none)\')',
  country: 'coalesce(c.country, \'(none)\')',
  segment: 'coalesce(c.segment, \'(none)\')',
};

/** The same dimensions in canonical.order_daily_totals (alias d; the customer ones also in canonical.customer_order_days). */
export const DAILY_TOTALS_DIMENSIONS: Record<string, string> = {
  industry: 'coalesce(d.customer_industry, \'(none)\')',
  country: 'coalesce(d.customer_country, \'(none)\')',
  segment: 'coalesce(d.customer_segment, \'(none)\')',
  status: 'coalesce(d.status, \'(none)\')',
  currency: 'coalesce(d.currency, \'(none)\')',
  order_source_system: 'd.source_system',
};

/** Order dimensions (of the order o). */
export const ORDER_DIMENSIONS: Record<string, string> = {
  status: 'coalesce(o.status, \'(none)\')',
  currency: 'coalesce(o.currency, \'(none)\')',
  order_source_system: 'o.source_system',
};

export const LIMIT_SCHEMA = (max: number, byDefault: number) => ({ type: 'integer', minimum: 1, maximum: max, default: byDefault });

export const STATUSES_SCHEMA = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 50 },
  maxItems: 20,
  default: DEFAULT_EXCLUDED_STATUSES,
  description: 'Order statuses (case-insensitive) that do not count as revenue.',
};

/** Lower-cases a validated string array parameter. */
export function lowerAll(value: unknown): string[] {
  return ((value as string[]) ?? []).map((s) => s.toLowerCase());
}
