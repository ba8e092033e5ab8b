/**
 * The walk-through's API steps through the sandbox today: the committed analytics handler
 * (assets/analytics-api) behind a REST API with an API key, wired here with plain CDK the way an
 * API construct would (the store's connection environment, a cache table, a results bucket),
 * next to the committed store and ingestion constructs. The same steps run against the example
 * app in sandbox.test.ts once it has its AnalyticsApi.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { startSandbox, Sandbox } from '../sandbox/src';
import { AccessLevel, BuiltInSources, CanonicalStore, IngestionPipeline } from '../src';
import { sandboxApi } from './support/sandbox-api';
import { localS3ClientConfig } from '../sandbox/src/s3';

const root = path.join(__dirname, '..');
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-analytics-'));

function synthesizeApp(): string {
  const outdir = path.join(stateDir, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'SandboxAnalytics');
  const store = new CanonicalStore(stack, 'Store');
  new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()] });
  const cache = new dynamodb.Table(stack, 'Cache', { partitionKey: { name: 'cacheKey', type: dynamodb.AttributeType.STRING }, timeToLiveAttribute: 'expiresAt' });
  const results = new s3.Bucket(stack, 'Results');
  const fn = new lambda.Function(stack, 'Analytics', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromAsset(path.join(root, 'assets', 'analytics-api')),
    memorySize: 1024,
    timeout: Duration.seconds(28),
    environment: {
      ...store.connectionEnvironment(AccessLevel.ANALYTICS_READER),
      SQL_READER_SECRET_ARN: store.secretFor(AccessLevel.RESTRICTED_READER).secretArn,
      CACHE_TABLE_NAME: cache.tableName,
      RESULTS_BUCKET: results.bucketName,
      LARGE_RESULT_MAX_ROWS: '1000',
    },
  });
  const api = new apigw.RestApi(stack, 'Api', { defaultMethodOptions: { apiKeyRequired: true } });
  api.addUsagePlan('Plan', { apiStages: [{ api, stage: api.deploymentStage }] }).addApiKey(api.addApiKey('Key'));
  const integration = new apigw.LambdaIntegration(fn);
  api.root.addResource('health').addMethod('GET', integration);
  const analytics = api.root.addResource('analytics');
  analytics.addMethod('GET', integration);
  analytics.addMethod('POST', integration);
  api.root.addResource('download').addResource('{key}').addMethod('GET', integration);
  app.synth();
  return outdir;
}

describe('sandbox: the analytics handler behind a REST API', () => {
  let sandbox: Sandbox;
  const lines: string[] = [];
  const { call: api, postAnalytics: post } = sandboxApi(() => sandbox, { redirect: 'manual' });

  beforeAll(async () => {
    sandbox = await startSandbox({ cloudAssembly: synthesizeApp(), stateDir, apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false });
    const client = new S3Client(localS3ClientConfig(sandbox.info.s3.endpoint));
    const key = 'crm-data/customer-data.json';
    await client.send(new PutObjectCommand({ Bucket: sandbox.rawBucket, Key: key, Body: fs.readFileSync(path.join(root, 'examples', 'sample-data', 'customer-data.json')) }));
    await sandbox.waitForObject(sandbox.rawBucket!, key, 60_000);
  }, 120_000);
  afterAll(async () => {
    await sandbox?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('/health, database_info and customer_analysis answer', async () => {
    const health = await api('/health');
    expect(health.status).toBe(200);
    const info = await api('/analytics?operation=database_info');
    expect(info.status).toBe(200);
    expect(info.json.data).toBeDefined();
    const segments = await api('/analytics?operation=customer_analysis&metric=lifetime_value&group_by=industry&min_group_size=1');
    expect(segments.status).toBe(200);
    expect(JSON.stringify(segments.json.data)).toContain('healthcare');
    const again = await api('/analytics?operation=customer_analysis&metric=lifetime_value&group_by=industry&min_group_size=1');
    expect(again.json.meta.cache).toMatch(/hit/i);
  });

  test('the error cases answer with their documented codes', async () => {
    expect((await api('/analytics?operation=no_such_operation')).status).toBe(400);
    expect((await post(JSON.stringify({ operation: 'custom_complex_query', parameters: {} }))).status).toBe(400);
    const malformed = await post('{"operation": "database_info",');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBeTruthy();
    const missingTable = await post(JSON.stringify({ operation: 'custom_complex_query', parameters: { sql: 'SELECT * FROM no_such_table' } }));
    expect(missingTable.status).toBe(422);
    expect((await api('/download/no-such-result')).status).toBe(404);
  });

  test('a large result is stored in S3 and its download link downloads', async () => {
    const r = await post(JSON.stringify({ operation: 'custom_complex_query', parameters: { sql: 'SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 20000) AS g', max_rows: 20000 } }));
    expect(r.status).toBe(200);
    const text = JSON.stringify(r.json);
    const url = /"downloadUrl":"([^"]+)"/.exec(text)?.[1];
    expect(url).toMatch(/^http:\/\/localhost:\d+\/download\//);
    const redirect = await fetch(url!, { headers: { 'x-api-key': sandbox.apiKey! }, redirect: 'manual' });
    expect([301, 302, 303, 307]).toContain(redirect.status);
    const download = await fetch(redirect.headers.get('location')!);
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
  });
});
