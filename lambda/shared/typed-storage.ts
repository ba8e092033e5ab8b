/**
 * The typed storage of the built-in entity types: which canonical attributes each type has, their
 * types, which of them must be present and which checks their values must pass. One place for this
 * contract: the migration that creates the typed tables (canonical-store/migrations/0004) generates
 * its SQL from it, and the analytics operations read the columns and quality bits it defines.
 *
 * Changing anything here changes that migration's SQL, which the migration runner refuses for an
 * applied migration (checksum): a change is a new migration.
 */

/** How an attribute's text is stored: as is, or cast (a value that does not cast is stored as NULL). */
export type TypedKind = 'text' | 'numeric' | 'timestamptz' | 'date';

export interface TypedAttribute {
  readonly name: string;
  readonly kind: TypedKind;
}

export interface QualityRule {
  readonly name: string;
  readonly attribute: string;
  /**
   * A boolean SQL expression over the attribute's text `v` and its typed value `t` (NULL when the
   * text does not cast), checked when the value is present: a present value fails when the
   * expression is not true.
   */
  readonly check: string;
}

export interface TypedEntityType {
  /** canonical.entities.entity_type, and the name of its view (plural) and fact table (`<type>_facts`). */
  readonly entityType: string;
  readonly view: string;
  /** The typed columns, in the view's column order. */
  readonly attributes: readonly TypedAttribute[];
  /** The canonical attributes a complete entity has (optional links left out): bit i of `filled`. */
  readonly expected: readonly string[];
  /** Validity rules: bit i of `failed`. */
  readonly rules: readonly QualityRule[];
}

const text = (name: string): TypedAttribute => ({ name, kind: 'text' });
const numeric = (name: string): TypedAttribute => ({ name, kind: 'numeric' });
const range = (lo: number, hi: number) => `t BETWEEN ${lo} AND ${hi}`;

export const TYPED_ENTITY_TYPES: readonly TypedEntityType[] = [
  {
    entityType: 'customer',
    view: 'customers',
    attributes: [text('name'), text('email'), text('industry'), text('country'), text('segment'), numeric('lifetime_value'),
      { name: 'signup_date', kind: 'date' }, text('parent_customer_id')],
    expected: ['name', 'email', 'industry', 'country', 'segment', 'lifetime_value', 'signup_date'],
    rules: [
      { name: 'email_format', attribute: 'email', check: 'v ~* \'^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$\'' },
      { name: 'lifetime_value_non_negative', attribute: 'lifetime_value', check: 't >= 0' },
      // A date in the future fails too: that part depends on the day of the query, so the stored bit
      // is "not a date" and the analytics add the future dates (FUTURE_DATE_RULES).
      { name: 'signup_date_valid', attribute: 'signup_date', check: 't IS NOT NULL' },
      { name: 'country_iso2', attribute: 'country', check: 'v ~ \'^[A-Z]{2}$\'' },
    ],
  },
  {
    entityType: 'order',
    view: 'orders',
    attributes: [text('customer_id'), { name: 'order_date', kind: 'timestamptz' }, numeric('amount'), text('currency'), text('status'),
      text('product_id'), numeric('quantity')],
    expected: ['customer_id', 'order_date', 'amount', 'currency', 'status', 'product_id', 'quantity'],
    rules: [
      { name: 'amount_non_negative', attribute: 'amount', check: 't >= 0' },
      { name: 'order_date_valid', attribute: 'order_date', check: 't IS NOT NULL' },
      { name: 'quantity_positive', attribute: 'quantity', check: 't > 0' },
      { name: 'currency_iso3', attribute: 'currency', check: 'v ~ \'^[A-Z]{3}$\'' },
    ],
  },
  {
    entityType: 'product',
    view: 'products',
    attributes: [text('name'), text('category'), numeric('price'), text('parent_product_id')],
    expected: ['name', 'category', 'price'],
    rules: [
      { name: 'price_non_negative', attribute: 'price', check: 't >= 0' },
    ],
  },
  {
    entityType: 'health_reading',
    view: 'health_readings',
    attributes: [text('patient_id'), { name: 'measured_at', kind: 'timestamptz' }, numeric('heart_rate'), numeric('systolic_bp'),
      numeric('diastolic_bp'), numeric('temperature_c'), numeric('spo2')],
    expected: ['patient_id', 'measured_at', 'heart_rate', 'systolic_bp', 'diastolic_bp', 'temperature_c', 'spo2'],
    rules: [
      { name: 'measured_at_valid', attribute: 'measured_at', check: 't IS NOT NULL' },
      { name: 'heart_rate_plausible', attribute: 'heart_rate', check: range(20, 250) },
      { name: 'systolic_bp_plausible', attribute: 'systolic_bp', check: range(50, 260) },
      { name: 'diastolic_bp_plausible', attribute: 'diastolic_bp', check: range(30, 160) },
      { name: 'temperature_c_plausible', attribute: 'temperature_c', check: range(30, 45) },
      { name: 'spo2_plausible', attribute: 'spo2', check: range(50, 100) },
    ],
  },
];

/**
 * Rules whose stored bit covers "not a date" only: a present date after the query's current_date
 * fails as well (entity type → rule name → typed date column).
 */
export const FUTURE_DATE_RULES: Record<string, Record<string, string>> = {
  customer: { signup_date_valid: 'signup_date' },
};

/**
 * Order statuses that do not count as revenue by default. The per-customer totals of the typed
 * storage (customer_facts.orders_counted / revenue_counted) are kept for exactly this set; a call
 * that excludes other statuses computes its totals from the order facts.
 */
export const DEFAULT_EXCLUDED_STATUSES: readonly string[] = ['cancelled', 'canceled', 'refunded', 'failed'];

export function typedEntityType(entityType: string): TypedEntityType {
  const found = TYPED_ENTITY_TYPES.find((t) => t.entityType === entityType);
  if (!found) throw new Error(`No typed storage for entity type '${entityType}'`);
  return found;
}


/**
 * The entity types whose `parent` relationships form hierarchies (canonical.parent_links), with the
 * typed attribute that relationship_analysis totals over a hierarchy.
 */
export const HIERARCHY_VALUES: Readonly<Record<string, string>> = { customer: 'lifetime_value', product: 'price' };
