/**
 * Regenerates the sample data of the example (deterministic: a seeded generator, fixed dates).
 *
 *   npx ts-node --project tsconfig.dev.json examples/sample-data/generate.ts
 *
 * customer-data.json   CRM export (JSON array) for `crm-data/`: 40 customers in a small hierarchy,
 *                      one near-duplicate across spellings, one invalid record (negative lifetime value)
 * erp-products.ndjson  ERP products for `erp-data/products/`: 12 products in two levels
 * erp-orders.ndjson    ERP orders for `erp-data/orders/`: 2024 (as_of 2024-12-31), a December peak,
 *                      one order of an unknown customer (an orphan) and one invalid record
 * health-readings.csv  device readings for `health/raw/`: 120 rows, some clinically abnormal but
 *                      plausible (the analyzer flags them), 8 invalid (the ingestion rejects them)
 */
import * as fs from 'fs';
import * as path from 'path';

let seed = 20240101;
/** Park-Miller: the same files on every run. */
function random(): number {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const between = (min: number, max: number): number => min + random() * (max - min);
const pad = (n: number, width = 3): string => String(n).padStart(width, '0');
const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');

const INDUSTRIES = ['technology', 'healthcare', 'manufacturing', 'retail', 'finance', 'energy'];
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'JP', 'CA'];
const SEGMENTS = ['enterprise', 'mid-market', 'smb'];
const NAMES = [
  'Acme Corporation', 'Acme Logistics', 'Acme Health', 'Globex', 'Initech', 'Umbrella Pharma', 'Stark Industries',
  'Wayne Enterprises', 'Wonka Foods', 'Tyrell Systems', 'Cyberdyne', 'Soylent Retail', 'Hooli', 'Pied Piper',
  'Vandelay Imports', 'Gringotts Finance', 'Oscorp Energy', 'Massive Dynamic', 'Aperture Labs', 'Black Mesa',
  'Nakatomi Trading', 'Virtucon', 'Monarch Solar', 'Blue Sun', 'Dunder Mifflin', 'Sterling Cooper',
  'Prestige Worldwide', 'Bluth Company', 'Los Pollos Hermanos', 'Kramerica', 'Contoso Clinics', 'Fabrikam',
  'Northwind Traders', 'Tailspin Toys', 'Woodgrove Bank', 'Litware', 'Adventure Works', 'Proseware',
  'Lucerne Publishing', 'ACME Corp.',
];

function customers(): object[] {
  const rows: Array<Record<string, unknown>> = NAMES.map((name, i) => {
    const id = `C${pad(i + 1)}`;
    const segment = i < 8 ? 'enterprise' : pick(SEGMENTS);
    const scale = segment === 'enterprise' ? 400_000 : segment === 'mid-market' ? 80_000 : 15_000;
    const signup = new Date(Date.UTC(2019 + Math.floor(random() * 5), Math.floor(random() * 12), 1 + Math.floor(random() * 28)));
    return {
      customer_id: id,
      name,
      email: `contact@${name.toLowerCase().replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '')}.example`,
      industry: i === 2 || i === 30 ? 'healthcare' : pick(INDUSTRIES),
      country: pick(COUNTRIES),
      segment,
      lifetime_value: Math.round(between(0.3, 1.5) * scale * 100) / 100,
      signup_date: signup.toISOString().slice(0, 10),
      parent_customer_id: null as string | null,
      updated_at: iso(new Date(Date.UTC(2024, 11, 1 + (i % 28), 8, 0, 0))),
    };
  });
  // A small hierarchy: Acme Corporation owns Acme Logistics and Acme Health; Acme Health owns Contoso Clinics.
  rows[1].parent_customer_id = 'C001';
  rows[2].parent_customer_id = 'C001';
  rows[30].parent_customer_id = 'C003';
  // "ACME Corp." is the same company as "Acme Corporation" typed differently: a fuzzy duplicate.
  rows[39].email = 'Contact@Acme-Corporation.example';
  // An invalid record: rejected with its reason (negative lifetime value).
  rows.push({ customer_id: 'C041', name: 'Broken Record Ltd', email: 'ops@broken.example', country: 'US', lifetime_value: -250 });
  return rows;
}

const PRODUCTS = [
  { sku: 'SKU-100', name: 'Analytics Platform', category: 'software', price: 12000 },
  { sku: 'SKU-101', name: 'Analytics Platform - Seat', category: 'software', price: 450, parent_sku: 'SKU-100' },
  { sku: 'SKU-102', name: 'Analytics Platform - Storage TB', category: 'software', price: 300, parent_sku: 'SKU-100' },
  { sku: 'SKU-200', name: 'Edge Gateway', category: 'hardware', price: 2400 },
  { sku: 'SKU-201', name: 'Edge Sensor', category: 'hardware', price: 180, parent_sku: 'SKU-200' },
  { sku: 'SKU-202', name: 'Edge Sensor Pro', category: 'hardware', price: 320, parent_sku: 'SKU-200' },
  { sku: 'SKU-300', name: 'Support Plan', category: 'services', price: 5000 },
  { sku: 'SKU-301', name: 'Onboarding Workshop', category: 'services', price: 1800, parent_sku: 'SKU-300' },
  { sku: 'SKU-302', name: 'Premium Support Add-on', category: 'services', price: 2500, parent_sku: 'SKU-300' },
  { sku: 'SKU-400', name: 'Vital Signs Monitor', category: 'medical', price: 3900 },
  { sku: 'SKU-401', name: 'Pulse Oximeter', category: 'medical', price: 85, parent_sku: 'SKU-400' },
  { sku: 'SKU-402', name: 'Blood Pressure Cuff', category: 'medical', price: 140, parent_sku: 'SKU-400' },
];

