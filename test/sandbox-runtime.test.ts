/**
 * The sandbox runtime on an app of the committed constructs (CanonicalStore + IngestionPipeline),
 * synthesized here: start-up from the template alone, the real migration custom resource, an
 * upload → S3 notification → SQS → the ingestion Lambda → rows in PostgreSQL, its event on the
 * local EventBridge bus, an S3 client with default (aws-chunked) checksums, a rejected file, a
 * health CSV → AiAnalyzer (Bedrock stand-in) → ReportNotifier → an e-mail in the outbox, and a
 * clean stop.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { App, Stack } from 'aws-cdk-lib';
import { Client } from 'pg';
import { startSandbox, Sandbox, STAND_IN_LABEL } from '../sandbox/src';
import { localS3ClientConfig } from '../sandbox/src/s3';
import { AiAnalyzer, BuiltInSources, CanonicalStore, IngestionPipeline, ReportNotifier } from '../src';

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-runtime-'));

function synthesizeApp(): string {
  const outdir = path.join(stateDir, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'SandboxRuntime');
  const store = new CanonicalStore(stack, 'Store');
  const pipeline = new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers(), BuiltInSources.healthReadings()] });
  const analyzer = new AiAnalyzer(stack, 'Analyzer', {
    eventBus: pipeline.eventBus,
    dataBucket: pipeline.bucket,
    sources: ['health-readings'],
    thresholds: [{ field: 'heart_rate', min: 40, max: 180, label: 'Heart rate' }, { field: 'spo2', min: 92, label: 'SpO2' }],
  });
  new ReportNotifier(stack, 'Reports', { eventBus: pipeline.eventBus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['care-team@example.com'] });
  app.synth();
  return outdir;
}

const customers = (n: number, from = 1) => Array.from({ length: n }, (_, i) => ({
  customer_id: `C${from + i}`,
  name: ` Customer ${from + i} `,
  email: `Customer${from + i}@Example.com`,
  industry: i % 2 ? 'Retail' : 'Software',
  country: 'de',
  segment: i % 3 ? 'smb' : 'enterprise',
  lifetime_value: 1000 + i,
  signup_date: '2024-01-15',
}));

describe('sandbox runtime (store + ingestion app)', () => {
  let sandbox: Sandbox;
  let db: Client;
  const lines: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ cloudAssembly: synthesizeApp(), stateDir, apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false });
    db = new Client({ connectionString: sandbox.databaseUrl(), ssl: sandbox.info.database!.tls ? { rejectUnauthorized: false } : false });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await sandbox?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const s3 = (checksums: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED') => new S3Client({
    ...localS3ClientConfig(sandbox.info.s3.endpoint),
    requestChecksumCalculation: checksums,
  });

  test('starts from the template: the raw bucket and its prefixes, the migrations applied by the real handler', async () => {
    expect(sandbox.rawBucket).toMatch(/^sandboxruntime-ingestion/);
    expect(sandbox.info.s3.notifications.map((n) => n.prefix).sort()).toEqual(['crm-data/', 'health/raw/']);
    const { rows } = await db.query('SELECT count(*)::int AS n FROM canonical.schema_migrations');
    expect(rows[0].n).toBeGreaterThan(0);
    // The handlers' own login users exist (created by the migration custom resource from the secrets).
    const users = await db.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pipeline_%' ORDER BY 1");
    expect(users.rows.map((r) => r.rolname)).toEqual(expect.arrayContaining(['pipeline_admin', 'pipeline_writer']));
    expect(lines.join('\n')).toMatch(/Custom resource .*Migrations.*canonical-store-migrations/);
  });

  test('an upload into crm-data/ lands as rows in the store, timed, with its event on the bus', async () => {
    const key = 'crm-data/customer-data.json';
    await s3('WHEN_REQUIRED').send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: JSON.stringify(customers(25)) }));
    const result = await sandbox.waitForObject(sandbox.rawBucket!, key, 60_000);
    expect(result.status).toBe('processed');
    // What the app emitted about the object (its Ingestion Succeeded event), every count of it.
    expect(result.event).toMatchObject({ detailType: 'Ingestion Succeeded', detail: { counts: { received: 25, inserted: 25, rejected: 0, duplicates: 0, stale: 0 } } });
    expect(result.ms).toBeGreaterThan(0);
    // The typed storage the views read is refreshed by the pipeline's rule, which invokes the
    // processor asynchronously with that event: wait for it to reflect the run's generation.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows: [g] } = await db.query('SELECT d.generation = t.generation AS current FROM canonical.data_generation d, canonical.typed_storage_state t');
      if (g.current) break;
      if (Date.now() > deadline) throw new Error('the typed storage was not refreshed within 30 s of the run');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const { rows } = await db.query("SELECT count(*)::int AS n, min(email) AS email, min(country) AS country FROM canonical.customers WHERE source_system = 'crm'");
    expect(rows[0]).toEqual({ n: 25, email: 'customer10@example.com', country: 'DE' });
    expect(lines.find((l) => l.includes(`s3://${sandbox.rawBucket}/${key}`) && l.includes('upload → result')))
      .toMatch(/Ingestion Succeeded: 25 received, 25 inserted, 0 updated, 0 unchanged, 0 stale, 0 not loaded, 0 rejected, 0 duplicates;/);
    const succeeded = sandbox.events.log.find((e) => e.event['detail-type'] === 'Ingestion Succeeded');
    expect(succeeded?.event.detail).toMatchObject({ objectKey: key });
    // The raw bucket is versioned in the template: the run is keyed by the object's version, as in the cloud.
    expect((succeeded?.event.detail as { objectVersionId?: string }).objectVersionId).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  test('the committed run published what keyed the stored customer ids to the pipeline\'s SSM parameter (the synth-time check reads it)', async () => {
    const ssm = new SSMClient({ endpoint: sandbox.info.services, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const value = async (entity: string) => (await ssm.send(new GetParameterCommand({
      Name: `/cdk-serverless-data-pipeline/SandboxRuntime/Ingestion/id-normalization/${entity}`,
    }))).Parameter?.Value;
    expect(await value('crm/customer')).toBe('trim');
    expect(await value('health/health_reading')).toBe('no-stored-runs');
  });

  test('an S3 client with default checksums (aws-chunked bodies) stores the bytes, not the framing', async () => {
    const key = 'notes/chunked.txt';
    const body = 'x'.repeat(100_000);
    const client = s3('WHEN_SUPPORTED');
    await client.send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: body }));
    const got = await (await s3('WHEN_REQUIRED').send(new GetObjectCommand({ Bucket: sandbox.rawBucket, Key: key }))).Body!.transformToString();
    expect(got.length).toBe(body.length);
    expect(got).toBe(body);
  });

  test('a file that cannot be read is set aside as a rejected run and the pipeline goes on', async () => {
    // Latin-1 bytes: not UTF-8 and no byte-order mark. (A JSON file cut off is no longer set aside:
    // its complete records load and the cut rest is one rejection.)
    const key = 'crm-data/broken.json';
    const body = Buffer.from('[{"customer_id": "X1", "name": "M\xfcller"}]', 'latin1');
    await s3('WHEN_REQUIRED').send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: body }));
    const result = await sandbox.waitForObject(sandbox.rawBucket!, key, 60_000);
    expect(result.status).toBe('processed');
    expect(result.event).toMatchObject({ detailType: 'Ingestion Failed', detail: { final: true } });
    expect(sandbox.events.log.some((e) => e.event['detail-type'] === 'Ingestion Failed')).toBe(true);
  });

  test('a health CSV produces an analysis (Bedrock stand-in) and an e-mailed report in the outbox', async () => {
    const key = 'health/raw/health-readings.csv';
    const csv = fs.readFileSync(path.join(__dirname, '..', 'examples', 'sample-data', 'health-readings.csv'));
    await s3('WHEN_REQUIRED').send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: csv }));
    const result = await sandbox.waitForObject(sandbox.rawBucket!, key, 60_000);
    expect(result.event).toMatchObject({ detailType: 'Ingestion Succeeded', detail: { counts: { inserted: 0 } } });
    const emails = () => sandbox.outbox.entries.filter((e) => e.kind === 'email');
    for (let i = 0; i < 300 && emails().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(sandbox.events.log.map((e) => e.event['detail-type'])).toEqual(expect.arrayContaining(['Ingestion Succeeded', 'Analysis Complete']));
    expect(emails()).toHaveLength(1);
    const eml = fs.readFileSync(emails()[0].file, 'utf8');
    expect(eml).toMatch(/^To: care-team@example.com/m);
    expect(eml).toContain(STAND_IN_LABEL);
    expect(fs.existsSync(emails()[0].file.replace(/\.eml$/, '.html'))).toBe(true);
  });

  test('stop() leaves nothing running', async () => {
    const dataDir = (sandbox.info.database as any).dataDir as string;
    const pidFile = path.join(dataDir, 'postmaster.pid');
    expect(fs.existsSync(pidFile)).toBe(true);
    await db.end();
    await sandbox.stop();
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(fs.existsSync(path.join(stateDir, 'sandbox.json'))).toBe(false);
  });
});
