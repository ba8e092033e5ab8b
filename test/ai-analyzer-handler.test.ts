/**
 * The AiAnalyzer handler end to end, as deployed: processed NDJSON in a local S3 (s3rver), the
 * analysis and idempotency tables in a local DynamoDB (dynalite), the pseudonymization key in a
 * local Secrets Manager, events through a local EventBridge, and the model behind a local HTTP/2
 * Bedrock stand-in — all reached by the real AWS SDK clients through AWS_ENDPOINT_URL_*.
 */
import { randomUUID } from 'crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { FIXTURE_EVENT_TIME, sqsEvent, succeededEvent } from './fixtures/ai/events';
import { expectedFindings, PERSONAL_FIELDS, processedNdjson, rawIdentifiers, RECORD_COUNT, THRESHOLDS } from './fixtures/ai/health-readings';
import { lambdaContext } from './support/ingest-harness';
import {
  accessDenied, contentFiltered, LocalBedrock, refusal, startLocalBedrock, textAnswer, throttling, VALID_OUTPUT, validAnswer,
} from './support/local-bedrock';
import { LocalDynamoDb, startLocalDynamoDb } from './support/local-dynamodb';
import { LocalEventBridge, startLocalEventBridge } from './support/local-eventbridge';
import { LocalS3, startLocalS3 } from './support/local-s3';
import { fakeAwsEnvironment, LocalSecretsManager, startLocalSecretsManager } from './support/local-secrets-manager';
import { captureLogLines, expectLambdaContext } from './support/log-capture';
import { ANALYSIS_COMPLETE_SCHEMA, ANALYSIS_FAILED_SCHEMA, AnalysisDocument } from '../lambda/shared/analysis-contract';

const BUCKET = 'pipeline-data';
const TABLE = 'analyses';
const IDEMPOTENCY = 'analyzer-idempotency';
const MODEL = 'eu.amazon.nova-lite-v1:0';
const PSEUDONYM_KEY = 'k'.repeat(24) + '-test-hmac-key';

let s3: LocalS3;
let ddb: LocalDynamoDb;
let events: LocalEventBridge;
let sm: LocalSecretsManager;
let bedrock: LocalBedrock;
let handler: (event: unknown, context?: unknown) => Promise<any>;
const savedEnv = { ...process.env };
const emf: any[] = [];
let stdoutSpy: jest.SpyInstance;

const ajv = addFormats(new Ajv({ strict: false }));
const validComplete = ajv.compile(ANALYSIS_COMPLETE_SCHEMA);
const validFailed = ajv.compile(ANALYSIS_FAILED_SCHEMA);

/** A processed file for a new run; returns the run id and key. */
async function putRun(body = processedNdjson()): Promise<{ runId: string; processedKey: string }> {
  const runId = randomUUID();
  const processedKey = `processed/health-readings/2024/05/01/${runId}.ndjson`;
  await s3.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: processedKey, Body: body }));
  return { runId, processedKey };
}

async function getJson<T>(key: string): Promise<T> {
  const r = await s3.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await r.Body!.transformToString()) as T;
}

async function tableItems(table = TABLE): Promise<any[]> {
  const r = await DynamoDBDocumentClient.from(ddb.client).send(new ScanCommand({ TableName: table }));
  return r.Items ?? [];
}

beforeAll(async () => {
  [s3, ddb, events, sm, bedrock] = await Promise.all([
    startLocalS3([BUCKET]), startLocalDynamoDb(), startLocalEventBridge(), startLocalSecretsManager(), startLocalBedrock(),
  ]);
  await ddb.createTable(TABLE, 'sourceName', 'sk');
  await ddb.createTable(IDEMPOTENCY, 'id');
  const secretArn = sm.put('pseudonym-key', PSEUDONYM_KEY);
  Object.assign(process.env, fakeAwsEnvironment(), s3.environment(), {
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: events.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
    POWERTOOLS_SERVICE_NAME: 'ai-analyzer',
    POWERTOOLS_METRICS_NAMESPACE: 'ServerlessDataPipeline',
    DATA_BUCKET: BUCKET,
    ANALYSIS_TABLE_NAME: TABLE,
    IDEMPOTENCY_TABLE_NAME: IDEMPOTENCY,
    ANALYSIS_TTL_DAYS: '30',
    EVENT_BUS_NAME: 'pipeline-bus',
    MODEL_ID: MODEL,
    THRESHOLDS: JSON.stringify(THRESHOLDS),
    PSEUDONYM_SECRET_ARN: secretArn,
    BEDROCK_MAX_ATTEMPTS: '3',
    MAX_RECEIVE_COUNT: '3',
    PRICE_INPUT_PER_MILLION_TOKENS: '0.06',
    PRICE_OUTPUT_PER_MILLION_TOKENS: '0.24',
  });
  const write = process.stdout.write.bind(process.stdout);
  stdoutSpy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: any, ...rest: any[]) => {
    for (const line of String(chunk).split('\n')) {
      if (line.includes('"_aws"')) emf.push(JSON.parse(line));
    }
    return write(chunk, ...rest);
  }) as any);
  // Loaded after the environment is set, as the Lambda runtime would.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  handler = require('../lambda/ai-analyzer/index').handler;
});

