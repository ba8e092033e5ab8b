/**
 * The ReportNotifier handler end to end, on analyses made by the real AiAnalyzer handler in the
 * same test: processed data and manifests in a local S3, the analysis table (with its by-day
 * index) in a local DynamoDB, the model behind the local HTTP/2 Bedrock stand-in, e-mails through
 * a local SES v2 stand-in and operations messages through a local SNS stand-in — all reached by
 * the real AWS SDK clients.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { FIXTURE_EVENT_TIME, sqsEvent, succeededEvent } from './fixtures/ai/events';
import { processedNdjson, rawIdentifiers, RECORD_COUNT, THRESHOLDS } from './fixtures/ai/health-readings';
import { lambdaContext } from './support/ingest-harness';
import { LocalBedrock, startLocalBedrock, VALID_OUTPUT, validAnswer } from './support/local-bedrock';
import { LocalDynamoDb, startLocalDynamoDb } from './support/local-dynamodb';
import { LocalEventBridge, startLocalEventBridge } from './support/local-eventbridge';
import { LocalS3, startLocalS3 } from './support/local-s3';
import { fakeAwsEnvironment, LocalSecretsManager, startLocalSecretsManager } from './support/local-secrets-manager';
import { LocalSes, startLocalSes } from './support/local-ses';
import { LocalSns, startLocalSns } from './support/local-sns';
import { captureLogLines, expectLambdaContext } from './support/log-capture';
import { LOCAL_STAND_IN_LABEL } from '../lambda/shared/analysis-contract';

const BUCKET = 'pipeline-data';
const TABLE = 'analyses';
const OPS_TOPIC = 'arn:aws:sns:us-east-1:123456789012:pipeline-ops';
const FROM = '"Data Pipeline" <reports@pipeline.example.com>';
const TO = ['ops@example.com', 'clinic-lead@example.com'];
const FIXTURE_RUN_ID = '6f0d3c1e-8a4b-4c2d-9e7f-1a2b3c4d5e6f';
const FIXTURE_DIR = path.join(__dirname, 'fixtures', 'reports');

let s3: LocalS3;
let ddb: LocalDynamoDb;
let events: LocalEventBridge;
let sm: LocalSecretsManager;
let bedrock: LocalBedrock;
let ses: LocalSes;
let sns: LocalSns;
let analyze: (event: unknown) => Promise<any>;
let notify: (event: unknown, context?: import('aws-lambda').Context) => Promise<any>;
const savedEnv = { ...process.env };

function manifest(runId: string, day: string, startedAt: string, extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: '1.0',
    runId,
    status: 'succeeded',
    forced: false,
    source: { name: 'health-readings', sourceSystem: 'health', entityType: 'health_reading', format: 'csv', loadToStore: false, personalDataFields: ['patient_id'] },
    object: { bucket: BUCKET, key: `health/raw/readings-${day}.csv`, versionId: null, etag: null, size: 4096, lastModified: startedAt, sha256: 'b'.repeat(64) },
    counts: { received: RECORD_COUNT + 3, inserted: 0, updated: 0, unchanged: 0, stale: 0, notLoaded: RECORD_COUNT, rejected: 3, duplicates: 0 },
    rejectionReasons: { 'schema: heart_rate must be <= 300': 2, 'schema: measured_at must match format "date-time"': 1 },
    outputs: { processedKey: `processed/health-readings/${day.replace(/-/g, '/')}/${runId}.ndjson`, rejectedKey: null, compression: 'none' },
    dataGeneration: null,
    duplicateOf: null,
    error: null,
    timings: { startedAt, finishedAt: startedAt, durationMs: 120, latencyMs: 900 },
    ...extra,
  };
}

async function put(key: string, body: string): Promise<void> {
  await s3.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

/** Runs the real analyzer on the fixture data for `runId`; returns its Analysis Complete event. */
async function analyzeRun(runId: string, options: { day?: string; startedAt?: string; manifestExtra?: Record<string, unknown>; time?: string } = {}) {
  const day = options.day ?? FIXTURE_EVENT_TIME.slice(0, 10);
  const m = manifest(runId, day, options.startedAt ?? FIXTURE_EVENT_TIME, options.manifestExtra);
  await put(m.outputs.processedKey, processedNdjson());
  const manifestKey = `manifests/health-readings/${day.replace(/-/g, '/')}/${runId}.json`;
  await put(manifestKey, JSON.stringify(m));
  events.clear();
  const event = { ...succeededEvent(runId, m.outputs.processedKey, { manifestKey }), ...(options.time ? { time: options.time } : {}) };
  expect(await analyze(sqsEvent(event))).toEqual({ batchItemFailures: [] });
  const complete = events.events.find((e) => e.detailType === 'Analysis Complete');
  if (!complete) throw new Error(`no Analysis Complete event: ${JSON.stringify(events.events)}`);
  return { 'version': '0', 'id': 'e1', 'detail-type': complete.detailType, 'source': complete.source, 'time': FIXTURE_EVENT_TIME, 'detail': complete.detail };
}

