/**
 * The async job workflow end to end, locally: jobs submitted through the API handler (real API
 * Gateway events), the synthesized state machine run by the local interpreter with RunQuery bound to
 * the real job runner against real PostgreSQL, status updates in dynalite, notifications recorded by
 * the SNS stand-in, large results in s3rver.
 */
import { gunzipSync } from 'zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { JobsHarness, startJobsHarness } from './async-job-harness';
import { synthesizeWorkflow } from './async-job-stack';
import { removeTestAppDirs } from './construct-support/app';
import { CUSTOMERS } from './fixtures/analytics/dataset';

const USER_OPERATIONS = [
  {
    name: 'wide_rows',
    description: 'n rows of about 110 bytes each',
    sql: "SELECT g AS n, repeat('x', 100) AS padding FROM generate_series(1, :n::int) AS g",
    parameterSchema: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', minimum: 1, maximum: 100000 } } },
  },
  {
    name: 'missing_table',
    sql: 'SELECT * FROM canonical.no_such_table',
    parameterSchema: { type: 'object', additionalProperties: false, properties: {} },
  },
  {
    name: 'customers_in_country',
    longRunning: true,
    sql: 'SELECT source_id, name FROM canonical.customers WHERE country = :country ORDER BY source_id',
    parameterSchema: { type: 'object', required: ['country'], additionalProperties: false, properties: { country: { type: 'string', pattern: '^[A-Z]{2}$' } } },
  },
  // Seconds of CPU whatever the data: past a short synchronous attempt.
  { name: 'slow_count', longRunning: true, sql: 'SELECT count(*) AS n FROM generate_series(1, 20000000) g', parameterSchema: { type: 'object' } },

];

let j: JobsHarness;

beforeAll(async () => {
  j = await startJobsHarness({ workflow: synthesizeWorkflow({ withOpsTopic: true }), env: { USER_OPERATIONS: JSON.stringify(USER_OPERATIONS) } });
});
afterAll(async () => {
  await j?.close();
  removeTestAppDirs();
});
afterEach(async () => {
  j.beforeRunnerInvoke = undefined;
  j.releaseHangs();
  await j.sfn.waitForIdle();
  j.sns.clear();
});

function statesEntered(jobId: string): string[] {
  const execution = j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
  return execution.history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name);
}
function retriesOf(jobId: string, state: string): number {
  const execution = j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
  return execution.history.filter((e) => e.type === 'StateRetried' && e.details?.name === state).length;
}