afterAll(async () => {
  stdoutSpy?.mockRestore();
  process.env = savedEnv;
  await Promise.all([s3?.close(), ddb?.close(), events?.close(), sm?.close(), bedrock?.close()]);
});

beforeEach(() => {
  bedrock.reset();
  events.clear();
  emf.length = 0;
});

describe('a good answer on the health data set', () => {
  let runId: string;
  let result: any;
  let doc: AnalysisDocument;
  let sent: typeof events.events;
  let requests: typeof bedrock.requests;
  let printed: any[];

  beforeAll(async () => {
    bedrock.reset();
    events.clear();
    emf.length = 0;
    ({ runId } = await putRun());
    bedrock.enqueue(validAnswer(VALID_OUTPUT, { inputTokens: 1800, outputTokens: 220 }));
    result = await handler(sqsEvent(succeededEvent(runId, `processed/health-readings/2024/05/01/${runId}.ndjson`, { personalDataFields: ['patient_id'] })));
    const item = (await tableItems()).find((i) => i.analysisId === runId);
    doc = await getJson<AnalysisDocument>(item.analysisKey);
    // The outer beforeEach clears the recorders before each test: keep this run's.
    [sent, requests, printed] = [[...events.events], [...bedrock.requests], [...emf]];
  });

  test('the message is consumed and one Analysis Complete event matching its schema is sent', () => {
    expect(result).toEqual({ batchItemFailures: [] });
    const complete = sent.filter((e) => e.detailType === 'Analysis Complete');
    expect(complete).toHaveLength(1);
    expect(complete[0].source).toBe('cdk-serverless-data-pipeline.ai-analyzer');
    expect(complete[0].eventBusName).toBe('pipeline-bus');
    expect(validComplete(complete[0].detail)).toBe(true);
    expect(complete[0].detail).toMatchObject({
      analysisId: runId,
      runId,
      trigger: 'ingestion_event',
      sourceName: 'health-readings',
      recordsAnalyzed: RECORD_COUNT,
      aiStatus: 'ok',
      riskLevel: 'medium',
      riskLevelSource: 'model',
      modelId: MODEL,
      usage: { inputTokens: 1800, outputTokens: 220, totalTokens: 2020 },
      analysisTable: TABLE,
      dataBucket: BUCKET,
      requestedAt: FIXTURE_EVENT_TIME,
    });
  });

  test('thresholds: counts and record numbers per field, as computed independently', () => {
    const want = expectedFindings();
    for (const t of THRESHOLDS) {
      const got = doc.anomalies.find((a) => a.field === t.field)!;
      expect(got.label).toBe(t.label);
      expect(got.counts.below_min).toBe(want[t.field].belowMin.length);
      expect(got.counts.above_max).toBe(want[t.field].aboveMax.length);
    }
    expect(want.heart_rate.aboveMax).toEqual([7]);
    expect(want.heart_rate.belowMin).toEqual([13]);
    expect(want.spo2.belowMin).toEqual([21, 33]);
    expect(want.temperature_c.aboveMax).toEqual([40]);
  });

  test('z-score and IQR outliers per field, and the flagged totals, as computed independently', () => {
    const want = expectedFindings();
    let total = 0;
    const records = new Set<number>();
    for (const [field, w] of Object.entries(want)) {
      const got = doc.anomalies.find((a) => a.field === field);
      expect({ field, z: got?.counts.z_score ?? 0, iqr: got?.counts.iqr ?? 0, flagged: got?.counts.flagged ?? 0 })
        .toEqual({ field, z: w.zScore.length, iqr: w.iqr.length, flagged: w.flagged.length });
      total += w.flagged.length;
      w.flagged.forEach((n) => records.add(n));
      const stats = doc.statistics.find((s) => s.field === field)!;
      expect(stats.count).toBe(RECORD_COUNT);
      expect(stats.mean).toBeCloseTo(w.mean, 3);
      expect(stats.stdDev).toBeCloseTo(w.stdDev, 3);
      expect(stats.q1).toBeCloseTo(w.q1, 3);
      expect(stats.q3).toBeCloseTo(w.q3, 3);
      expect(stats.quantilesExact).toBe(true);
    }
    expect(want.systolic_bp.zScore).toEqual([52]);
    expect(doc.anomalyCount).toBe(total);
    expect(doc.recordsWithAnomalies).toBe(records.size);
  });

  test('worst examples: threshold crossings first, the worst first, pseudonymized subject and numeric context', () => {
    const hr = doc.anomalies.find((a) => a.field === 'heart_rate')!;
    // 36 is 10% below 40; 192 is 6.7% above 180.
    expect(hr.worstExamples.map((e) => e.recordNumber).slice(0, 2)).toEqual([13, 7]);
    const high = hr.worstExamples[1];
    expect(high).toMatchObject({ recordNumber: 7, sourceId: 'R-7', field: 'heart_rate', value: 192, limit: 180 });
    expect(high.kinds).toEqual(expect.arrayContaining(['above_max', 'z_score', 'iqr']));
    expect(high.zScore).toBeGreaterThan(3);
    expect(Object.keys(high.subject)).toEqual(['patient_id']);
    expect(high.subject.patient_id).toMatch(/^anon_[0-9a-f]{16}$/);
    expect(high.context).toMatchObject({ systolic_bp: expect.any(Number), spo2: expect.any(Number) });
    expect(high.context).not.toHaveProperty('heart_rate');
    expect(hr.worstExamples.length).toBeLessThanOrEqual(5);
  });

  test('the prompt is bounded and carries no raw identifier', () => {
    expect(requests).toHaveLength(1);
    const request = requests[0];
    expect(request.modelId).toBe(MODEL);
    expect(request.body.inferenceConfig).toEqual({ maxTokens: 1500, temperature: 0.2 });
    expect(request.body.system![0].text).toContain('riskLevel');
    for (const raw of rawIdentifiers()) expect(request.raw).not.toContain(raw);
    expect(request.raw).toMatch(/anon_[0-9a-f]{16}/);
    expect(request.raw.length).toBeLessThan(24_000 + 4_000);
    // Never the data set: far fewer examples than records.
    expect(doc.ai.anomaliesInPrompt).toBeLessThanOrEqual(40);
    expect(request.raw).not.toContain('R-1"');
  });

  test('the analysis is saved: document in S3 under analyses/, summary in the table with a TTL', async () => {
    expect(doc.output.key).toBe(`analyses/health-readings/${FIXTURE_EVENT_TIME.slice(0, 10).replace(/-/g, '/')}/${runId}.json`);
    expect(doc.ai).toMatchObject({ status: 'ok', attempts: 1, output: VALID_OUTPUT, error: null });
    const item = (await tableItems()).find((i) => i.analysisId === runId);
    expect(item).toMatchObject({
      sourceName: 'health-readings',
      sk: `${FIXTURE_EVENT_TIME}#${runId}`,
      day: FIXTURE_EVENT_TIME.slice(0, 10),
      riskLevel: 'medium',
      aiStatus: 'ok',
      executiveSummary: VALID_OUTPUT.executiveSummary,
      insights: VALID_OUTPUT.insights,
      anomaliesByField: expect.objectContaining({ heart_rate: expectedFindings().heart_rate.flagged.length }),
    });
    expect(item.expiresAt).toBeGreaterThan(Date.parse(doc.analyzedAt) / 1000 + 29 * 86400);
  });

  test('token usage and estimated cost are published as embedded metrics', () => {
    const cost = (1800 * 0.06 + 220 * 0.24) / 1e6;
    expect(doc.ai.estimatedCostUsd).toBeCloseTo(cost, 10);
    const lines = printed;
    const overall = lines.find((l) => l.InputTokens !== undefined && l._aws.CloudWatchMetrics[0].Dimensions.some((d: string[]) => d.length === 1));
    expect(overall).toBeDefined();
    expect(overall._aws.CloudWatchMetrics[0].Namespace).toBe('ServerlessDataPipeline');
    expect(overall.service).toBe('ai-analyzer');
    expect(overall.Source).toBe('health-readings');
    expect(overall._aws.CloudWatchMetrics[0].Dimensions).toEqual(expect.arrayContaining([['service'], ['service', 'Source']]));
    expect(overall).toMatchObject({ InputTokens: 1800, OutputTokens: 220, ModelCalls: 1, RecordsAnalyzed: RECORD_COUNT, AnalysesCompleted: 1 });
    expect(overall.EstimatedCostUsd).toBeCloseTo(cost, 10);
  });
});

