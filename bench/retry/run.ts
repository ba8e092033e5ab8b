/**
 * Retry back-off measurement (not a test):
 *   npx ts-node --project tsconfig.dev.json bench/retry/run.ts [--function-timeout S] [--max-receive-count N] [--dlq-wait S]
 *
 * Starts the sandbox (as `npm run sandbox` does) on the example app, stops its PostgreSQL (every
 * connection is then refused), uploads one file into crm-data/ and records on the wall clock every
 * attempt of the ingestion function at it (the queue's event source mapping: start, end, receive
 * count), the delay the function set after each failed attempt (its `Retry scheduled` log line),
 * the `Ingestion Failed` event with `final: true`, and the message's move to the dead-letter queue.
 * Prints the measured delays next to the documented ones (lambda/ingestion-pipeline/retry.ts).
 *
 * The last attempt makes the message visible at once, so the dead-letter move comes with the
 * queue's next receive (if the function could not change the visibility, it comes when the
 * visibility timeout ends: six times the function timeout, 90 minutes in the example app).
 * `--function-timeout` / `--max-receive-count` run an app of the same constructs
 * (CanonicalStore + IngestionPipeline with the CRM source) with those settings instead. `--dlq-wait` bounds the wait for
 * the move (default: the visibility timeout + 30 s when that is at most 20 minutes, else no wait).
 * BENCH_SKIP_BUNDLE=1 skips `npx projen bundle`.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { startSandbox } from '../../sandbox/src';
import { stopStaleServer } from '../../sandbox/src/local-postgres';
import { localS3ClientConfig } from '../../sandbox/src/s3';
import { BuiltInSources, CanonicalStore, IngestionPipeline } from '../../src';
import { AttemptRecorder, documentedDelay } from '../../test/support/sandbox-attempts';

const ROOT = path.join(__dirname, '..', '..');

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

/** CanonicalStore + IngestionPipeline (CRM source) with the given function timeout and receive count. */
function constructsApp(outdir: string, timeoutSeconds: number, maxReceiveCount: number): string {
  const app = new App({ outdir });
  const stack = new Stack(app, 'RetryBench');
  const store = new CanonicalStore(stack, 'Store');
  new IngestionPipeline(stack, 'Ingestion', {
    store,
    sources: [BuiltInSources.crmCustomers()],
    maxReceiveCount,
    lambdaTuning: { timeout: Duration.seconds(timeoutSeconds) },
  });
  app.synth();
  return outdir;
}

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const s = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const functionTimeout = arg('function-timeout');
  const maxReceiveCount = arg('max-receive-count');
  const custom = functionTimeout !== undefined || maxReceiveCount !== undefined;
  if (!process.env.BENCH_SKIP_BUNDLE) {
    console.log('Bundling the handlers (npx projen bundle) …');
    execFileSync('npx', ['projen', 'bundle'], { cwd: ROOT, stdio: 'ignore' });
  }
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-retry-bench-'));
  console.log(`load before: ${uptime()}`);
  const sandbox = await startSandbox({
    cwd: ROOT,
    ...(custom
      ? { cloudAssembly: constructsApp(path.join(stateDir, 'cdk.out'), functionTimeout ?? 900, maxReceiveCount ?? 3) }
      : { app: 'npx ts-node --project tsconfig.dev.json examples/app.ts' }),
    stateDir,
    apiPort: 0,
    s3Port: 0,
    print: () => undefined,
    tty: false,
  });
  try {
    // The database refuses connections from now on: its server is stopped (the migrations ran at start-up).
    if (!stopStaleServer(sandbox.info.database!.dataDir)) throw new Error('could not stop the sandbox\'s PostgreSQL');
    const key = 'crm-data/retry-bench.ndjson';
    const recorder = new AttemptRecorder(sandbox, sandbox.rawBucket!, key);
    const s3 = new S3Client(localS3ClientConfig(sandbox.info.s3.endpoint));
    const uploadedAt = Date.now();
    await s3.send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: '{"customer_id": "R1", "name": "Refused"}\n' }));
    console.log(`PostgreSQL stopped; uploaded s3://${sandbox.rawBucket}/${key} at ${new Date(uploadedAt).toISOString()}`);

    await recorder.waitFor('the first attempt', () => recorder.attempts.length > 0, 60_000);
    const queue = sandbox.queues.byUrlOrName(recorder.attempts[0].queue)!;
    const { visibilityTimeoutSeconds } = queue.spec;
    const receives = queue.spec.deadLetter!.maxReceiveCount;
    console.log(`app: ${custom ? `CanonicalStore + IngestionPipeline, function timeout ${functionTimeout ?? 900} s` : 'the example app (examples/app.ts)'}; `
      + `queue ${queue.spec.name}: visibility timeout ${visibilityTimeoutSeconds} s, maxReceiveCount ${receives}`);
    const nominalTotal = Array.from({ length: receives - 1 }, (_, i) => documentedDelay(i + 1).max).reduce((a, b) => a + b, 0);
    await recorder.waitFor('the final Ingestion Failed event', () => recorder.finalFailure !== undefined, (nominalTotal + 60 * receives) * 1000);
    const dlqWait = arg('dlq-wait') ?? (visibilityTimeoutSeconds + 30 <= 20 * 60 ? visibilityTimeoutSeconds + 30 : 0);
    if (dlqWait > 0) {
      console.log(`final event received; waiting up to ${dlqWait} s for the dead-letter queue (the visibility timeout is ${visibilityTimeoutSeconds} s) …`);
      await recorder.waitFor('the dead-letter move', () => recorder.deadLetteredAt !== undefined, dlqWait * 1000).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 500)); // the log stream's last lines

    const set = recorder.delaysSet();
    const rel = (t: number) => s(t - uploadedAt);
    console.log('\nattempt  receive  started(s)  ended(s)  took(s)  delay set(s)  measured delay to next(s)  documented delay');
    recorder.attempts.forEach((a, i) => {
      const next = recorder.attempts[i + 1];
      const doc = next ? documentedDelay(a.receiveCount) : undefined;
      console.log([
        String(i + 1).padStart(7), String(a.receiveCount).padStart(8), rel(a.startedAt).padStart(11), rel(a.endedAt).padStart(9),
        s(a.endedAt - a.startedAt).padStart(8), String(set.get(a.receiveCount) ?? '—').padStart(13),
        (next ? s(next.startedAt - a.endedAt) : '—').padStart(26), doc ? `  ${doc.nominal} s (${doc.min}–${doc.max})` : '  — (last attempt)',
      ].join(' '));
    });
    const last = recorder.attempts[recorder.attempts.length - 1];
    const f = recorder.finalFailure!;
    console.log(`\nIngestion Failed (final: ${f.detail.final}, ${f.detail.error.code}) at ${rel(f.at)} s: ${f.detail.error.message.slice(0, 160)}`);
    console.log(recorder.deadLetteredAt
      ? `dead-letter queue at ${rel(recorder.deadLetteredAt)} s: ${s(recorder.deadLetteredAt - last.endedAt)} s after the last attempt ended (visibility timeout ${visibilityTimeoutSeconds} s)`
      : `dead-letter queue: not waited for (--dlq-wait ${dlqWait}); expected ${visibilityTimeoutSeconds} s after the last attempt ended, at about ${s(last.endedAt - uploadedAt + visibilityTimeoutSeconds * 1000)} s`);
    console.log(`load after: ${uptime()}`);
  } finally {
    await sandbox.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