describe('the workflow', () => {
  test('success with a small result: stored on the job, notified, same data as the synchronous call', async () => {
    const parameters = { metric: 'order_count', group_by: 'country', min_group_size: 1 };
    const { submit, status, jobId } = await j.submitAndWait({ operation: 'customer_analysis', parameters });
    expect(submit.statusCode).toBe(202);
    expect(submit.json.data).toMatchObject({ jobId, status: 'SUBMITTED', operation: 'customer_analysis', statusUrl: `https://abc123.execute-api.us-east-1.amazonaws.com/prod/analytics/jobs/${jobId}` });
    expect(submit.headers?.location).toBe(submit.json.data.statusUrl);

    expect(status.statusCode).toBe(200);
    const job = status.json.data;
    expect(job).toMatchObject({ jobId, status: 'SUCCEEDED', operation: 'customer_analysis', largeResult: false, truncated: false, dataGeneration: 1 });
    expect(Date.parse(job.submittedAt)).toBeLessThanOrEqual(Date.parse(job.startedAt));
    expect(Date.parse(job.startedAt)).toBeLessThanOrEqual(Date.parse(job.finishedAt));
    const sync = await j.h.call({ method: 'POST', path: '/analytics', body: { operation: 'customer_analysis', parameters, cache: false } });
    expect(job.result).toEqual(sync.json.data);
    expect(job.rowCount).toBe(sync.json.meta.rowCount);

    expect(statesEntered(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkSucceeded', 'NotifySucceeded', 'JobSucceeded']);
    expect(j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!.status).toBe('SUCCEEDED');
    expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'SUCCEEDED', operation: 'customer_analysis', resultKind: 'INLINE', rowCount: String(job.rowCount) })]);
    expect(j.sns.published[0].messageAttributes).toEqual({ status: { dataType: 'String', value: 'SUCCEEDED' }, operation: { dataType: 'String', value: 'customer_analysis' } });
    expect(j.opsTopicArn && j.sns.messagesTo(j.opsTopicArn)).toEqual([]);
    const raw = await j.rawJob(jobId);
    expect(raw).toMatchObject({ status: { S: 'SUCCEEDED' }, resultKind: { S: 'INLINE' }, expiresAt: { N: expect.stringMatching(/^\d+$/) } });
    expect(JSON.parse(gunzipSync(raw!.resultData.B).toString())).toEqual(sync.json.data);
  });

  test('success with a large result: written to S3 by the runner, only the pointer on the job', async () => {
    const { status, jobId } = await j.submitAndWait({ operation: 'wide_rows', parameters: { n: 3000 } });
    const job = status.json.data;
    expect(job).toMatchObject({ status: 'SUCCEEDED', largeResult: true, rowCount: 3000, format: 'json', contentEncoding: 'gzip' });
    expect(job.result).toBeUndefined();
    expect(job.bytes).toBeGreaterThan(200_000);
    expect(job.downloadUrl).toMatch(/^https:\/\/abc123\.execute-api\.us-east-1\.amazonaws\.com\/prod\/download\/[A-Za-z0-9_-]{32}$/);
    const raw = await j.rawJob(jobId);
    expect(raw!.resultKind.S).toBe('LARGE');
    expect(raw!.resultData.B.length).toBeLessThan(1000);

    const key = job.downloadUrl.split('/').pop();
    const download = await j.h.call({ path: `/download/${key}` });
    expect(download.statusCode).toBe(302);
    const object = await j.h.s3.client().send(new GetObjectCommand({ Bucket: j.h.s3.bucket, Key: `results/${key}.json` }));
    const stored = JSON.parse(gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString());
    expect(stored).toMatchObject({ operation: 'wide_rows', rowCount: 3000, truncated: false });
    expect(stored.data).toHaveLength(3000);
    expect(stored.data[2999]).toEqual({ n: 3000, padding: 'x'.repeat(100) });
    expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'SUCCEEDED', resultKind: 'LARGE', rowCount: '3000' })]);
  });

  test('a transient failure (connection reset) is retried, then the job succeeds', async () => {
    let invocations = 0;
    j.beforeRunnerInvoke = async () => {
      // The first attempt finds its pooled connections reset and new ones reset too; the second gets through.
      if (++invocations === 1) {
        j.proxy.resetConnections(Infinity);
        // Let the pool see the resets of its idle connections first (a reset during a query: see the report).
        await new Promise((resolve) => setTimeout(resolve, 100));
      } else {
        j.proxy.refuseConnections(0);
      }
    };
    const before = j.proxy.connections;
    const { status, jobId } = await j.submitAndWait({ operation: 'customer_analysis', parameters: { metric: 'revenue', group_by: 'segment' } });
    expect(status.json.data.status).toBe('SUCCEEDED');
    expect(retriesOf(jobId, 'RunQuery')).toBe(1);
    expect(invocations).toBe(2);
    expect(j.proxy.connections).toBeGreaterThan(before);
    const execution = j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
    const failures = execution.history.filter((e) => e.type === 'StateFailed' && e.details?.name === 'RunQuery');
    expect(failures.map((e) => e.details?.error)).toContain('TransientDatabaseError');
    expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'SUCCEEDED' })]);
  });

  test('a permanent failure is not retried: the job is FAILED with the error, job and ops topics notified', async () => {
    const { status, jobId } = await j.submitAndWait({ operation: 'missing_table', parameters: {} });
    const job = status.json.data;
    expect(job.status).toBe('FAILED');
    expect(job.error).toEqual({ code: 'QUERY_REJECTED', type: 'QueryRejectedError', message: expect.stringContaining('relation "canonical.no_such_table" does not exist') });
    expect(job.result).toBeUndefined();
    expect(retriesOf(jobId, 'RunQuery')).toBe(0);
    expect(statesEntered(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkFailed', 'NotifyFailed', 'NotifyOpsFailed', 'JobFailed']);
    const execution = j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
    expect(execution).toMatchObject({ status: 'FAILED', error: 'QueryRejectedError' });
    expect(j.sns.messagesTo(j.topicArn)).toEqual([{ jobId, status: 'FAILED', operation: 'missing_table', submittedAt: job.submittedAt, error: 'QueryRejectedError' }]);
    const ops = j.sns.messagesTo(j.opsTopicArn!);
    expect(ops).toEqual([expect.objectContaining({ jobId, status: 'FAILED', error: 'QueryRejectedError', executionArn: execution.executionArn })]);
    expect(JSON.parse(ops[0].cause)).toMatchObject({ errorType: 'QueryRejectedError' });
    // The FAILED execution reached the marker through the rule; the job was FAILED already: nothing more.
    const markers = j.executionsOf(j.ids.marker).filter((e) => JSON.parse(e.input).detail.name === jobId);
    expect(markers).toHaveLength(1);
    expect(markers[0].history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name)).toEqual(['MarkUnfinishedJobFailed', 'AlreadyFinished']);
  });
});

