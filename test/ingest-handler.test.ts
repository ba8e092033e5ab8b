/**
 * The ingest handler end to end: real PostgreSQL (writer login), s3rver, local EventBridge.
 * CRM JSON, ERP NDJSON (orders pointing at CRM customers) and a health CSV, checked back.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { BUCKET, EVENT_BUS, IngestHarness, startIngestHarness } from './support/ingest-harness';
import {
  countsImbalance, INGESTION_EVENT_SOURCE, INGESTION_FAILED_SCHEMA, INGESTION_MANIFEST_SCHEMA, INGESTION_SUCCEEDED_SCHEMA, IngestionManifest,
} from '../lambda/shared/ingestion-contract';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, 'fixtures', 'ingest', name));
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const validSucceeded = ajv.compile(INGESTION_SUCCEEDED_SCHEMA);
const validFailed = ajv.compile(INGESTION_FAILED_SCHEMA);
const validManifest = ajv.compile(INGESTION_MANIFEST_SCHEMA);

describe('ingest handler: the built-in CRM, ERP and health sources', () => {
  let h: IngestHarness;

  beforeAll(async () => {
    h = await startIngestHarness([
      BuiltInSources.crmCustomers(), BuiltInSources.erpOrders(), BuiltInSources.erpProducts(), BuiltInSources.healthReadings(),
    ]);
  });
  afterAll(async () => h.close());

  async function manifestOf(runKey: string): Promise<IngestionManifest> {
    const manifest = JSON.parse(await h.getText(runKey));
    expect(validManifest(manifest)).toBe(true);
    expect(countsImbalance(manifest.counts)).toBe(0);
    return manifest;
  }

  test('a CRM JSON array is validated, mapped and upserted; rejects carry every reason', async () => {
    await h.put('crm-data/2024/customers export.json', fixture('crm-customers.json'));
    const response = await h.deliver('crm-data/2024/customers export.json', { eventTime: '2024-03-05T10:00:00Z' });
    expect(response.batchItemFailures).toEqual([]);

    const event = h.eventBridge.events.find((e) => e.detailType === 'Ingestion Succeeded' && e.detail.sourceName === 'crm-customers')!;
    expect(event).toBeDefined();
    expect(event.source).toBe(INGESTION_EVENT_SOURCE);
    expect(event.eventBusName).toBe(EVENT_BUS);
    expect(validSucceeded(event.detail)).toBe(true);
    expect(event.detail).toMatchObject({
      schemaVersion: '1.0',
      sourceSystem: 'crm',
      entityType: 'customer',
      bucket: 'raw-data',
      objectKey: 'crm-data/2024/customers export.json',
      counts: { received: 5, inserted: 3, updated: 0, unchanged: 0, stale: 0, notLoaded: 0, rejected: 2, duplicates: 0 },
      dataGeneration: 1,
      loadToStore: true,
      forced: false,
      personalDataFields: ['name', 'email'],
    });
    expect(event.detail.manifestKey).toBe(`manifests/crm-customers/2024/03/05/${event.detail.runId}.json`);
    expect(event.detail.sha256).toBe(createHash('sha256').update(fixture('crm-customers.json')).digest('hex'));

    const { rows } = await h.db.pool.query('SELECT source_id, canonical_key, name, email, country, segment, lifetime_value, signup_date::text, version FROM canonical.customers ORDER BY source_id');
    expect(rows).toEqual([
      { source_id: '3', canonical_key: 'info@globex.example', name: 'Globex', email: 'info@globex.example', country: 'US', segment: 'unknown', lifetime_value: '980000', signup_date: '2019-11-30', version: 1 },
      { source_id: 'C001', canonical_key: 'ops@acme.example', name: 'Acme Manufacturing', email: 'ops@acme.example', country: 'DE', segment: 'enterprise', lifetime_value: '125000.5', signup_date: '2021-03-15', version: 1 },
      { source_id: 'C002', canonical_key: 'logistics@acme.example', name: 'Acme Logistics', email: 'logistics@acme.example', country: 'DE', segment: 'mid-market', lifetime_value: '48000', signup_date: '2022-07-01', version: 1 },
    ]);
    const rel = await h.db.pool.query("SELECT rel_type, from_source_id, to_entity_type, to_source_system, to_source_id FROM canonical.relationships WHERE from_entity_type = 'customer'");
    expect(rel.rows).toEqual([{ rel_type: 'parent', from_source_id: 'C002', to_entity_type: 'customer', to_source_system: 'crm', to_source_id: 'C001' }]);

    const manifest = await manifestOf(event.detail.manifestKey);
    expect(manifest.status).toBe('succeeded');
    expect(manifest.rejectionReasons).toEqual({
      'schema: email must be a valid email': 1,
      'schema: name is required': 1,
      'schema: lifetime_value must be >= 0': 1,
    });
    const processed = await h.getJsonLines(event.detail.processedKey);
    expect(processed.map((p) => p.sourceId)).toEqual(['C001', 'C002', '3']);
    expect(processed[1]).toMatchObject({
      entityType: 'customer',
      sourceSystem: 'crm',
      canonicalKey: 'logistics@acme.example',
      recordNumber: 2,
      relationships: [{ type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: 'C001' }],
    });
    const rejected = await h.getJsonLines(event.detail.rejectedKey);
    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatchObject({ recordNumber: 4, line: null, disposition: 'rejected', reasons: [{ code: 'schema', message: 'email must be a valid email', field: 'email' }] });
    expect(JSON.parse(rejected[0].original).customer_id).toBe('C004');
    expect(rejected[1].reasons.map((r: any) => r.message).sort()).toEqual(['lifetime_value must be >= 0', 'name is required']);

    const run = await h.db.pool.query('SELECT status, received, inserted, rejected, manifest_key, notified_at IS NOT NULL AS notified FROM canonical.ingestion_runs WHERE run_id = $1', [event.detail.runId]);
    expect(run.rows[0]).toMatchObject({ status: 'succeeded', received: '5', inserted: '3', rejected: '2', manifest_key: event.detail.manifestKey, notified: true });
  });

  test('ERP products and NDJSON orders link to CRM customers; bad lines are set aside with their line numbers', async () => {
    await h.put('erp-data/products/products.ndjson', fixture('erp-products.ndjson'));
    expect((await h.deliver('erp-data/products/products.ndjson')).batchItemFailures).toEqual([]);
    await h.put('erp-data/orders/2024-01.ndjson', fixture('erp-orders.ndjson'));
    expect((await h.deliver('erp-data/orders/2024-01.ndjson')).batchItemFailures).toEqual([]);

    const event = h.eventBridge.events.find((e) => e.detail.sourceName === 'erp-orders')!;
    expect(validSucceeded(event.detail)).toBe(true);
    expect(event.detail.counts).toEqual({ received: 6, inserted: 3, updated: 0, unchanged: 0, stale: 0, notLoaded: 0, rejected: 3, duplicates: 0 });
    expect(event.detail.dataGeneration).toBe(3);

    const { rows } = await h.db.pool.query(`
      SELECT o.source_id, o.amount, o.currency, o.quantity, o.order_date, c.name AS customer, p.name AS product
      FROM canonical.orders o
      JOIN canonical.relationships r ON r.from_entity_type = 'order' AND r.from_source_id = o.source_id AND r.rel_type = 'placed_by'
      JOIN canonical.customers c ON c.source_system = r.to_source_system AND c.source_id = r.to_source_id
      LEFT JOIN canonical.products p ON p.source_id = o.product_id
      ORDER BY o.source_id`);
    expect(rows.map((r) => [r.source_id, r.amount, r.currency, r.quantity, r.order_date.toISOString(), r.customer, r.product])).toEqual([
      ['O-1001', '1500.25', 'EUR', '3', '2024-01-15T10:00:00.000Z', 'Acme Manufacturing', 'Widget'],
      ['O-1002', '99.9', 'EUR', '1', '2024-01-16T11:30:00.000Z', 'Acme Logistics', 'Widget Pro'],
      ['O-1003', '25000', 'USD', '10', '2024-01-17T09:15:00.000Z', 'Globex', 'Widget'],
    ]);
    const rejected = await h.getJsonLines(event.detail.rejectedKey);
    expect(rejected.map((r) => [r.line, r.reasons.map((x: any) => x.code).join(',')])).toEqual([
      [5, 'transform'], [6, 'schema'], [7, 'invalid_json'],
    ]);
    expect(rejected[0].reasons[0].message).toBe('order_date is not a valid date in the format yyyy-MM-dd HH:mm:ss');
    expect(rejected[1].reasons[0].message).toMatch(/^status must be one of "open"/);
    expect(rejected[2].original).toContain('"order_id": "O-1006"');
  });

  test('a health CSV (validate and split only) writes processed and rejected output and loads nothing', async () => {
    const before = await h.db.pool.query('SELECT generation FROM canonical.data_generation');
    await h.put('health/raw/2024-03-01.csv', fixture('health-readings.csv'));
    expect((await h.deliver('health/raw/2024-03-01.csv')).batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detail.sourceName === 'health-readings')!;
    expect(validSucceeded(event.detail)).toBe(true);
    expect(event.detail).toMatchObject({
      loadToStore: false,
      dataGeneration: null,
      counts: { received: 6, inserted: 0, updated: 0, unchanged: 0, stale: 0, notLoaded: 3, rejected: 3, duplicates: 0 },
    });
    expect((await h.db.pool.query("SELECT count(*)::int AS n FROM canonical.entities WHERE entity_type = 'health_reading'")).rows[0].n).toBe(0);
    expect((await h.db.pool.query('SELECT generation FROM canonical.data_generation')).rows).toEqual(before.rows);

    const processed = await h.getJsonLines(event.detail.processedKey);
    expect(processed.map((p) => [p.sourceId, p.attributes])).toEqual([
      ['R1', { patient_id: 'P001', measured_at: '2024-03-01T08:00:00.000Z', heart_rate: 72, systolic_bp: 120, diastolic_bp: 80, temperature_c: 36.6, spo2: 98 }],
      ['R2', { patient_id: 'P001', measured_at: '2024-03-01T12:00:00.000Z', heart_rate: 190, systolic_bp: 160, diastolic_bp: 100, temperature_c: 38.9, spo2: 91 }],
      ['R4', { patient_id: 'P002', measured_at: '2024-03-01T08:10:00.000Z', heart_rate: 65, systolic_bp: 118, temperature_c: 36.4, spo2: 97 }],
    ]);
    const rejected = await h.getJsonLines(event.detail.rejectedKey);
    expect(rejected.map((r) => [r.line, r.reasons[0].message])).toEqual([
      [4, 'heart_rate must be <= 300'],
      [6, 'measured_at must be a valid date-time'],
      [7, 'row has fewer columns than the header (8)'],
    ]);
    expect(rejected[0].original).toBe('R3,P002,2024-03-01T08:05:00Z,400,120,80,36.6,98');
    const manifest = await manifestOf(event.detail.manifestKey);
    expect(manifest.source).toEqual({ name: 'health-readings', sourceSystem: 'health', entityType: 'health_reading', format: 'csv', loadToStore: false, personalDataFields: ['patient_id'] });
  });

  test('a file that cannot be read is a rejected run: manifest with the reason, a failure event, no retry', async () => {
    await h.put('crm-data/latin1.json', Buffer.from('[{"customer_id": "X1", "name": "M\xfcller"}]', 'latin1'));
    const response = await h.deliver('crm-data/latin1.json');
    expect(response.batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detailType === 'Ingestion Failed' && e.detail.objectKey === 'crm-data/latin1.json')!;
    expect(validFailed(event.detail)).toBe(true);
    expect(event.detail).toMatchObject({ final: true, error: { code: 'not_utf8' }, counts: { inserted: 0, notLoaded: 0 } });
    expect(event.detail.counts.rejected).toBe(event.detail.counts.received);
    const manifest = await manifestOf(event.detail.manifestKey);
    expect(manifest).toMatchObject({ status: 'rejected', error: { code: 'not_utf8' }, outputs: { processedKey: null } });
    expect((await h.db.pool.query("SELECT count(*)::int AS n FROM canonical.entities WHERE source_id = 'X1'")).rows[0].n).toBe(0);
  });

  test('a JSON array cut off: the complete records load, the cut one is one rejection; deterministic counts', async () => {
    await h.put('crm-data/broken.json', '[{"customer_id": "X1", "name": "Complete"}, {"customer_id": "X2", "na');
    expect((await h.deliver('crm-data/broken.json')).batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detail.objectKey === 'crm-data/broken.json')!;
    expect(event.detailType).toBe('Ingestion Succeeded');
    expect(validSucceeded(event.detail)).toBe(true);
    expect(event.detail.counts).toMatchObject({ received: 2, inserted: 1, rejected: 1 });
    const manifest = await manifestOf(event.detail.manifestKey);
    expect(manifest.rejectionReasons).toEqual({ [Object.keys(manifest.rejectionReasons)[0]]: 1 });
    expect(Object.keys(manifest.rejectionReasons)[0]).toMatch(/^truncated: the JSON document ends early \(truncated upload\?\): everything from byte 42, just after the last complete record/);
    const rejected = await h.getJsonLines(event.detail.rejectedKey);
    expect(rejected).toEqual([expect.objectContaining({ recordNumber: 2, byteOffset: 42, original: '{"customer_id": "X2", "na' })]);
  });

  test('large JSON arrays and CSV files stream across many chunks (records split at chunk boundaries)', async () => {
    const n = 6_000; // ~0.6 MB of JSON: dozens of 64 KiB chunks
    const customers = Array.from({ length: n }, (_, i) => ({
      customer_id: `S${i}`, name: i === 4_321 ? '' : `Streamed ${i} ${'ü'.repeat(i % 7)}`, email: `s${i}@example.com`, lifetime_value: i,
    }));
    await h.put('crm-data/streamed.json', JSON.stringify(customers, null, 1));
    expect((await h.deliver('crm-data/streamed.json')).batchItemFailures).toEqual([]);
    const json = h.eventBridge.events.find((e) => e.detail.objectKey === 'crm-data/streamed.json')!.detail;
    expect(json.counts).toMatchObject({ received: n, inserted: n - 1, rejected: 1 });
    expect((await h.getJsonLines(json.rejectedKey))[0]).toMatchObject({ recordNumber: 4_322, reasons: [{ message: 'name must NOT have fewer than 1 characters' }] });

    const rows = Array.from({ length: n }, (_, i) => `H${i},P${i % 50},2024-03-01T08:00:00Z,${60 + (i % 40)},120,80,36.6,98`);
    rows[777] = 'H777,"P\n7\n77",2024-03-01T08:00:00Z,61,120,80,36.6,98';
    await h.put('health/raw/streamed.csv', `reading_id,patient_id,measured_at,heart_rate,systolic_bp,diastolic_bp,temperature_c,spo2\n${rows.join('\n')}\n`);
    expect((await h.deliver('health/raw/streamed.csv')).batchItemFailures).toEqual([]);
    const csv = h.eventBridge.events.find((e) => e.detail.objectKey === 'health/raw/streamed.csv')!.detail;
    expect(csv.counts).toMatchObject({ received: n, notLoaded: n, rejected: 0 });
    const processed = await h.getJsonLines(csv.processedKey);
    expect(processed[777].attributes.patient_id).toBe('P\n7\n77');
    expect(processed[n - 1]).toMatchObject({ sourceId: `H${n - 1}`, recordNumber: n });
  });

  test('outputs are gzipped when compression is on', async () => {
    process.env.OUTPUT_COMPRESSION = 'gzip';
    try {
      await h.put('erp-data/products/gzip.ndjson', '{"sku": "GZ-1", "name": "Zipped"}\n{"sku": "GZ-2"}\n');
      expect((await h.deliver('erp-data/products/gzip.ndjson')).batchItemFailures).toEqual([]);
    } finally {
      delete process.env.OUTPUT_COMPRESSION;
    }
    const detail = h.eventBridge.events.find((e) => e.detail.objectKey === 'erp-data/products/gzip.ndjson')!.detail;
    expect(detail.processedKey).toMatch(/\.ndjson\.gz$/);
    expect(detail.rejectedKey).toMatch(/\.ndjson\.gz$/);
    const body = await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: detail.processedKey }));
    const lines = gunzipSync(Buffer.from(await body.Body!.transformToByteArray())).toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ sourceId: 'GZ-1', attributes: { name: 'Zipped' } })]);
    const manifest = JSON.parse(await h.getText(detail.manifestKey));
    expect(manifest.outputs.compression).toBe('gzip');
  });

  test('an object key with spaces and unicode arrives URL-encoded and is decoded', async () => {
    const key = 'erp-data/products/Übersicht März+Q1.ndjson';
    await h.put(key, '{"sku": "SKU-9", "name": "Gadget"}\n');
    expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detail.objectKey === key)!;
    expect(event.detail.counts.inserted).toBe(1);
  });
});
