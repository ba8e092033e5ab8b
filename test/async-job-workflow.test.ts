/**
 * AsyncJobWorkflow template tests: the job table, the job runner (the API's code, handler
 * `index.jobRunner`), the state machines (retry policy, catch paths, timeouts, logging, tracing),
 * the unfinished-job rule, the job routes on the API, IAM limited to the workflow's own tables,
 * topics and function, no dependency cycle, validation errors, snapshot and cdk-nag.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AnalyticsApi, AnalyticsApiAuthorization, AnalyticsApiProps, AsyncJobWorkflow, AsyncJobWorkflowProps, CanonicalStore, PipelineMonitoring,
} from '../src';
import { createTestApp, createTestStack, removeTestAppDirs } from './construct-support/app';
import { snapshotTest } from './construct-support/floor';
import { cloudWatchLogsStatements, expectLogGroupsEncrypted, keyArnOf, logGroupKeys } from './construct-support/log-encryption';
import { formatNagFindings, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { missingVpcEndpoints } from './construct-support/vpc-endpoints';
import { buildJobsOnAnotherStacksApi, buildJobsOnImportedApi, IMPORTED_API_IDS } from '../examples/jobs-in-two-stacks';
import { TRANSIENT_JOB_ERRORS } from '../lambda/async-job-workflow/errors';

afterAll(removeTestAppDirs);

interface Built {
  readonly stack: Stack;
  readonly store: CanonicalStore;
  readonly api: AnalyticsApi;
  readonly jobs: AsyncJobWorkflow;
}

function workflowStack(
  props: Partial<AsyncJobWorkflowProps> = {}, build?: (stack: Stack) => Partial<AsyncJobWorkflowProps>, apiProps: Partial<AnalyticsApiProps> = {},
): Built {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store');
  const api = new AnalyticsApi(stack, 'Analytics', { store, ...apiProps });
  const jobs = new AsyncJobWorkflow(stack, 'Jobs', { api, store, ...props, ...build?.(stack) });
  return { stack, store, api, jobs };
}

const id = (stack: Stack, construct: any): string => stack.resolve((construct.node.defaultChild ?? construct).logicalId);

/** The state machine's definition with every Ref/GetAtt written as `<LogicalId>` / `<LogicalId.Attr>`. */
function definitionOf(template: Template, logicalId: string): any {
  const resource = template.toJSON().Resources[logicalId];
  const parts = resource.Properties.DefinitionString['Fn::Join'][1] as any[];
  const text = parts.map((p) => {
    if (typeof p === 'string') return p;
    if (p.Ref) return `<${p.Ref}>`;
    if (p['Fn::GetAtt']) return `<${p['Fn::GetAtt'].join('.')}>`;
    throw new Error(`unexpected part ${JSON.stringify(p)}`);
  }).join('');
  return JSON.parse(text);
}

/** IAM statements of the policies attached to a role (by its logical id). */
function statementsOf(template: Template, roleId: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (statement: any): string[] => [].concat(statement.Action);
const resourcesOf = (statement: any): any[] => [].concat(statement.Resource);

/** Resources that a resource references (Ref, Fn::GetAtt, DependsOn). */
function references(resource: any): Set<string> {
  const found = new Set<string>([].concat(resource.DependsOn ?? []));
  const walk = (v: any): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    if (typeof v.Ref === 'string') found.add(v.Ref);
    if (Array.isArray(v['Fn::GetAtt'])) found.add(v['Fn::GetAtt'][0]);
    Object.values(v).forEach(walk);
  };
  walk(resource.Properties);
  return found;
}

