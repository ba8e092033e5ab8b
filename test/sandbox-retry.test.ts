/**
 * The ingestion's retry back-off on the sandbox's real path: S3 notification → the sandbox's SQS
 * queue → its event source mapping → the bundled ingestion function, with the sandbox's
 * PostgreSQL stopped so every attempt's connection is refused. The first failed attempt must
 * come back after the first documented delay (10 s ± 20 %), measured on the wall clock, and the
 * last attempt must announce `Ingestion Failed` with `final: true`. (The whole schedule, up to the
 * dead-letter queue, is measured by bench/retry/run.ts; the delays' arithmetic is unit-tested in
 * ingest-failures.test.ts.)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { AttemptRecorder, documentedDelay } from './support/sandbox-attempts';
import { startSandbox, Sandbox } from '../sandbox/src';
import { stopStaleServer } from '../sandbox/src/local-postgres';
import { localS3ClientConfig } from '../sandbox/src/s3';
import { BuiltInSources, CanonicalStore, IngestionPipeline } from '../src';

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-retry-'));

/** Store + ingestion; two receives, so the first retry is also the last attempt. */
function synthesizeApp(): string {
  const outdir = path.join(stateDir, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'SandboxRetry');
  const store = new CanonicalStore(stack, 'Store');
  new IngestionPipeline(stack, 'Ingestion', {
    store,
    sources: [BuiltInSources.crmCustomers()],
    maxReceiveCount: 2,
    lambdaTuning: { timeout: Duration.seconds(60) },
  });
  app.synth();
  return outdir;
}

describe('sandbox: a failed ingestion attempt comes back after the documented delay', () => {
  let sandbox: Sandbox;
  const lines: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ cloudAssembly: synthesizeApp(), stateDir, apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false });
  });
  afterAll(async () => {
    await sandbox?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('the database refusing every connection: the second attempt starts 8–12 s after the first, and is announced as final', async () => {
    // The database refuses connections: its server is stopped (the migrations ran at start-up).
    expect(stopStaleServer(sandbox.info.database!.dataDir)).toBe(true);
    const key = 'crm-data/refused.ndjson';
    const recorder = new AttemptRecorder(sandbox, sandbox.rawBucket!, key);
    const s3 = new S3Client(localS3ClientConfig(sandbox.info.s3.endpoint));
    await s3.send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: '{"customer_id": "R1", "name": "Refused"}\n' }));

    // Without the back-off the message would come back after the queue's visibility timeout (6 minutes here).
    await recorder.waitFor('the second attempt', () => recorder.attempts.length >= 2, 40_000);
    await recorder.waitFor('the final Ingestion Failed event', () => recorder.finalFailure !== undefined, 10_000);
    expect(recorder.attempts.map((a) => [a.receiveCount, a.failed])).toEqual([[1, true], [2, true]]);

    const band = documentedDelay(1);
    expect(band).toEqual({ nominal: 10, min: 8, max: 12 });
    const measured = recorder.measuredDelay(0);
    let set: number | undefined;
    await recorder.waitFor('the Retry scheduled log line', () => (set = recorder.delaysSet().get(1)) !== undefined, 5_000);
    console.log(`first retry: delay set ${set} s, measured ${measured.toFixed(2)} s (documented ${band.nominal} s, ${band.min}–${band.max} s)`);
    expect(set).toBeGreaterThanOrEqual(band.min);
    expect(set).toBeLessThanOrEqual(band.max);
    // The queue hands the message back when the delay the function set ends (poller and invocation latency aside).
    expect(measured).toBeGreaterThanOrEqual(set! - 0.5);
    expect(measured).toBeLessThanOrEqual(set! + 1.5);

    expect(recorder.finalFailure!.detail).toMatchObject({ final: true, sourceName: 'crm-customers', error: { code: 'database_unavailable' } });
    expect(recorder.finalFailure!.detail.error.message).toMatch(/^Attempt 2 failed and was the last one; the message goes to the dead-letter queue: .*ECONNREFUSED/);
    // The last attempt leaves the visibility alone: only one delay was set.
    expect([...recorder.delaysSet().keys()]).toEqual([1]);
  }, 90_000);
});