describe('idempotency: a redelivered event neither analyzes nor bills twice', () => {
  test('the same event three times: one model call, one item, one event', async () => {
    const { runId, processedKey } = await putRun();
    const event = succeededEvent(runId, processedKey);
    for (let i = 1; i <= 3; i++) {
      expect(await handler(sqsEvent(event, i))).toEqual({ batchItemFailures: [] });
    }
    expect(bedrock.requests).toHaveLength(1);
    expect((await tableItems()).filter((i) => i.analysisId === runId)).toHaveLength(1);
    expect(events.events.filter((e) => e.detailType === 'Analysis Complete' && e.detail.analysisId === runId)).toHaveLength(1);
    expect((await tableItems(IDEMPOTENCY)).some((i) => i.status === 'COMPLETED')).toBe(true);
  });

  test('a retry after the event could not be sent resends it without calling the model again', async () => {
    const { runId, processedKey } = await putRun();
    const event = succeededEvent(runId, processedKey);
    events.failNext(3); // PutEvents is tried 3 times by the SDK: all fail
    const first = await handler(sqsEvent(event, 1));
    expect(first.batchItemFailures).toHaveLength(1);
    expect(bedrock.requests).toHaveLength(1);
    const second = await handler(sqsEvent(event, 2));
    expect(second).toEqual({ batchItemFailures: [] });
    expect(bedrock.requests).toHaveLength(1);
    expect(events.events.filter((e) => e.detailType === 'Analysis Complete' && e.detail.analysisId === runId)).toHaveLength(1);
  });
});