/** A dependency cycle among the template's resources, or undefined. */
function findCycle(template: Template): string[] | undefined {
  const resources = template.toJSON().Resources;
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of references(resources[node])) {
      if (!resources[next]) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of Object.keys(resources)) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('AsyncJobWorkflow defaults', () => {
  const built = workflowStack();
  const { stack, jobs, api } = built;
  const template = Template.fromStack(stack);
  const smId = id(stack, jobs.stateMachine);
  const markerId = id(stack, jobs.unfinishedJobMarker);
  const runnerId = id(stack, jobs.jobRunner);
  const tableId = id(stack, jobs.jobTable);
  const topicId = id(stack, jobs.notificationTopic);
  const apiFunctionId = id(stack, api.handler);
  const jobsApiId = id(stack, jobs.jobsApiHandler);
  const definition = definitionOf(template, smId);
  const marker = definitionOf(template, markerId);

  test('job table: jobId, on demand, TTL, point-in-time recovery, encrypted, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  test('job runner: its own function with the workflow code and handler index.jobRunner, 15 minutes, in the store VPC', () => {
    const fn = template.toJSON().Resources[runnerId].Properties;
    expect(fn).toMatchObject({ Handler: 'index.jobRunner', Timeout: 900, MemorySize: 1024, Runtime: 'nodejs24.x', TracingConfig: { Mode: 'Active' } });
    expect(fn.VpcConfig.SubnetIds.length).toBeGreaterThan(0);
    const jobsApiFn = template.toJSON().Resources[jobsApiId].Properties;
    const apiFn = template.toJSON().Resources[apiFunctionId].Properties;
    expect(fn.Code).toEqual(jobsApiFn.Code);
    expect(fn.Code).not.toEqual(apiFn.Code);
    expect(jobsApiFn).toMatchObject({ Handler: 'index.handler', Timeout: 29, MemorySize: 512 });
    expect(jobsApiFn.VpcConfig.SubnetIds.length).toBeGreaterThan(0);
    expect(jobsApiFn.Environment.Variables).toMatchObject({ JOB_TABLE_NAME: { Ref: tableId }, JOB_STATE_MACHINE_ARN: { Ref: smId }, JOB_RETENTION_DAYS: '7' });
    expect(jobsApiFn.Environment.Variables.DB_SECRET_ARN).toBeUndefined();
    expect(fn.Environment.Variables).toMatchObject({
      DB_SECRET_ARN: expect.anything(),
      SQL_READER_SECRET_ARN: expect.anything(),
      CACHE_TABLE_NAME: expect.anything(),
      RESULTS_BUCKET: expect.anything(),
      JOB_INLINE_RESULT_MAX_BYTES: '200000',
    });
    expect(fn.Environment.Variables.JOB_STATE_MACHINE_ARN).toBeUndefined();
  });

  test('the job state machine: Standard, logging ALL to an encrypted log group, X-Ray; the marker: Express, same', () => {
    for (const [logicalId, type] of [[smId, 'STANDARD'], [markerId, 'EXPRESS']]) {
      const props = template.toJSON().Resources[logicalId].Properties;
      expect(props).toMatchObject({ StateMachineType: type, TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false } });
      const logGroup = props.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
      expect(template.toJSON().Resources[logGroup].Properties).toMatchObject({ KmsKeyId: { 'Fn::GetAtt': [id(stack, jobs.encryptionKey), 'Arn'] }, RetentionInDays: 90 });
    }
  });

  test('states: MarkRunning → RunQuery → MarkSucceeded → NotifySucceeded → JobSucceeded', () => {
    expect(definition.StartAt).toBe('MarkRunning');
    const path: string[] = [];
    for (let s: string | undefined = 'MarkRunning'; s; s = definition.States[s].Next) path.push(s);
    expect(path).toEqual(['MarkRunning', 'RunQuery', 'MarkSucceeded', 'NotifySucceeded', 'JobSucceeded']);
    expect(definition.States.MarkRunning.Resource).toBe('arn:<AWS::Partition>:states:::dynamodb:updateItem');
    expect(definition.States.RunQuery.Resource).toBe(`<${runnerId}.Arn>`);
    expect(definition.States.MarkSucceeded.Parameters.ExpressionAttributeValues).toMatchObject({ ':data': { 'B.$': '$.run.resultData' }, ':kind': { 'S.$': '$.run.resultKind' } });
    expect(definition.States.NotifySucceeded).toMatchObject({ Resource: 'arn:<AWS::Partition>:states:::sns:publish', Parameters: { TopicArn: `<${topicId}>` } });
  });

  test('retry policy: RunQuery retries transient errors only, with exponential backoff and full jitter', () => {
    const { Retry, TimeoutSeconds } = definition.States.RunQuery;
    expect(Retry).toEqual([{
      ErrorEquals: [...TRANSIENT_JOB_ERRORS, 'Lambda.TooManyRequestsException', 'Lambda.ServiceException', 'Lambda.AWSLambdaException',
        'Lambda.SdkClientException', 'Lambda.ClientExecutionTimeoutException'],
      IntervalSeconds: 10,
      MaxAttempts: 3,
      BackoffRate: 2,
      MaxDelaySeconds: 120,
      JitterStrategy: 'FULL',
    }]);
    expect(JSON.stringify(Retry)).not.toMatch(/States\.(ALL|TaskFailed|Timeout)/);
    expect(TimeoutSeconds).toBe(915);
    // 4 attempts of 915 s, the waits (10 + 20 + 40 s) and 5 minutes for the status steps.
    expect(definition.TimeoutSeconds).toBe(4 * 915 + 70 + 300);
    expect(jobs.executionTimeout.toSeconds()).toBe(definition.TimeoutSeconds);
    for (const name of ['MarkRunning', 'MarkSucceeded', 'MarkFailed']) {
      expect(definition.States[name].Retry[0]).toEqual({ ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'], MaxAttempts: 0 });
    }
  });

  test('catch paths: every task catches every error; every failure path ends marked FAILED, notified, in a Fail state', () => {
    for (const [name, state] of Object.entries<any>({ ...definition.States, ...marker.States })) {
      if (state.Type !== 'Task') continue;
      expect({ name, all: state.Catch?.some((c: any) => c.ErrorEquals.includes('States.ALL')) }).toEqual({ name, all: true });
    }
    for (const name of ['MarkRunning', 'RunQuery', 'MarkSucceeded']) {
      expect(definition.States[name].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MarkFailed' }]);
    }
    expect(definition.States.MarkFailed).toMatchObject({ Next: 'NotifyFailed', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'NotifyFailed' }] });
    expect(definition.States.MarkFailed.Parameters.ConditionExpression).toBe('attribute_exists(jobId) AND #status <> :succeeded');
    expect(definition.States.NotifyFailed).toMatchObject({ Next: 'JobFailed', Catch: [{ Next: 'JobFailed' }] });
    expect(definition.States.JobFailed).toEqual({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
    expect(definition.States.NotifySucceeded.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotificationFailed' }]);
    expect(definition.States.NotifyOpsFailed).toBeUndefined();
  });

  test('the unfinished-job rule: FAILED, TIMED_OUT, ABORTED executions of the job state machine start the marker', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        'detail': { stateMachineArn: [{ Ref: smId }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      Targets: [Match.objectLike({ Arn: { Ref: markerId }, RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 } })],
    });
    expect(marker.States.MarkUnfinishedJobFailed.Parameters.ConditionExpression).toBe('attribute_exists(jobId) AND #status IN (:submitted, :running)');
    expect(marker.States.MarkUnfinishedJobFailed.Parameters.Key).toEqual({ jobId: { 'S.$': '$.detail.name' } });
    expect(marker.States.MarkUnfinishedJobFailed.Catch[0]).toEqual({ ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'], ResultPath: '$.error', Next: 'AlreadyFinished' });
  });

  test('the job routes on the API: POST /analytics/jobs, GET /analytics/jobs/{jobId}, IAM, the jobs function; the API function knows the workflow', () => {
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const pathOf = (ref: any): string => (ref?.Ref && resources[ref.Ref] ? `${pathOf(resources[ref.Ref].Properties.ParentId)}/${resources[ref.Ref].Properties.PathPart}` : '');
    const routes = Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => [`${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId)}`, m.Properties] as const);
    const byRoute = Object.fromEntries(routes);
    expect(Object.keys(byRoute)).toEqual(expect.arrayContaining(['POST /analytics/jobs', 'GET /analytics/jobs/{jobId}']));
    for (const route of ['POST /analytics/jobs', 'GET /analytics/jobs/{jobId}']) {
      expect(byRoute[route]).toMatchObject({ AuthorizationType: 'AWS_IAM', Integration: { Type: 'AWS_PROXY' } });
      expect(JSON.stringify(byRoute[route].Integration.Uri)).toContain(jobsApiId);
    }
    // Same stack: the API's own deployment carries the routes; no deployment of the workflow's.
    expect(jobs.deployment).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::ApiGateway::Deployment'))).toHaveLength(1);
    expect(byRoute['GET /analytics/jobs/{jobId}'].RequestParameters).toEqual({ 'method.request.path.jobId': true });
    const env = template.toJSON().Resources[apiFunctionId].Properties.Environment.Variables;
    expect(env).toMatchObject({ JOB_TABLE_NAME: { Ref: tableId }, JOB_STATE_MACHINE_ARN: { Ref: smId }, JOB_RETENTION_DAYS: '7' });
  });

  test('IAM: the state machine role reaches only the job table, the runner and the topic (and its key)', () => {
    const statements = statementsOf(template, id(stack, jobs.stateMachine.role));
    const byAction = (action: string) => statements.filter((s) => actionsOf(s).includes(action));
    const tables = byAction('dynamodb:UpdateItem').flatMap(resourcesOf);
    expect(tables).toHaveLength(1);
    expect(JSON.stringify(tables[0])).toMatch(new RegExp(`":table/",\\{"Ref":"${tableId}"\\}\\]`));
    expect(byAction('lambda:InvokeFunction').flatMap(resourcesOf)).toEqual([{ 'Fn::GetAtt': [runnerId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [runnerId, 'Arn'] }, ':*']] }]);
    expect(byAction('sns:Publish').flatMap(resourcesOf)).toEqual([{ Ref: topicId }]);
    expect(byAction('kms:GenerateDataKey*').flatMap(resourcesOf)).toEqual([{ 'Fn::GetAtt': [id(stack, jobs.encryptionKey), 'Arn'] }]);
    const all = statements.flatMap(actionsOf);
    expect(all.filter((a) => !/^(dynamodb:UpdateItem|lambda:InvokeFunction|sns:Publish|kms:(GenerateDataKey\*|Decrypt)|xray:.*|logs:.*)$/.test(a))).toEqual([]);
    const markerStatements = statementsOf(template, id(stack, jobs.unfinishedJobMarker.role));
    expect(markerStatements.flatMap(actionsOf).filter((a) => !/^(dynamodb:UpdateItem|sns:Publish|kms:(GenerateDataKey\*|Decrypt)|xray:.*|logs:.*)$/.test(a))).toEqual([]);
  });

  test('IAM: the job runner reads the cache, writes large results and its two secrets; no job table, no Step Functions, no SNS', () => {
    const statements = statementsOf(template, id(stack, jobs.jobRunner.role));
    const text = JSON.stringify(statements);
    expect(text).not.toContain(tableId);
    expect(text).not.toMatch(/states:|sns:|lambda:Invoke/);
    expect(statements.find((s) => s.Sid === 'ResultCache')).toMatchObject({ Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': [id(stack, api.cacheTable), 'Arn'] } });
    expect(statements.find((s) => s.Sid === 'LargeResults')).toMatchObject({ Action: ['s3:PutObject', 's3:AbortMultipartUpload'] });
    expect(JSON.stringify(statements.find((s) => s.Sid === 'LargeResults').Resource)).toContain('/results/*');
    expect(statements.filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'))).toHaveLength(2);
  });

  test('IAM: the API function may write and read jobs, start and describe executions of this state machine only', () => {
    const statements = statementsOf(template, id(stack, api.handler.role));
    expect(statements.find((s) => s.Sid === 'AsyncJobs')).toEqual({ Sid: 'AsyncJobs', Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': [tableId, 'Arn'] } });
    const start = statements.filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start.flatMap(resourcesOf)).toEqual([{ Ref: smId }]);
    const describe = statements.filter((s) => actionsOf(s).includes('states:DescribeExecution'));
    expect(JSON.stringify(describe.flatMap(resourcesOf))).toMatch(/:execution:.*\{"Ref":"JobsStateMachine[0-9A-F]+"\}.*:\*"/);
    expect(JSON.stringify(statements)).not.toMatch(/sns:Publish|lambda:InvokeFunction/);
    // The events role starts the marker only.
    const eventsRole = Object.entries(template.findResources('AWS::IAM::Role')).find(([k]) => k.includes('UnfinishedJobMarkerEventsRole'))![0];
    expect(statementsOf(template, eventsRole)).toEqual([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: markerId } }]);
  });

  test('no dependency cycle: the state machine never references the API function', () => {
    expect(findCycle(template)).toBeUndefined();
    expect([...references(template.toJSON().Resources[smId])]).not.toContain(apiFunctionId);
    const smRole = id(stack, jobs.stateMachine.role);
    expect(JSON.stringify(statementsOf(template, smRole))).not.toContain(apiFunctionId);
  });

  test('VPC endpoints for every service the functions call, Step Functions for the API function', () => {
    expect(missingVpcEndpoints(stack)).toEqual([]);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.states']] } });
  });

  test('alarms without actions; the created topic is KMS-encrypted and TLS-only', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3 + 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsTimedOut', Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: smId } }] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsFailed', Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: markerId } }] });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [id(stack, jobs.encryptionKey), 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', { PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] } });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('metrics', () => {
    expect(stack.resolve(jobs.metricJobsFailed().dimensions)).toEqual({ StateMachineArn: { Ref: smId } });
    expect(jobs.metricJobsSucceeded().metricName).toBe('ExecutionsSucceeded');
    expect(jobs.metricJobsTimedOut().metricName).toBe('ExecutionsTimedOut');
    expect(jobs.metricJobsStarted().metricName).toBe('ExecutionsStarted');
    expect(jobs.metricJobDuration().statistic).toBe('p90');
  });

  snapshotTest('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('AsyncJobWorkflow options', () => {
  test('ops topic, e-mails, job timeout, retries, retention, inline limit, tuning', () => {
    const { stack, jobs } = workflowStack({
      jobTimeout: Duration.minutes(5),
      retry: { maxAttempts: 5, interval: Duration.seconds(2), backoffRate: 3, maxDelay: Duration.seconds(30) },
      jobRetention: Duration.days(30),
      inlineResultMaxBytes: 50_000,
      notificationEmails: ['ops@example.com'],
      lambdaTuning: { memorySize: 2048, environment: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } },
      logExecutionData: true,
    }, (s) => ({ alarmTopic: new sns.Topic(s, 'Ops', { enforceSSL: true }) }));
    const template = Template.fromStack(stack);
    const definition = definitionOf(template, id(stack, jobs.stateMachine));
    expect(definition.States.RunQuery.TimeoutSeconds).toBe(315);
    expect(definition.States.RunQuery.Retry[0]).toMatchObject({ IntervalSeconds: 2, MaxAttempts: 5, BackoffRate: 3, MaxDelaySeconds: 30 });
    expect(definition.TimeoutSeconds).toBe(6 * 315 + (2 + 6 + 18 + 30 + 30) + 300);
    expect(definition.States.NotifyFailed.Next).toBe('NotifyOpsFailed');
    expect(definition.States.NotifyOpsFailed).toMatchObject({ Next: 'JobFailed', Parameters: { TopicArn: expect.stringMatching(/^<Ops/) } });
    const markerDefinition = definitionOf(template, id(stack, jobs.unfinishedJobMarker));
    expect(markerDefinition.States.NotifyUnfinishedJobFailed.Next).toBe('NotifyOpsUnfinishedJobFailed');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.jobRunner',
      Timeout: 300,
      MemorySize: 2048,
      Environment: { Variables: Match.objectLike({ JOB_INLINE_RESULT_MAX_BYTES: '50000', POWERTOOLS_LOG_LEVEL: 'DEBUG' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', Environment: { Variables: Match.objectLike({ JOB_RETENTION_DAYS: '30' }) } });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { LoggingConfiguration: Match.objectLike({ IncludeExecutionData: true }) });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => /Executions(TimedOut|Failed)/.test(a.Properties.MetricName))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^Ops/) }]);
    }
  });

  test('no retries: RunQuery has no Retry', () => {
    const { stack, jobs } = workflowStack({ retry: { maxAttempts: 0 } });
    const definition = definitionOf(Template.fromStack(stack), id(stack, jobs.stateMachine));
    expect(definition.States.RunQuery.Retry).toBeUndefined();
  });

  test('a given notification topic: no topic created, no grant on the construct key for it', () => {
    let given!: sns.Topic;
    const { stack, jobs } = workflowStack({}, (s) => {
      given = new sns.Topic(s, 'Given', { enforceSSL: true, masterKey: new kms.Key(s, 'GivenKey', { enableKeyRotation: true }) });
      return { notificationTopic: given };
    });
    const template = Template.fromStack(stack);
    expect(jobs.notificationTopic).toBe(given);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const statements = statementsOf(template, id(stack, jobs.stateMachine.role));
    expect(statements.filter((s) => actionsOf(s).includes('sns:Publish')).flatMap(resourcesOf)).toEqual([{ Ref: id(stack, given) }]);
    expect(JSON.stringify(statements)).not.toContain('kms:GenerateDataKey');
  });

  test('user-defined operations: the job runner and the jobs function get the API\'s operations file', () => {
    const { stack, jobs, api } = workflowStack({}, undefined, { userOperations: [{ name: 'one', sql: 'SELECT 1', longRunning: true }] });
    const resources = Template.fromStack(stack).toJSON().Resources;
    const runner = resources[id(stack, jobs.jobRunner)].Properties;
    const jobsApi = resources[id(stack, jobs.jobsApiHandler)].Properties;
    const apiFn = resources[id(stack, api.handler)].Properties;
    expect(runner.Code).toEqual(jobsApi.Code);
    expect(runner.Code).not.toEqual(apiFn.Code);
    expect(runner.Environment.Variables.USER_OPERATIONS_FILE).toBe('user-operations.json');
    expect(jobsApi.Environment.Variables.USER_OPERATIONS_FILE).toBe('user-operations.json');
  });

  test('a permissions boundary on every role of the workflow; no VPC endpoints when turned off', () => {
    const { stack } = workflowStack({ createVpcEndpoints: false }, (s) => ({
      permissionsBoundary: new iam.ManagedPolicy(s, 'Boundary', { statements: [new iam.PolicyStatement({ actions: ['*'], resources: ['*'] })] }),
    }));
    const template = Template.fromStack(stack);
    const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([k]) => k.startsWith('Jobs'));
    expect(roles.length).toBeGreaterThanOrEqual(4);
    for (const [, role] of roles) expect(role.Properties.PermissionsBoundary).toEqual({ Ref: expect.stringMatching(/^Boundary/) });
    expect(JSON.stringify(template.findResources('AWS::EC2::VPCEndpoint'))).not.toContain('.states');
  });
});