describe('the workflow: other paths', () => {
  test('a status call right after submitting finds the job; RUNNING while the query runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const running = new Promise<void>((resolve) => (entered = resolve));
    j.beforeRunnerInvoke = async () => {
      entered();
      await gate;
    };
    const { jobId } = await j.submit({ operation: 'simple_demo', parameters: { limit: 2 } });
    const first = await j.status(jobId);
    expect(first.statusCode).toBe(200);
    expect(['SUBMITTED', 'RUNNING']).toContain(first.json.data.status);
    await running;
    const during = await j.status(jobId);
    expect(during.json.data).toMatchObject({ jobId, status: 'RUNNING', operation: 'simple_demo', parameters: { limit: 2 } });
    expect(during.json.data.startedAt).toEqual(expect.any(String));
    expect(during.json.data.finishedAt).toBeUndefined();
    release();
    await j.sfn.waitForIdle();
    expect((await j.status(jobId)).json.data.status).toBe('SUCCEEDED');
  });

  test('a long-running operation called synchronously answers 200 when its bounded attempt completes: no job', async () => {
    const jobsBefore = j.executionsOf(j.ids.stateMachine).length;
    const sync = await j.h.call({ method: 'POST', path: '/analytics', body: { operation: 'customers_in_country', parameters: { country: 'DE' } } });
    expect(sync.statusCode).toBe(200);
    expect(sync.json.data.length).toBe(CUSTOMERS.filter((c) => c.country === 'DE').length);
    expect(j.executionsOf(j.ids.stateMachine)).toHaveLength(jobsBefore);
  });

  test('past its synchronous attempt, a long-running operation answers 202 with a job; once its result is cached, 200', async () => {
    process.env.SYNC_ATTEMPT_MS = '200';
    let sync: Awaited<ReturnType<typeof j.h.call>>;
    try {
      sync = await j.h.call({ method: 'POST', path: '/analytics', body: { operation: 'slow_count', parameters: {} } });
    } finally {
      delete process.env.SYNC_ATTEMPT_MS;
    }
    expect(sync.statusCode).toBe(202);
    expect(sync.json.data).toMatchObject({ status: 'SUBMITTED', operation: 'slow_count', statusUrl: expect.stringContaining('/analytics/jobs/') });
    await j.sfn.waitForIdle();
    const job = (await j.status(sync.json.data.jobId)).json.data;
    expect(job).toMatchObject({ status: 'SUCCEEDED', largeResult: false });
    expect(job.result).toEqual([{ n: 20000000 }]);
    const again = await j.h.call({ method: 'POST', path: '/analytics', body: { operation: 'slow_count', parameters: {} } });
    expect(again.statusCode).toBe(200);
    expect(again.json.meta.cache).toBe('hit');
    expect(again.json.data).toEqual(job.result);
  }, 120_000);

  test('a notification that cannot be published fails the execution (alarm), the job stays SUCCEEDED', async () => {
    j.sns.failNext(4); // the first attempt and its 3 retries
    const { status, jobId } = await j.submitAndWait({ operation: 'simple_demo', parameters: { limit: 1 } });
    expect(status.json.data.status).toBe('SUCCEEDED');
    expect(retriesOf(jobId, 'NotifySucceeded')).toBe(3);
    expect(statesEntered(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkSucceeded', 'NotifySucceeded', 'NotificationFailed']);
    expect(j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)).toMatchObject({ status: 'FAILED', error: 'NotificationFailed' });
    const marker = j.executionsOf(j.ids.marker).find((e) => JSON.parse(e.input).detail.name === jobId)!;
    expect(marker.history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name)).toEqual(['MarkUnfinishedJobFailed', 'AlreadyFinished']);
    expect((await j.status(jobId)).json.data.status).toBe('SUCCEEDED');
  });

  test('an aborted execution: the rule and the marker mark the job FAILED and notify (no Catch ran)', async () => {
    j.beforeRunnerInvoke = () => j.hang(); // the query never returns
    const { jobId } = await j.submit({ operation: 'simple_demo', parameters: { limit: 3 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const execution = j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
    expect((await j.status(jobId)).json.data.status).toBe('RUNNING');
    execution.abort!();
    await j.sfn.waitForIdle();
    expect(execution.status).toBe('ABORTED');
    const job = (await j.status(jobId)).json.data;
    expect(job).toMatchObject({ status: 'FAILED', error: { code: 'JOB_ABORTED', type: 'Execution.ABORTED', message: expect.any(String) } });
    expect(job.finishedAt).toEqual(expect.any(String));
    expect(j.sns.messagesTo(j.topicArn)).toEqual([{ jobId, status: 'FAILED', operation: 'simple_demo', submittedAt: job.submittedAt, error: 'Execution.ABORTED' }]);
    expect(j.sns.messagesTo(j.opsTopicArn!)).toEqual([expect.objectContaining({ jobId, status: 'FAILED', error: 'Execution.ABORTED', executionArn: execution.executionArn })]);
  });

  test('an execution for a job with no record (started by hand): every step fails safely, notified, nothing written', async () => {
    const jobId = '00000000-0000-4000-8000-00000000abcd';
    const execution = j.sfn.start(String(j.model.ref(j.ids.stateMachine)), JSON.stringify({
      jobId, operation: 'simple_demo', parameters: {}, useCache: true, submittedAt: new Date().toISOString(),
    }), jobId);
    await j.sfn.waitForIdle();
    expect(execution.history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name))
      .toEqual(['MarkRunning', 'MarkFailed', 'NotifyFailed', 'NotifyOpsFailed', 'JobFailed']);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'DynamoDB.ConditionalCheckFailedException' });
    expect(await j.rawJob(jobId)).toBeUndefined();
    expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'FAILED', error: 'DynamoDB.ConditionalCheckFailedException' })]);
  });

  test('Step Functions refusing to start the job: 503 in the error shape, the job FAILED', async () => {
    const saved = process.env.JOB_STATE_MACHINE_ARN;
    process.env.JOB_STATE_MACHINE_ARN = `${saved}Missing`;
    try {
      const r = await j.call({ method: 'POST', path: '/analytics/jobs', body: { operation: 'simple_demo', parameters: {} } });
      expect(r.statusCode).toBe(503);
      expect(r.json).toEqual({ error: { code: 'JOB_START_FAILED', message: expect.any(String), details: { jobId: expect.any(String) } }, requestId: expect.stringMatching(/^req-/) });
      expect(r.headers?.['retry-after']).toBe('5');
      const job = (await j.status(r.json.error.details.jobId)).json.data;
      expect(job).toMatchObject({ status: 'FAILED', error: { code: 'JOB_START_FAILED', type: 'StartExecutionFailed' } });
    } finally {
      process.env.JOB_STATE_MACHINE_ARN = saved;
    }
  });

  test('a job whose execution never started is reported FAILED once the grace period is over', async () => {
    // The module instance the handler uses (loaded by the harness after the environment was set).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { putSubmittedJob } = require('../lambda/async-job-workflow/job-store') as typeof import('../lambda/async-job-workflow/job-store');
    const jobId = '00000000-0000-4000-8000-000000000001';
    const arn = process.env.JOB_STATE_MACHINE_ARN!;
    await putSubmittedJob({
      jobId,
      operation: 'simple_demo',
      parameters: {},
      useCache: true,
      source: 'api',
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${jobId}`,
      submittedAt: Date.now() - 10 * 60_000,
    });
    const job = (await j.status(jobId)).json.data;
    expect(job).toMatchObject({ jobId, status: 'FAILED', error: { code: 'JOB_START_FAILED', type: 'JobNotStarted' } });
  });
});

describe('the job routes with bad input', () => {
  const executions = () => j.executionsOf(j.ids.stateMachine).length;
  const submit = (body: unknown, extra: { base64?: boolean } = {}) => j.call({ method: 'POST', path: '/analytics/jobs', body: body as any, ...extra });

  test.each([
    ['malformed JSON', '{"operation": "simple_demo", ', 400, 'INVALID_JSON', /not valid JSON/],
    ['an empty body', '', 400, 'BAD_REQUEST', /empty/],
    ['an array body', [1, 2], 400, 'VALIDATION_FAILED', /JSON object/],
    ['no operation', { parameters: {} }, 400, 'VALIDATION_FAILED', /Missing 'operation'/],
    ['an operation that is not a string', { operation: 42 }, 400, 'VALIDATION_FAILED', /'operation' must be a string/],
    ['an unknown operation', { operation: 'drop_everything', parameters: {} }, 400, 'UNKNOWN_OPERATION', /Unknown operation 'drop_everything'/],
    ['a missing required parameter', { operation: 'customers_in_country', parameters: {} }, 400, 'VALIDATION_FAILED', /country/],
    ['a mistyped parameter', { operation: 'customer_analysis', parameters: { min_group_size: 'many' } }, 400, 'VALIDATION_FAILED', /min_group_size/],
    ['an unknown parameter', { operation: 'wide_rows', parameters: { n: 1, m: 2 } }, 400, 'VALIDATION_FAILED', /m/],
    ['parameters that are not an object', { operation: 'simple_demo', parameters: 'all' }, 400, 'VALIDATION_FAILED', /'parameters' must be a JSON object/],
    ['an unknown field', { operation: 'simple_demo', parameters: {}, priority: 'high' }, 400, 'VALIDATION_FAILED', /Unknown field in the request body: 'priority'/],
    ['refused SQL', { operation: 'custom_complex_query', parameters: { sql: 'DELETE FROM canonical.entities' } }, 400, 'QUERY_REFUSED', /./],
    ['a body over the limit', { operation: 'simple_demo', parameters: { pad: 'x'.repeat(70_000) } }, 413, 'PAYLOAD_TOO_LARGE', /bytes/],
  ])('POST /analytics/jobs with %s: %d %s, no job started', async (_label, body, status, code, message) => {
    const before = executions();
    const r = await submit(body);
    expect(r.statusCode).toBe(status);
    expect(r.json).toEqual({ error: expect.objectContaining({ code, message: expect.stringMatching(message as RegExp) }), requestId: expect.stringMatching(/^req-/) });
    expect(executions()).toBe(before);
  });

  test('GET of an unknown job id: 404 in the error shape', async () => {
    const r = await j.status('6f1c9a52-3b1e-4d5f-9a7e-2c8b4e1d0f3a');
    expect(r.statusCode).toBe(404);
    expect(r.json).toEqual({ error: { code: 'NOT_FOUND', message: 'No job with that id (it may have expired)' }, requestId: expect.stringMatching(/^req-/) });
  });

  test.each(['not-a-job', '..%2F..%2Fetc', 'A'.repeat(500), "1' OR '1'='1"])('GET of a malformed job id %s: 404', async (id) => {
    const r = await j.status(id);
    expect(r.statusCode).toBe(404);
    expect(r.json.error.code).toBe('NOT_FOUND');
  });

  test('wrong methods are 405; a proxy route reaches the job routes by path', async () => {
    expect((await j.call({ path: '/analytics/jobs' })).statusCode).toBe(405);
    expect((await j.call({ method: 'DELETE', path: '/analytics/jobs/x', resource: '/analytics/jobs/{jobId}' })).statusCode).toBe(405);
    const { jobId } = await j.submitAndWait({ operation: 'simple_demo', parameters: { limit: 1 } });
    const viaProxy = await j.call({ path: `/analytics/jobs/${jobId}`, resource: '/{proxy+}' });
    expect(viaProxy.statusCode).toBe(200);
    expect(viaProxy.json.data.jobId).toBe(jobId);
  });
});

describe('freshness of a job\'s result (last: it commits a new data generation)', () => {
  test('a job run while a later generation awaits its refresh says so (stale, with the latest generation); after the refresh it does not', async () => {
    const parameters = { metric: 'order_count', group_by: 'segment' };
    const { status: before } = await j.submitAndWait({ operation: 'customer_analysis', parameters });
    expect(before.json.data).toMatchObject({ status: 'SUCCEEDED', stale: false });
    expect(before.json.data.latestDataGeneration).toBeUndefined();
    const generation = await j.h.ingest([{
      entityType: 'order',
      sourceSystem: 'erp',
      sourceId: 'O-JOB-STALE',
      attributes: { customer_id: 'C1', order_date: '2024-03-05T10:00:00Z', amount: 5, currency: 'USD', status: 'completed', product_id: 'P1', quantity: 1 },
      relationships: [{ type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm', targetSourceId: 'C1' }],
    }], { refresh: false });

    const { status: pending, jobId } = await j.submitAndWait({ operation: 'customer_analysis', parameters });
    expect(pending.json.data).toMatchObject({ status: 'SUCCEEDED', stale: true, dataGeneration: generation - 1, latestDataGeneration: generation });
    expect(await j.rawJob(jobId)).toMatchObject({ dataGeneration: { N: String(generation - 1) }, latestDataGeneration: { N: String(generation) } });

    await j.h.refresh();
    const { status: fresh } = await j.submitAndWait({ operation: 'customer_analysis', parameters });
    expect(fresh.json.data).toMatchObject({ status: 'SUCCEEDED', stale: false, dataGeneration: generation });
  });
});