describe('model output handling', () => {
  test('malformed JSON, then a valid answer: retried once with the error, both calls billed', async () => {
    const { runId, processedKey } = await putRun();
    bedrock.enqueue(
      textAnswer('Here is my analysis: {"insights": ["x"], "recommendations": [', { inputTokens: 1000, outputTokens: 40 }),
      validAnswer(VALID_OUTPUT, { inputTokens: 1100, outputTokens: 200 }),
    );
    await handler(sqsEvent(succeededEvent(runId, processedKey)));
    expect(bedrock.requests).toHaveLength(2);
    const retry = bedrock.requests[1].body.messages;
    expect(retry.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(retry[2].content[0].text).toMatch(/not valid JSON/);
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail).toMatchObject({ aiStatus: 'ok', riskLevelSource: 'model', usage: { inputTokens: 2100, outputTokens: 240 } });
    expect(detail.estimatedCostUsd).toBeCloseTo((2100 * 0.06 + 240 * 0.24) / 1e6, 10);
  });

  test('JSON that misses the schema twice: recorded as invalid_output, deterministic findings kept', async () => {
    const { runId, processedKey } = await putRun();
    const wrong = textAnswer(JSON.stringify({ insights: [], recommendations: ['a'], executiveSummary: 'x', riskLevel: 'severe' }));
    bedrock.enqueue(wrong, wrong);
    await handler(sqsEvent(succeededEvent(runId, processedKey)));
    expect(bedrock.requests).toHaveLength(2);
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail).toMatchObject({ aiStatus: 'invalid_output', riskLevelSource: 'rules' });
    const doc = await getJson<AnalysisDocument>(detail.analysisKey);
    expect(doc.ai.error).toMatch(/does not match the schema/);
    expect(doc.ai.output).toBeNull();
    expect(doc.anomalyCount).toBeGreaterThan(0);
    expect(doc.anomalies.find((a) => a.field === 'spo2')!.counts.below_min).toBe(2);
  });

  test('a refusal, twice: recorded as refused, findings kept, risk from the rules', async () => {
    const { runId, processedKey } = await putRun();
    bedrock.enqueue(refusal(), contentFiltered());
    await handler(sqsEvent(succeededEvent(runId, processedKey)));
    expect(bedrock.requests).toHaveLength(2);
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail).toMatchObject({ aiStatus: 'refused', riskLevelSource: 'rules', riskLevel: expect.stringMatching(/^(low|medium|high|critical)$/) });
    expect(detail.anomalyCount).toBeGreaterThan(0);
    const item = (await tableItems()).find((i) => i.analysisId === runId);
    expect(item).toMatchObject({ aiStatus: 'refused', executiveSummary: null, insights: [] });
    const metric = emf.find((l) => l.AiRefused !== undefined);
    expect(metric.AiRefused).toBe(1);
  });

  test('throttling, then success: retried by the SDK with backoff, one analysis', async () => {
    const { runId, processedKey } = await putRun();
    bedrock.enqueue(throttling(), throttling(), validAnswer());
    const result = await handler(sqsEvent(succeededEvent(runId, processedKey)));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(bedrock.requests).toHaveLength(3);
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail.aiStatus).toBe('ok');
  });

  test('throttling beyond the retries: the message returns to the queue; on the last attempt the error is recorded', async () => {
    const { runId, processedKey } = await putRun();
    bedrock.setDefault(throttling());
    const event = succeededEvent(runId, processedKey);
    const first = await handler(sqsEvent(event, 1));
    expect(first.batchItemFailures).toHaveLength(1);
    expect(events.events).toHaveLength(0);
    const last = await handler(sqsEvent(event, 3));
    expect(last).toEqual({ batchItemFailures: [] });
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail).toMatchObject({ aiStatus: 'error', riskLevelSource: 'rules' });
    const doc = await getJson<AnalysisDocument>(detail.analysisKey);
    expect(doc.ai.error).toMatch(/ThrottlingException/);
    expect(doc.anomalyCount).toBeGreaterThan(0);
  });

  test('access denied to the model: recorded as error at once (no retry can fix it)', async () => {
    const { runId, processedKey } = await putRun();
    bedrock.enqueue(accessDenied());
    const result = await handler(sqsEvent(succeededEvent(runId, processedKey), 1));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(bedrock.requests).toHaveLength(1);
    const detail = events.events.find((e) => e.detailType === 'Analysis Complete')!.detail;
    expect(detail.aiStatus).toBe('error');
  });
});

