/**
 * Ready-made source definitions for the example feeds, mapping onto the canonical attributes
 * (customer, order, product, health_reading). Use them as they are, adjust them through the
 * options, or copy them as a starting point for your own systems.
 */
import { InputFormat, SourceDefinition, TransformType } from './source-definition';

/** Adjustments of a built-in source definition. */
export interface BuiltInSourceOptions {
  /**
   * Source name (names the outputs and the metrics dimension).
   *
   * @default - the built-in name, e.g. `crm-customers`
   */
  readonly name?: string;
  /**
   * Key prefix of the raw files.
   *
   * @default - the built-in prefix, e.g. `crm-data/`
   */
  readonly prefix?: string;
  /**
   * Whether valid records are loaded into the canonical store.
   *
   * @default - true, except for the health readings (validated and split only)
   */
  readonly loadToStore?: boolean;
}

const trim = { type: TransformType.TRIM };
const lower = { type: TransformType.LOWER };
const upper = { type: TransformType.UPPER };
const number = { type: TransformType.NUMBER };
const integer = { type: TransformType.INTEGER };
const text = { type: TransformType.STRING };
const isoDate = { type: TransformType.DATE, format: 'iso' };
const isoDateTime = { type: TransformType.DATETIME, format: 'iso' };

const ID = { type: ['string', 'integer'], minLength: 1, maxLength: 128 };

