// REFERENCE COPY for issue 18: lambda/analytics-api/operations/common.ts as it was on main at b923fd0,
// the pre-issue-18 queries, kept as the reference that test/analytics-equivalence.test.ts compares
// the shipped operation against. Only the imports differ; the SQL is byte-identical: do not edit it.
/**
 * Pieces shared by the built-in operations. Identifiers that depend on a parameter (a dimension to
 * group by, a period) are never interpolated from input: the parameter is an enum in the schema and
 * picks one of the fixed SQL fragments below. Values always travel as bind parameters.
 */

/** Orders' statuses that do not count as revenue unless the caller says otherwise. */
export const DEFAULT_EXCLUDED_STATUSES = ['cancelled', 'canceled', 'refunded', 'failed'];

/** Joins each order (alias o) to the customer it was placed by (alias c) through the `placed_by` relationship. */
export const ORDER_CUSTOMER_JOIN = `
  LEFT JOIN canonical.relationships r_pb
    ON r_pb.from_entity_type = 'order' AND r_pb.from_source_system = o.source_system AND r_pb.from_source_id = o.source_id
   AND r_pb.rel_type = 'placed_by' AND r_pb.to_entity_type = 'customer'
  LEFT JOIN canonical.customers c ON c.source_system = r_pb.to_source_system AND c.source_id = r_pb.to_source_id`;

/** Collects bind parameters while a query is assembled: `bind(value)` returns its placeholder. */
export class Binder {
  readonly values: unknown[] = [];
  bind(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

/** `true` for orders (alias o) whose status is not one of `statuses` (lower-case). */
export function statusIncluded(b: Binder, statuses: string[]): string {
  return `NOT (lower(coalesce(o.status, '')) = ANY (${b.bind(statuses, '::text[]')}))`;
}

/** Customer dimensions (of the customer joined as c), labelled '(none)' when missing. */
export const CUSTOMER_DIMENSIONS: Record<string, string> = {
  industry: 'coalesce(c.industry, \'(none)\')',
  country: 'coalesce(c.country, \'(none)\')',
  segment: 'coalesce(c.segment, \'(none)\')',
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