function orders(): object[] {
  const rows: object[] = [];
  const currency = (country: string): string => ({ DE: 'EUR', FR: 'EUR', GB: 'GBP', JP: 'JPY', CA: 'CAD' } as Record<string, string>)[country] ?? 'USD';
  const custs = customers().slice(0, 40) as Array<{ customer_id: string; country: string; segment: string }>;
  for (let i = 1; i <= 300; i++) {
    // More orders late in the year (a December peak) and from enterprise customers.
    const month = Math.min(11, Math.floor(Math.pow(random(), 0.8) * 12));
    const day = 1 + Math.floor(random() * 28);
    const customer = random() < 0.35 ? custs[Math.floor(random() * 8)] : pick(custs);
    const product = pick(PRODUCTS);
    const quantity = 1 + Math.floor(random() * (product.price > 1000 ? 3 : 40));
    const status = pick(['paid', 'paid', 'paid', 'shipped', 'shipped', 'open', 'cancelled', 'returned']);
    const date = new Date(Date.UTC(2024, month, day, 8 + Math.floor(random() * 10), Math.floor(random() * 60), 0));
    rows.push({
      order_id: `ORD-${pad(i, 5)}`,
      customer_ref: customer.customer_id,
      product_ref: product.sku,
      order_date: date.toISOString().slice(0, 19).replace('T', ' '),
      total: { amount: Math.round(product.price * quantity * between(0.85, 1) * 100) / 100, currency: currency(customer.country) },
      status,
      quantity,
      modified_at: iso(new Date(date.getTime() + 3600_000)),
    });
  }
  // An order whose customer the CRM does not know (an orphan for data_integrity_analysis).
  rows.push({
    order_id: 'ORD-00301',
    customer_ref: 'C999',
    product_ref: 'SKU-300',
    order_date: '2024-12-20 10:00:00',
    total: { amount: 5000, currency: 'USD' },
    status: 'paid',
    quantity: 1,
  });
  // An invalid record: the date is not in the ERP's format.
  rows.push({ order_id: 'ORD-00302', customer_ref: 'C004', product_ref: 'SKU-201', order_date: '20/12/2024', total: { amount: 180, currency: 'USD' }, status: 'paid', quantity: 1 });
  return rows;
}

function healthReadings(): string {
  const lines = ['reading_id,patient_id,measured_at,heart_rate,systolic_bp,diastolic_bp,temperature_c,spo2'];
  const patients = ['P001', 'P002', 'P003', 'P004', 'P005', 'P006'];
  for (let i = 1; i <= 112; i++) {
    const patient = patients[(i - 1) % patients.length];
    const at = new Date(Date.UTC(2024, 11, 30, 6, 0, 0) + i * 15 * 60_000);
    let hr = Math.round(between(60, 95));
    let sys = Math.round(between(110, 135));
    let dia = Math.round(between(70, 88));
    let temp = Math.round(between(36.2, 37.2) * 10) / 10;
    let spo2 = Math.round(between(95, 99.5));
    // Clinically abnormal but physically plausible: the analyzer's thresholds flag these.
    if (i === 17) hr = 186;
    if (i === 41) { spo2 = 88; hr = 118; }
    if (i === 64) { sys = 182; dia = 112; }
    if (i === 77) temp = 39.6;
    if (i === 95) hr = 38;
    lines.push([`R${pad(i, 4)}`, patient, iso(at), hr, sys, dia, temp, spo2].join(','));
  }
  // Invalid rows: the ingestion rejects each with its reason.
  lines.push(
    'R0113,P001,2024-12-31T10:00:00Z,400,120,80,36.6,98', //        heart rate beyond the physical range
    'R0114,P002,not-a-time,72,120,80,36.6,98', //                   measured_at is not a date-time
    'R0115,,2024-12-31T10:10:00Z,70,118,76,36.8,97', //             patient_id missing
    'R0116,P003,2024-12-31T10:15:00Z,seventy,118,76,36.8,97', //    heart rate is not a number
    'R0117,P004,2024-12-31T10:20:00Z,72,120,80,36.6,104', //        SpO2 above 100 %
    'R0118,P005,2024-12-31T10:25:00Z,72,120,80,52.0,97', //         temperature beyond the physical range
    'R0119,P006,2024-12-31T10:30:00Z,72,120', //                    missing columns
    ',P001,2024-12-31T10:35:00Z,72,120,80,36.6,98', //              reading_id missing
  );
  return lines.join('\n') + '\n';
}

const dir = __dirname;
fs.writeFileSync(path.join(dir, 'customer-data.json'), '[\n' + customers().map((c) => '  ' + JSON.stringify(c)).join(',\n') + '\n]\n');
fs.writeFileSync(path.join(dir, 'erp-products.ndjson'), PRODUCTS.map((p) => JSON.stringify(p)).join('\n') + '\n');
fs.writeFileSync(path.join(dir, 'erp-orders.ndjson'), orders().map((o) => JSON.stringify(o)).join('\n') + '\n');
fs.writeFileSync(path.join(dir, 'health-readings.csv'), healthReadings());
