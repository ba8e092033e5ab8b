/**
 * What the sandbox's services offer the tests in-process (the same classes the sandbox runs):
 * functions invoked in this process with Lambda's contract, a queue clock a test moves (and
 * SendMessage's DelaySeconds measured on it), Step
 * Functions with shortened retries, a replaced execution timeout, idle waits that include the
 * executions a status change starts, and SNS task errors named as Step Functions names them;
 * SES refusing the messages SES refuses.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AwsError, LocalAwsApi } from '../sandbox/src/aws-api';
import { LocalEventBridge } from '../sandbox/src/eventbridge';
import { InProcessLambdas } from '../sandbox/src/lambda-in-process';
import { LocalSes, LocalSns, Outbox } from '../sandbox/src/messaging';
import { LocalQueues } from '../sandbox/src/queues';
import { Targets } from '../sandbox/src/services/targets';
import { LocalStepFunctions } from '../sandbox/src/step-functions';

const fn = (name: string, handler: (event: any, context: any) => unknown, timeoutSeconds = 1) => ({
  name, arn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`, timeoutSeconds, memoryMb: 128, handler,
});

describe('in-process functions', () => {
  const lambdas = new InProcessLambdas();
  lambdas.add(fn('echo', (event, context) => ({ event, remaining: context.getRemainingTimeInMillis(), name: context.functionName, when: new Date(0) })));
  lambdas.add(fn('fails', () => {
    const e = new Error('no such table');
    e.name = 'QueryRejectedError';
    throw e;
  }));
  lambdas.add(fn('hangs', () => new Promise((resolve) => setTimeout(resolve, 1500)), 1));
  afterAll(() => lambdas.settle());

  test('the handler gets a copy of the event and a Lambda context; the caller gets the JSON of the result', async () => {
    const event = { a: 1 };
    const r = await lambdas.invoke('arn:aws:lambda:us-east-1:123456789012:function:echo', event);
    expect(r.payload).toEqual({ event: { a: 1 }, remaining: expect.any(Number), name: 'echo', when: '1970-01-01T00:00:00.000Z' });
    expect((r.payload as any).remaining).toBeGreaterThan(900);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a thrown error is reported as Lambda reports it; past the timeout, Sandbox.Timedout; an unknown function, not found', async () => {
    expect((await lambdas.invoke('fails', {})).error).toMatchObject({ errorType: 'QueryRejectedError', errorMessage: 'no such table', trace: expect.any(Array) });
    expect((await lambdas.invoke('hangs', {})).error).toEqual({ errorType: 'Sandbox.Timedout', errorMessage: expect.stringMatching(/Task timed out after 1\.00 seconds$/) });
    expect((await lambdas.invoke('missing', {})).error).toMatchObject({ errorType: 'ResourceNotFoundException' });
  });
});

test('a queue\'s visibility timeouts are measured on its clock, which a test can move', () => {
  let now = 1_000_000;
  const queues = new LocalQueues(() => now);
  const q = queues.add({ name: 'q', arn: 'arn:aws:sqs:us-east-1:123456789012:q', url: 'http://local/123456789012/q', visibilityTimeoutSeconds: 300 });
  q.send('hello');
  const [m] = q.receive(1);
  expect(q.receive(1)).toEqual([]);
  expect(q.changeVisibility(m.receipt!, 60)).toBe(true);
  expect(q.visibilityChanges).toEqual([{ messageId: m.id, seconds: 60, at: 1_000_000 }]);
  now += 59_000;
  expect(q.receive(1)).toEqual([]);
  now += 1_000;
  expect(q.receive(1).map((x) => x.body)).toEqual(['hello']);
});

test('SendMessage with DelaySeconds: delayed on the queue\'s clock, counted as delayed; out of range refused', async () => {
  let now = 1_000_000;
  const queues = new LocalQueues(() => now);
  const api = new LocalAwsApi();
  queues.register(api);
  const endpoint = await api.listen(0);
  const client = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
  try {
    const QueueUrl = `${endpoint}/123456789012/d`;
    queues.add({ name: 'd', arn: 'arn:aws:sqs:us-east-1:123456789012:d', url: QueueUrl, visibilityTimeoutSeconds: 30 });
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'later', DelaySeconds: 30 }));
    const attributes = async () => (await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes!;
    expect(await attributes()).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0', ApproximateNumberOfMessagesDelayed: '1' });
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);
    now += 30_000;
    expect(await attributes()).toMatchObject({ ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesDelayed: '0' });
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl }))).Messages?.map((m) => m.Body)).toEqual(['later']);
    await expect(client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x', DelaySeconds: 901 }))).rejects.toThrow(/DelaySeconds is invalid/);
  } finally {
    client.destroy();
    await api.close();
  }
});

describe('Step Functions in-process', () => {
  const outbox = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sfn-'));
  const lambdas = new InProcessLambdas();
  let attempts = 0;
  lambdas.add(fn('flaky', () => {
    attempts++;
    if (attempts < 3) throw Object.assign(new Error('try again'), { name: 'TransientError' });
    return { ok: true };
  }));
  lambdas.add(fn('slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 3000)), 5));
  const sns = new LocalSns(new Outbox(outbox), async () => undefined, 'us-east-1');
  const targets = new Targets();
  const events = new LocalEventBridge('us-east-1', '123456789012', (target, input, rule) => targets.deliver(target.Arn, input, `rule ${rule.name}`));
  const queues = new LocalQueues();
  const sfn = new LocalStepFunctions({
    region: 'us-east-1', account: '123456789012', sns, events, queues, invokeLambda: (f, p) => lambdas.invoke(f, p), endpointFor: () => 'http://127.0.0.1:1', retryIntervalMs: 0,
  });
  targets.bind({ lambdas, queues, sns, stepFunctions: sfn, events, logLine: () => undefined });
  const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:stateMachine:${name}`;
  sfn.addMachine(arn('main'), 'main', {
    StartAt: 'Work',
    States: {
      Work: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'flaky', Payload: {} }, Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 600, MaxAttempts: 3 }], Next: 'Slow' },
      Slow: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:slow', End: true },
    },
  });
  sfn.addMachine(arn('notify'), 'notify', {
    StartAt: 'Publish',
    States: { Publish: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { TopicArn: 'arn:aws:sns:us-east-1:123456789012:missing', Message: 'x' }, End: true } },
  });
  sfn.addMachine(arn('onFailure'), 'onFailure', { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } });
  events.addRule({
    id: 'Test/OnFailure',
    name: 'OnFailure',
    bus: 'default',
    enabled: true,
    pattern: { 'source': ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'], 'detail': { status: ['FAILED', 'TIMED_OUT'] } },
    targets: [{ Id: 't', Arn: arn('onFailure') }],
  });
  afterAll(async () => {
    await sfn.stop();
    await lambdas.settle();
    fs.rmSync(outbox, { recursive: true, force: true });
  });

  test('retries without their waits; a replaced execution timeout; waitForIdle includes what a rule started', async () => {
    sfn.setExecutionTimeout(arn('main'), 1);
    const started = Date.now();
    const e = sfn.start(arn('main'), '{}', 'timed');
    await sfn.waitForIdle();
    expect(Date.now() - started).toBeLessThan(4000);
    expect(e.status).toBe('TIMED_OUT');
    expect(e.history.filter((h) => h.type === 'StateRetried').map((h) => h.details?.name)).toEqual(['Work', 'Work']);
    expect(e.history.filter((h) => h.type === 'StateEntered').map((h) => h.details?.name)).toEqual(['Work', 'Slow']);
    const followUps = sfn.executionsOf(arn('onFailure'));
    expect(followUps.map((x) => [JSON.parse(x.input).detail.name, x.status])).toEqual([['timed', 'SUCCEEDED']]);
    sfn.setExecutionTimeout(arn('main'), undefined);
  });

  test('an SNS task\'s error is named as Step Functions names it', async () => {
    expect(() => sns.publish('arn:aws:sns:us-east-1:123456789012:missing', 'x')).toThrow(AwsError);
    const e = sfn.start(arn('notify'), '{}');
    await sfn.waitForIdle();
    expect(e).toMatchObject({ status: 'FAILED', error: 'SNS.NotFoundException' });
  });
});

test('SES refuses a simple message without a sender, a subject or a body, as SES does', () => {
  const outbox = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-ses-'));
  try {
    const ses = new LocalSes(new Outbox(outbox));
    const content = { Simple: { Subject: { Data: 'Report' }, Body: { Text: { Data: 'text' } } } };
    expect(() => ses.send({ Destination: { ToAddresses: ['ops@example.com'] }, Content: content })).toThrow(/FromEmailAddress is required/);
    expect(() => ses.send({ FromEmailAddress: 'a@example.com', Content: { Simple: { Body: content.Simple.Body } } })).toThrow(/Subject and a Body/);
    expect(() => ses.send({ FromEmailAddress: 'a@example.com', Content: { Simple: { Subject: content.Simple.Subject } } })).toThrow(/Subject and a Body/);
    expect(ses.send({ FromEmailAddress: 'a@example.com', Destination: { ToAddresses: ['ops@example.com'] }, Content: content })).toMatch(/-000000$/);
    expect(fs.readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  } finally {
    fs.rmSync(outbox, { recursive: true, force: true });
  }
});
