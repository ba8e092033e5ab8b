/**
 * The ingest handler when a source's idNormalization changes: the store records the normalisation
 * that keyed its entities (canonical.source_id_normalization), a source that differs is set aside
 * (final, nothing loaded) until it declares the re-key (rekeyIdsFrom), a re-key that would merge
 * stored entities is refused with examples, and a declared re-key runs in the next run's transaction.
 * One harness per file (the handler module and its pools are loaded once). Real PostgreSQL,
 * s3rver, local EventBridge.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { customersSource, ndjson } from './support/id-normalization-sources';
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { renderSourcesConfig, validateSources } from '../src/ingestion-pipeline/source-config';
import { IdNormalization, InputFormat, SourceDefinition } from '../src/ingestion-pipeline/source-definition';


describe('ingest handler: a changed idNormalization is refused until the re-key is declared', () => {
  const customers = customersSource;
  const orders: SourceDefinition = {
    name: 'orders',
    prefix: 'ord/',
    sourceSystem: 'erp',
    entityType: 'order',
    format: InputFormat.NDJSON,
    sourceIdField: 'order_id',
    fields: [{ source: 'customer', target: 'customer_id' }],
    relationships: [{ attribute: 'customer_id', type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm' }],
  };
  let h: IngestHarness;
  let configDir: string;
  let n = 0;

  /** What a redeploy with other source definitions does: the handler reads another sources.json. */
  function deploy(sources: SourceDefinition[]): void {
    validateSources(sources);
    const file = path.join(configDir, `sources-${++n}.json`);
    fs.writeFileSync(file, JSON.stringify(renderSourcesConfig(sources)));
    process.env.SOURCES_CONFIG_PATH = file;
  }
  async function ingest(key: string, ...records: unknown[]) {
    await h.put(key, ndjson(...records));
    expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    return h.eventBridge.events.find((e) => e.detail.objectKey === key)!;
  }
  const customerIds = async () => (await h.db.pool.query("SELECT source_id FROM canonical.entities WHERE entity_type = 'customer' ORDER BY source_id")).rows.map((r) => r.source_id);
  const recorded = async () => (await h.db.pool.query("SELECT id_normalization FROM canonical.source_id_normalization WHERE entity_type = 'customer'")).rows[0]?.id_normalization;

  beforeAll(async () => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-rekey-'));
    h = await startIngestHarness([customers(), orders]);
  });
  afterAll(async () => {
    await h.close();
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  test('TRIM (the default) keeps case: C1 and c1 are two customers; the store records trim', async () => {
    expect((await ingest('cust/1.ndjson', { id: 'C1', name: 'a' }, { id: 'c1', name: 'b' }, { id: ' D2 ', name: 'd' })).detailType).toBe('Ingestion Succeeded');
    expect((await ingest('ord/1.ndjson', { order_id: 'O1', customer: 'D2' })).detailType).toBe('Ingestion Succeeded');
    expect(await customerIds()).toEqual(['C1', 'D2', 'c1']);
    expect(await recorded()).toBe('trim');
  });

  test('another idNormalization without rekeyIdsFrom: the file is set aside, final, nothing loaded', async () => {
    deploy([customers(IdNormalization.TRIM_AND_LOWERCASE), orders]);
    const event = await ingest('cust/2.ndjson', { id: 'E5', name: 'e' });
    expect(event.detailType).toBe('Ingestion Failed');
    expect(event.detail).toMatchObject({ final: true, error: { code: 'id_normalization_changed' } });
    expect(event.detail.error.message).toBe('Source "customers" normalises ids with TRIM_AND_LOWERCASE, has no rekeyIdsFrom, and the stored customer entities of crm '
      + 'were keyed with TRIM: set rekeyIdsFrom: TRIM to re-key them, or idNormalization back to TRIM; then re-ingest this file (forced). Nothing was loaded.');
    expect(await customerIds()).toEqual(['C1', 'D2', 'c1']);
  });

  test('a declared re-key that would merge stored entities is refused with examples; nothing changes', async () => {
    deploy([customers(IdNormalization.TRIM_AND_LOWERCASE, IdNormalization.TRIM), orders]);
    const event = await ingest('cust/3.ndjson', { id: 'F6', name: 'f' });
    expect(event.detailType).toBe('Ingestion Failed');
    expect(event.detail.error.message).toBe('Re-keying the stored customer entities of crm from TRIM to TRIM_AND_LOWERCASE would make different stored entities one '
      + '(1 ids, first 1: "C1", "c1" → "c1"): merge or remove them, then re-ingest this file (forced). Nothing was changed.');
    expect(await customerIds()).toEqual(['C1', 'D2', 'c1']);
    expect(await recorded()).toBe('trim');
  });

  test('the declared re-key runs in the next run\'s transaction: stored ids and relationship ends re-keyed, then the file loads', async () => {
    await h.db.pool.query("DELETE FROM canonical.entities WHERE entity_type = 'customer' AND source_id = 'c1'");
    const before = (await h.db.pool.query('SELECT generation FROM canonical.data_generation')).rows[0].generation;
    const event = await ingest('cust/4.ndjson', { id: 'G7', name: 'g' }, { id: 'C1', name: 'a2' });
    expect(event.detailType).toBe('Ingestion Succeeded');
    expect(event.detail.counts).toMatchObject({ received: 2, inserted: 1, updated: 1 });
    expect(await customerIds()).toEqual(['c1', 'd2', 'g7']);
    expect(await recorded()).toBe('trim_and_lowercase');
    const rel = await h.db.pool.query("SELECT from_source_id, to_source_id FROM canonical.relationships WHERE rel_type = 'placed_by'");
    expect(rel.rows).toEqual([{ from_source_id: 'O1', to_source_id: 'd2' }]);
    expect(Number((await h.db.pool.query('SELECT generation FROM canonical.data_generation')).rows[0].generation)).toBeGreaterThan(Number(before));
    // The re-key is done: later files load with the new normalisation, rekeyIdsFrom still set or not.
    expect((await ingest('cust/5.ndjson', { id: ' G7 ', name: 'g2' })).detail.counts).toMatchObject({ updated: 1 });
    deploy([customers(IdNormalization.TRIM_AND_LOWERCASE), orders]);
    expect((await ingest('cust/6.ndjson', { id: 'H8', name: 'h' })).detail.counts).toMatchObject({ inserted: 1 });
  });
});
