/**
 * The analytics benchmark's data: N CRM customers (every 50th also in the ERP with the same key),
 * 3N ERP orders over two years, 1,000 ERP products, as the built-in sources (crmCustomers,
 * erpOrders, erpProducts) map them: the same attributes, source ids, canonical keys, relationships
 * and content hashes as ingestion writes (the ERP copies of customers stand for a second,
 * user-defined source). Seeded, so every run loads the same data.
 *
 * Also the changed records of an ingestion run: existing orders and customers, re-sent in the
 * built-in sources' input formats with changed amounts, statuses and segments.
 */
import type { Client } from 'pg';
import type { CanonicalEntity } from '../../lambda/shared/canonical-upsert';
import { copyRow } from '../../lambda/shared/copy-text';
import { prng } from '../../test/support/prng';

export const AS_OF = '2025-12-31';

const ADJECTIVES = ['Blue', 'Green', 'Rapid', 'Silver', 'Northern', 'Bright', 'Global', 'Prime', 'Urban', 'Pacific', 'Golden', 'Summit',
  'Atlas', 'Nova', 'Vertex', 'Cedar', 'Harbor', 'Iron', 'Lunar', 'Royal', 'Solar', 'Swift', 'True', 'United', 'Vivid'];
const NOUNS = ['Analytics', 'Logistics', 'Foods', 'Systems', 'Labs', 'Partners', 'Holdings', 'Industries', 'Health', 'Energy', 'Media',
  'Motors', 'Textiles', 'Pharma', 'Capital', 'Networks', 'Robotics', 'Studios', 'Outfitters', 'Builders', 'Farms', 'Clinics'];
