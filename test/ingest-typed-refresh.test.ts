/**
 * The typed storage's refresh after an ingestion run (issue 18): the processor invoked by the
 * pipeline's rule with the run's `Ingestion Succeeded` event (the harness invokes it as the rule
 * does); a failing refresh is retried, then the invocation fails (Lambda retries it) and the
 * TypedStorageRefreshFailures metric reports it; the committed run is untouched; the next refresh
 * derives everything still queued.
 */
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { captureEmf } from './support/log-capture';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

describe('ingest handler: the typed storage refresh', () => {
  let h: IngestHarness;
  let capture: ReturnType<typeof captureEmf>;

  beforeAll(async () => {
    h = await startIngestHarness([BuiltInSources.erpProducts()], {
      POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_SERVICE_NAME: 'ingestion-test', POWERTOOLS_METRICS_NAMESPACE: 'ServerlessDataPipeline',
    });
    capture = captureEmf();
  });
  afterAll(async () => {
    capture.restore();
    await h.close();
  });
  const emf = () => capture.documents;

  const generations = async () => (await h.db.pool.query(`
    SELECT d.generation AS latest, t.generation AS typed FROM canonical.data_generation d, canonical.typed_storage_state t`)).rows[0];
  const products = async () => (await h.db.pool.query('SELECT source_id, name FROM canonical.products ORDER BY source_id')).rows;

  test('after a run the typed storage reflects it, and the refresh metric says it succeeded', async () => {
    await h.put('erp-data/products/a.ndjson', '{"sku": "A", "name": "Anvil"}\n');
    expect((await h.deliver('erp-data/products/a.ndjson')).batchItemFailures).toEqual([]);
    const g = await generations();
    expect(g.typed).toBe(g.latest);
    expect(await products()).toEqual([{ source_id: 'A', name: 'Anvil' }]);
    expect(emf().find((d) => d.TypedStorageRefreshFailures !== undefined)).toMatchObject({ TypedStorageRefreshFailures: 0, service: 'ingestion-test' });
  });

  test('a run is committed and announced before its refresh, which the analytics can tell (generation behind)', async () => {
    await h.put('erp-data/products/a2.ndjson', '{"sku": "A2", "name": "Awl"}\n');
    expect((await h.deliver('erp-data/products/a2.ndjson', { refresh: false })).batchItemFailures).toEqual([]);
    const behind = await generations();
    expect(Number(behind.typed)).toBe(Number(behind.latest) - 1);
    await h.refresh();
    const caughtUp = await generations();
    expect(caughtUp.typed).toBe(caughtUp.latest);
    expect((await products()).map((p: any) => p.source_id)).toEqual(['A', 'A2']);
  });

  test('a refresh that keeps failing is retried, then fails its invocation (retried by Lambda) and is reported; the next refresh catches up', async () => {
    const attempts: number[] = [];
    h.hooks.beforeRefresh = (attempt) => {
      attempts.push(attempt);
      throw new Error('connection reset (injected)');
    };
    capture.documents.length = 0;
    try {
      await h.put('erp-data/products/b.ndjson', '{"sku": "B", "name": "Bolt"}\n');
      expect((await h.deliver('erp-data/products/b.ndjson', { refresh: false })).batchItemFailures).toEqual([]);
      await expect(h.refresh()).rejects.toThrow('connection reset (injected)');
    } finally {
      h.hooks.beforeRefresh = undefined;
    }
    expect(attempts).toEqual([1, 2, 3]);
    expect(emf().find((d) => d.TypedStorageRefreshFailures !== undefined)).toMatchObject({ TypedStorageRefreshFailures: 1 });
    // Committed and announced, but the typed storage is one generation behind: answers say stale.
    const behind = await generations();
    expect(Number(behind.typed)).toBe(Number(behind.latest) - 1);
    expect(h.eventBridge.events.filter((e) => e.detail.objectKey === 'erp-data/products/b.ndjson').map((e) => e.detailType)).toEqual(['Ingestion Succeeded']);
    expect((await products()).map((p: any) => p.source_id)).toEqual(['A', 'A2']);

    await h.put('erp-data/products/c.ndjson', '{"sku": "C", "name": "Chisel"}\n');
    expect((await h.deliver('erp-data/products/c.ndjson')).batchItemFailures).toEqual([]);
    const caughtUp = await generations();
    expect(caughtUp.typed).toBe(caughtUp.latest);
    expect((await products()).map((p: any) => p.source_id)).toEqual(['A', 'A2', 'B', 'C']);
  });
});