/** Masks what changes from run to run (times, generated ids), so the report can be compared with a stored one. */
function masked(text: string): string {
  return text
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, (t) => (t === FIXTURE_EVENT_TIME ? t : '2024-05-01T09:30:05.000Z'));
}

beforeAll(async () => {
  [s3, ddb, events, sm, bedrock, ses, sns] = await Promise.all([
    startLocalS3([BUCKET]), startLocalDynamoDb(), startLocalEventBridge(), startLocalSecretsManager(),
    startLocalBedrock(), startLocalSes(), startLocalSns(),
  ]);
  sns.addTopic(OPS_TOPIC);
  await ddb.client.send(new CreateTableCommand({
    TableName: TABLE,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'sourceName', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    AttributeDefinitions: [
      { AttributeName: 'sourceName', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }, { AttributeName: 'day', AttributeType: 'S' },
    ],
    GlobalSecondaryIndexes: [{
      IndexName: 'byDay',
      KeySchema: [{ AttributeName: 'day', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    }],
  }));
  await ddb.createTable('idempotency', 'id');
  Object.assign(process.env, fakeAwsEnvironment(), s3.environment(), {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: events.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
    AWS_ENDPOINT_URL_SESV2: ses.endpoint,
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    DATA_BUCKET: BUCKET,
    ANALYSIS_TABLE_NAME: TABLE,
    IDEMPOTENCY_TABLE_NAME: 'idempotency',
    EVENT_BUS_NAME: 'pipeline-bus',
    MODEL_ID: 'us.amazon.nova-lite-v1:0',
    THRESHOLDS: JSON.stringify(THRESHOLDS),
    PSEUDONYM_SECRET_ARN: sm.put('pseudonym-key', 'fixture-pseudonymization-key-0123456789'),
    FROM_ADDRESS: 'reports@pipeline.example.com',
    FROM_NAME: 'Data Pipeline',
    TO_ADDRESSES: JSON.stringify(TO),
    CONFIGURATION_SET_NAME: 'pipeline-reports',
    OPS_TOPIC_ARN: OPS_TOPIC,
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  // Loaded after the environment is set, as the Lambda runtime would.
  /* eslint-disable @typescript-eslint/no-require-imports */
  analyze = require('../lambda/ai-analyzer/index').handler;
  notify = require('../lambda/report-notifier/index').handler;
  /* eslint-enable @typescript-eslint/no-require-imports */
});

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([s3?.close(), ddb?.close(), events?.close(), sm?.close(), bedrock?.close(), ses?.close(), sns?.close()]);
});

beforeEach(() => {
  bedrock.reset();
  ses.clear();
  sns.clear();
});

describe('the report of one analysis', () => {
  let event: any;
  let result: any;
  let sent: LocalSes['emails'];
  let email: LocalSes['emails'][number];

  beforeAll(async () => {
    bedrock.enqueue(validAnswer(VALID_OUTPUT, { inputTokens: 1850, outputTokens: 230 }));
    event = await analyzeRun(FIXTURE_RUN_ID);
    ses.clear();
    result = await notify(event);
    // The outer beforeEach clears the recorder before each test: keep this one's.
    sent = [...ses.emails];
    email = sent[0];
  });

  test('sent once through SES v2, from the identity to the recipients, with the configuration set', () => {
    expect(sent).toHaveLength(1);
    expect(result).toEqual(expect.objectContaining({ status: 'sent', messageId: email.messageId }));
    expect(email).toMatchObject({ from: FROM, to: TO, configurationSetName: 'pipeline-reports', tags: [{ Name: 'report', Value: 'analysis' }] });
    expect(email.subject).toBe(`[MEDIUM] Data pipeline: health-readings – ${event.detail.anomalyCount} flagged values in 60 records`);
  });

  test('the text version has the statistics, anomalies, insights, recommendations and the summary', () => {
    const text = email.text!;
    expect(text).toContain('Data analysis report: health-readings');
    expect(text).toMatch(/Records received\s+63/);
    expect(text).toMatch(/Records validated \(not loaded\)\s+60/);
    expect(text).toMatch(/Records rejected\s+3/);
    expect(text).toMatch(/2 {2}schema: heart_rate must be <= 300/);
    expect(text).toMatch(/Heart rate \(bpm\) \[heart_rate\]\s+40 – 180\s+1\s+1/);
    expect(text).toMatch(/SpO2 \(%\) \[spo2\]\s+≥ 92\s+2\s+–?0?/);
    expect(text).toContain('#7 heart_rate = 192 (above maximum, z-score outlier, IQR outlier; limit 180');
    for (const s of [...VALID_OUTPUT.insights, ...VALID_OUTPUT.recommendations, VALID_OUTPUT.executiveSummary]) expect(text).toContain(s);
    expect(text).toContain('Risk level: MEDIUM (from the model)');
    expect(text).toMatch(/1,850 input \+ 230 output tokens, estimated \$0\.000166/);
  });

  test('the HTML version: tables with inline styles, no scripts, nothing external, the same content', () => {
    const body = email.html!;
    expect(body).toMatch(/^<!DOCTYPE html>/);
    expect(body).not.toMatch(/<script|<link|<style|class=|src=|https?:\/\//i);
    expect(body).toContain('<table role="presentation"');
    expect(body).toContain('style="');
    expect(body).toContain('schema: heart_rate must be &lt;= 300');
    expect(body).toContain(VALID_OUTPUT.executiveSummary);
    expect(body).toMatch(/>MEDIUM<\/span>/);
  });

  test('no raw identifier of a person is in the e-mail (pseudonyms only)', () => {
    for (const raw of rawIdentifiers()) {
      expect(email.text).not.toContain(raw);
      expect(email.html).not.toContain(raw);
    }
    expect(email.text).toMatch(/anon_[0-9a-f]{16}/);
  });

  test('the rendered report matches the stored one (test/fixtures/reports, open it in a browser)', () => {
    const files = { 'analysis-report.html': masked(email.html!), 'analysis-report.txt': masked(email.text!) };
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(FIXTURE_DIR, name);
      if (process.env.UPDATE_REPORT_FIXTURES === '1') {
        fs.mkdirSync(FIXTURE_DIR, { recursive: true });
        fs.writeFileSync(file, content);
      }
      expect(content).toEqual(fs.readFileSync(file, 'utf8'));
    }
  });

  test('a redelivered event sends nothing', async () => {
    const again = await notify(event);
    expect(again).toMatchObject({ status: 'already_sent' });
    expect(ses.emails).toHaveLength(0);
    const items = (await DynamoDBDocumentClient.from(ddb.client).send(new ScanCommand({ TableName: TABLE }))).Items ?? [];
    expect(items.find((i) => i.analysisId === FIXTURE_RUN_ID)?.reportSentAt).toEqual(expect.any(String));
  });
});

describe('escaping', () => {
  test('the report lists the top 5 of 8 rejection reasons and says there are 3 more', async () => {
    bedrock.enqueue(validAnswer());
    const reasons = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`schema: field_${i} is invalid`, 10 - i]));
    const event = await analyzeRun('0b6c0a55-0d39-4f4e-bb6c-3f5f1f1f0008', { manifestExtra: { rejectionReasons: reasons } });
    ses.clear();
    await notify(event);
    const { html, text } = ses.emails[0];
    for (let i = 0; i < 5; i++) expect(text).toContain(`schema: field_${i} is invalid`);
    expect(text).not.toContain('field_5');
    // 5 + 4 + 3 records under the three reasons not listed.
    expect(text).toContain('… and 3 more reasons (12 records; see the manifests)');
    expect(html).toContain('… and 3 more reasons (12 records; see the manifests)');
  });

  test('the local Bedrock stand-in\'s text is labelled as not a model\'s, with no tokens and no cost', async () => {
    const label = (t: string) => `${LOCAL_STAND_IN_LABEL} ${t}`;
    bedrock.enqueue(validAnswer({
      insights: VALID_OUTPUT.insights.map(label),
      recommendations: VALID_OUTPUT.recommendations.map(label),
      executiveSummary: label(VALID_OUTPUT.executiveSummary),
      riskLevel: 'medium',
    }, { inputTokens: 1200, outputTokens: 300 }));
    const event = await analyzeRun('0b6c0a55-0d39-4f4e-bb6c-3f5f1f1f0009');
    const object = await s3.client().send(new GetObjectCommand({ Bucket: event.detail.analysisBucket, Key: event.detail.analysisKey }));
    const stored = JSON.parse(await object.Body!.transformToString());
    expect(stored.ai).toMatchObject({ estimatedCostUsd: 0, usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 } });
    ses.clear();
    await notify(event);
    const { html, text } = ses.emails[0];
    for (const body of [text, html]) {
      expect(body).toContain('AI texts written by the local Bedrock stand-in (sandbox), not by a model: no model ran, no tokens, no cost.');
      expect(body).not.toMatch(/output tokens, estimated/);
    }
  });

  test('markup in model output and in rejection reasons is escaped in the HTML, plain in the text', async () => {
    const hostile = {
      insights: ['<script>alert("x")</script> heart rates spiked', 'Values "> <img src=x onerror=alert(1)> & more'],
      recommendations: ['Check <b>sensors</b> & \'calibration\''],
      executiveSummary: 'Summary with </td></tr></table><script>document.cookie</script>',
      riskLevel: 'high',
    };
    bedrock.enqueue(validAnswer(hostile));
    const event = await analyzeRun('0b6c0a55-0d39-4f4e-bb6c-3f5f1f1f0001', {
      manifestExtra: { rejectionReasons: { 'schema: name "<script>alert(2)</script>" is invalid': 3 } },
    });
    ses.clear();
    await notify(event);
    const { html, text, subject } = ses.emails[0];
    expect(html).not.toMatch(/<script|<img|<b>sensors|onerror=alert\(1\)>/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; heart rates spiked');
    expect(html).toContain('Values &quot;&gt; &lt;img src=x onerror=alert(1)&gt; &amp; more');
    expect(html).toContain('Check &lt;b&gt;sensors&lt;/b&gt; &amp; &#39;calibration&#39;');
    expect(html).toContain('&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;document.cookie&lt;/script&gt;');
    expect(html).toContain('name &quot;&lt;script&gt;alert(2)&lt;/script&gt;&quot; is invalid');
    expect(text).toContain('<script>alert("x")</script> heart rates spiked');
    expect(subject).toMatch(/^\[HIGH\]/);
  });
});