describe('failures and on-demand invocation', () => {
  test('a processed key that does not exist: Analysis Failed at once, message consumed', async () => {
    const runId = randomUUID();
    const result = await handler(sqsEvent(succeededEvent(runId, `processed/health-readings/2024/05/01/${runId}.ndjson`)));
    expect(result).toEqual({ batchItemFailures: [] });
    const failed = events.events.filter((e) => e.detailType === 'Analysis Failed');
    expect(failed).toHaveLength(1);
    expect(validFailed(failed[0].detail)).toBe(true);
    expect(failed[0].detail).toMatchObject({ runId, sourceName: 'health-readings', error: { code: 'object_not_found' }, final: true });
    expect(bedrock.requests).toHaveLength(0);
  });

  test('an event for another bucket or outside processed/ is refused (invalid_request)', async () => {
    const runId = randomUUID();
    await handler(sqsEvent(succeededEvent(runId, 'raw/../secrets.ndjson')));
    await handler(sqsEvent({ ...succeededEvent(runId, `processed/x/${runId}.ndjson`), detail: { ...succeededEvent(runId, 'processed/x').detail, bucket: 'other' } }));
    const failed = events.events.filter((e) => e.detailType === 'Analysis Failed');
    expect(failed.map((f) => f.detail.error.code)).toEqual(['invalid_request', 'invalid_request']);
  });

  test('a run without valid records (processedKey null) is skipped without events', async () => {
    const runId = randomUUID();
    const event = succeededEvent(runId, null);
    expect(await handler(sqsEvent(event))).toEqual({ batchItemFailures: [] });
    expect(events.events).toHaveLength(0);
  });

  test('on demand with a manifest key: the analysis detail is returned', async () => {
    const { runId, processedKey } = await putRun();
    const manifestKey = `manifests/health-readings/2024/05/01/${runId}.json`;
    await s3.client().send(new PutObjectCommand({
      Bucket: BUCKET,
      Key: manifestKey,
      Body: JSON.stringify({
        schemaVersion: '1.0',
        runId,
        status: 'succeeded',
        forced: false,
        source: { name: 'health-readings', sourceSystem: 'health', entityType: 'health_reading', format: 'csv', loadToStore: false, personalDataFields: PERSONAL_FIELDS },
        counts: { received: 62, inserted: 0, updated: 0, unchanged: 0, stale: 0, notLoaded: 60, rejected: 2, duplicates: 0 },
        outputs: { processedKey, rejectedKey: null, compression: 'none' },
      }),
    }));
    const detail = await handler({ manifestKey, analysisId: `adhoc-${runId}` });
    expect(validComplete(detail)).toBe(true);
    expect(detail).toMatchObject({ analysisId: `adhoc-${runId}`, runId, trigger: 'on_demand', manifestKey, recordsAnalyzed: RECORD_COUNT });
    for (const raw of rawIdentifiers()) expect(bedrock.requests[0].raw).not.toContain(raw);
    // The same analysisId again: the stored result, no second model call.
    const again = await handler({ manifestKey, analysisId: `adhoc-${runId}` });
    expect(again).toEqual(detail);
    expect(bedrock.requests).toHaveLength(1);
  });

  test('on demand, an analysisId reused with another payload is a clear error, not the other request\'s analysis', async () => {
    const first = await putRun();
    const second = await putRun();
    const analysisId = `reused-${first.runId}`;
    const detail = await handler({ sourceName: 'health-readings', processedKey: first.processedKey, personalDataFields: PERSONAL_FIELDS, analysisId });
    expect(detail).toMatchObject({ analysisId, trigger: 'on_demand' });
    expect(bedrock.requests).toHaveLength(1);
    // The same request again: its stored result.
    expect(await handler({ sourceName: 'health-readings', processedKey: first.processedKey, personalDataFields: PERSONAL_FIELDS, analysisId })).toEqual(detail);
    // Another processed object under the same id: refused, no model call, Analysis Failed says why.
    await expect(handler({ sourceName: 'health-readings', processedKey: second.processedKey, personalDataFields: PERSONAL_FIELDS, analysisId }))
      .rejects.toThrow(`analysisId "${analysisId}" was already used for a different request`);
    // Other personal-data fields are another request too (they change what the model sees).
    await expect(handler({ sourceName: 'health-readings', processedKey: first.processedKey, personalDataFields: [], analysisId }))
      .rejects.toThrow(/was already used for a different request/);
    expect(bedrock.requests).toHaveLength(1);
    const failed = events.events.filter((e) => e.detailType === 'Analysis Failed' && e.detail.analysisId === analysisId);
    expect(failed.map((e) => e.detail.error.code)).toEqual(['analysis_id_conflict', 'analysis_id_conflict']);
  });

  test('on demand with a bad payload: thrown to the caller, Analysis Failed sent; the log line carries the Lambda context', async () => {
    const context = lambdaContext();
    const { error, lines } = await captureLogLines(() => handler({ sourceName: 'health-readings', processedKey: 'rejected/x.ndjson' }, context));
    expect(String(error)).toMatch(/processedKey must be a key under processed\//);
    expectLambdaContext(lines.find((l) => l.message === 'On-demand analysis failed'), context.awsRequestId);
    const failed = events.events.filter((e) => e.detailType === 'Analysis Failed');
    expect(failed[0].detail).toMatchObject({ trigger: 'on_demand', error: { code: 'invalid_request' } });
  });

  test('pseudonymization can be turned off: the model then sees the values (opt-out)', async () => {
    const { processedKey } = await putRun();
    process.env.PSEUDONYMIZE = 'false';
    try {
      await handler({ sourceName: 'health-readings', processedKey, personalDataFields: ['patient_id'] });
    } finally {
      delete process.env.PSEUDONYMIZE;
    }
    expect(bedrock.requests[0].raw).toMatch(/PAT-0010/);
  });
});
