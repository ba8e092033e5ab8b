/**
 * Generated data sets for the analytics equivalence test: a few thousand entities written in
 * several transactions, in the shapes the ingestion mapping produces (src/ingestion-pipeline/
 * built-in-sources.ts, lambda/ingestion-pipeline/mapping.ts), with what real feeds bring:
 * missing and null attributes, values the typed views cannot cast, lower-case codes, several
 * versions of an entity, orders loaded before their customers, parents loaded after their
 * children, customers that change segment and country, orders whose customer never exists,
 * hierarchies with a cycle and dangling parents. Deterministic for a seed.
 */
import type { Pool } from 'pg';
import { bumpDataGeneration, CanonicalEntity, EntityRelationship, upsertEntities } from '../../../lambda/shared/canonical-upsert';
import { refreshTypedStorage } from '../../../lambda/shared/typed-refresh';
import { prng } from '../prng';

/** One ingestion transaction: its entities, and the writer session's time zone when not the server's. */
export interface WriteBatch {
  readonly label: string;
  readonly entities: readonly CanonicalEntity[];
  readonly timeZone?: string;
}

export interface DataSetSize {
  readonly crmCustomers: number;
  readonly erpCustomers: number;
  readonly products: number;
  readonly orders: number;
  readonly healthReadings: number;
}

export const DEFAULT_SIZE: DataSetSize = { crmCustomers: 1500, erpCustomers: 300, products: 350, orders: 3500, healthReadings: 400 };

/** The day the multi-dimensional cases end on (orders lie around it, some after it). */
export const AS_OF = '2025-06-30';


const INDUSTRIES = ['retail', 'manufacturing', 'software', 'energy', 'logistics', 'finance'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'SE', 'JP'];
const SEGMENTS = ['enterprise', 'mid-market', 'smb', 'unknown'];
const CATEGORIES = ['hardware', 'software', 'services', 'training', 'cloud'];
const STATUSES = ['completed', 'completed', 'completed', 'shipped', 'pending', 'cancelled', 'refunded', 'failed', 'paid', 'open'];
const ODD_STATUSES = ['COMPLETED', 'Cancelled', 'canceled', 'REFUNDED', 'Shipped', '', null, undefined];
const LETTERS = [...'abcdefghijklmnopqrstuvwxyz'];

/** Builds the entities of one data set; every choice comes from the seeded PRNG. */
class Generator {
  private readonly r: () => number;
  constructor(seed: number, private readonly size: DataSetSize) {
    this.r = prng(seed);
  }

