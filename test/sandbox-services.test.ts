/**
 * The sandbox's local services, on a plain CDK app synthesized here (inline Node.js functions, so
 * nothing depends on the library's constructs): API Gateway (routes, stage prefix, API keys,
 * request validation, gateway responses, 502/504), Step Functions (the synthesized ASL with
 * DynamoDB, Lambda and SNS tasks, Retry/Catch, status-change events), EventBridge (patterns,
 * a custom bus, schedules on demand), SES and SNS into the outbox, the Bedrock stand-in, SQS as an
 * operator sees it (ListQueues, GetQueueAttributes, a message moved to the dead-letter queue and
 * redriven with StartMessageMoveTask), S3 listings with a delimiter, S3 versioning.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  ChangeMessageVisibilityCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ListMessageMoveTasksCommand, ListQueuesCommand,
  ReceiveMessageCommand, SendMessageCommand, SQSClient, StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand, ParameterAlreadyExists, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { startSandbox, Sandbox, STAND_IN_LABEL } from '../sandbox/src';
import { localS3ClientConfig } from '../sandbox/src/s3';

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-services-'));

const ECHO = `
exports.handler = async (event) => {
  if (event.path === '/boom') throw new Error('boom');
  if (event.path === '/slow') await new Promise((r) => setTimeout(r, 2500));
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path: event.path, resource: event.resource, query: event.queryStringParameters, params: event.pathParameters,
      body: event.body, apiKeyId: event.requestContext.identity.apiKeyId, stage: event.requestContext.stage, table: process.env.TABLE_NAME,
      proto: event.headers['X-Forwarded-Proto'] }),
  };
};`;

const WORKER = `
exports.handler = async (event) => {
  if (event.fail) { const e = new Error('this job cannot succeed'); e.name = 'PermanentError'; throw e; }
  return { doubled: event.n * 2 };
};`;

const MAILER = `
const { SESv2Client, SendEmailCommand } = require('@aws-sdk/client-sesv2');
const { BedrockRuntimeClient, ConverseCommand } = require('@aws-sdk/client-bedrock-runtime');
exports.handler = async (event) => {
  const data = { batch: { source: 'sensors', recordsAnalyzed: 40, recordsWithAnomalies: 4, flaggedValues: 5 },
    flagsByField: [{ field: 'heart_rate', counts: { above_max: 3, z_score: 1 } }, { field: 'spo2', counts: { below_min: 1 } }] };
  const answer = await new BedrockRuntimeClient({}).send(new ConverseCommand({ modelId: 'amazon.nova-lite-v1:0',
    messages: [{ role: 'user', content: [{ text: 'Analyze\\n<DATA>\\n' + JSON.stringify(data) + '\\n</DATA>' }] }] }));
  const analysis = JSON.parse(answer.output.message.content[0].text);
  await new SESv2Client({}).send(new SendEmailCommand({ FromEmailAddress: process.env.FROM, Destination: { ToAddresses: [process.env.TO] },
    Content: { Simple: { Subject: { Data: 'Level ' + event.detail.level + ' report' },
      Body: { Text: { Data: analysis.executiveSummary }, Html: { Data: '<h1>Report</h1><p>' + analysis.riskLevel + '</p>' } } } } }));
  return analysis;
};`;

function synthesizeApp(): string {
  const outdir = path.join(stateDir, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'SandboxServices');
  const fn = (id: string, code: string, env: Record<string, string> = {}, timeout = 10) => new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline(code), environment: env, timeout: Duration.seconds(timeout),
  });
  const table = new dynamodb.Table(stack, 'Jobs', { partitionKey: { name: 'jobId', type: dynamodb.AttributeType.STRING } });
  const topic = new sns.Topic(stack, 'Notifications');
  topic.addSubscription(new subs.EmailSubscription('ops@example.com'));

  // API
  const echo = fn('Echo', ECHO, { TABLE_NAME: table.tableName });
  const api = new apigw.RestApi(stack, 'Api', { defaultMethodOptions: { apiKeyRequired: true }, deployOptions: { stageName: 'prod' } });
  const key = api.addApiKey('Key', { apiKeyName: 'demo' });
  api.addUsagePlan('Plan', { apiStages: [{ api, stage: api.deploymentStage }] }).addApiKey(key);
  const integration = new apigw.LambdaIntegration(echo);
  const items = api.root.addResource('items');
  const model = api.addModel('Item', {
    contentType: 'application/json',
    schema: { type: apigw.JsonSchemaType.OBJECT, required: ['name'], properties: { name: { type: apigw.JsonSchemaType.STRING, minLength: 1 } } },
  });
  const validator = api.addRequestValidator('Validator', { validateRequestBody: true, validateRequestParameters: true });
  items.addMethod('POST', integration, { requestValidator: validator, requestModels: { 'application/json': model } });
  items.addResource('{id}').addMethod('GET', integration);
  api.root.addResource('search').addMethod('GET', integration, { requestValidator: validator, requestParameters: { 'method.request.querystring.q': true } });
  api.root.addResource('boom').addMethod('GET', integration);
  api.root.addResource('slow').addMethod('GET', new apigw.LambdaIntegration(echo, { timeout: Duration.seconds(1) }));
  api.root.addResource('open').addMethod('GET', integration, { apiKeyRequired: false });
  const shape = { 'application/json': '{"error":{"code":"$context.error.responseType","message":$context.error.messageString},"requestId":"$context.requestId"}' };
  api.addGatewayResponse('Default4xx', { type: apigw.ResponseType.DEFAULT_4XX, templates: shape });
  api.addGatewayResponse('BadBody', { type: apigw.ResponseType.BAD_REQUEST_BODY, templates: shape });

  // Step Functions
  const worker = fn('Worker', WORKER);
  const setStatus = (id: string, status: string) => new tasks.DynamoUpdateItem(stack, id, {
    table,
    key: { jobId: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$.jobId')) },
    updateExpression: 'SET #s = :s',
    expressionAttributeNames: { '#s': 'status' },
    expressionAttributeValues: { ':s': tasks.DynamoAttributeValue.fromString(status) },
    resultPath: sfn.JsonPath.DISCARD,
  });
  const run = new tasks.LambdaInvoke(stack, 'Run', { lambdaFunction: worker, payloadResponseOnly: true, resultPath: '$.result' });
  run.addRetry({ errors: ['TransientError'], maxAttempts: 2, interval: Duration.seconds(1) });
  const notify = (id: string, message: string) =>
    new tasks.SnsPublish(stack, id, { topic, message: sfn.TaskInput.fromText(message), resultPath: sfn.JsonPath.DISCARD });
  const failed = setStatus('MarkFailed', 'FAILED').next(notify('NotifyFailed', 'job failed')).next(new sfn.Fail(stack, 'JobFailed', { error: 'JobFailed' }));
  run.addCatch(failed, { resultPath: '$.error' });
  const definition = new tasks.DynamoPutItem(stack, 'Submit', {
    table,
    item: { jobId: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$.jobId')), status: tasks.DynamoAttributeValue.fromString('RUNNING') },
    resultPath: sfn.JsonPath.DISCARD,
  }).next(run).next(setStatus('MarkSucceeded', 'SUCCEEDED')).next(notify('NotifySucceeded', 'job done'));
  const machine = new sfn.StateMachine(stack, 'Jobs Machine', { definitionBody: sfn.DefinitionBody.fromChainable(definition) });
  new events.Rule(stack, 'ExecutionFailed', {
    eventPattern: { source: ['aws.states'], detailType: ['Step Functions Execution Status Change'], detail: { status: ['FAILED', 'TIMED_OUT'], stateMachineArn: [machine.stateMachineArn] } },
    targets: [new targets.SnsTopic(topic)],
  });

  // EventBridge → Lambda → Bedrock + SES
  const bus = new events.EventBus(stack, 'Bus', { eventBusName: 'app-bus' });
  const mailer = fn('Mailer', MAILER, { FROM: 'reports@example.com', TO: 'team@example.com' });
  new events.Rule(stack, 'HighLevel', {
    eventBus: bus,
    eventPattern: { source: ['test.app'], detailType: ['Thing Happened'], detail: { level: [{ numeric: ['>', 5] }] } },
    targets: [new targets.LambdaFunction(mailer)],
  });
  new events.Rule(stack, 'Daily', { schedule: events.Schedule.rate(Duration.days(1)), targets: [new targets.LambdaFunction(mailer, { event: events.RuleTargetInput.fromObject({ detail: { level: 'daily' } }) })] });

  // SQS: a consumer that always fails, its queue's dead-letter queue after one receive
  const dlq = new sqs.Queue(stack, 'WorkDlq', { queueName: 'work-dlq' });
  const work = new sqs.Queue(stack, 'Work', { queueName: 'work', visibilityTimeout: Duration.seconds(1), deadLetterQueue: { queue: dlq, maxReceiveCount: 1 } });
  fn('Failing', 'exports.handler = async () => { throw new Error("cannot process this"); };', {}, 1).addEventSource(new SqsEventSource(work));

  new s3.Bucket(stack, 'Data', { bucketName: 'data-bucket', versioned: true });
  new ssm.StringParameter(stack, 'Setting', { parameterName: '/sandbox/setting', stringValue: 'initial' });
  app.synth();
  return outdir;
}

describe('sandbox local services (plain CDK app)', () => {
  let sandbox: Sandbox;
  const lines: string[] = [];
  const call = async (p: string, init: RequestInit & { key?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> ?? {}) };
    if (init.key !== null) headers['x-api-key'] = init.key ?? sandbox.apiKey!;
    const r = await fetch(`${sandbox.apiUrl}${p}`, { ...init, headers });
    const text = await r.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: r.status, json, headers: r.headers };
  };
  const client = <T>(C: new (c: any) => T): T => new C({ endpoint: sandbox.info.services, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

  const sqsClient = () => client(SQSClient);
  beforeAll(async () => {
    sandbox = await startSandbox({ cloudAssembly: synthesizeApp(), stateDir, apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false });
  });
  afterAll(async () => {
    await sandbox?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  describe('Systems Manager Parameter Store', () => {
    test('the template\'s parameter with its value; PutParameter overwrites only when asked, GetParameter reads it back', async () => {
      const ssmClient = client(SSMClient);
      const read = async () => (await ssmClient.send(new GetParameterCommand({ Name: '/sandbox/setting' }))).Parameter;
      expect(await read()).toMatchObject({ Name: '/sandbox/setting', Type: 'String', Value: 'initial', Version: 1 });
      await expect(ssmClient.send(new PutParameterCommand({ Name: '/sandbox/setting', Value: 'other', Type: 'String' }))).rejects.toThrow(ParameterAlreadyExists);
      expect(await ssmClient.send(new PutParameterCommand({ Name: '/sandbox/setting', Value: 'written', Overwrite: true }))).toMatchObject({ Version: 2 });
      expect(await read()).toMatchObject({ Value: 'written', Version: 2 });
      await expect(ssmClient.send(new GetParameterCommand({ Name: '/sandbox/missing' }))).rejects.toThrow(ParameterNotFound);
      expect(sandbox.info.skipped).not.toHaveProperty(['AWS::SSM::Parameter']);
    });
  });

  describe('API Gateway', () => {
    test('the API key from the usage plan is required, generated and accepted', async () => {
      expect(sandbox.apiKey).toMatch(/^sandbox-[0-9a-f]{32}$/);
      const denied = await call('/items/42', { key: null });
      expect(denied.status).toBe(403);
      expect(denied.json).toMatchObject({ error: { code: 'INVALID_API_KEY', message: 'Forbidden' } });
      expect((await call('/items/42', { key: 'wrong' })).status).toBe(403);
      expect((await call('/open', { key: null })).status).toBe(200);
    });

    test('routes with path parameters, at the root and under the stage, as proxy events', async () => {
      for (const p of ['/items/42?x=1', '/prod/items/42?x=1']) {
        const r = await call(p);
        expect(r.status).toBe(200);
        expect(r.json).toMatchObject({ path: '/items/42', resource: '/items/{id}', params: { id: '42' }, query: { x: '1' }, stage: 'prod', proto: 'http' });
        expect(r.json.apiKeyId).toBeTruthy();
        expect(r.json.table).toMatch(/^SandboxServices-Jobs/);
      }
    });

    test('request validation: body model and required parameters, in the gateway responses of the template', async () => {
      const bad = await call('/items', { method: 'POST', body: JSON.stringify({ nom: 'x' }), headers: { 'content-type': 'application/json' } });
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({ error: { code: 'BAD_REQUEST_BODY', message: 'Invalid request body' } });
      expect(bad.json.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const malformed = await call('/items', { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
      expect(malformed.status).toBe(400);
      const good = await call('/items', { method: 'POST', body: JSON.stringify({ name: 'x' }), headers: { 'content-type': 'application/json' } });
      expect(good.status).toBe(200);
      expect(good.json.body).toBe('{"name":"x"}');
      const missing = await call('/search');
      expect(missing.status).toBe(400);
      expect(missing.json.error).toEqual({ code: 'BAD_REQUEST_PARAMETERS', message: 'Missing required request parameters: [q]' });
      expect((await call('/search?q=a')).status).toBe(200);
    });

    test('unknown routes, function errors and integration timeouts answer as API Gateway does', async () => {
      const unknown = await call('/nope');
      expect(unknown.status).toBe(403);
      expect(unknown.json.error).toEqual({ code: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' });
      const boom = await call('/boom');
      expect(boom.status).toBe(502);
      expect(boom.json).toEqual({ message: 'Internal server error' });
      const slow = await call('/slow');
      expect(slow.status).toBe(504);
      expect(slow.json).toEqual({ message: 'Endpoint request timed out' });
    });
  });

  describe('Step Functions', () => {
    const machineArn = () => [...sandbox.stepFunctions.machines.keys()][0];
    const waitFor = async (executionArn: string) => {
      const sfnClient = client(SFNClient);
      for (let i = 0; i < 100; i++) {
        const d = await sfnClient.send(new DescribeExecutionCommand({ executionArn }));
        if (d.status !== 'RUNNING') return d;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('execution still running');
    };
    const item = async (jobId: string) => (await new DynamoDBClient({ endpoint: sandbox.info.dynamodb.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } })
      .send(new GetItemCommand({ TableName: sandbox.info.dynamodb.tables[0], Key: { jobId: { S: jobId } } }))).Item;

    test('the synthesized definition runs: DynamoDB, Lambda and SNS tasks against the local services', async () => {
      const started = await client(SFNClient).send(new StartExecutionCommand({ stateMachineArn: machineArn(), name: 'job-1', input: JSON.stringify({ jobId: 'job-1', n: 21 }) }));
      const done = await waitFor(started.executionArn!);
      expect(done.status).toBe('SUCCEEDED');
      expect(JSON.parse(done.output!).result).toEqual({ doubled: 42 });
      expect((await item('job-1'))?.status).toEqual({ S: 'SUCCEEDED' });
      expect(sandbox.outbox.entries.some((e) => e.kind === 'sns' && fs.readFileSync(e.file, 'utf8').includes('job done'))).toBe(true);
      await expect(client(SFNClient).send(new StartExecutionCommand({ stateMachineArn: machineArn(), name: 'job-1', input: '{"jobId":"other"}' })))
        .rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    });

    test('a failing task is caught: marked FAILED, notified, and the status change reaches its rule', async () => {
      const started = await client(SFNClient).send(new StartExecutionCommand({ stateMachineArn: machineArn(), name: 'job-2', input: JSON.stringify({ jobId: 'job-2', fail: true }) }));
      const done = await waitFor(started.executionArn!);
      expect(done).toMatchObject({ status: 'FAILED', error: 'JobFailed' });
      expect((await item('job-2'))?.status).toEqual({ S: 'FAILED' });
      const statusEvent = sandbox.events.log.find((e) => e.event.source === 'aws.states' && (e.event.detail as any).status === 'FAILED');
      expect(statusEvent?.rules.length).toBe(1);
      for (let i = 0; i < 50 && !sandbox.outbox.entries.some((e) => fs.readFileSync(e.file, 'utf8').includes('Step Functions Execution Status Change')); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(sandbox.outbox.entries.some((e) => fs.readFileSync(e.file, 'utf8').includes('Step Functions Execution Status Change'))).toBe(true);
    });
  });

  describe('EventBridge, Bedrock stand-in, SES outbox', () => {
    const emails = () => sandbox.outbox.entries.filter((e) => e.kind === 'email');

    test('a matching event on the custom bus reaches its target, which calls Bedrock and sends an e-mail', async () => {
      const put = await client(EventBridgeClient).send(new PutEventsCommand({
        Entries: [
          { EventBusName: 'app-bus', Source: 'test.app', DetailType: 'Thing Happened', Detail: JSON.stringify({ level: 7 }) },
          { EventBusName: 'app-bus', Source: 'test.app', DetailType: 'Thing Happened', Detail: JSON.stringify({ level: 3 }) },
        ],
      }));
      expect(put.FailedEntryCount).toBe(0);
      for (let i = 0; i < 100 && emails().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(emails()).toHaveLength(1);
      const eml = fs.readFileSync(emails()[0].file, 'utf8');
      expect(eml).toMatch(/^From: reports@example.com/m);
      expect(eml).toMatch(/^To: team@example.com/m);
      expect(eml).toMatch(/^Subject: Level 7 report/m);
      expect(eml).toContain(STAND_IN_LABEL);
      expect(fs.existsSync(emails()[0].file.replace(/\.eml$/, '.html'))).toBe(true);
      expect(fs.readFileSync(emails()[0].file.replace(/\.eml$/, '.html'), 'utf8')).toBe('<h1>Report</h1><p>medium</p>');
      expect(sandbox.events.log.filter((e) => e.bus === 'app-bus').map((e) => e.rules.length)).toEqual([1, 0]);
    });

    test('a scheduled rule runs on demand (cdp-sandbox trigger)', async () => {
      const before = emails().length;
      const r = await fetch(`${sandbox.info.services}/_sandbox/trigger/${encodeURIComponent(sandbox.events.rules.find((x) => x.schedule)!.name)}`, { method: 'POST' });
      expect(r.status).toBe(200);
      for (let i = 0; i < 100 && emails().length === before; i++) await new Promise((res) => setTimeout(res, 100));
      expect(emails()[before].subject).toBe('Level daily report');
    });
  });

  describe('SQS, as an operator sees it', () => {
    test('ListQueues, GetQueueUrl and GetQueueAttributes with approximate counts', async () => {
      const c = sqsClient();
      const urls = (await c.send(new ListQueuesCommand({}))).QueueUrls ?? [];
      expect(urls.map((u) => u.split('/').pop()).sort()).toEqual(['work', 'work-dlq']);
      const url = (await c.send(new GetQueueUrlCommand({ QueueName: 'work-dlq' }))).QueueUrl!;
      expect(urls).toContain(url);
      const attributes = (await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
      expect(attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0', QueueArn: expect.stringMatching(/:work-dlq$/) });
      await expect(c.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toThrow(/does not exist/);
    });

    test('a message that keeps failing moves to the dead-letter queue (printed, in info); the documented redrive moves it back', async () => {
      const c = sqsClient();
      const work = (await c.send(new GetQueueUrlCommand({ QueueName: 'work' }))).QueueUrl!;
      const dlq = (await c.send(new GetQueueUrlCommand({ QueueName: 'work-dlq' }))).QueueUrl!;
      await c.send(new SendMessageCommand({ QueueUrl: work, MessageBody: '{"order":1}' }));
      const depth = async (url: string) => Number((await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages);
      for (let i = 0; i < 100 && await depth(dlq) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await depth(dlq)).toBe(1);
      expect(lines.some((l) => /moved to the dead-letter queue work-dlq after 1 receives from work/.test(l))).toBe(true);
      expect(sandbox.describe().sqs.find((q) => q.name === 'work-dlq')).toMatchObject({ visible: 1, deadLetterQueueOf: ['work'] });
      expect(sandbox.describe().sqs.find((q) => q.name === 'work')).toMatchObject({ movedToDeadLetterQueue: 1 });

      // docs/ingestion.md: aws sqs start-message-move-task --source-arn <dead-letter queue ARN> --destination-arn <queue ARN>
      const arn = async (url: string) => (await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
      const task = await c.send(new StartMessageMoveTaskCommand({ SourceArn: await arn(dlq), DestinationArn: await arn(work) }));
      expect(task.TaskHandle).toBeTruthy();
      expect(await depth(dlq)).toBe(0);
      const moves = await c.send(new ListMessageMoveTasksCommand({ SourceArn: await arn(dlq) }));
      expect(moves.Results?.[0]).toMatchObject({ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 });
      // Still failing, it comes back to the dead-letter queue.
      for (let i = 0; i < 100 && await depth(dlq) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await depth(dlq)).toBe(1);
    });

    test('ChangeMessageVisibility brings a received message back when asked (the ingestion\'s retry back-off)', async () => {
      const c = sqsClient();
      const dlq = (await c.send(new GetQueueUrlCommand({ QueueName: 'work-dlq' }))).QueueUrl!;
      await c.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: 'visibility-probe' }));
      const receiveProbe = async () => {
        const received = await c.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }));
        return (received.Messages ?? []).find((m) => m.Body === 'visibility-probe');
      };
      const probe = await receiveProbe();
      expect(probe).toBeDefined();
      expect(await receiveProbe()).toBeUndefined(); // in flight for 300 s
      await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlq, ReceiptHandle: probe!.ReceiptHandle, VisibilityTimeout: 0 }));
      expect(await receiveProbe()).toMatchObject({ Body: 'visibility-probe' });
      const change = (ReceiptHandle: string | undefined, VisibilityTimeout: number) =>
        c.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlq, ReceiptHandle, VisibilityTimeout }));
      await expect(change('nope', 10)).rejects.toThrow(/not a valid receipt handle/);
      await expect(change(probe!.ReceiptHandle, 50000)).rejects.toThrow(/between 0 and 43200/);
    });
  });

  describe('S3', () => {
    const s3Client = () => new S3Client(localS3ClientConfig(sandbox.info.s3.endpoint));

    test('a listing with a delimiter returns every common prefix, also those holding only deeper keys', async () => {
      const c = s3Client();
      const keys = ['crm-data/a.json', 'manifests/crm/2024/01/01/run.json', 'processed/crm/2024/01/x.ndjson', 'rejected/crm/2024/01/y.ndjson', 'top.txt'];
      for (const Key of keys) await c.send(new PutObjectCommand({ Bucket: 'data-bucket', Key, Body: 'x' }));
      const root = await c.send(new ListObjectsV2Command({ Bucket: 'data-bucket', Delimiter: '/' }));
      expect(root.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['crm-data/', 'manifests/', 'processed/', 'rejected/']);
      expect(root.Contents?.map((o) => o.Key)).toEqual(['top.txt']);
      const nested = await c.send(new ListObjectsV2Command({ Bucket: 'data-bucket', Prefix: 'manifests/', Delimiter: '/' }));
      expect(nested.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['manifests/crm/']);
    });

    test('a versioned bucket keeps every version: version ids, ListObjectVersions, GET and DELETE by versionId, delete markers', async () => {
      const c = s3Client();
      const Bucket = 'data-bucket';
      const Key = 'crm-data/versioned.json';
      const v1 = (await c.send(new PutObjectCommand({ Bucket, Key, Body: 'first' }))).VersionId!;
      const v2 = (await c.send(new PutObjectCommand({ Bucket, Key, Body: 'second!' }))).VersionId!;
      expect(v1).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(v2).not.toBe(v1);
      const listed = await c.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }));
      expect(listed.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size])).toEqual([[v2, true, 7], [v1, false, 5]]);
      const text = async (VersionId?: string) => (await c.send(new GetObjectCommand({ Bucket, Key, VersionId }))).Body!.transformToString();
      expect(await text(v1)).toBe('first');
      expect(await text()).toBe('second!');
      expect((await c.send(new HeadObjectCommand({ Bucket, Key }))).VersionId).toBe(v2);

      // A delete without a version id leaves a delete marker; deleting the marker brings the object back.
      const deleted = await c.send(new DeleteObjectCommand({ Bucket, Key }));
      expect(deleted.DeleteMarker).toBe(true);
      await expect(text()).rejects.toThrow();
      expect(await text(v2)).toBe('second!');
      await c.send(new DeleteObjectCommand({ Bucket, Key, VersionId: deleted.VersionId }));
      expect(await text()).toBe('second!');
      // Deleting the latest version makes the one before current.
      await c.send(new DeleteObjectCommand({ Bucket, Key, VersionId: v2 }));
      expect(await text()).toBe('first');
      const after = await c.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }));
      expect(after.Versions?.map((v) => v.VersionId)).toEqual([v1]);
      expect(after.DeleteMarkers ?? []).toEqual([]);
      await expect(text(v2)).rejects.toThrow(/NoSuchVersion|version/i);
    });
  });
});
