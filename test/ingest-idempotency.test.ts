/**
 * Exactly once: redelivery, concurrent delivery, a crash after the first batch (then a retry),
 * a crash between commit and publish, same content under another key, a forced re-ingest.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { IngestHarness, lambdaContext, sqsEvent, startIngestHarness, storeFingerprint, BUCKET } from './support/ingest-harness';
import { s3Notification } from './support/local-s3';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

/** n CRM customers as NDJSON; records with index in `changed` get another lifetime value. */
function customers(n: number, changed: (i: number) => boolean = () => false): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      customer_id: `C${String(i).padStart(5, '0')}`,
      name: `Customer ${i}`,
      email: `c${i}@example.com`,
      industry: 'retail',
      country: 'DE',
      segment: i % 3 === 0 ? 'enterprise' : 'smb',
      lifetime_value: changed(i) ? i * 10 + 1 : i * 10,
      signup_date: '2022-01-01',
      parent_customer_id: i > 0 && i % 10 === 0 ? `C${String(i - 10).padStart(5, '0')}` : null,
    })}\n`;
  }
  return out;
}

describe('ingest handler: exactly-once runs', () => {
  let h: IngestHarness;
  const runs = async () => (await h.db.pool.query('SELECT object_key, status, forced, inserted::int, updated::int, unchanged::int FROM canonical.ingestion_runs ORDER BY started_at')).rows;
  const generation = async () => Number((await h.db.pool.query('SELECT generation FROM canonical.data_generation')).rows[0].generation);
  const succeeded = (key: string) => h.eventBridge.events.filter((e) => e.detailType === 'Ingestion Succeeded' && e.detail.objectKey === key);

  beforeAll(async () => {
    h = await startIngestHarness([
      BuiltInSources.crmCustomers(),
      // Validate and split only: runs of the same content meet at the content-once index, not on entity rows.
      BuiltInSources.crmCustomers({ name: 'crm-split', prefix: 'crm-split/', loadToStore: false }),
    ], { INGEST_BATCH_SIZE: '50' });
  });
  afterAll(async () => h.close());
  afterEach(() => {
    h.hooks.afterBatch = undefined;
    h.hooks.beforeCommit = undefined;
  });

  test('the same event delivered 3 times is one run, one event, one set of outputs', async () => {
    await h.put('crm-data/base.ndjson', customers(200));
    for (let i = 0; i < 3; i++) expect((await h.deliver('crm-data/base.ndjson')).batchItemFailures).toEqual([]);
    expect(await runs()).toEqual([{ object_key: 'crm-data/base.ndjson', status: 'succeeded', forced: false, inserted: 200, updated: 0, unchanged: 0 }]);
    expect(succeeded('crm-data/base.ndjson')).toHaveLength(1);
    expect(await generation()).toBe(1);
    expect(await h.list('processed/')).toHaveLength(1);
    expect(await h.list('manifests/')).toHaveLength(1);
  });

  test('two concurrent deliveries of one object: the second waits for the first and skips', async () => {
    await h.put('crm-data/concurrent.ndjson', customers(120, (i) => i < 20));
    const [a, b] = await Promise.all([h.deliver('crm-data/concurrent.ndjson'), h.deliver('crm-data/concurrent.ndjson')]);
    expect([...a.batchItemFailures, ...b.batchItemFailures]).toEqual([]);
    expect((await runs()).filter((r) => r.object_key === 'crm-data/concurrent.ndjson')).toEqual([
      { object_key: 'crm-data/concurrent.ndjson', status: 'succeeded', forced: false, inserted: 0, updated: 20, unchanged: 100 },
    ]);
    expect(succeeded('crm-data/concurrent.ndjson')).toHaveLength(1);
  });

  test('a crash after the first batch rolls everything back; the retry ends as one clean run would', async () => {
    const file = customers(230, (i) => i % 7 === 0);
    await h.put('crm-data/crash.ndjson', file);
    const before = await storeFingerprint(h.db);
    const generationBefore = await generation();

    // Crash for real: the connection dies mid-transaction, as when the Lambda is killed.
    h.hooks.afterBatch = async (batch, client) => {
      if (batch === 1) {
        (client as any).connection.stream.destroy();
        throw new Error('injected crash after batch 1');
      }
    };
    const crashed = await h.handler(sqsEvent([{ body: s3Notification(BUCKET, 'crm-data/crash.ndjson'), messageId: 'm-crash' }]), lambdaContext());
    expect(crashed.batchItemFailures).toEqual([{ itemIdentifier: 'm-crash' }]);
    expect(await storeFingerprint(h.db)).toBe(before);
    expect(await generation()).toBe(generationBefore);
    expect((await runs()).map((r) => r.object_key)).not.toContain('crm-data/crash.ndjson');
    expect((await h.list('processed/crm-customers/')).length).toBe(2);
    expect(h.eventBridge.events.filter((e) => e.detail.objectKey === 'crm-data/crash.ndjson')).toEqual([]);

    h.hooks.afterBatch = undefined;
    const retried = await h.handler(sqsEvent([{ body: s3Notification(BUCKET, 'crm-data/crash.ndjson'), messageId: 'm-crash', receiveCount: 2 }]), lambdaContext());
    expect(retried.batchItemFailures).toEqual([]);
    const afterRetry = await storeFingerprint(h.db);
    const counts = succeeded('crm-data/crash.ndjson')[0].detail.counts;

    // The same two loads, clean, into an emptied store: the same final table.
    await h.db.pool.query('TRUNCATE canonical.entities, canonical.entity_versions, canonical.relationships, canonical.ingestion_runs');
    for (const key of ['crm-data/base.ndjson', 'crm-data/concurrent.ndjson', 'crm-data/crash.ndjson']) {
      expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    }
    expect(await storeFingerprint(h.db)).toBe(afterRetry);
    expect(succeeded('crm-data/crash.ndjson')[1].detail.counts).toEqual(counts);
    expect(counts).toMatchObject({ received: 230, inserted: 30, rejected: 0, duplicates: 0 });
    expect(counts.updated + counts.unchanged).toBe(200);
  });

  test('a crash between commit and the event: the redelivery sends the event, once', async () => {
    await h.put('crm-data/publish.ndjson', customers(10, () => true));
    h.eventBridge.failNext(10);
    const first = await h.handler(sqsEvent([{ body: s3Notification(BUCKET, 'crm-data/publish.ndjson'), messageId: 'm-pub' }]), lambdaContext());
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm-pub' }]);
    h.eventBridge.failNext(0);
    const run = (await h.db.pool.query("SELECT status, notified_at FROM canonical.ingestion_runs WHERE object_key = 'crm-data/publish.ndjson'")).rows;
    expect(run).toEqual([{ status: 'succeeded', notified_at: null }]);
    expect((await h.deliver('crm-data/publish.ndjson', { receiveCount: 2 })).batchItemFailures).toEqual([]);
    expect((await h.deliver('crm-data/publish.ndjson', { receiveCount: 3 })).batchItemFailures).toEqual([]);
    expect(succeeded('crm-data/publish.ndjson')).toHaveLength(1);
    expect(succeeded('crm-data/publish.ndjson')[0].detail.counts).toMatchObject({ received: 10, inserted: 0 });
  });

  test('the same content under another key is skipped: recorded with a manifest, nothing loaded, no event', async () => {
    const generationBefore = await generation();
    await h.put('crm-data/copy-of-base.ndjson', customers(200));
    expect((await h.deliver('crm-data/copy-of-base.ndjson')).batchItemFailures).toEqual([]);
    const run = (await h.db.pool.query("SELECT status, duplicate_of, manifest_key FROM canonical.ingestion_runs WHERE object_key = 'crm-data/copy-of-base.ndjson'")).rows[0];
    expect(run.status).toBe('skipped');
    expect(run.duplicate_of).not.toBeNull();
    const manifest = JSON.parse(await h.getText(run.manifest_key));
    expect(manifest).toMatchObject({ status: 'skipped', duplicateOf: run.duplicate_of, outputs: { processedKey: null, rejectedKey: null } });
    expect(h.eventBridge.events.filter((e) => e.detail.objectKey === 'crm-data/copy-of-base.ndjson')).toEqual([]);
    expect(await generation()).toBe(generationBefore);
  });

  test('the duplicate-content race: the run that loses at commit is skipped and leaves no output behind', async () => {
    // Two keys, same content (one record rejected, so both outputs exist), a source that loads nothing
    // (so the runs meet only at the content-once index). B completes its run row and holds its commit;
    // A finds no committed duplicate, stages its outputs and blocks on B's entry in the index; B
    // commits; A fails on the index and is skipped.
    const content = `${customers(30)}{"customer_id": "BAD-RACE"}\n`;
    await h.put('crm-split/race-a.ndjson', content);
    await h.put('crm-split/race-b.ndjson', content);
    let releaseB: () => void = () => undefined;
    const bHolds = new Promise<void>((resolve) => {
      h.hooks.beforeCommit = async (key) => {
        if (key !== 'crm-split/race-b.ndjson') return;
        const released = new Promise<void>((r) => (releaseB = r));
        resolve();
        await released;
      };
    });
    const b = h.deliver('crm-split/race-b.ndjson');
    let a: ReturnType<IngestHarness['deliver']> | undefined;
    try {
      await bHolds;
      a = h.deliver('crm-split/race-a.ndjson');
      for (let waited = 0; ; waited += 20) {
        const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE canonical.ingestion_runs SET status%'`);
        if (rows[0].n > 0) break;
        if (waited > 20_000) throw new Error('run A never waited on run B');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await h.list('staging/')).toHaveLength(4); // both runs' outputs, staged, none visible
    } finally {
      releaseB();
    }
    expect([...(await a!).batchItemFailures, ...(await b).batchItemFailures]).toEqual([]);

    const rows = (await h.db.pool.query(`SELECT object_key, run_id, status, processed_key, rejected_key, manifest_key FROM canonical.ingestion_runs
      WHERE object_key IN ('crm-split/race-a.ndjson', 'crm-split/race-b.ndjson') ORDER BY object_key`)).rows;
    expect(rows.map((r) => [r.object_key, r.status])).toEqual([['crm-split/race-a.ndjson', 'skipped'], ['crm-split/race-b.ndjson', 'succeeded']]);
    const [runA, runB] = rows;
    expect(runA).toMatchObject({ processed_key: null, rejected_key: null });
    const outputs = [...await h.list('processed/crm-split/'), ...await h.list('rejected/crm-split/')];
    expect(outputs).toEqual([runB.processed_key, runB.rejected_key]);
    expect(await h.list('staging/')).toEqual([]);
    expect(JSON.parse(await h.getText(runA.manifest_key))).toMatchObject({ status: 'skipped', duplicateOf: runB.run_id });
    expect(succeeded('crm-split/race-b.ndjson')).toHaveLength(1);
    expect(h.eventBridge.events.filter((e) => e.detail.objectKey === 'crm-split/race-a.ndjson')).toEqual([]);
  });

  test('a crash between commit and promotion: the redelivery makes the staged outputs visible, once', async () => {
    await h.put('crm-data/promote.ndjson', `${customers(12, () => true)}{"customer_id": "BAD-PROMOTE"}\n`);
    h.eventBridge.failNext(10); // the first attempt commits, promotes, then fails to send its event
    const first = await h.deliver('crm-data/promote.ndjson', { messageId: 'm-promote' });
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm-promote' }]);
    h.eventBridge.failNext(0);
    const run = (await h.db.pool.query("SELECT processed_key, rejected_key FROM canonical.ingestion_runs WHERE object_key = 'crm-data/promote.ndjson'")).rows[0];
    expect(await h.list('staging/')).toEqual([]);
    // Staged again as if the crash came before the promotion: the redelivery promotes them.
    for (const key of [run.processed_key, run.rejected_key]) {
      await h.put(`staging/${key}`, await h.getText(key));
      await h.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    }
    expect((await h.deliver('crm-data/promote.ndjson', { receiveCount: 2 })).batchItemFailures).toEqual([]);
    expect(await h.list('staging/')).toEqual([]);
    expect((await h.getJsonLines(run.processed_key)).length).toBe(12);
    expect((await h.getJsonLines(run.rejected_key)).map((r) => JSON.parse(r.original).customer_id)).toEqual(['BAD-PROMOTE']);
    expect(succeeded('crm-data/promote.ndjson')).toHaveLength(1);
  });

  test('a forced re-ingest (object metadata) processes the same content again: all unchanged, no version bump', async () => {
    const content = customers(150, (i) => i % 2 === 0);
    await h.put('crm-data/forced.ndjson', content);
    expect((await h.deliver('crm-data/forced.ndjson')).batchItemFailures).toEqual([]);
    const versions = async () => (await h.db.pool.query(`SELECT (SELECT sum(version)::int FROM canonical.entities) AS v,
      (SELECT max(updated_at) FROM canonical.entities) AS u, (SELECT count(*)::int FROM canonical.entity_versions) AS history`)).rows[0];
    const before = await versions();
    const generationBefore = await generation();

    // Backfill: copy the object onto itself with a reingest token (aws s3 cp … --metadata reingest=… --metadata-directive REPLACE).
    await h.put('crm-data/forced.ndjson', content, { reingest: 'backfill-2024-03' });
    expect((await h.deliver('crm-data/forced.ndjson')).batchItemFailures).toEqual([]);
    const events = succeeded('crm-data/forced.ndjson');
    expect(events).toHaveLength(2);
    expect(events[1].detail).toMatchObject({ forced: true, counts: { received: 150, inserted: 0, updated: 0, unchanged: 150 } });
    expect(events[1].detail.runId).not.toBe(events[0].detail.runId);
    expect(events[1].detail.dataGeneration).toBe(generationBefore);
    expect(await versions()).toEqual(before);
    expect(await generation()).toBe(generationBefore);
    expect((await runs()).filter((r) => r.object_key === 'crm-data/forced.ndjson').map((r) => r.forced)).toEqual([false, true]);
  });

  test('a first load racing a concurrent writer of one of its new keys is redone through the merge: one clean run', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => JSON.stringify({ customer_id: `R${String(i).padStart(5, '0')}`, name: `Racer ${i}`, lifetime_value: i }));
    await h.put('crm-data/race.ndjson', `${lines.join('\n')}\n`);
    // Another writer holds R00100 uncommitted: the batch with it looks new, so its COPY straight into
    // the store waits on that key; the writer commits; the COPY fails on the key; the run is redone.
    const other = await h.db.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO canonical.entities (entity_type, source_system, source_id, attributes, content_hash)
        VALUES ('customer', 'crm', 'R00100', '{"name": "early"}', 'early')`);
      const delivering = h.deliver('crm-data/race.ndjson');
      for (let waited = 0; ; waited += 20) {
        const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE 'COPY canonical.entities%'`);
        if (rows[0].n > 0) break;
        if (waited > 20_000) throw new Error('the COPY never waited on the concurrent key');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await other.query('COMMIT');
      expect((await delivering).batchItemFailures).toEqual([]);
    } finally {
      other.release();
    }
    expect((await runs()).filter((r) => r.object_key === 'crm-data/race.ndjson')).toEqual([
      { object_key: 'crm-data/race.ndjson', status: 'succeeded', forced: false, inserted: 119, updated: 1, unchanged: 0 },
    ]);
    expect(succeeded('crm-data/race.ndjson')).toHaveLength(1);
    const { processed_key: processedKey } = (await h.db.pool.query("SELECT processed_key FROM canonical.ingestion_runs WHERE object_key = 'crm-data/race.ndjson'")).rows[0];
    expect((await h.getText(processedKey)).trim().split('\n')).toHaveLength(120); // the first attempt's output was aborted
    const { rows } = await h.db.pool.query(`SELECT e.version, e.attributes ->> 'name' AS name, count(v.*)::int AS history
      FROM canonical.entities e LEFT JOIN canonical.entity_versions v ON v.entity_id = e.id
      WHERE e.source_system = 'crm' AND e.source_id = 'R00100' GROUP BY e.id`);
    expect(rows).toEqual([{ version: 2, name: 'Racer 100', history: 1 }]);
    expect((await h.db.pool.query("SELECT count(*)::int AS n FROM canonical.entities WHERE source_id LIKE 'R%'")).rows[0].n).toBe(120);
  });

  test('run timings come from the real clock: started_at is when the run started, finished_at when it ended', async () => {
    await h.put('crm-data/timed.ndjson', customers(61));
    h.hooks.afterBatch = () => new Promise((resolve) => setTimeout(resolve, 400));
    expect((await h.deliver('crm-data/timed.ndjson')).batchItemFailures).toEqual([]);
    const { rows } = await h.db.pool.query('SELECT started_at, finished_at, manifest FROM canonical.ingestion_runs WHERE object_key = \'crm-data/timed.ndjson\'');
    const { started_at: startedAt, finished_at: finishedAt, manifest } = rows[0];
    expect(finishedAt.getTime() - startedAt.getTime()).toBeGreaterThanOrEqual(800); // two batches of 50, 400 ms each
    expect(startedAt.toISOString()).toBe(manifest.timings.startedAt);
  });

  test('the last attempt of a failing message sends Ingestion Failed (final) before it goes to the DLQ', async () => {
    await h.put('crm-data/doomed.ndjson', customers(60));
    h.hooks.afterBatch = () => {
      throw new Error('database on fire');
    };
    const r2 = await h.deliver('crm-data/doomed.ndjson', { receiveCount: 2, messageId: 'm-doomed' });
    expect(r2.batchItemFailures).toEqual([{ itemIdentifier: 'm-doomed' }]);
    expect(h.eventBridge.events.filter((e) => e.detail.objectKey === 'crm-data/doomed.ndjson')).toEqual([]);
    const r3 = await h.deliver('crm-data/doomed.ndjson', { receiveCount: 3, messageId: 'm-doomed' });
    expect(r3.batchItemFailures).toEqual([{ itemIdentifier: 'm-doomed' }]);
    const failed = h.eventBridge.events.filter((e) => e.detail.objectKey === 'crm-data/doomed.ndjson');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ detailType: 'Ingestion Failed', detail: { final: true, error: { code: 'processing_error' } } });
    expect(failed[0].detail.error.message).toContain('database on fire');
  });
});