describe('failure routing', () => {
  const ingestionFailed = (final: boolean) => ({
    'version': '0',
    'id': 'f1',
    'detail-type': 'Ingestion Failed',
    'source': 'cdk-serverless-data-pipeline.ingestion',
    'time': FIXTURE_EVENT_TIME,
    'detail': {
      schemaVersion: '1.0',
      runId: null,
      sourceName: 'health-readings',
      sourceSystem: 'health',
      entityType: 'health_reading',
      bucket: BUCKET,
      objectKey: 'health/raw/broken.csv',
      objectVersionId: 'v1',
      manifestKey: 'manifests/health-readings/2024/05/01/x.json',
      error: { code: 'not_utf8', message: 'the file is not valid UTF-8', line: 12 },
      counts: null,
      final,
    },
  });

  test('Ingestion Failed on its last attempt goes to the operations topic', async () => {
    const r = await notify(ingestionFailed(true));
    expect(r).toEqual({ status: 'routed', published: true, emailed: false });
    expect(sns.published).toHaveLength(1);
    expect(sns.published[0].topicArn).toBe(OPS_TOPIC);
    expect(sns.published[0].subject).toBe('Data pipeline: Ingestion failed: health-readings health/raw/broken.csv');
    expect(sns.published[0].message).toMatch(/Object\s+s3:\/\/pipeline-data\/health\/raw\/broken\.csv \(version v1\)/);
    expect(sns.published[0].message).toMatch(/Error\s+not_utf8: the file is not valid UTF-8 \(near line 12\)/);
    expect(ses.emails).toHaveLength(0);
  });

  test('an unsupported event is ignored with a warning that carries the Lambda context', async () => {
    const context = lambdaContext();
    const event = { ...ingestionFailed(true), 'detail-type': 'Something Else' };
    const { result, lines } = await captureLogLines(() => notify(event as any, context));
    expect(result).toMatchObject({ status: 'ignored' });
    expectLambdaContext(lines.find((l) => l.message === 'Unsupported event ignored'), context.awsRequestId);
  });

  test('Ingestion Failed before the last attempt is not routed (the queue retries it)', async () => {
    expect(await notify(ingestionFailed(false))).toMatchObject({ status: 'ignored' });
    expect(sns.published).toHaveLength(0);
  });

  test('Analysis Failed goes to the operations topic and, with EMAIL_FAILURES, by e-mail too', async () => {
    const failed = {
      'version': '0',
      'id': 'f2',
      'detail-type': 'Analysis Failed',
      'source': 'cdk-serverless-data-pipeline.ai-analyzer',
      'time': FIXTURE_EVENT_TIME,
      'detail': {
        schemaVersion: '1.0',
        analysisId: 'a1',
        runId: 'a1',
        trigger: 'ingestion_event',
        sourceName: 'health-readings',
        dataBucket: BUCKET,
        processedKey: 'processed/health-readings/2024/05/01/a1.ndjson',
        manifestKey: null,
        error: { code: 'object_not_found', message: 's3://pipeline-data/processed/… does not exist <x>' },
        final: true,
      },
    };
    process.env.EMAIL_FAILURES = 'true';
    try {
      expect(await notify(failed)).toEqual({ status: 'routed', published: true, emailed: true });
    } finally {
      delete process.env.EMAIL_FAILURES;
    }
    expect(sns.published[0].subject).toBe('Data pipeline: Analysis failed: health-readings a1');
    expect(sns.published[0].message).toMatch(/Error\s+object_not_found/);
    expect(ses.emails[0]).toMatchObject({ from: FROM, to: TO, subject: 'Data pipeline: Analysis failed: health-readings a1' });
    expect(ses.emails[0].html).toContain('does not exist &lt;x&gt;');
  });

  test('an SES rejection is thrown (the invocation is retried, then dead-lettered) and the report is not marked sent', async () => {
    bedrock.enqueue(validAnswer());
    const event = await analyzeRun('0b6c0a55-0d39-4f4e-bb6c-3f5f1f1f0002');
    ses.failNext(1, { status: 400, type: 'MessageRejected', message: 'Email address is not verified.' });
    await expect(notify(event)).rejects.toThrow(/not verified/);
    expect(await notify(event)).toMatchObject({ status: 'sent' });
    expect(ses.emails).toHaveLength(1);
  });
});

