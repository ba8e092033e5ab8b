/**
 * The sandbox's Distributed Map layer (sandbox/src/distributed-map.ts, map-run.ts, map-run-s3.ts):
 * Distributed Map states run by the sandbox's own LocalStepFunctions, items read from and results
 * written to the sandbox's S3 (s3rver) through the real SDK, child executions calling in-process
 * functions. The inputs and outputs are those of the examples in AWS's documentation (ItemSelector,
 * ItemBatcher, ItemReader CSV/JSON/listObjectsV2, ResultWriter), plus failures, tolerance,
 * concurrency, abort, the fields the layer refuses, and a Distributed Map as CDK synthesizes it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeMapRunCommand, ListExecutionsCommand, ListMapRunsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { startLocalS3, LocalS3 } from './support/local-s3';
import { localModel, startLocalStepFunctions } from './support/local-stepfunctions';
import { LocalAwsApi } from '../sandbox/src/aws-api';
import { LocalEventBridge } from '../sandbox/src/eventbridge';
import { InProcessLambdas } from '../sandbox/src/lambda-in-process';
import { LocalSns, Outbox } from '../sandbox/src/messaging';
import { LocalQueues } from '../sandbox/src/queues';
import { Execution, LocalStepFunctions } from '../sandbox/src/step-functions';

const BUCKET = 'dmap-data';
const ACCOUNT = '123456789012';
const fnArn = (name: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`;

let localS3: LocalS3;
let client: S3Client;
let api: LocalAwsApi;
let endpoint: string;
let sfnApi: SFNClient;
const outbox = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-dmap-'));
const lambdas = new InProcessLambdas();
let stepFunctions: LocalStepFunctions;

function newStepFunctions(s3Endpoint: string): LocalStepFunctions {
  const events = new LocalEventBridge('us-east-1', ACCOUNT, async () => undefined);
  return new LocalStepFunctions({
    region: 'us-east-1',
    account: ACCOUNT,
    sns: new LocalSns(new Outbox(outbox), async () => undefined, 'us-east-1'),
    events,
    queues: new LocalQueues(),
    invokeLambda: (f, p) => lambdas.invoke(f, p),
    endpointFor: (service) => (service === 's3' ? s3Endpoint : endpoint),
    retryIntervalMs: 0,
  });
}

/** Adds a function run in this process. */
function fn(name: string, handler: (event: any) => unknown, timeoutSeconds = 5): void {
  lambdas.add({ name, arn: fnArn(name), timeoutSeconds, memoryMb: 128, handler });
}