describe('AsyncJobWorkflow validation', () => {
  test.each([
    ['rootResourceId', { analyticsResourceId: 'an1', resultsBucketName: 'results-bucket', cacheTableName: 'cache-table' }],
    ['analyticsResourceId', { rootResourceId: 'root1', resultsBucketName: 'results-bucket', cacheTableName: 'cache-table' }],
    ['resultsBucketName', { rootResourceId: 'root1', analyticsResourceId: 'an1', cacheTableName: 'cache-table' }],
    ['cacheTableName', { rootResourceId: 'root1', analyticsResourceId: 'an1', resultsBucketName: 'results-bucket' }],
  ])('an imported API without %s: a synth error naming it', (missing, attrs) => {
    const app: App = createTestApp();
    const stack = new Stack(app, 'JobsStack');
    const store = new CanonicalStore(stack, 'Store');
    const api = AnalyticsApi.fromAnalyticsApiAttributes(stack, 'Api', {
      restApiId: 'abc123', restApiName: 'analytics', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:analytics', serviceName: 'analytics-x', ...attrs,
    });
    expect(() => new AsyncJobWorkflow(stack, 'Jobs', { api, store })).toThrow(new RegExp(`has no ${missing}: pass ${missing} to AnalyticsApi.fromAnalyticsApiAttributes`));
  });

  test.each([
    [{ jobTimeout: Duration.minutes(16) }, /jobTimeout must be between 1 second and 15 minutes/],
    [{ lambdaTuning: { timeout: Duration.minutes(1) } }, /lambdaTuning\.timeout cannot be set/],
    [{ inlineResultMaxBytes: 300_000 }, /inlineResultMaxBytes must be an integer between 1 and 200000/],
    [{ retry: { maxAttempts: 11 } }, /retry\.maxAttempts/],
    [{ retry: { backoffRate: 0.5 } }, /retry\.backoffRate/],
    [{ retry: { interval: Duration.seconds(30), maxDelay: Duration.seconds(10) } }, /retry\.maxDelay/],
    [{ jobRetention: Duration.hours(36) }, /jobRetention must be a whole number of days/],
    [{ notificationEmails: ['not an address'] }, /is not an e-mail address/],
    [{ lambdaTuning: { memorySize: 64 } }, /lambdaTuning\.memorySize/],
  ] as Array<[Partial<AsyncJobWorkflowProps>, RegExp]>)('%j is refused', (props, message) => {
    expect(() => workflowStack(props)).toThrow(message);
  });

  test('e-mails with a given topic are refused', () => {
    expect(() => workflowStack({ notificationEmails: ['a@example.com'] }, (s) => ({ notificationTopic: new sns.Topic(s, 'T') }))).toThrow(/notificationEmails/);
  });
});

