/**
 * The README's walk-through, end to end, against the sandbox running the example app (as
 * `npm run sandbox` does), with real HTTP calls and the sandbox's own upload command.
 *
 * (The runtime itself is also tested on small apps of the constructs in sandbox-runtime.test.ts
 * and on plain CDK resources in sandbox-services.test.ts.)
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { startSandbox, Sandbox, STAND_IN_LABEL } from '../sandbox/src';
import { sandboxApi } from './support/sandbox-api';
import { localS3ClientConfig } from '../sandbox/src/s3';

const root = path.join(__dirname, '..');
const sampleData = path.join(root, 'examples', 'sample-data');
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-walkthrough-'));

describe('README walk-through against the sandbox (example app)', () => {
  let sandbox: Sandbox;
  let db: Client;
  const lines: string[] = [];
  const { call: api, postAnalytics: post } = sandboxApi(() => sandbox);

  beforeAll(async () => {
    sandbox = await startSandbox({
      cwd: root,
      // The bundles are built by the test command before Jest runs.
      app: 'npx ts-node --project tsconfig.dev.json examples/app.ts',
      stateDir,
      apiPort: 0,
      s3Port: 0,
      print: (l) => lines.push(l),
      tty: false,
    });
    db = new Client({ connectionString: sandbox.databaseUrl(), ssl: sandbox.info.database!.tls ? { rejectUnauthorized: false } : false });
    await db.connect();
  }, 180_000);
  afterAll(async () => {
    await db?.end();
    await sandbox?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('the sandbox starts the example app, applies the store\'s migrations and reports its start-up time', async () => {
    expect(sandbox.info.startupMs).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/Synthesizing the app: .*ServerlessDataPipelineExample/);
    const { rows } = await db.query('SELECT count(*)::int AS n FROM canonical.schema_migrations');
    expect(rows[0].n).toBeGreaterThan(0);
    expect(sandbox.info.database?.tls).toBe(true);
    // What the sandbox does not emulate is said, not silently skipped: here the API's WAF web ACL.
    expect(sandbox.info.warnings).toEqual([expect.stringMatching(/ApiWebAclAssociation\w*: the AWS WAF web ACL's rules are not applied locally$/)]);
    console.log(`sandbox start-up (example app): ${(sandbox.info.startupMs / 1000).toFixed(1)} s`);
  });

  test('uploading customer-data.json into crm-data/ with `cdp-sandbox upload` loads it into the store', async () => {
    const file = path.join(sampleData, 'customer-data.json');
    const records = JSON.parse(fs.readFileSync(file, 'utf8')).length;
    const { stdout } = await promisify(execFile)(process.execPath, [
      require.resolve('ts-node/dist/bin.js'), '--transpile-only', '--project', 'tsconfig.dev.json', 'sandbox/src/cli.ts',
      'upload', file, 'crm-data/', '--state-dir', stateDir,
    ], { cwd: root, timeout: 90_000 });
    // Every count of the app's Ingestion Succeeded event (they add up to received), and the time.
    expect(stdout).toMatch(/✔ .*: Ingestion Succeeded: \d+ received, \d+ inserted, \d+ updated, \d+ unchanged, \d+ stale, \d+ not loaded, \d+ rejected, \d+ duplicates\n/);
    expect(stdout).toMatch(/Upload → result: \d+\.\d+ s/);
    const run = (await db.query("SELECT * FROM canonical.ingestion_runs WHERE object_key = 'crm-data/customer-data.json'")).rows[0];
    expect(run).toMatchObject({ status: 'succeeded', received: String(records) });
    const { rows } = await db.query("SELECT count(*)::int AS n FROM canonical.entities WHERE entity_type = 'customer' AND source_system = 'crm'");
    expect(rows[0].n).toBe(Number(run.inserted));
    expect(Number(run.inserted) + Number(run.rejected) + Number(run.duplicates)).toBe(records);
    console.log(stdout.trim());
  }, 120_000);

  test('/health, database_info and customer_analysis answer', async () => {
    const health = await api('/health');
    expect(health.status).toBe(200);
    const info = await api('/analytics?operation=database_info');
    expect(info.status).toBe(200);
    expect(info.json.data).toBeDefined();
    const segments = await api('/analytics?operation=customer_analysis&metric=lifetime_value&group_by=industry&min_group_size=1');
    expect(segments.status).toBe(200);
    expect(JSON.stringify(segments.json.data)).toContain('healthcare');
  });

  test('the error cases answer with their documented codes', async () => {
    expect((await api('/analytics?operation=no_such_operation')).status).toBe(400);
    expect((await post(JSON.stringify({ operation: 'custom_complex_query', parameters: {} }))).status).toBe(400);
    const malformed = await post('{"operation": "database_info",');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBeTruthy();
    expect((await post(JSON.stringify({ operation: 'custom_complex_query', parameters: { sql: 'SELECT * FROM no_such_table' } }))).status).toBe(422);
    expect((await api('/download/no-such-result')).status).toBe(404);
  });

  test('a large result comes back as a download link that downloads', async () => {
    const sql = 'SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 20000) AS g';
    const r = await post(JSON.stringify({ operation: 'custom_complex_query', parameters: { sql, max_rows: 20000 } }));
    expect(r.status).toBe(200);
    const url = /"downloadUrl":"([^"]+)"/.exec(JSON.stringify(r.json))?.[1];
    expect(url).toMatch(/^http:\/\/localhost:\d+\/download\//);
    const redirect = await fetch(url!, { headers: { 'x-api-key': sandbox.apiKey ?? '' }, redirect: 'manual' });
    expect([301, 302, 303, 307]).toContain(redirect.status);
    const download = await fetch(redirect.headers.get('location')!);
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
  });

  test('an async multi_dimensional_analytics job goes from SUBMITTED to SUCCEEDED', async () => {
    const submitted = await api('/analytics/jobs', {
      method: 'POST',
      body: JSON.stringify({ operation: 'multi_dimensional_analytics', parameters: { timeframe: '12 months' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(submitted.status).toBe(202);
    const job = submitted.json.data ?? submitted.json;
    expect(job.status).toBe('SUBMITTED');
    let status = job.status;
    for (let i = 0; i < 300 && !['SUCCEEDED', 'FAILED'].includes(status); i++) {
      await new Promise((r) => setTimeout(r, 200));
      const s = await api(`/analytics/jobs/${job.jobId}`);
      status = (s.json.data ?? s.json).status;
    }
    expect(status).toBe('SUCCEEDED');
  }, 90_000);

  test('an uploaded health CSV produces an analysis and an e-mail in the outbox', async () => {
    const key = 'health/raw/health-readings.csv';
    const s3 = new S3Client(localS3ClientConfig(sandbox.info.s3.endpoint));
    await s3.send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: fs.readFileSync(path.join(sampleData, 'health-readings.csv')) }));
    const emails = () => sandbox.outbox.entries.filter((e) => e.kind === 'email');
    for (let i = 0; i < 300 && emails().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(emails().length).toBeGreaterThan(0);
    expect(fs.readFileSync(emails()[0].file, 'utf8')).toContain(STAND_IN_LABEL);
  }, 60_000);
});
