/**
 * Timeouts of the async job workflow, on a stack synthesized with a 3-second job timeout (the job
 * runner's Lambda timeout; the RunQuery task times out 15 s later): no job stays RUNNING.
 *
 *   - the query runs past the job's time budget: the runner's statement timeout, QueryTimeoutError (not retried);
 *   - the runner hangs (its database connection black-holed) past the function timeout: Sandbox.Timedout;
 *   - the invocation is lost (no answer at all): the task timeout, States.Timeout, caught like other errors;
 *   - the execution itself times out: no Catch runs; the rule and the marker mark the job FAILED.
 */
import { Duration } from 'aws-cdk-lib';
import { JobsHarness, startJobsHarness } from './async-job-harness';
import { synthesizeWorkflow } from './async-job-stack';
import { removeTestAppDirs } from './construct-support/app';

const USER_OPERATIONS = [
  {
    name: 'slow_count',
    description: 'a CPU-bound query that runs for seconds',
    sql: 'SELECT count(*) AS n FROM generate_series(1, :n::int) AS a CROSS JOIN generate_series(1, 1000) AS b',
    parameterSchema: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', minimum: 1 } } },
  },
];

let j: JobsHarness;
const workflow = synthesizeWorkflow({ jobTimeout: Duration.seconds(3), withOpsTopic: true });

beforeAll(async () => {
  j = await startJobsHarness({ workflow, env: { USER_OPERATIONS: JSON.stringify(USER_OPERATIONS) } });
});
afterAll(async () => {
  await j?.close();
  removeTestAppDirs();
});
afterEach(async () => {
  j.beforeRunnerInvoke = undefined;
  j.releaseHangs();
  j.proxy.blackhole(false);
  j.sfn.setExecutionTimeout(String(j.model.ref(j.ids.stateMachine)), undefined);
  await j.sfn.waitForIdle();
  j.sns.clear();
});

function executionOf(jobId: string) {
  return j.executionsOf(j.ids.stateMachine).find((e) => e.name === jobId)!;
}
function states(jobId: string): string[] {
  return executionOf(jobId).history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name);
}

test('the synthesized timeouts: function 3 s, RunQuery task 18 s', () => {
  const fn = workflow.template.Resources[workflow.ids.jobRunner].Properties;
  expect(fn.Timeout).toBe(3);
  const definition = JSON.parse(j.model.resolve(workflow.template.Resources[workflow.ids.stateMachine].Properties.DefinitionString));
  expect(definition.States.RunQuery.TimeoutSeconds).toBe(18);
});

test('a query longer than the job budget is cancelled by its statement timeout: FAILED, QUERY_TIMEOUT, not retried', async () => {
  const { status, jobId } = await j.submitAndWait({ operation: 'slow_count', parameters: { n: 1_000_000 } });
  const job = status.json.data;
  expect(job).toMatchObject({ status: 'FAILED', error: { code: 'QUERY_TIMEOUT', type: 'QueryTimeoutError' } });
  expect(executionOf(jobId).history.filter((e) => e.type === 'StateRetried')).toHaveLength(0);
  expect(states(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkFailed', 'NotifyFailed', 'NotifyOpsFailed', 'JobFailed']);
  expect(Date.parse(job.finishedAt) - Date.parse(job.startedAt)).toBeLessThan(3000);
  expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'FAILED', error: 'QueryTimeoutError' })]);
});

test('a runner that hangs past its function timeout fails with Sandbox.Timedout: FAILED, JOB_TIMEOUT', async () => {
  j.beforeRunnerInvoke = async () => {
    j.proxy.resetConnections();
    await new Promise((resolve) => setTimeout(resolve, 100));
    j.proxy.blackhole(true); // the database path hangs: connecting never completes
  };
  const { status, jobId } = await j.submitAndWait({ operation: 'simple_demo', parameters: { limit: 1 } });
  expect(status.json.data).toMatchObject({ status: 'FAILED', error: { code: 'JOB_TIMEOUT', type: 'Sandbox.Timedout' } });
  expect(states(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkFailed', 'NotifyFailed', 'NotifyOpsFailed', 'JobFailed']);
  expect(j.sns.messagesTo(j.opsTopicArn!)).toEqual([expect.objectContaining({ jobId, error: 'Sandbox.Timedout', cause: expect.stringContaining('Task timed out after 3.00 seconds') })]);
});

test('an invocation that never answers hits the task timeout (States.Timeout), caught: FAILED, JOB_TIMEOUT', async () => {
  j.beforeRunnerInvoke = () => j.hang();
  const started = Date.now();
  const { status, jobId } = await j.submitAndWait({ operation: 'simple_demo', parameters: { limit: 2 } });
  expect(Date.now() - started).toBeGreaterThanOrEqual(18_000);
  expect(status.json.data).toMatchObject({ status: 'FAILED', error: { code: 'JOB_TIMEOUT', type: 'States.Timeout', message: 'The job ran longer than its time limit' } });
  expect(states(jobId)).toEqual(['MarkRunning', 'RunQuery', 'MarkFailed', 'NotifyFailed', 'NotifyOpsFailed', 'JobFailed']);
  expect(executionOf(jobId)).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
  expect(j.sns.messagesTo(j.topicArn)).toEqual([expect.objectContaining({ jobId, status: 'FAILED', error: 'States.Timeout' })]);
}, 60_000);

test('an execution that times out runs no Catch: the rule and the marker mark the job FAILED and notify', async () => {
  j.sfn.setExecutionTimeout(String(j.model.ref(j.ids.stateMachine)), 1);
  j.beforeRunnerInvoke = () => j.hang();
  const { status, jobId } = await j.submitAndWait({ operation: 'simple_demo', parameters: { limit: 3 } });
  expect(executionOf(jobId).status).toBe('TIMED_OUT');
  expect(states(jobId)).toEqual(['MarkRunning', 'RunQuery']);
  const job = status.json.data;
  expect(job).toMatchObject({ status: 'FAILED', error: { code: 'JOB_TIMEOUT', type: 'Execution.TIMED_OUT' } });
  const marker = j.executionsOf(j.ids.marker).find((e) => JSON.parse(e.input).detail.name === jobId)!;
  expect(marker.history.filter((e) => e.type === 'StateEntered').map((e) => e.details!.name))
    .toEqual(['MarkUnfinishedJobFailed', 'NotifyUnfinishedJobFailed', 'NotifyOpsUnfinishedJobFailed', 'MarkerDone']);
  expect(j.sns.messagesTo(j.topicArn)).toEqual([{ jobId, status: 'FAILED', operation: 'simple_demo', submittedAt: job.submittedAt, error: 'Execution.TIMED_OUT' }]);
  const raw = await j.rawJob(jobId);
  expect(raw!.errorCause.S).toContain('ended with status TIMED_OUT');
});