describe('cdk-nag', () => {
  test.each([
    ['defaults', {}],
    ['ops topic, given topic, API key', { withTopics: true }],
  ])('AwsSolutions + HIPAA: no unacknowledged findings in the workflow (%s)', (_name, options: { withTopics?: boolean }) => {
    const { stack } = workflowStack({}, (s) => (options.withTopics ? {
      alarmTopic: new sns.Topic(s, 'Ops', { enforceSSL: true, masterKey: new kms.Key(s, 'OpsKey', { enableKeyRotation: true }) }),
      notificationTopic: new sns.Topic(s, 'Given', { enforceSSL: true, masterKey: new kms.Key(s, 'GivenKey', { enableKeyRotation: true }) }),
    } : {}));
    const report = runNagChecks(stack, { hipaa: true });
    const ours = (list: typeof report.errors) => list
      .filter((f) => f.path.startsWith('/TestStack/Jobs') || (f.path.startsWith('/TestStack/Analytics/Function') && /IAM5/.test(f.message)));
    expect(formatNagFindings(ours(report.errors))).toBe('');
    expect(formatNagFindings(ours(report.warnings))).toBe('');
    expect(unusedNagAcknowledgements(stack, report).filter((u) => u.startsWith('/TestStack/Jobs'))).toEqual([]);
  });
});