describe('digest', () => {
  test('the analyses and the processing statistics of the period, in one e-mail', async () => {
    const now = new Date();
    const day = now.toISOString().slice(0, 10);
    bedrock.enqueue(validAnswer({ ...VALID_OUTPUT, riskLevel: 'high' }), validAnswer({ ...VALID_OUTPUT, riskLevel: 'low' }));
    await analyzeRun('1d6c0a55-0d39-4f4e-bb6c-3f5f1f1f0001', { day, startedAt: now.toISOString(), time: now.toISOString() });
    await analyzeRun('1d6c0a55-0d39-4f4e-bb6c-3f5f1f1f0002', {
      day, startedAt: now.toISOString(), time: now.toISOString(), manifestExtra: { status: 'rejected', counts: null, error: { code: 'truncated', message: 'the file ends mid-record' } },
    });
    ses.clear();
    const r = await notify({ kind: 'digest', lookbackHours: 24 });
    expect(r).toMatchObject({ status: 'sent', subject: 'Data pipeline digest: 2 analyses, 2 files, highest risk HIGH' });
    const { text, html, tags } = ses.emails[0];
    expect(tags).toEqual([{ Name: 'report', Value: 'digest' }]);
    expect(text).toMatch(/Files processed\s+2/);
    expect(text).toMatch(/Files set aside \(unreadable\)\s+1/);
    expect(text).toMatch(/Records received\s+63/);
    expect(text).toMatch(/1 {2}truncated: the file ends mid-record/);
    expect(text!.match(/^ANALYSIS: health-readings/gm)).toHaveLength(2);
    expect(html).toContain('Data pipeline digest');
    // The fixture analyses of 2024 are outside the period.
    expect(text).not.toContain(FIXTURE_RUN_ID);
  });
});