  chance(p: number): boolean {
    return this.r() < p;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.r() * list.length)];
  }
  /** A random word: names of unrelated entities share few trigrams (cheap fuzzy-duplicate searches, few pairs). */
  word(): string {
    let w = '';
    for (let i = this.int(6, 8); i > 0; i--) w += this.pick(LETTERS);
    return w[0].toUpperCase() + w.slice(1);
  }
  /** An attribute value that is missing (undefined), null or the given value, or one of `odd`. */
  messy<T>(value: T, odd: readonly unknown[] = [], pOdd = 0.08): unknown {
    const x = this.r();
    if (x < 0.03) return undefined;
    if (x < 0.05) return null;
    if (x < 0.05 + pOdd && odd.length > 0) return this.pick(odd);
    return value;
  }
  money(max: number): number {
    return Math.round(this.r() * max * 100) / 100;
  }
  isoDay(fromMs: number, toMs: number): string {
    return new Date(fromMs + Math.floor(this.r() * ((toMs - fromMs) / 86_400_000)) * 86_400_000).toISOString().slice(0, 10);
  }

  customer(i: number, sourceUpdatedAt: string, change = 0): CanonicalEntity {
    const name = this.chance(0.02) ? undefined : `${this.word()} ${this.word()}`;
    const email = this.messy(`contact${i}@${this.word().toLowerCase()}.example`, ['no-at-sign.example', 'a@b', 'two@@signs.example', ' spaced@mail.example'], 0.06);
    // Children before parents: a parent may be any customer, loaded earlier or later; some never exist.
    const parent = this.chance(0.15) ? (this.chance(0.1) ? `C9${i}` : `C${this.int(1, this.size.crmCustomers)}`) : undefined;
    const attributes: Record<string, unknown> = {
      name,
      email,
      industry: this.messy(this.pick(INDUSTRIES), ['Retail', ' software ']),
      country: this.messy(this.pick(COUNTRIES), ['de', 'fr', ' US', 'Germany']),
      segment: this.messy(SEGMENTS[(this.int(0, 3) + change) % 4], ['Enterprise', 'SMB']),
      lifetime_value: this.messy(this.money(50_000), ['1e3', ' 12.5 ', '', 'n/a', -250.75, '12,5', 1234.5678, '-0.5', '+7']),
      signup_date: this.messy(this.isoDay(Date.UTC(2015, 0, 1), Date.UTC(2025, 0, 1)),
        ['2024-13-01', 'yesterday', '2031-01-01', '2024-05-05T23:30:00-05:00', '2023-02-28 23:59:59', '']),
      parent_customer_id: parent,
    };
    return this.entity('customer', 'crm', `C${i}`, attributes, email, sourceUpdatedAt, parent
      ? [{ type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: parent }] : []);
  }

  /** ERP's copy of a CRM customer: the same e-mail (canonical key), some attributes in conflict, a similar name. */
  erpCustomer(i: number, crm: CanonicalEntity | undefined): CanonicalEntity {
    const base = crm?.attributes ?? {};
    const name = typeof base.name === 'string'
      ? this.pick([base.name, `${base.name} GmbH`, base.name.slice(0, -1) + 'x', base.name.toUpperCase()])
      : `${this.word()} ${this.word()}`;
    const email = crm && this.chance(0.9) ? base.email : `erp${i}@${this.word().toLowerCase()}.example`;
    const attributes: Record<string, unknown> = {
      name,
      email,
      industry: this.chance(0.8) ? base.industry : this.pick(INDUSTRIES),
      country: this.chance(0.5) ? base.country : this.pick(COUNTRIES),
      segment: this.chance(0.7) ? base.segment : this.pick(SEGMENTS),
      lifetime_value: this.chance(0.5) ? base.lifetime_value : this.money(50_000),
      signup_date: base.signup_date,
    };
    return this.entity('customer', 'erp', `E${i}`, attributes, email, null, []);
  }

  product(i: number): CanonicalEntity {
    const parent = i === 5 ? 'P6' : i === 6 ? 'P7' : i === 7 ? 'P5' // a cycle
      : i >= 250 && i < 256 ? 'P9999' // dangling
        : i >= 20 && i < 30 ? `P${300 + i}` // the parent arrives in a later transaction
          : i > 100 ? `P${(i % 100) + 1}` : undefined;
    const name = i > 200 && i % 7 === 0 ? `Widget ${this.word()}` : `${this.word()} ${this.word()}`;
    const attributes: Record<string, unknown> = {
      name,
      category: this.messy(this.pick(CATEGORIES), ['Hardware', '']),
      price: this.messy(this.money(2000), ['abc', '', ' 12.5 ', '1e3', -5, '0']),
      parent_product_id: parent,
    };
    // Two parents in one tree (P2 → P201 and P2 → P101 → P201): a node reached by two paths.
    const parents = i > 200 && i <= 205 ? [parent!, `P${100 + (i % 100)}`] : parent ? [parent] : [];
    return this.entity('product', 'erp', `P${i}`, attributes, null, null,
      parents.map((p) => ({ type: 'parent', targetEntityType: 'product', targetSourceSystem: 'erp', targetSourceId: p })));
  }

  orderDate(): unknown {
    const day = Date.UTC(2023, 0, 1) + Math.floor(this.r() * 940) * 86_400_000 + this.int(0, 86_399) * 1000;
    const iso = new Date(day).toISOString();
    const x = this.r();
    if (x < 0.55) return iso;
    if (x < 0.75) return iso.replace('T', ' ').slice(0, 19); // no offset: read in the session's time zone
    if (x < 0.85) return `${iso.slice(0, 19)}+05:30`;
    if (x < 0.9) return iso.slice(0, 10);
    if (x < 0.93) return this.pick(['2025-06-30T23:59:59Z', '2025-07-01T00:00:00Z', '2024-07-01 00:00:00', '2024-06-30T23:30:00-02:00', '2025-06-30']);
    if (x < 0.96) return this.pick(['not a date', '31/12/2024', '2024-13-01', '', 20240101]);
    return this.pick([null, undefined]);
  }

  order(i: number, customers: number, version = 0): CanonicalEntity {
    const customer = this.chance(0.03) ? `C9${i}` : this.chance(0.02) ? undefined : `C${this.int(1, customers)}`;
    const product = this.chance(0.05) ? undefined : `P${this.int(1, this.size.products + 10)}`;
    const attributes: Record<string, unknown> = {
      customer_id: customer,
      order_date: this.orderDate(),
      amount: this.messy(this.money(2000 + 500 * version), ['1e3', ' 12.5 ', '', 'abc', -20.5, '12,50', '0', 99999999.99, '0.001']),
      currency: this.messy(this.pick(['USD', 'USD', 'EUR', 'GBP']), ['usd', 'Eur', '']),
      status: this.chance(0.12) ? this.pick(ODD_STATUSES) : this.pick(STATUSES),
      product_id: product,
      quantity: this.messy(this.int(1, 5), ['2', 0, -1, 'x']),
    };
    const relationships: EntityRelationship[] = [];
    if (customer) relationships.push({ type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: customer });
    if (product) relationships.push({ type: 'contains', targetEntityType: 'product', targetSourceSystem: 'erp', targetSourceId: product });
    return this.entity('order', 'erp', `O${i}`, attributes, null, null, relationships);
  }

  healthReading(i: number): CanonicalEntity {
    const attributes: Record<string, unknown> = {
      patient_id: `PAT${this.int(1, 60)}`,
      measured_at: this.messy(new Date(Date.UTC(2025, 0, 1) + this.int(0, 150 * 86_400) * 1000).toISOString(), ['yesterday', '2025-13-01', '25/12/2024']),
      heart_rate: this.messy(this.int(40, 180), [300, 'fast', 10, '72']),
      systolic_bp: this.messy(this.int(90, 180), [20, 400]),
      diastolic_bp: this.messy(this.int(55, 110), [5]),
      temperature_c: this.messy(36 + this.money(3), [50, '37,2']),
      spo2: this.messy(this.int(88, 100), [101, 30.5]),
    };
    return this.entity('health_reading', 'health', `H${i}`, attributes, null, null, []);
  }

  private entity(
    entityType: string, sourceSystem: string, sourceId: string, raw: Record<string, unknown>,
    key: unknown, sourceUpdatedAt: string | null, relationships: EntityRelationship[],
  ): CanonicalEntity {
    // The mapping leaves out what the record does not have (undefined), and keeps nulls.
    const attributes = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
    const canonicalKey = key === undefined || key === null || key === '' ? null : String(key);
    return { entityType, sourceSystem, sourceId, canonicalKey, attributes, sourceUpdatedAt, relationships };
  }
}