describe('a stack of its own', () => {
  test('synthesizes with the workflow alone in its stack beside the store', () => {
    const stack = createTestStack('Solo');
    const store = new CanonicalStore(stack, 'Store');
    const api = new AnalyticsApi(stack, 'Analytics', { store });
    new AsyncJobWorkflow(stack, 'Jobs', { api, store });
    expect(() => Template.fromStack(stack)).not.toThrow();
  });
});

describe('logEncryptionKey', () => {
  test('encrypts the job runner\'s and both state machines\' log groups; shared with the store and the API, one statement', () => {
    const stack = createTestStack();
    const key = new kms.Key(stack, 'LogsKey');
    const store = new CanonicalStore(stack, 'Store', { logEncryptionKey: key });
    const api = new AnalyticsApi(stack, 'Analytics', { store, logEncryptionKey: key });
    const jobs = new AsyncJobWorkflow(stack, 'Jobs', { api, store, logEncryptionKey: key });
    const template = Template.fromStack(stack);
    expectLogGroupsEncrypted(template, jobs, key, 4);
    // Every log group of the stack, each construct's.
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.map((g) => g.Properties.KmsKeyId)).toEqual(new Array(9).fill(keyArnOf(key)));
    // The workflow's own key serves the topic only: CloudWatch Logs gets nothing on it.
    expect(cloudWatchLogsStatements(template, jobs.encryptionKey)).toEqual([]);
  });

  test('without it, the job runner\'s log group has no key; the state machines\' have the workflow\'s key', () => {
    const { stack, jobs } = workflowStack();
    const template = Template.fromStack(stack);
    const own = keyArnOf(jobs.encryptionKey);
    expect(Object.values(logGroupKeys(template, jobs))).toEqual([undefined, own, own, undefined]);
    expect(cloudWatchLogsStatements(template, jobs.encryptionKey)).toHaveLength(1);
  });
});