let machines = 0;
/** Adds a state machine of a definition and starts it (with an execution timeout, if given). */
function startMachine(definition: any, input: unknown, timeoutSeconds?: number): Execution {
  const name = `m${++machines}`;
  const arn = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${name}`;
  stepFunctions.addMachine(arn, name, definition);
  stepFunctions.setExecutionTimeout(arn, timeoutSeconds);
  return stepFunctions.start(arn, JSON.stringify(input));
}

/** Runs a definition to its end and returns the execution. */
async function execute(definition: any, input: unknown): Promise<Execution> {
  const execution = startMachine(definition, input);
  await stepFunctions.waitForIdle();
  return execution;
}

/** A function whose invocations answer after `ms`; `calls.started` counts them. */
function slowFunction(name: string, ms: number): { started: number } {
  const calls = { started: 0 };
  fn(name, () => {
    calls.started++;
    return new Promise((r) => setTimeout(() => r('late'), ms));
  });
  return calls;
}

/** Items as objects: the interpreter's `$` path finds no value in a bare number (AWS's does). */
const items = (...ns: number[]) => ns.map((n) => ({ n }));
const output = (e: Execution) => JSON.parse(e.output ?? 'null');
const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const getJson = async (key: string, bucket = BUCKET, s3Client = client) =>
  JSON.parse(await (await s3Client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());

/** A one-state Distributed Map machine whose ItemProcessor is a Pass state (or the given states). */
function distributed(map: Record<string, unknown>, processor?: { StartAt: string; States: Record<string, unknown> }): any {
  return {
    StartAt: 'Map',
    States: {
      Map: {
        Type: 'Map',
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, ...(processor ?? { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } }) },
        End: true,
        ...map,
      },
    },
  };
}

const invokeTask = (name: string, extra: Record<string, unknown> = {}) => ({
  StartAt: 'Work',
  States: { Work: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { 'FunctionName': name, 'Payload.$': '$' }, ResultSelector: { 'value.$': '$.Payload' }, OutputPath: '$.value', End: true, ...extra } },
});

beforeAll(async () => {
  localS3 = await startLocalS3([BUCKET]);
  client = localS3.client();
  api = new LocalAwsApi();
  endpoint = await api.listen(0);
  stepFunctions = newStepFunctions(localS3.endpoint);
  stepFunctions.register(api);
  sfnApi = new SFNClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
}, 60_000);

afterAll(async () => {
  await stepFunctions.stop();
  await lambdas.settle();
  sfnApi.destroy();
  await api.close();
  await localS3.close();
  fs.rmSync(outbox, { recursive: true, force: true });
});

describe('items, ItemSelector and ItemBatcher (AWS documentation examples)', () => {
  test('ItemSelector: $$.Map.Item.Index, $$.Map.Item.Value and a path into the state input, per item of ItemsPath', async () => {
    // The ItemSelector example of AWS's Map state documentation.
    const input = {
      delay: 7,
      detail: { shipped: [{ 'prod': 'R31', 'dest-code': 9511, 'quantity': 1344 }, { 'prod': 'S39', 'dest-code': 9511, 'quantity': 40 }] },
    };
    const e = await execute(distributed({
      ItemsPath: '$.detail.shipped',
      ItemSelector: { 'ContextIndex.$': '$$.Map.Item.Index', 'ContextValue.$': '$$.Map.Item.Value', 'delay.$': '$.delay' },
    }), input);
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([
      { ContextIndex: 0, ContextValue: { 'prod': 'R31', 'dest-code': 9511, 'quantity': 1344 }, delay: 7 },
      { ContextIndex: 1, ContextValue: { 'prod': 'S39', 'dest-code': 9511, 'quantity': 40 }, delay: 7 },
    ]);
    expect(e.mapRuns).toHaveLength(1);
    expect(e.mapRuns[0]).toMatchObject({ status: 'SUCCEEDED', stateName: 'Map', executionCounts: { total: 2, succeeded: 2, failed: 0, running: 0, pending: 0 } });
  });

  test('ItemSelector with an intrinsic function; InputPath, ResultSelector, ResultPath and OutputPath around the Map state', async () => {
    const around = {
      InputPath: '$.in',
      ItemSelector: { 'line.$': "States.Format('{}#{}', $.run, $$.Map.Item.Value)" },
      ResultPath: '$.out',
      OutputPath: '$.out.lines',
    };
    const e = await execute(distributed({ ...around, ResultSelector: { 'lines.$': '$' } }), { in: [1, 2] });
    // ItemsPath defaults to $, the state input after InputPath ($.in): the items are 1 and 2; $.run is absent from it.
    expect(e.status).toBe('FAILED');
    expect(e.error).toBe('States.Runtime');

    const ok = await execute(distributed({ ...around, ItemsPath: '$.items', ResultSelector: { 'lines.$': '$[*].line' } }), { in: { run: 'r1', items: [1, 2, 3] } });
    expect(ok.status).toBe('SUCCEEDED');
    expect(output(ok)).toEqual(['r1#1', 'r1#2', 'r1#3']);
  });

  test('ItemBatcher: MaxItemsPerBatch and BatchInput; each child gets { BatchInput, Items } (the ItemBatcher documentation example)', async () => {
    const statements = [
      { verdict: 'true', statement_date: '6/11/2008', statement_source: 'speech' },
      { verdict: 'false', statement_date: '6/7/2022', statement_source: 'television' },
      { verdict: 'true', statement_date: '5/18/2016', statement_source: 'news' },
    ];
    const e = await execute(distributed({ ItemBatcher: { MaxItemsPerBatch: 2, BatchInput: { factCheck: 'December 2022' } } }), statements);
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([
      { BatchInput: { factCheck: 'December 2022' }, Items: statements.slice(0, 2) },
      { BatchInput: { factCheck: 'December 2022' }, Items: statements.slice(2) },
    ]);
    expect(e.mapRuns[0].itemCounts).toMatchObject({ total: 3, succeeded: 3 });
    expect(e.mapRuns[0].executionCounts).toMatchObject({ total: 2, succeeded: 2 });
  });

  test('ItemBatcher: MaxInputBytesPerBatch bounds the child input\'s JSON size; MaxItemsPerBatchPath from the input; ItemSelector before batching', async () => {
    const records = Array.from({ length: 10 }, (_, i) => ({ id: i, pad: 'x'.repeat(40) }));
    const limit = Buffer.byteLength(JSON.stringify({ Items: records.slice(0, 3).map((v, i) => ({ i, v })) }));
    const e = await execute(distributed({
      ItemsPath: '$.records',
      ItemSelector: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value' },
      ItemBatcher: { MaxInputBytesPerBatch: limit, MaxItemsPerBatchPath: '$.perBatch' },
    }), { records, perBatch: 4 });
    expect(e.status).toBe('SUCCEEDED');
    const batches = output(e) as Array<{ Items: Array<{ i: number }> }>;
    expect(batches.map((b) => b.Items.map((x) => x.i))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    for (const b of batches) expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThanOrEqual(limit);

    const byCount = await execute(distributed({ ItemBatcher: { MaxItemsPerBatchPath: '$.perBatch', BatchInput: { 'size.$': '$.perBatch' } }, ItemsPath: '$.records' }), { records, perBatch: 4 });
    expect((output(byCount) as any[]).map((b) => b.Items.length)).toEqual([4, 4, 2]);
    expect(output(byCount)[0].BatchInput).toEqual({ size: 4 });
  });
});

describe('ItemReader from the local S3', () => {
  test('s3:getObject of a CSV file with CSVHeaderLocation FIRST_ROW: one item per row, the header\'s names, string values', async () => {
    // The ratings.csv of AWS's ItemReader documentation.
    await put('csvDataset/ratings.csv', 'rating,movieId,userId,timestamp\n3.5,307,1,1256677221\n4.0,481,1,1256677456\n1.0,1091,1,1256677471\n');
    const e = await execute(distributed({
      ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' }, Parameters: { 'Bucket': BUCKET, 'Key.$': '$.key' } },
    }), { key: 'csvDataset/ratings.csv' });
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([
      { rating: '3.5', movieId: '307', userId: '1', timestamp: '1256677221' },
      { rating: '4.0', movieId: '481', userId: '1', timestamp: '1256677456' },
      { rating: '1.0', movieId: '1091', userId: '1', timestamp: '1256677471' },
    ]);
  });

  test('CSV with CSVHeaderLocation GIVEN, a pipe delimiter, a quoted field with a newline, and MaxItems', async () => {
    await put('given.csv', '1|"two\nlines"\n3|four\n5|six\n');
    const e = await execute(distributed({
      ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'GIVEN', CSVHeaders: ['n', 'word'], CSVDelimiter: 'PIPE', MaxItems: 2 }, Parameters: { Bucket: BUCKET, Key: 'given.csv' } },
    }), {});
    expect(output(e)).toEqual([{ n: '1', word: 'two\nlines' }, { n: '3', word: 'four' }]);
  });

  test('JSON (an array object) and JSON Lines; MaxItemsPath', async () => {
    await put('a.json', JSON.stringify([{ a: 1 }, { a: 2 }, { a: 3 }]));
    await put('a.jsonl', '{"a":1}\n{"a":2}\n\n{"a":3}\n');
    const reader = (type: string, key: string) => ({ ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: type, MaxItemsPath: '$.max' }, Parameters: { Bucket: BUCKET, Key: key } } });
    expect(output(await execute(distributed(reader('JSON', 'a.json')), { max: 2 }))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(output(await execute(distributed(reader('JSONL', 'a.jsonl')), { max: 0 }))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  test('s3:listObjectsV2: one item per object under the prefix, as Step Functions gives it', async () => {
    await put('images/a.jpg', 'aaaa');
    await put('images/b.jpg', 'bbbbbbbb');
    const e = await execute(distributed({ ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: BUCKET, Prefix: 'images/' } } }), {});
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([
      { Etag: expect.stringMatching(/^"[0-9a-f]{32}"$/), Key: 'images/a.jpg', LastModified: expect.any(Number), Size: 4, StorageClass: 'STANDARD' },
      { Etag: expect.stringMatching(/^"[0-9a-f]{32}"$/), Key: 'images/b.jpg', LastModified: expect.any(Number), Size: 8, StorageClass: 'STANDARD' },
    ]);
    expect(Math.abs(output(e)[0].LastModified - Date.now() / 1000)).toBeLessThan(120);
  });

  test('a missing object or a JSON object that is not an array fails the state with States.ItemReaderFailed, which Catch sees', async () => {
    await put('object.json', '{"not":"an array"}');
    const missing = await execute(distributed({ ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' }, Parameters: { Bucket: BUCKET, Key: 'nope.json' } } }), {});
    expect(missing).toMatchObject({ status: 'FAILED', error: 'States.ItemReaderFailed' });
    expect(missing.cause).toMatch(/NoSuchKey/);
    const definition = distributed({
      ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' }, Parameters: { Bucket: BUCKET, Key: 'object.json' } },
      Catch: [{ ErrorEquals: ['States.ItemReaderFailed'], ResultPath: '$.error', Next: 'Caught' }],
    });
    definition.States.Caught = { Type: 'Pass', End: true };
    const caught = await execute(definition, {});
    expect(caught.status).toBe('SUCCEEDED');
    expect(output(caught).error).toEqual({ Error: 'States.ItemReaderFailed', Cause: expect.stringContaining('does not hold a JSON array') });
  });
});

describe('child executions: failures, retries, tolerance, results', () => {
  test('a child\'s Task retries inside the ItemProcessor (fails twice, then succeeds): the Map Run succeeds', async () => {
    const attempts = new Map<number, number>();
    fn('flakyPart', (event) => {
      const n = (attempts.get(event.part) ?? 0) + 1;
      attempts.set(event.part, n);
      if (n <= 2) throw Object.assign(new Error(`part ${event.part} attempt ${n}`), { name: 'PartBusy' });
      return { part: event.part, attempts: n };
    });
    const e = await execute(distributed({ ItemSelector: { 'part.$': '$$.Map.Item.Value' } }, invokeTask('flakyPart', { Retry: [{ ErrorEquals: ['PartBusy'], MaxAttempts: 2 }] })), [1, 2, 3]);
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([{ part: 1, attempts: 3 }, { part: 2, attempts: 3 }, { part: 3, attempts: 3 }]);
    expect(e.mapRuns[0].executionCounts).toMatchObject({ succeeded: 3, failed: 0 });
  });

  test('failures within ToleratedFailureCount: the state succeeds; a failed child\'s place in the result is its record with Error and Cause', async () => {
    fn('oddFails', (event) => {
      if (event.n % 2 === 1) throw Object.assign(new Error(`odd ${event.n}`), { name: 'OddItem' });
      return event.n * 10;
    });
    const e = await execute(distributed({ ToleratedFailureCount: 2 }, invokeTask('oddFails')), items(0, 1, 2, 3));
    expect(e.status).toBe('SUCCEEDED');
    const result = output(e);
    expect(result[0]).toBe(0);
    expect(result[2]).toBe(20);
    expect(result[1]).toMatchObject({ Status: 'FAILED', Error: 'OddItem', Input: '{"n":1}', ExecutionArn: expect.stringMatching(/:execution:m\d+\/Map:/) });
    expect(JSON.parse(result[1].Cause)).toMatchObject({ errorType: 'OddItem', errorMessage: 'odd 1' });
    expect(e.mapRuns[0].itemCounts).toMatchObject({ total: 4, succeeded: 2, failed: 2 });
  });

  test('failures above ToleratedFailurePercentage: States.ExceedToleratedFailureThreshold, no child starts after it, Catch sees it', async () => {
    let started = 0;
    fn('firstTwoFail', async (event) => {
      started++;
      if (event.n < 2) throw Object.assign(new Error('bad part'), { name: 'BadPart' });
      return event.n;
    });
    const definition = distributed({ ToleratedFailurePercentage: 10, MaxConcurrency: 1, Catch: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], Next: 'Failed' }] }, invokeTask('firstTwoFail'));
    definition.States.Failed = { Type: 'Pass', End: true };
    const e = await execute(definition, items(...Array.from({ length: 10 }, (_, i) => i)));
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual({ Error: 'States.ExceedToleratedFailureThreshold', Cause: 'The specified tolerated failure threshold was exceeded' });
    // 1 failure of 10 items is 10% (tolerated); the 2nd is 20%: the run stops there.
    expect(started).toBe(2);
    expect(e.mapRuns[0]).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    expect(e.mapRuns[0].executionCounts).toMatchObject({ total: 10, failed: 2, pending: 8, succeeded: 0 });

    // The default tolerance is 0: the first failure fails the state (uncaught: the execution fails).
    const strict = await execute(distributed({ MaxConcurrency: 1 }, invokeTask('firstTwoFail')), items(5, 0, 6));
    expect(strict).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    expect(strict.mapRuns[0].executionCounts).toMatchObject({ succeeded: 1, failed: 1, pending: 1 });
  });

  test('ResultWriter: SUCCEEDED_0.json, FAILED_0.json and manifest.json under <Prefix>/<map run id>/ in the documented shapes; the state\'s result points at the manifest', async () => {
    const e = await execute(distributed({ ToleratedFailureCount: 5, ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { 'Bucket': BUCKET, 'Prefix.$': '$.prefix' } }, ItemsPath: '$.items' }, invokeTask('oddFails')), { prefix: 'csvProcessJobs', items: items(2, 3) });
    expect(e.status).toBe('SUCCEEDED');
    const run = e.mapRuns[0];
    const id = run.mapRunArn.split(':').pop();
    expect(run.mapRunArn).toMatch(new RegExp(`^arn:aws:states:us-east-1:${ACCOUNT}:mapRun:m\\d+/Map:[0-9a-f-]{36}$`));
    expect(output(e)).toEqual({ MapRunArn: run.mapRunArn, ResultWriterDetails: { Bucket: BUCKET, Key: `csvProcessJobs/${id}/manifest.json` } });
    const manifest = await getJson(`csvProcessJobs/${id}/manifest.json`);
    expect(manifest).toEqual({
      DestinationBucket: BUCKET,
      MapRunArn: run.mapRunArn,
      ResultFiles: {
        FAILED: [{ Key: `csvProcessJobs/${id}/FAILED_0.json`, Size: expect.any(Number) }],
        PENDING: [],
        SUCCEEDED: [{ Key: `csvProcessJobs/${id}/SUCCEEDED_0.json`, Size: expect.any(Number) }],
      },
    });
    const succeeded = await getJson(manifest.ResultFiles.SUCCEEDED[0].Key);
    expect(succeeded).toEqual([{
      ExecutionArn: expect.stringMatching(new RegExp(`^arn:aws:states:us-east-1:${ACCOUNT}:execution:m\\d+/Map:[0-9a-f-]{36}$`)),
      Input: '{"n":2}',
      InputDetails: { Included: true },
      Name: expect.any(String),
      Output: '20',
      OutputDetails: { Included: true },
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
      StartDate: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      StateMachineArn: expect.stringMatching(/:stateMachine:m\d+\/Map$/),
      Status: 'SUCCEEDED',
      StopDate: expect.stringMatching(/^\d{4}-/),
    }]);
    const failed = await getJson(manifest.ResultFiles.FAILED[0].Key);
    expect(failed).toEqual([expect.objectContaining({ Input: '{"n":3}', Status: 'FAILED', Error: 'OddItem', Cause: expect.stringContaining('odd 3'), RedriveStatus: 'REDRIVABLE_BY_MAP_RUN' })]);
    expect(failed[0].Output).toBeUndefined();
    expect(manifest.ResultFiles.SUCCEEDED[0].Size).toBe(Buffer.byteLength(JSON.stringify(succeeded)));
  });

  test('ResultWriter on a failed Map Run: the children never started are listed as PENDING, and the state still fails', async () => {
    const e = await execute(distributed({ MaxConcurrency: 1, ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: BUCKET, Prefix: 'failedRun/' } } }, invokeTask('oddFails')), items(2, 1, 4));
    expect(e).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    const id = e.mapRuns[0].mapRunArn.split(':').pop();
    const manifest = await getJson(`failedRun/${id}/manifest.json`);
    const files = Object.fromEntries(Object.entries(manifest.ResultFiles).map(([k, v]) => [k, (v as unknown[]).length]));
    expect(files).toEqual({ SUCCEEDED: 1, FAILED: 1, PENDING: 1 });
    expect(await getJson(`failedRun/${id}/PENDING_0.json`)).toEqual([{ Input: '{"n":4}', InputDetails: { Included: true }, Status: 'PENDING' }]);
  });
});

describe('concurrency, abort, visibility', () => {
  test('MaxConcurrency bounds the children running at once; the counts on the execution show them while they run', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    fn('slowPart', async (event) => {
      running++;
      peak = Math.max(peak, running);
      const live = [...stepFunctions.executions.values()].find((x) => x.status === 'RUNNING' && x.mapRuns.length > 0);
      seen.push(live!.mapRuns[0].executionCounts.running);
      await new Promise((r) => setTimeout(r, 40));
      running--;
      return event.n;
    });
    const e = await execute(distributed({ MaxConcurrencyPath: '$.limit', ItemsPath: '$.items' }, invokeTask('slowPart')), { limit: 3, items: items(...Array.from({ length: 12 }, (_, i) => i)) });
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(Math.max(...seen)).toBe(3);
    expect(e.mapRuns[0]).toMatchObject({ maxConcurrency: 3, executionCounts: { running: 0, succeeded: 12, total: 12 } });
  });

  test('stopping the parent aborts the running children and starts no more', async () => {
    const calls = slowFunction('hangingPart', 1500);
    const e = startMachine(distributed({ MaxConcurrency: 2 }, invokeTask('hangingPart')), items(1, 2, 3, 4, 5));
    while (calls.started < 2) await new Promise((r) => setTimeout(r, 10));
    e.abort!();
    await stepFunctions.waitForIdle();
    await new Promise((r) => setTimeout(r, 100));
    expect(e.status).toBe('ABORTED');
    expect(calls.started).toBe(2);
    expect(e.mapRuns[0].status).toBe('ABORTED');
    expect(e.mapRuns[0].executionCounts).toMatchObject({ aborted: 2, pending: 3, running: 0 });
    await lambdas.settle();
  });

  test('the parent\'s timeout aborts the Map Run\'s children too', async () => {
    const calls = slowFunction('slowerPart', 2000);
    const e = startMachine(distributed({ MaxConcurrency: 1 }, invokeTask('slowerPart')), items(1, 2, 3), 1);
    await stepFunctions.waitForIdle();
    await new Promise((r) => setTimeout(r, 100));
    expect(e.status).toBe('TIMED_OUT');
    expect(calls.started).toBe(1);
    expect(e.mapRuns[0]).toMatchObject({ status: 'ABORTED', executionCounts: { aborted: 1, pending: 2, running: 0 } });
    await lambdas.settle();
  });

  test('DescribeMapRun, ListMapRuns and ListExecutions(mapRunArn) on the local API', async () => {
    const e = await execute(distributed({ ToleratedFailurePercentage: 50, Label: 'Parts' }, invokeTask('oddFails')), items(2, 3));
    const { mapRuns } = await sfnApi.send(new ListMapRunsCommand({ executionArn: e.executionArn }));
    expect(mapRuns).toHaveLength(1);
    expect(mapRuns![0].mapRunArn).toMatch(/:mapRun:m\d+\/Parts:/);
    const described = await sfnApi.send(new DescribeMapRunCommand({ mapRunArn: mapRuns![0].mapRunArn }));
    expect(described).toMatchObject({ status: 'SUCCEEDED', executionArn: e.executionArn, toleratedFailurePercentage: 50, maxConcurrency: 0, itemCounts: { total: 2, succeeded: 1, failed: 1 } });
    const children = await sfnApi.send(new ListExecutionsCommand({ mapRunArn: mapRuns![0].mapRunArn, statusFilter: 'FAILED' }));
    expect(children.executions!.map((x) => x.status)).toEqual(['FAILED']);
  });
});

describe('nesting and the rewrite', () => {
  test('a Distributed Map in a Parallel branch, and one in another\'s ItemProcessor, run; their Map Runs are on the execution', async () => {
    const inner = distributed({ ItemsPath: '$.values' }).States.Map;
    const definition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          End: true,
          Branches: [
            { StartAt: 'Outer', States: { Outer: { ...distributed({}).States.Map, ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' }, StartAt: 'Inner', States: { Inner: inner } } } } },
            { StartAt: 'Plain', States: { Plain: { Type: 'Pass', Result: 'plain', End: true } } },
          ],
        },
      },
    };
    const e = await execute(definition, [{ values: [1, 2] }, { values: [3] }]);
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual([[[1, 2], [3]], 'plain']);
    expect(e.mapRuns.map((r) => r.stateName).sort()).toEqual(['Inner', 'Inner', 'Outer']);
    expect(e.mapRuns.find((r) => r.stateName === 'Outer')!.executions[0].executionArn).toMatch(/:express:m\d+\/Outer:/);
  });

  test('a Retry on the Map state re-runs the Map Run (a new Map Run each attempt)', async () => {
    let calls = 0;
    fn('failsFirstRun', () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('first run'), { name: 'FirstRun' });
      return 'ok';
    });
    const e = await execute(distributed({ Retry: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], MaxAttempts: 1 }] }, invokeTask('failsFirstRun')), items(1));
    expect(e.status).toBe('SUCCEEDED');
    expect(output(e)).toEqual(['ok']);
    expect(e.mapRuns.map((r) => r.status)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  test.each([
    [{ ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'b' }, WriterConfig: { Transformation: 'COMPACT', OutputType: 'JSON' } } }, 'Map: ResultWriter.WriterConfig is not supported by the sandbox\'s Distributed Map layer'],
    [{ ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'MANIFEST' }, Parameters: { Bucket: 'b', Key: 'k' } } }, 'Map: ItemReader.ReaderConfig.InputType MANIFEST is not supported by the sandbox\'s Distributed Map layer'],
    [{ ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', ReaderConfig: { Transformation: 'LOAD_AND_FLATTEN', InputType: 'JSON' }, Parameters: { Bucket: 'b' } } }, 'Map: ItemReader.ReaderConfig.Transformation is not supported by the sandbox\'s Distributed Map layer'],
    [{ ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON', ItemsPointer: '/items' }, Parameters: { Bucket: 'b', Key: 'k' } } }, 'Map: ItemReader.ReaderConfig.ItemsPointer is not supported'],
    [{ ItemReader: { Resource: 'arn:aws:states:::dynamodb:scan', Parameters: {} } }, 'Map: ItemReader.Resource arn:aws:states:::dynamodb:scan is not supported'],
    [{ Assign: { x: 1 } }, 'Map: Assign is not supported'],
    [{ ItemsPath: '$.x', ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'b' } } }, 'Map: ItemsPath with an ItemReader is not supported'],
    [{ QueryLanguage: 'JSONata' }, 'Map: QueryLanguage JSONata is not supported'],
    [{ Frobnicate: true }, 'Map: Frobnicate is not supported by the sandbox\'s Distributed Map layer'],
    [{ ItemSelector: { 'started.$': '$$.Execution.StartTime' } }, 'Map: ItemSelector with $$.Execution.StartTime is not supported'],
  ])('refused when the definition is added: %j', (fields, message) => {
    expect(() => stepFunctions.addMachine(`arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:refused`, 'refused', distributed(fields))).toThrow(message);
  });

  test('an ItemProcessor the interpreter finds invalid is refused when the definition is added', () => {
    const definition = distributed({}, { StartAt: 'Missing', States: { Echo: { Type: 'Pass', End: true } } });
    expect(() => stepFunctions.addMachine(`arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:invalid`, 'invalid', definition))
      .toThrow(/^invalid: the ItemProcessor of Map: State machine definition is invalid/);
  });

  test('refused inside a Parallel branch too, naming the state', () => {
    const definition = { StartAt: 'P', States: { P: { Type: 'Parallel', End: true, Branches: [{ StartAt: 'Deep', States: { Deep: { ...distributed({ ItemBatcher: { MaxItemsPerBatch: 2, Extra: 1 } }).States.Map } } }] } } };
    expect(() => stepFunctions.addMachine(`arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:refused2`, 'refused2', definition))
      .toThrow('Deep: ItemBatcher.Extra is not supported by the sandbox\'s Distributed Map layer');
  });
});

test('a Distributed Map as CDK synthesizes it (S3CsvItemReader, ItemBatcher, ResultWriterV2, a Lambda task) runs in the sandbox', async () => {
  const app = new App({ context: { '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true } });
  const stack = new Stack(app, 'DistributedMapStack', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const bucket = new s3.Bucket(stack, 'Data');
  const loader = new lambda.Function(stack, 'LoadPart', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
  const map = new sfn.DistributedMap(stack, 'Parts', {
    itemReader: new sfn.S3CsvItemReader({ bucket, key: sfn.JsonPath.stringAt('$.key') as string, csvHeaders: sfn.CsvHeaders.useFirstRow() }),
    itemSelector: { row: sfn.JsonPath.stringAt('$$.Map.Item.Value'), index: sfn.JsonPath.numberAt('$$.Map.Item.Index'), run: sfn.JsonPath.stringAt('$.run') },
    itemBatcher: new sfn.ItemBatcher({ maxItemsPerBatch: 2, batchInput: { source: 'cdk' } }),
    resultWriterV2: new sfn.ResultWriterV2({ bucket, prefix: 'results' }),
    maxConcurrency: 2,
    toleratedFailurePercentage: 0,
  });
  map.itemProcessor(new tasks.LambdaInvoke(stack, 'Load', { lambdaFunction: loader, payloadResponseOnly: true }));
  new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(map) });
  const template = app.synth().getStackByName('DistributedMapStack').template;
  const model = localModel(template);
  const ids = (type: string) => Object.keys(template.Resources).filter((id) => template.Resources[id].Type === type);
  const bucketName = String(model.ref(ids('AWS::S3::Bucket')[0]));
  const machineState = JSON.parse(JSON.stringify(template)).Resources[ids('AWS::StepFunctions::StateMachine')[0]].Properties;
  expect(JSON.stringify(machineState.DefinitionString)).toContain('\\"Mode\\":\\"DISTRIBUTED\\"');

  const own = await startLocalS3([bucketName]);
  const batches: any[] = [];
  const loaderId = ids('AWS::Lambda::Function')[0];
  const workflow = await startLocalStepFunctions({
    model,
    functions: { [loaderId]: { handler: (event: any) => (batches.push(event), { rows: event.Items.length }) } },
    dynamodbEndpoint: 'http://127.0.0.1:9',
    s3Endpoint: own.endpoint,
    sns: new LocalSns(new Outbox(outbox), async () => undefined, 'us-east-1'),
  });
  try {
    const s3Client = own.client();
    await s3Client.send(new PutObjectCommand({ Bucket: bucketName, Key: 'in/parts.csv', Body: 'id,name\n1,a\n2,b\n3,c\n' }));
    const e = workflow.sfn.start(String(model.ref(ids('AWS::StepFunctions::StateMachine')[0])), JSON.stringify({ key: 'in/parts.csv', run: 'r7' }));
    await workflow.sfn.waitForIdle();
    expect(e.status).toBe('SUCCEEDED');
    expect(batches.sort((a, b) => a.Items[0].index - b.Items[0].index)).toEqual([
      { BatchInput: { source: 'cdk' }, Items: [{ row: { id: '1', name: 'a' }, index: 0, run: 'r7' }, { row: { id: '2', name: 'b' }, index: 1, run: 'r7' }] },
      { BatchInput: { source: 'cdk' }, Items: [{ row: { id: '3', name: 'c' }, index: 2, run: 'r7' }] },
    ]);
    const result = JSON.parse(e.output!);
    expect(result.ResultWriterDetails).toEqual({ Bucket: bucketName, Key: expect.stringMatching(/^results\/[0-9a-f-]{36}\/manifest\.json$/) });
    const manifest = await getJson(result.ResultWriterDetails.Key, bucketName, s3Client);
    const succeeded = await getJson(manifest.ResultFiles.SUCCEEDED[0].Key, bucketName, s3Client);
    expect(succeeded.map((r: any) => JSON.parse(r.Output))).toEqual(expect.arrayContaining([{ rows: 2 }, { rows: 1 }]));
    expect(e.mapRuns[0]).toMatchObject({ status: 'SUCCEEDED', maxConcurrency: 2, itemCounts: { total: 3, succeeded: 3 }, executionCounts: { total: 2, succeeded: 2 } });
  } finally {
    await workflow.close();
    await own.close();
  }
}, 60_000);