/**
 * The data set as ingestion transactions, in order:
 * products (some parents come later), orders before their customers, the customers, the rest
 * (later customers, parents, more orders, health readings), then updates written from a session in
 * another time zone (new versions, customers changing segment and country, orders moving to another
 * customer or to none), then stale and repeated updates.
 */
export function generateDataSet(seed: number, size: DataSetSize = DEFAULT_SIZE): WriteBatch[] {
  const g = new Generator(seed, size);
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);
  const firstCustomers = Math.floor(size.crmCustomers * 0.8);
  const firstOrders = Math.floor(size.orders * 0.4);

  const products = range(1, size.products - 50).map((i) => g.product(i));
  const earlyOrders = range(1, firstOrders).map((i) => g.order(i, size.crmCustomers));
  const crm = new Map(range(1, size.crmCustomers).map((i) => [i, g.customer(i, '2025-01-01T00:00:00Z')]));
  // A customer cycle, a self-parent and two customers sharing one e-mail in the same system.
  const withParent = (i: number, parent: string) => {
    const c = crm.get(i)!;
    crm.set(i, { ...c, attributes: { ...c.attributes, parent_customer_id: parent }, relationships: [{ type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: parent }] });
  };
  withParent(1, 'C2');
  withParent(2, 'C3');
  withParent(3, 'C1');
  withParent(10, 'C10');
  const [c11, c12] = [crm.get(11)!, crm.get(12)!];
  crm.set(12, { ...c12, canonicalKey: c11.canonicalKey, attributes: { ...c12.attributes, email: c11.attributes.email } });
  const erp = range(1, size.erpCustomers).map((i) => g.erpCustomer(i, crm.get(i * 5)));

  const customerUpdates = range(1, Math.floor(size.crmCustomers / 6)).map((k) => k * 5 - 2)
    .map((i) => g.customer(i, '2025-03-01T00:00:00Z', 1));
  const movedOrders = range(1, Math.floor(size.orders / 10)).map((k) => g.order(k * 7, size.crmCustomers, 1));
  const updates: CanonicalEntity[] = [
    ...customerUpdates,
    ...range(1, 40).map((i) => g.erpCustomer(i, crm.get(i * 5))),
    ...movedOrders,
    // the same key twice in one call: the last one wins
    g.order(14, size.crmCustomers, 2), g.order(14, size.crmCustomers, 3),
    ...range(size.products - 80, size.products - 60).map((i) => g.product(i)),
    ...range(1, 40).map((i) => g.healthReading(i * 3)),
  ];
  const stale = customerUpdates.slice(0, 30).map((c) => ({
    ...c, attributes: { ...c.attributes, segment: 'stale-and-ignored' }, sourceUpdatedAt: '2024-12-01T00:00:00Z',
  }));
  const repeated = [...crm.values()].slice(100, 150).filter((c) => !customerUpdates.some((u) => u.sourceId === c.sourceId));

  return [
    { label: 'products, some parents missing until later', entities: products },
    { label: 'orders before their customers', entities: earlyOrders, timeZone: 'Asia/Kolkata' },
    { label: 'customers (CRM, first part) and their ERP copies', entities: [...range(1, firstCustomers).map((i) => crm.get(i)!), ...erp] },
    {
      label: 'later customers, late parents, more orders, health readings',
      entities: [
        ...range(firstCustomers + 1, size.crmCustomers).map((i) => crm.get(i)!),
        ...range(size.products - 49, size.products).map((i) => g.product(i)),
        ...range(firstOrders + 1, size.orders).map((i) => g.order(i, size.crmCustomers)),
        ...range(1, size.healthReadings).map((i) => g.healthReading(i)),
      ],
    },
    { label: 'updates: new versions, segment and country changes, orders moved', entities: updates, timeZone: 'America/New_York' },
    { label: 'stale updates (not applied) and unchanged re-sends', entities: [...stale, ...repeated] },
  ];
}

/**
 * Writes batches through the shipped write path, one transaction each, with a data generation bump,
 * each followed by the typed storage's refresh as the IngestionPipeline runs it after its commit
 * (when the store has one: a store at an older schema has not).
 */
export async function writeBatches(writer: Pool, batches: readonly WriteBatch[]): Promise<void> {
  for (const batch of batches) {
    const client = await writer.connect();
    try {
      await client.query('BEGIN');
      if (batch.timeZone) await client.query(`SET LOCAL TimeZone = '${batch.timeZone}'`);
      const result = await upsertEntities(client, batch.entities);
      if (result.rejected.length > 0) throw new Error(`${batch.label}: ${result.rejected.length} entities rejected: ${result.rejected[0].reason}`);
      if (result.inserted + result.updated > 0) await bumpDataGeneration(client);
      await client.query('COMMIT');
      const { rows: [{ typed }] } = await client.query("SELECT to_regprocedure('canonical.refresh_typed_storage()') IS NOT NULL AS typed");
      if (typed) await refreshTypedStorage(client);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