describe('grants', () => {
  test('grantSubmitJobs: execute-api:Invoke on POST /analytics/jobs; grantReadJobs: GET of jobs and downloads', () => {
    const b = workflowStack();
    const submitter = new iam.Role(b.stack, 'Submitter', { assumedBy: new iam.AccountRootPrincipal() });
    const reader = new iam.Role(b.stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    b.jobs.grantSubmitJobs(submitter);
    b.jobs.grantReadJobs(reader);
    const template = Template.fromStack(b.stack);
    const routesOf = (roleId: string) => statementsOf(template, roleId).flatMap((st) => {
      expect(st.Action).toBe('execute-api:Invoke');
      return [].concat(st.Resource).map((r: any) => (r['Fn::Join'][1] as any[]).map((x) => (typeof x === 'string' ? x : '<ref>')).join('').replace(/^.*:/, ''));
    });
    const restApiId = id(b.stack, b.api.api);
    // <rest api id>/<stage>/<method>/<path>
    expect(routesOf(id(b.stack, submitter))).toEqual(['<ref>/<ref>/POST/analytics/jobs']);
    expect(routesOf(id(b.stack, reader))).toEqual(['<ref>/<ref>/GET/analytics/jobs/*', '<ref>/<ref>/GET/download/*']);
    expect(JSON.stringify(statementsOf(template, id(b.stack, reader)))).toContain(restApiId);
  });
});

describe('in a stack of its own, on another stack\'s API or an imported one', () => {
  const permissionsOf = (template: Template) => Object.values(template.findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
  const methodsOf = (template: Template) => Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => m.Properties);

  test('created AnalyticsApi passed across stacks: no cycle, the API untouched, routes and a deployment to its stage in the workflow stack', () => {
    const app = createTestApp();
    const { apiStack, jobsStack, api, jobs } = buildJobsOnAnotherStacksApi(app);
    const assembly = app.synth(); // throws on a dependency cycle between the stacks
    expect(jobsStack.dependencies.map((s) => s.stackName)).toEqual(['ApiStack']);
    expect(apiStack.dependencies).toEqual([]);
    expect(assembly.getStackByName('ApiStack').dependencies.map((d) => d.id)).not.toContain('JobsStack');

    const apiTemplate = Template.fromStack(apiStack);
    const apiEnv = apiTemplate.toJSON().Resources[id(apiStack, api.handler)].Properties.Environment.Variables;
    expect(apiEnv.JOB_TABLE_NAME).toBeUndefined(); // the API function is not told: no delegate
    expect(methodsOf(apiTemplate)).toHaveLength(4); // its own routes only

    const template = Template.fromStack(jobsStack);
    const jobsApiId = id(jobsStack, jobs.jobsApiHandler);
    const importOf = (v: any) => JSON.stringify(v).includes('Fn::ImportValue');
    const resources = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties);
    const jobsResource = resources.find((r) => r.PathPart === 'jobs')!;
    expect(importOf(jobsResource.ParentId)).toBe(true);
    expect(JSON.stringify(jobsResource.ParentId)).toMatch(/Apianalytics/i);
    expect(resources.map((r) => r.PathPart).sort()).toEqual(['jobs', '{jobId}']);
    const methods = methodsOf(template);
    expect(methods.map((m) => m.HttpMethod).sort()).toEqual(['GET', 'POST']);
    for (const m of methods) {
      expect(m).toMatchObject({ AuthorizationType: 'AWS_IAM', Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' } });
      expect(JSON.stringify(m.Integration.Uri)).toContain(jobsApiId);
      expect(importOf(m.RestApiId)).toBe(true);
    }
    const deployments = template.findResources('AWS::ApiGateway::Deployment');
    expect(Object.values(deployments)).toHaveLength(1);
    const [deploymentId, deployment] = Object.entries(deployments)[0];
    expect(deployment.Properties.StageName).toEqual({ 'Fn::ImportValue': expect.stringMatching(/ApiDeploymentStageprod/) });
    expect(importOf(deployment.Properties.RestApiId)).toBe(true);
    expect(deployment.DependsOn).toEqual(expect.arrayContaining(Object.keys(template.findResources('AWS::ApiGateway::Method'))));
    expect(jobs.deployment && id(jobsStack, jobs.deployment)).toBe(deploymentId);

    // Lambda invoke permissions: the jobs function only, from this API's stage and routes only.
    const permissions = permissionsOf(template);
    expect(permissions).toHaveLength(2);
    for (const p of permissions) {
      expect(p).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com', FunctionName: { 'Fn::GetAtt': [jobsApiId, 'Arn'] } });
      expect(importOf(p.SourceArn)).toBe(true);
    }
    expect(permissions.map((p) => JSON.stringify(p.SourceArn).match(/\/(POST|GET)\/[^"]*/)?.[0]).sort())
      .toEqual(['/GET/analytics/jobs/*', '/POST/analytics/jobs']);
    for (const p of permissions) expect(JSON.stringify(p.SourceArn)).toMatch(/ApiDeploymentStageprod/);
    expect(findCycle(template)).toBeUndefined();
  });

  test('the jobs function and the runner: least privilege on the job table, the state machine, the API\'s cache table and results prefix', () => {
    const app = createTestApp();
    const { jobsStack, jobs } = buildJobsOnAnotherStacksApi(app);
    const template = Template.fromStack(jobsStack);
    const jobsApi = statementsOf(template, id(jobsStack, jobs.jobsApiHandler.role)).filter((s) => !actionsOf(s).some((a) => a.startsWith('ec2:') || a.startsWith('xray:') || a.startsWith('logs:')));
    expect(jobsApi.flatMap(actionsOf).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'states:DescribeExecution', 'states:StartExecution']);
    expect(JSON.stringify(jobsApi)).not.toMatch(/secretsmanager|s3:|ResultCache/);
    const runner = statementsOf(template, id(jobsStack, jobs.jobRunner.role));
    const cache = runner.find((s) => s.Sid === 'ResultCache');
    expect(actionsOf(cache)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(JSON.stringify(cache.Resource)).toContain('Fn::ImportValue');
    const large = runner.find((s) => s.Sid === 'LargeResults');
    expect(actionsOf(large)).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
    expect(JSON.stringify(large.Resource)).toMatch(/Fn::ImportValue.*\/results\/\*/);
    const env = template.toJSON().Resources[id(jobsStack, jobs.jobRunner)].Properties.Environment.Variables;
    expect(env).toMatchObject({ RESULTS_PREFIX: 'results/', USER_OPERATIONS_FILE: 'user-operations.json' });
    expect(JSON.stringify(env.RESULTS_BUCKET)).toContain('Fn::ImportValue');
  });

  test('imported with literal ids: routes below the given /analytics resource, deployment to its stage, permissions scoped to that API', () => {
    const app = createTestApp();
    const { jobsStack, jobs } = buildJobsOnImportedApi(app);
    app.synth();
    const template = Template.fromStack(jobsStack);
    const resources = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties);
    expect(resources.find((r) => r.PathPart === 'jobs')).toMatchObject({ ParentId: IMPORTED_API_IDS.analyticsResourceId, RestApiId: IMPORTED_API_IDS.restApiId });
    for (const m of methodsOf(template)) expect(m).toMatchObject({ RestApiId: IMPORTED_API_IDS.restApiId, AuthorizationType: 'AWS_IAM' });
    template.hasResourceProperties('AWS::ApiGateway::Deployment', { RestApiId: IMPORTED_API_IDS.restApiId, StageName: 'prod' });
    const arns = permissionsOf(template).map((p) => JSON.stringify(jobsStack.resolve(p.SourceArn))).sort();
    expect(arns).toEqual([
      expect.stringMatching(new RegExp(`:execute-api:",\\{"Ref":"AWS::Region"\\},":",\\{"Ref":"AWS::AccountId"\\},":${IMPORTED_API_IDS.restApiId}/prod/GET/analytics/jobs/\\*"`)),
      expect.stringMatching(new RegExp(`:execute-api:",\\{"Ref":"AWS::Region"\\},":",\\{"Ref":"AWS::AccountId"\\},":${IMPORTED_API_IDS.restApiId}/prod/POST/analytics/jobs"`)),
    ]);
    const runner = statementsOf(template, id(jobsStack, jobs.jobRunner.role));
    expect(JSON.stringify(runner.find((s) => s.Sid === 'LargeResults').Resource)).toContain(`${IMPORTED_API_IDS.resultsBucketName}/results/*`);
    expect(JSON.stringify(runner.find((s) => s.Sid === 'ResultCache').Resource)).toContain(`table/${IMPORTED_API_IDS.cacheTableName}`);
    const grantee = new iam.Role(jobsStack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });
    jobs.grantSubmitJobs(grantee);
    expect(JSON.stringify(jobsStack.resolve(jobs.jobsApiFunction.functionArn))).toContain(id(jobsStack, jobs.jobsApiHandler));
  });

  test('imported with COGNITO: the methods use the API\'s authorizer by id; without authorizerId a synth error', () => {
    const build = (authorizerId?: string) => {
      const app = createTestApp();
      const stack = new Stack(app, 'JobsStack');
      const store = new CanonicalStore(stack, 'Store');
      const api = AnalyticsApi.fromAnalyticsApiAttributes(stack, 'Api', {
        ...IMPORTED_API_IDS, restApiName: 'analytics', serviceName: 'analytics-api', authorization: AnalyticsApiAuthorization.COGNITO, authorizerId,
      });
      new AsyncJobWorkflow(stack, 'Jobs', { api, store });
      return Template.fromStack(stack);
    };
    expect(() => build()).toThrow(/has no authorizerId: pass authorizerId to AnalyticsApi.fromAnalyticsApiAttributes/);
    for (const m of methodsOf(build('auth123'))) expect(m).toMatchObject({ AuthorizationType: 'COGNITO_USER_POOLS', AuthorizerId: 'auth123' });
  });

  test.each([
    ['created API across stacks', (app: App) => buildJobsOnAnotherStacksApi(app).jobsStack],
    ['imported API', (app: App) => buildJobsOnImportedApi(app).jobsStack],
  ])('AwsSolutions + HIPAA, cdk-nag 3 and 2: no unacknowledged findings in the workflow stack (%s)', (_name, build) => {
    const app = createTestApp();
    const stack = build(app);
    const report = runNagChecks(stack, { hipaa: true });
    const ours = (list: typeof report.errors) => list.filter((f) => f.path.startsWith('/JobsStack/Jobs'));
    expect(formatNagFindings(ours(report.errors))).toBe('');
    expect(formatNagFindings(ours(report.warnings))).toBe('');
    expect(unusedNagAcknowledgements(stack, report).filter((u) => u.startsWith('/JobsStack/Jobs'))).toEqual([]);
  });

  test('fromAsyncJobWorkflowAttributes: metrics and grants of an imported workflow', () => {
    const stack = createTestStack();
    const jobs = AsyncJobWorkflow.fromAsyncJobWorkflowAttributes(stack, 'Jobs', {
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:jobs',
      jobRunnerFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:runner',
      jobsApiFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:jobs-api',
      restApiId: 'a1b2c3d4e5',
    });
    expect(stack.resolve(jobs.metricJobsFailed().dimensions)).toEqual({ StateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:jobs' });
    expect(jobs.alarms).toEqual([]);
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    jobs.grantReadJobs(role);
    // PipelineMonitoring takes the imported workflow: its jobs section graphs the state machine's metrics.
    new PipelineMonitoring(stack, 'Monitoring', { jobs });
    const template = Template.fromStack(stack);
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('Async jobs (Step Functions)');
    expect(body).toContain('arn:aws:states:us-east-1:123456789012:stateMachine:jobs');
    // Its alarms are not known here: monitoring alarms on the jobs API function's errors itself.
    expect(body).toContain('Jobs API');
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => JSON.stringify(a.Properties));
    expect(alarms.filter((a) => a.includes('jobs-api') && a.includes('"Errors"'))).toHaveLength(1);
    expect(jobs.alarms).not.toBe(jobs.alarms); // a new array on each read
    const statement = statementsOf(template, id(stack, role))[0];
    expect(JSON.stringify(statement.Resource)).toContain('a1b2c3d4e5/prod/GET/analytics/jobs/*');
    expect(JSON.stringify(statement.Resource)).toContain('a1b2c3d4e5/prod/GET/download/*');
  });
});
