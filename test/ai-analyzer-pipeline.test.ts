/**
 * The whole flow on real processed data: a health-readings CSV is ingested by the real ingest
 * handler (real PostgreSQL, s3rver, local EventBridge), its `Ingestion Succeeded` event goes to
 * the real analyzer handler (through the queue's SQS shape; model behind the local HTTP/2
 * Bedrock stand-in), and the analyzer's `Analysis Complete` event to the real notifier handler
 * (local SES v2): file → ingestion → analysis → e-mailed report.
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { sqsEvent } from './fixtures/ai/events';
import { expectedFindings, healthAttributes, RECORD_COUNT, THRESHOLDS } from './fixtures/ai/health-readings';
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { LocalBedrock, startLocalBedrock, VALID_OUTPUT, validAnswer } from './support/local-bedrock';
import { LocalDynamoDb, startLocalDynamoDb } from './support/local-dynamodb';
import { LocalSecretsManager, startLocalSecretsManager } from './support/local-secrets-manager';
import { LocalSes, startLocalSes } from './support/local-ses';
import type { AnalysisDocument } from '../lambda/shared/analysis-contract';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';

const COLUMNS = ['reading_id', 'patient_id', 'measured_at', 'heart_rate', 'systolic_bp', 'diastolic_bp', 'temperature_c', 'spo2'];

/** The fixture readings as the health feed sends them, plus two the ingestion must reject. */
function healthCsv(): string {
  const rows = healthAttributes().map((a, i) => [`R-${i + 1}`, a.patient_id, a.measured_at, a.heart_rate, a.systolic_bp, a.diastolic_bp, a.temperature_c, a.spo2]);
  rows.push(['R-bad-1', 'PAT-001001', '2024-05-01T10:00:00.000Z', 400, 120, 80, 36.6, 97]);
  rows.push(['R-bad-2', 'PAT-001002', 'yesterday', 70, 120, 80, 36.6, 97]);
  return [COLUMNS.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}

let h: IngestHarness;
let ddb: LocalDynamoDb;
let sm: LocalSecretsManager;
let bedrock: LocalBedrock;
let ses: LocalSes;
let ingestionEvent: any;
let analysisEvent: any;
let doc: AnalysisDocument;

beforeAll(async () => {
  h = await startIngestHarness([BuiltInSources.healthReadings()], { POWERTOOLS_LOG_LEVEL: 'ERROR' });
  await h.put('health/raw/2024-05-01/readings.csv', healthCsv());
  expect((await h.deliver('health/raw/2024-05-01/readings.csv', { eventTime: '2024-05-01T09:30:00Z' })).batchItemFailures).toEqual([]);
  ingestionEvent = h.eventBridge.events.find((e) => e.detailType === 'Ingestion Succeeded');

  // The analyzer and notifier as deployed next to the pipeline (after the ingest handler made its clients).
  [ddb, sm, bedrock, ses] = await Promise.all([startLocalDynamoDb(), startLocalSecretsManager(), startLocalBedrock(), startLocalSes()]);
  await ddb.client.send(new CreateTableCommand({
    TableName: 'analyses',
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'sourceName', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    AttributeDefinitions: [{ AttributeName: 'sourceName', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }, { AttributeName: 'day', AttributeType: 'S' }],
    GlobalSecondaryIndexes: [{ IndexName: 'byDay', KeySchema: [{ AttributeName: 'day', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } }],
  }));
  await ddb.createTable('idempotency', 'id');
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
    AWS_ENDPOINT_URL_SESV2: ses.endpoint,
    DATA_BUCKET: 'raw-data',
    ANALYSIS_TABLE_NAME: 'analyses',
    IDEMPOTENCY_TABLE_NAME: 'idempotency',
    MODEL_ID: 'us.amazon.nova-lite-v1:0',
    THRESHOLDS: JSON.stringify(THRESHOLDS),
    PSEUDONYM_SECRET_ARN: sm.put('pseudonym-key', 'pipeline-test-pseudonymization-key'),
    FROM_ADDRESS: 'reports@pipeline.example.com',
    TO_ADDRESSES: JSON.stringify(['clinic-lead@example.com']),
  });
  // Separate functions: their own module instances (and AWS clients), as in separate Lambda environments.
  let analyze: (event: unknown) => Promise<any> = async () => undefined;
  let notify: (event: unknown) => Promise<any> = async () => undefined;
  jest.isolateModules(() => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    analyze = require('../lambda/ai-analyzer/index').handler;
    notify = require('../lambda/report-notifier/index').handler;
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  bedrock.enqueue(validAnswer(VALID_OUTPUT, { inputTokens: 2000, outputTokens: 250 }));
  // As the rule delivers it to the queue: the EventBridge envelope around the recorded entry.
  const envelope = {
    'version': '0',
    'id': 'e-1',
    'detail-type': ingestionEvent.detailType,
    'source': ingestionEvent.source,
    'account': '123456789012',
    'time': '2024-05-01T09:31:00Z',
    'region': 'us-east-1',
    'resources': ingestionEvent.resources,
    'detail': ingestionEvent.detail,
  };
  expect(await analyze(sqsEvent(envelope))).toEqual({ batchItemFailures: [] });
  analysisEvent = h.eventBridge.events.find((e) => e.detailType === 'Analysis Complete');
  doc = JSON.parse(await h.getText(analysisEvent.detail.analysisKey));
  expect(await notify({ 'version': '0', 'id': 'x', 'source': analysisEvent.source, 'detail-type': analysisEvent.detailType, 'detail': analysisEvent.detail }))
    .toMatchObject({ status: 'sent' });
});

afterAll(async () => {
  await Promise.all([ddb?.close(), sm?.close(), bedrock?.close(), ses?.close()]);
  await h?.close();
});

test('the ingestion split the file: 60 valid readings in processed/, 2 rejected, and announced it', () => {
  expect(ingestionEvent.detail).toMatchObject({
    sourceName: 'health-readings',
    loadToStore: false,
    personalDataFields: ['patient_id'],
    counts: { received: RECORD_COUNT + 2, notLoaded: RECORD_COUNT, rejected: 2 },
  });
});

test('the analyzer read the ingestion\'s processed records and found the anomalies computed independently', () => {
  expect(analysisEvent.detail).toMatchObject({
    analysisId: ingestionEvent.detail.runId,
    runId: ingestionEvent.detail.runId,
    recordsAnalyzed: RECORD_COUNT,
    aiStatus: 'ok',
    processedKey: ingestionEvent.detail.processedKey,
    manifestKey: ingestionEvent.detail.manifestKey,
  });
  const want = expectedFindings();
  for (const [field, w] of Object.entries(want)) {
    const got = doc.anomalies.find((a) => a.field === field);
    expect({ field, flagged: got?.counts.flagged ?? 0, below: got?.counts.below_min ?? 0, above: got?.counts.above_max ?? 0 })
      .toEqual({ field, flagged: w.flagged.length, below: w.belowMin.length, above: w.aboveMax.length });
  }
  expect(doc.input.counts).toEqual(ingestionEvent.detail.counts);
});

test('nothing identifying left for the model: patient ids were pseudonymized', () => {
  expect(bedrock.requests).toHaveLength(1);
  const raw = bedrock.requests[0].raw;
  for (const a of healthAttributes()) expect(raw).not.toContain(String(a.patient_id));
  // The prompt is JSON inside the request's JSON: its quotes arrive escaped.
  expect(raw).toMatch(/patient_id\\":\\"anon_[0-9a-f]{16}/);
});

test('the report e-mail carries the ingestion\'s real statistics and rejection reasons, and the findings', () => {
  expect(ses.emails).toHaveLength(1);
  const { text, html, to } = ses.emails[0];
  expect(to).toEqual(['clinic-lead@example.com']);
  expect(text).toMatch(/Records received\s+62/);
  expect(text).toMatch(/Records rejected\s+2/);
  expect(text).toMatch(/heart_rate must be <= 300/);
  expect(text).toContain('#7 heart_rate = 192');
  expect(html).toContain('heart_rate must be &lt;= 300');
  for (const a of healthAttributes()) expect(text).not.toContain(String(a.patient_id));
});