const SUFFIXES = ['Inc', 'GmbH', 'Ltd', 'SA', 'BV', 'AB', 'LLC', 'Group', 'Co', 'AG'];
const INDUSTRIES = ['retail', 'manufacturing', 'software', 'energy', 'logistics', 'finance', 'healthcare', 'media'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE', 'PL', 'JP'];
const SEGMENTS = ['enterprise', 'mid-market', 'smb'];
/** Statuses the erpOrders schema accepts; 1 in 6 cancelled (not revenue by default). */
const STATUSES = ['paid', 'paid', 'paid', 'shipped', 'open', 'cancelled'];
const CATEGORIES = ['hardware', 'software', 'services', 'training', 'support', 'cloud', 'licenses', 'parts', 'consumables', 'other'];

const pick = <T>(r: () => number, list: readonly T[]) => list[Math.floor(r() * list.length)];
export const id = (prefix: string, i: number) => `${prefix}${String(i).padStart(8, '0')}`;

/** canonical.entities columns the COPY fills (source_updated_at stays null: the generated feeds have none). */
export const ENTITY_COPY_COLUMNS = ['entity_type', 'source_system', 'source_id', 'canonical_key', 'attributes', 'content_hash'];

type Hash = (entity: CanonicalEntity) => string;

function entityRow(e: CanonicalEntity, contentHash: Hash): string {
  return copyRow([e.entityType, e.sourceSystem, e.sourceId, e.canonicalKey ?? null, JSON.stringify(e.attributes), contentHash(e)]);
}

const parent = (type: string, system: string, target: string) => ({ type: 'parent', targetEntityType: type, targetSourceSystem: system, targetSourceId: target });

/** The entities as COPY text rows of ENTITY_COPY_COLUMNS, hashed by the build's own contentHash. */
export function* entityRows(customers: number, contentHash: Hash): Generator<string> {
  const r = prng(42);
  for (let i = 1; i <= 1000; i++) {
    const parentId = i > 100 ? id('P', i % 100 + 1) : undefined;
    const attributes = { name: `${pick(r, ADJECTIVES)} ${pick(r, CATEGORIES)} ${i}`, category: pick(r, CATEGORIES), price: Math.round(r() * 200000) / 100, ...(parentId ? { parent_product_id: parentId } : {}) };
    yield entityRow({ entityType: 'product', sourceSystem: 'erp', sourceId: id('P', i), canonicalKey: null, attributes, relationships: parentId ? [parent('product', 'erp', parentId)] : [] }, contentHash);
  }
  for (let i = 1; i <= customers; i++) {
    const email = `contact${i}@${pick(r, NOUNS).toLowerCase()}${i % 5000}.example`;
    const parentId = i > 1000 && i % 20 === 0 ? id('C', Math.floor(i / 20)) : i === 1 ? id('C', 2) : i === 2 ? id('C', 1) : undefined;
    const attributes = {
      name: `${pick(r, ADJECTIVES)} ${pick(r, NOUNS)} ${pick(r, SUFFIXES)}`,
      email,
      industry: pick(r, INDUSTRIES),
      country: pick(r, COUNTRIES),
      segment: pick(r, SEGMENTS),
      lifetime_value: Math.round(r() * 5_000_000) / 100,
      signup_date: new Date(Date.UTC(2015, 0, 1) + r() * 3650 * 86400000).toISOString().slice(0, 10),
      ...(parentId ? { parent_customer_id: parentId } : {}),
    };
    yield entityRow({ entityType: 'customer', sourceSystem: 'crm', sourceId: id('C', i), canonicalKey: email, attributes, relationships: parentId ? [parent('customer', 'crm', parentId)] : [] }, contentHash);
    if (i % 50 === 0) {
      // ERP's copy of every 50th customer: same key, a conflicting country for half of them.
      const erp: Record<string, unknown> = { ...attributes, country: i % 100 === 0 ? pick(r, COUNTRIES) : attributes.country };
      delete erp.parent_customer_id;
      yield entityRow({ entityType: 'customer', sourceSystem: 'erp', sourceId: id('E', i), canonicalKey: email, attributes: erp, relationships: [] }, contentHash);
    }
  }
  const end = Date.parse(`${AS_OF}T23:59:59Z`);
  for (let i = 1; i <= customers * 3; i++) {
    const orphan = i % 1000 === 7;
    const day = end - Math.floor(r() * 730) * 86400000;
    const weekday = new Date(day).getUTCDay();
    const amount = Math.round((20 + r() * 2000) * (weekday === 1 ? 1.4 : 1) * 100) / 100;
    const attributes = {
      customer_id: orphan ? `X${i}` : id('C', 1 + Math.floor(r() * customers)),
      order_date: new Date(day).toISOString(),
      amount,
      currency: 'USD',
      status: pick(r, STATUSES),
      product_id: id('P', 1 + Math.floor(r() * 1000)),
      quantity: 1 + Math.floor(r() * 5),
    };
    const relationships = [
      { type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: attributes.customer_id },
      { type: 'contains', targetEntityType: 'product', targetSourceSystem: 'erp', targetSourceId: attributes.product_id },
    ];
    yield entityRow({ entityType: 'order', sourceSystem: 'erp', sourceId: id('O', i), canonicalKey: null, attributes, relationships }, contentHash);
  }
}

/** The relationships of the loaded entities, from their attributes, as ingestion records them. */
export const RELATIONSHIPS_FROM_ATTRIBUTES = `
  INSERT INTO canonical.relationships (rel_type, from_entity_type, from_source_system, from_source_id, to_entity_type, to_source_system, to_source_id)
  SELECT 'placed_by', 'order', source_system, source_id, 'customer', 'crm', attributes ->> 'customer_id' FROM canonical.entities WHERE entity_type = 'order'
  UNION ALL
  SELECT 'contains', 'order', source_system, source_id, 'product', 'erp', attributes ->> 'product_id' FROM canonical.entities WHERE entity_type = 'order'
  UNION ALL
  SELECT 'parent', entity_type, source_system, source_id, entity_type, source_system, coalesce(attributes ->> 'parent_customer_id', attributes ->> 'parent_product_id')
  FROM canonical.entities WHERE entity_type IN ('customer', 'product') AND (attributes ? 'parent_customer_id' OR attributes ? 'parent_product_id')`;

const NEXT_STATUS: Record<string, string> = { paid: 'shipped', shipped: 'paid', open: 'cancelled', cancelled: 'paid' };
const MODIFIED_AT = '2026-01-15T12:00:00Z';

/** `n` ids spread evenly over 1…`total`. */
function spread(prefix: string, n: number, total: number): string[] {
  const step = Math.max(1, Math.floor(total / n));
  return Array.from({ length: Math.min(n, total) }, (_, k) => id(prefix, 1 + k * step));
}

type StoredRow = { source_id: string; attributes: any };

async function stored(admin: Client, entityType: string, sourceSystem: string, ids: string[]): Promise<StoredRow[]> {
  const { rows } = await admin.query(
    'SELECT source_id, attributes FROM canonical.entities WHERE entity_type = $1 AND source_system = $2 AND source_id = ANY($3::text[]) ORDER BY source_id',
    [entityType, sourceSystem, ids]);
  if (rows.length !== ids.length) throw new Error(`found ${rows.length} of ${ids.length} ${entityType}s to re-send`);
  return rows;
}

/**
 * `n` existing ERP orders as erpOrders input (NDJSON). Changed: amount +10% + 1, status moved on
 * (which moves some in or out of revenue), a source timestamp; unchanged: exactly as stored.
 */
export async function orderRecords(admin: Client, n: number, customers: number, changed: boolean): Promise<string> {
  const rows = await stored(admin, 'order', 'erp', spread('O', n, customers * 3));
  return rows.map(({ source_id: sourceId, attributes: a }) => `${JSON.stringify({
    order_id: sourceId,
    customer_ref: a.customer_id,
    order_date: (a.order_date as string).slice(0, 19).replace('T', ' '),
    total: { amount: changed ? Math.round((a.amount * 1.1 + 1) * 100) / 100 : a.amount, currency: a.currency },
    status: changed ? NEXT_STATUS[a.status] : a.status,
    product_ref: a.product_id,
    quantity: a.quantity,
    ...(changed ? { modified_at: MODIFIED_AT } : {}),
  })}\n`).join('');
}

/** `n` existing CRM customers as crmCustomers input (NDJSON); changed: moved to the next segment, with a source timestamp. */
export async function customerRecords(admin: Client, n: number, customers: number, changed: boolean): Promise<string> {
  const rows = await stored(admin, 'customer', 'crm', spread('C', n, customers));
  return rows.map(({ source_id: sourceId, attributes: a }) => `${JSON.stringify({
    customer_id: sourceId,
    name: a.name,
    email: a.email,
    industry: a.industry,
    country: a.country,
    segment: changed ? SEGMENTS[(SEGMENTS.indexOf(a.segment) + 1) % SEGMENTS.length] : a.segment,
    lifetime_value: a.lifetime_value,
    signup_date: a.signup_date,
    ...(a.parent_customer_id ? { parent_customer_id: a.parent_customer_id } : {}),
    ...(changed ? { updated_at: MODIFIED_AT } : {}),
  })}\n`).join('');
}