/** Built-in source definitions for the example CRM, ERP and health feeds. */
export class BuiltInSources {
  /**
   * CRM customers: JSON array or NDJSON under `crm-data/`; the canonical key is the normalized
   * e-mail; `parent_customer_id` links to the parent customer.
   */
  public static crmCustomers(options: BuiltInSourceOptions = {}): SourceDefinition {
    return {
      name: options.name ?? 'crm-customers',
      prefix: options.prefix ?? 'crm-data/',
      sourceSystem: 'crm',
      entityType: 'customer',
      sourceIdField: 'customer_id',
      canonicalKeyField: 'email',
      sourceTimestampField: 'updated_at',
      fields: [
        { source: 'name', target: 'name', transforms: [trim] },
        { source: 'email', target: 'email', transforms: [trim, lower] },
        { source: 'industry', target: 'industry', transforms: [trim, lower] },
        { source: 'country', target: 'country', transforms: [trim, upper] },
        { source: 'segment', target: 'segment', transforms: [trim, lower, { type: TransformType.DEFAULT, value: 'unknown' }] },
        { source: 'lifetime_value', target: 'lifetime_value', transforms: [number] },
        { source: 'signup_date', target: 'signup_date', transforms: [isoDate] },
        { source: 'parent_customer_id', target: 'parent_customer_id', transforms: [text] },
      ],
      relationships: [{ attribute: 'parent_customer_id', type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm' }],
      personalDataFields: ['name', 'email'],
      loadToStore: options.loadToStore ?? true,
      schema: {
        type: 'object',
        required: ['customer_id', 'name'],
        properties: {
          customer_id: ID,
          name: { type: 'string', minLength: 1, maxLength: 500 },
          email: { type: ['string', 'null'], format: 'email' },
          industry: { type: ['string', 'null'] },
          segment: { type: ['string', 'null'] },
          country: { type: ['string', 'null'], pattern: '^\\s*[A-Za-z]{2}\\s*$' },
          lifetime_value: { type: ['number', 'null'], minimum: 0, maximum: 1e12 },
          signup_date: { type: ['string', 'null'], format: 'date' },
          updated_at: { type: ['string', 'null'], format: 'date-time' },
          parent_customer_id: { type: ['string', 'integer', 'null'] },
        },
      },
    };
  }

  /** ERP orders: NDJSON under `erp-data/orders/`, linked to CRM customers and ERP products. */
  public static erpOrders(options: BuiltInSourceOptions = {}): SourceDefinition {
    return {
      name: options.name ?? 'erp-orders',
      prefix: options.prefix ?? 'erp-data/orders/',
      sourceSystem: 'erp',
      entityType: 'order',
      sourceIdField: 'order_id',
      sourceTimestampField: 'modified_at',
      fields: [
        { source: 'customer_ref', target: 'customer_id', transforms: [text, trim] },
        { source: 'order_date', target: 'order_date', transforms: [{ type: TransformType.DATETIME, format: 'yyyy-MM-dd HH:mm:ss' }] },
        { source: 'total.amount', target: 'amount', transforms: [number] },
        { source: 'total.currency', target: 'currency', transforms: [trim, upper] },
        { source: 'status', target: 'status', transforms: [trim, lower] },
        { source: 'product_ref', target: 'product_id', transforms: [text, trim] },
        { source: 'quantity', target: 'quantity', transforms: [integer] },
      ],
      relationships: [
        { attribute: 'customer_id', type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm' },
        { attribute: 'product_id', type: 'contains', targetEntityType: 'product', targetSourceSystem: 'erp' },
      ],
      loadToStore: options.loadToStore ?? true,
      schema: {
        type: 'object',
        required: ['order_id', 'customer_ref', 'order_date', 'total'],
        properties: {
          order_id: ID,
          customer_ref: ID,
          product_ref: { type: ['string', 'integer', 'null'] },
          order_date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$' },
          total: {
            type: 'object',
            required: ['amount', 'currency'],
            properties: {
              amount: { type: 'number', minimum: 0, maximum: 1e9 },
              currency: { type: 'string', pattern: '^\\s*[A-Za-z]{3}\\s*$' },
            },
          },
          status: { enum: ['open', 'paid', 'shipped', 'cancelled', 'returned', 'OPEN', 'PAID', 'SHIPPED', 'CANCELLED', 'RETURNED'] },
          quantity: { type: ['integer', 'null'], minimum: 1, maximum: 1000000 },
          modified_at: { type: ['string', 'null'], format: 'date-time' },
        },
      },
    };
  }

  /** ERP products: NDJSON or JSON under `erp-data/products/`, with the product hierarchy. */
  public static erpProducts(options: BuiltInSourceOptions = {}): SourceDefinition {
    return {
      name: options.name ?? 'erp-products',
      prefix: options.prefix ?? 'erp-data/products/',
      sourceSystem: 'erp',
      entityType: 'product',
      sourceIdField: 'sku',
      fields: [
        { source: 'name', target: 'name', transforms: [trim] },
        { source: 'category', target: 'category', transforms: [trim, lower] },
        { source: 'price', target: 'price', transforms: [number] },
        { source: 'parent_sku', target: 'parent_product_id', transforms: [text, trim] },
      ],
      relationships: [{ attribute: 'parent_product_id', type: 'parent', targetEntityType: 'product', targetSourceSystem: 'erp' }],
      loadToStore: options.loadToStore ?? true,
      schema: {
        type: 'object',
        required: ['sku', 'name'],
        properties: {
          sku: ID,
          name: { type: 'string', minLength: 1, maxLength: 500 },
          category: { type: ['string', 'null'] },
          price: { type: ['number', 'null'], minimum: 0, maximum: 1e9 },
          parent_sku: { type: ['string', 'integer', 'null'] },
        },
      },
    };
  }

  /**
   * Health readings: CSV under `health/raw/`, validated against physical plausibility ranges
   * (clinical thresholds are the analyzer's business) and split into processed/ and rejected/;
   * not loaded into the store by default.
   */
  public static healthReadings(options: BuiltInSourceOptions = {}): SourceDefinition {
    return {
      name: options.name ?? 'health-readings',
      prefix: options.prefix ?? 'health/raw/',
      sourceSystem: 'health',
      entityType: 'health_reading',
      format: InputFormat.CSV,
      sourceIdField: 'reading_id',
      fields: [
        { source: 'patient_id', target: 'patient_id', transforms: [trim] },
        { source: 'measured_at', target: 'measured_at', transforms: [isoDateTime] },
        { source: 'heart_rate', target: 'heart_rate', transforms: [integer] },
        { source: 'systolic_bp', target: 'systolic_bp', transforms: [integer] },
        { source: 'diastolic_bp', target: 'diastolic_bp', transforms: [integer] },
        { source: 'temperature_c', target: 'temperature_c', transforms: [number] },
        { source: 'spo2', target: 'spo2', transforms: [number] },
      ],
      personalDataFields: ['patient_id'],
      loadToStore: options.loadToStore ?? false,
      schema: {
        type: 'object',
        required: ['reading_id', 'patient_id', 'measured_at'],
        properties: {
          reading_id: { type: 'string', minLength: 1, maxLength: 128 },
          patient_id: { type: 'string', minLength: 1, maxLength: 128 },
          measured_at: { type: 'string', format: 'date-time' },
          heart_rate: { type: 'integer', minimum: 20, maximum: 300 },
          systolic_bp: { type: 'integer', minimum: 40, maximum: 300 },
          diastolic_bp: { type: 'integer', minimum: 20, maximum: 200 },
          temperature_c: { type: 'number', minimum: 25, maximum: 45 },
          spo2: { type: 'number', minimum: 40, maximum: 100 },
        },
      },
    };
  }
}
