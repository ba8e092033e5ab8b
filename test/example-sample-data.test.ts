/**
 * The example's sample data (examples/sample-data) through the real ingest handler with the
 * example's sources (real PostgreSQL, s3rver, local EventBridge): what the README's demo shows
 * after the uploads — the counts of each file, the rejected rows and why, the stored entities.
 */
import * as fs from 'fs';
import * as path from 'path';
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

const SAMPLE = path.join(__dirname, '..', 'examples', 'sample-data');

/** The README's upload commands: local file → key in the raw bucket. */
const UPLOADS: Array<[file: string, key: string]> = [
  ['customer-data.json', 'crm-data/customer-data.json'],
  ['erp-products.ndjson', 'erp-data/products/erp-products.ndjson'],
  ['erp-orders.ndjson', 'erp-data/orders/erp-orders.ndjson'],
  ['health-readings.csv', 'health/raw/health-readings.csv'],
];

describe('the sample data through the example\'s sources', () => {
  let h: IngestHarness;
  const counts: { [source: string]: any } = {};

  beforeAll(async () => {
    h = await startIngestHarness([
      BuiltInSources.crmCustomers(), BuiltInSources.erpOrders(), BuiltInSources.erpProducts(), BuiltInSources.healthReadings(),
    ]);
    for (const [file, key] of UPLOADS) {
      await h.put(key, fs.readFileSync(path.join(SAMPLE, file)));
      expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    }
    for (const e of h.eventBridge.events.filter((ev) => ev.detailType === 'Ingestion Succeeded')) counts[e.detail.sourceName] = e.detail.counts;
  }, 120_000);
  afterAll(async () => h?.close());

  test('every file succeeds with the counts the README shows', () => {
    expect(h.eventBridge.events.filter((e) => e.detailType === 'Ingestion Failed')).toEqual([]);
    expect(counts['crm-customers']).toMatchObject({ received: 41, inserted: 40, rejected: 1 });
    expect(counts['erp-products']).toMatchObject({ received: 12, inserted: 12, rejected: 0 });
    expect(counts['erp-orders']).toMatchObject({ received: 302, inserted: 301, rejected: 1 });
    expect(counts['health-readings']).toMatchObject({ received: 120, notLoaded: 112, rejected: 8, inserted: 0 });
  });

  test('the rejected records say why', async () => {
    const rejectedKeys = await h.list('rejected/');
    const rejected = (await Promise.all(rejectedKeys.map((k) => h.getJsonLines(k)))).flat();
    expect(rejected).toHaveLength(10);
    const text = JSON.stringify(rejected);
    for (const id of ['C041', 'ORD-00302', 'R0113', 'R0114', 'R0115', 'R0116', 'R0117', 'R0118', 'R0119']) expect(text).toContain(id);
  });

  test('the store holds the CRM and ERP entities (not the health readings), orders linked to customers', async () => {
    const { rows } = await h.db.pool.query(`
      SELECT entity_type, count(*)::int AS n FROM canonical.entities GROUP BY 1 ORDER BY 1`);
    expect(rows).toEqual([{ entity_type: 'customer', n: 40 }, { entity_type: 'order', n: 301 }, { entity_type: 'product', n: 12 }]);
  });
});
