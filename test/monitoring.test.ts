/**
 * PipelineMonitoring: one dashboard for whichever constructs are given, alarms on what needs a
 * person, each notifying the operations topic.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AiAnalyzer, AiAnalyzerAttributes, AnalyticsApi, AsyncJobWorkflow, BuiltInSources, CanonicalStore, IAiAnalyzer, IIngestionPipeline,
  IngestionPipeline, IngestionPipelineAttributes, IReportNotifier, PipelineMonitoring, ReportNotifier, StoreEngine,
} from '../src';
import { createTestApp, createTestStack, removeTestAppDirs } from './construct-support/app';

afterAll(removeTestAppDirs);

function dashboardBody(template: Template): string {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  return JSON.stringify(dashboards[0].Properties.DashboardBody);
}

function alarmsByDescription(template: Template): { [description: string]: any } {
  const result: { [description: string]: any } = {};
  for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
    result[alarm.Properties.AlarmDescription] = alarm.Properties;
  }
  return result;
}

function inlineFunction(stack: Stack, id: string): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
}

describe('with an RDS store, extra functions and the operations topic', () => {
  let stack: Stack;
  let template: Template;
  let monitoring: PipelineMonitoring;
  let topic: sns.Topic;

  beforeAll(() => {
    stack = createTestStack();
    topic = new sns.Topic(stack, 'Ops');
    const store = new CanonicalStore(stack, 'Store');
    monitoring = new PipelineMonitoring(stack, 'Monitoring', {
      alarmTopic: topic,
      store,
      functions: [inlineFunction(stack, 'Mine')],
      dashboardName: 'pipeline',
      databaseConnectionsThreshold: 80,
    });
    template = Template.fromStack(stack);
  });

  test('one dashboard with the database and Lambda sections', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'pipeline' });
    const body = dashboardBody(template);
    for (const text of ['Canonical store (PostgreSQL)', 'Database CPU (%)', 'Database connections', 'Free storage and memory (bytes)',
      'Lambda functions', 'Errors', 'Throttles', 'Duration p90 (ms)', 'Store migrator', 'Mine', 'CPUUtilization', 'FreeStorageSpace', 'Alarms']) {
      expect(body).toContain(text);
    }
  });

  test('alarms on database CPU, free storage and connections, function errors and throttles', () => {
    const alarms = alarmsByDescription(template);
    const find = (re: RegExp) => Object.entries(alarms).find(([d]) => re.test(d))?.[1];
    expect(find(/database CPU/)).toMatchObject({ MetricName: 'CPUUtilization', Threshold: 80, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(find(/running out of storage/)).toMatchObject({ MetricName: 'FreeStorageSpace', Threshold: 2 * 1024 ** 3, ComparisonOperator: 'LessThanThreshold' });
    expect(find(/database connections/)).toMatchObject({ MetricName: 'DatabaseConnections', Threshold: 80 });
    expect(find(/^Mine: the function failed/)).toMatchObject({ MetricName: 'Errors', Threshold: 0 });
    const throttles = find(/Lambda throttling/);
    expect(throttles.Metrics[0].Expression).toBe('SUM([FILL(t0, 0), FILL(t1, 0)])');
    // The migrator fails the deploy that runs it: a person sees it there, no alarm.
    expect(find(/Store migrator: the function failed/)).toBeUndefined();
    expect(monitoring.alarms).toHaveLength(Object.keys(alarms).length);
    // A copy: changing it changes nothing.
    monitoring.alarms.length = 0;
    expect(monitoring.alarms).toHaveLength(Object.keys(alarms).length);
  });

  test('every alarm notifies the operations topic', () => {
    for (const alarm of Object.values(alarmsByDescription(template))) {
      expect(alarm.AlarmActions).toEqual([{ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) }]);
    }
  });
});

describe('with an ingestion pipeline', () => {
  let template: Template;
  let ingestion: IngestionPipeline;
  let stack: Stack;

  beforeAll(() => {
    stack = createTestStack();
    const store = new CanonicalStore(stack, 'Store');
    ingestion = new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()] });
    new PipelineMonitoring(stack, 'Monitoring', { ingestion, ingestionRejectedThresholdPercent: 25 });
    template = Template.fromStack(stack);
  });

  test('records per second, rejects, latency, queue and dead-letter queue depth, and the processor', () => {
    const body = dashboardBody(template);
    for (const text of ['Ingestion', 'Records per second', 'received / PERIOD(received)', 'RecordsReceived', 'RecordsLoaded', 'RecordsRejected',
      'FileFailures', 'IngestionLatency', 'ProcessingDuration', 'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage',
      'Dead-letter queue depth', 'Ingestion processor']) {
      expect(body).toContain(text);
    }
    // The pipeline's own alarms are on the alarm widget.
    const widgetAlarms = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const alarm of [ingestion.deadLetterQueueAlarm, ingestion.errorsAlarm]) {
      expect(widgetAlarms).toContain(stack.getLogicalId(alarm.node.defaultChild as any));
    }
  });

  test('alarms on the share of rejected records, not again on the processor errors the pipeline alarms on', () => {
    const alarms = alarmsByDescription(template);
    const rejected = Object.entries(alarms).find(([d]) => /share of the records was rejected/.test(d))![1];
    expect(rejected.Threshold).toBe(25);
    expect(rejected.Metrics[0].Expression).toBe('IF(received > 0, 100 * FILL(rejected, 0) / received, 0)');
    expect(Object.keys(alarms).some((d) => /^Ingestion processor: the function failed/.test(d))).toBe(false);
  });
});

test('with the analytics API and async jobs: requests, errors, latency percentiles, cache, timeouts, jobs; their own alarms on the widget', () => {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store');
  const api = new AnalyticsApi(stack, 'Api', { store });
  const jobs = new AsyncJobWorkflow(stack, 'Jobs', { api, store });
  new PipelineMonitoring(stack, 'Monitoring', { api, jobs });
  const template = Template.fromStack(stack);
  const body = dashboardBody(template);
  for (const text of ['Analytics API', 'Requests and errors', 'AWS/ApiGateway', '4XXError', '5XXError', 'Latency', 'CacheHit', 'CacheMiss',
    'OperationDuration', 'QueryTimeout', 'DatabaseUnavailable', 'Async jobs (Step Functions)', 'ExecutionsStarted', 'ExecutionsSucceeded',
    'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionTime', 'Job runner', 'Jobs API']) {
    expect(body).toContain(text);
  }
  const all = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
  for (const alarm of [api.serverErrorAlarm, api.latencyAlarm, api.functionErrorsAlarm, jobs.executionsTimedOutAlarm, jobs.markerFailedAlarm]) {
    expect(all).toContain(stack.getLogicalId(alarm.node.defaultChild as any));
  }
  expect(Object.keys(alarmsByDescription(template)).some((d) => /^(Analytics API|Job runner|Jobs API): the function failed/.test(d))).toBe(false);
});

describe('with the AI analyzer and the report notifier', () => {
  let template: Template;
  let stack: Stack;
  let analyzer: AiAnalyzer;
  let notifier: ReportNotifier;

  beforeAll(() => {
    stack = createTestStack();
    const bus = new events.EventBus(stack, 'Bus');
    const bucket = new s3.Bucket(stack, 'Data');
    const topic = new sns.Topic(stack, 'Ops');
    analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: bus, dataBucket: bucket, alarmTopic: topic });
    notifier = new ReportNotifier(stack, 'Notifier', {
      eventBus: bus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'], alarmTopic: topic,
    });
    new PipelineMonitoring(stack, 'Monitoring', { analyzer, notifier, alarmTopic: topic, bedrockDailyCostThresholdUsd: 3 });
    template = Template.fromStack(stack);
  });

  test('tokens, cost, analyses, anomalies, queues and both functions on the dashboard', () => {
    const body = dashboardBody(template);
    for (const text of ['AI analysis (Amazon Bedrock)', 'InputTokens', 'OutputTokens', 'EstimatedCostUsd', 'AnalysesCompleted', 'AnalysesFailed',
      'AnomaliesFound', 'Analysis queue', 'Reports (Amazon SES)', 'Undelivered events (dead-letter queue)', 'AI analyzer', 'Report notifier']) {
      expect(body).toContain(text);
    }
    const widgetAlarms = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const alarm of [analyzer.deadLetterQueueAlarm, analyzer.errorsAlarm, notifier.deadLetterQueueAlarm, notifier.errorsAlarm]) {
      expect(widgetAlarms).toContain(stack.getLogicalId(alarm.node.defaultChild as any));
    }
  });

  test('a daily Bedrock cost alarm; no second error alarm for functions whose construct alarms', () => {
    const alarms = alarmsByDescription(template);
    const cost = Object.entries(alarms).find(([d]) => /Bedrock cost/.test(d))![1];
    expect(cost).toMatchObject({ MetricName: 'EstimatedCostUsd', Period: 86400, Statistic: 'Sum', Threshold: 3 });
    expect(Object.keys(alarms).some((d) => /^(AI analyzer|Report notifier): the function failed/.test(d))).toBe(false);
  });
});

test('with an Aurora store: capacity instead of storage, no storage alarm', () => {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2 });
  new PipelineMonitoring(stack, 'Monitoring', { store });
  const template = Template.fromStack(stack);
  const body = dashboardBody(template);
  expect(body).toContain('ServerlessDatabaseCapacity');
  expect(body).not.toContain('FreeStorageSpace');
  const alarms = alarmsByDescription(template);
  expect(Object.keys(alarms).some((d) => /storage/.test(d))).toBe(false);
  // No topic: the alarms exist, without actions.
  for (const alarm of Object.values(alarms)) expect(alarm.AlarmActions).toBeUndefined();
});

test('with nothing given: an empty dashboard, no alarms', () => {
  const stack = createTestStack();
  const monitoring = new PipelineMonitoring(stack, 'Monitoring');
  Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  expect(monitoring.alarms).toEqual([]);
});

test('throttling alarms take at most 10 functions each (metric math limit)', () => {
  const stack = createTestStack();
  const functions = Array.from({ length: 12 }, (_, i) => inlineFunction(stack, `Fn${i}`));
  new PipelineMonitoring(stack, 'Monitoring', { functions });
  const throttles = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'))
    .filter((a) => /throttling/.test(a.Properties.AlarmDescription));
  expect(throttles.map((a) => a.Properties.Metrics.length - 1).sort()).toEqual([10, 2]);
});

test('validates its thresholds and period', () => {
  const stack = createTestStack();
  expect(() => new PipelineMonitoring(stack, 'A', { databaseCpuThresholdPercent: 120 })).toThrow(/databaseCpuThresholdPercent/);
  expect(() => new PipelineMonitoring(stack, 'B', { databaseFreeStorageThresholdGiB: 0 })).toThrow(/databaseFreeStorageThresholdGiB/);
  expect(() => new PipelineMonitoring(stack, 'C', { databaseConnectionsThreshold: 1.5 })).toThrow(/databaseConnectionsThreshold/);
  expect(() => new PipelineMonitoring(stack, 'D', { period: Duration.seconds(90) })).toThrow(/period/);
  expect(() => new PipelineMonitoring(stack, 'E', { ingestionRejectedThresholdPercent: 100 })).toThrow(/ingestionRejectedThresholdPercent/);
  expect(() => new PipelineMonitoring(stack, 'F', { bedrockDailyCostThresholdUsd: 0 })).toThrow(/bedrockDailyCostThresholdUsd/);
});

test('the dashboard name can be left to CloudFormation', () => {
  const stack = createTestStack();
  new PipelineMonitoring(stack, 'Monitoring');
  Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: Match.absent() });
});

test('an imported analytics API (another stack) is monitored: its stage and function metrics, an alarm on its function errors', () => {
  const app = createTestApp();
  const apiStack = new Stack(app, 'ApiStack');
  const store = new CanonicalStore(apiStack, 'Store');
  const api = new AnalyticsApi(apiStack, 'Api', { store });
  const monitoringStack = new Stack(app, 'MonitoringStack');
  const imported = AnalyticsApi.fromAnalyticsApiAttributes(monitoringStack, 'Api', {
    restApiId: 'abc123',
    restApiName: 'analytics',
    functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:analytics-api',
    serviceName: 'analytics-prod',
  });
  new PipelineMonitoring(monitoringStack, 'Monitoring', { api: imported });
  const template = Template.fromStack(monitoringStack);
  const body = dashboardBody(template);
  for (const metric of ['Count', '5XXError', 'Latency', 'CacheHit', 'QueryTimeout']) expect(body).toMatch(new RegExp(`\\W${metric}\\W`));
  expect(body).toMatch(/AWS\/ApiGateway\W+Count\W+ApiName\W+analytics\W+Stage\W+prod\W/);
  expect(body).toMatch(/ServerlessDataPipeline\W+CacheHit\W+service\W+analytics-prod\W/);
  const alarms = alarmsByDescription(template);
  expect(alarms['Analytics API: the function failed (see its log group)']).toMatchObject({ MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: 'analytics-api' }] });
  // The created API's metrics are the same methods, from its own name and stage.
  expect(monitoringStack.resolve(imported.metricLatency().dimensions)).toEqual({ ApiName: 'analytics', Stage: 'prod' });
  expect(apiStack.resolve(api.metricLatency().statistic)).toBe('p99');
  expect(api.alarms).toEqual([api.serverErrorAlarm, api.latencyAlarm, api.functionErrorsAlarm]);
});

test('an imported canonical store (another stack) is monitored by its identifier; without it, its metrics say what to pass', () => {
  const app = createTestApp();
  const storeStack = new Stack(app, 'StoreStack');
  const store = new CanonicalStore(storeStack, 'Store', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2 });
  const monitoringStack = new Stack(app, 'MonitoringStack');
  const attrs = { endpoint: 'db.example.internal', databaseName: 'pipeline', vpc: store.vpc, securityGroup: store.securityGroup };
  const imported = CanonicalStore.fromCanonicalStoreAttributes(monitoringStack, 'Store', {
    ...attrs, engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, databaseIdentifier: 'pipeline-cluster',
  });
  new PipelineMonitoring(monitoringStack, 'Monitoring', { store: imported });
  const template = Template.fromStack(monitoringStack);
  expect(dashboardBody(template)).toMatch(/AWS\/RDS\W+ServerlessDatabaseCapacity\W+DBClusterIdentifier\W+pipeline-cluster\W/);
  expect(alarmsByDescription(template)['Canonical store: database CPU has been high for 15 minutes (slow queries, ingestion load, or an undersized instance)'])
    .toMatchObject({ MetricName: 'CPUUtilization', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'pipeline-cluster' }] });
  const withoutId = CanonicalStore.fromCanonicalStoreAttributes(monitoringStack, 'NoId', attrs);
  expect(() => withoutId.metricCPUUtilization()).toThrow(/MonitoringStack\/NoId: its metrics need the database's identifier; pass `databaseIdentifier`/);
  expect(() => imported.metricFreeStorageSpace()).toThrow(/applies to StoreEngine.RDS_POSTGRES only/);
});

/** An ingestion pipeline, AI analyzer and report notifier created in a stack of their own. */
function createPipelineStack(app: App): { stack: Stack; ingestion: IngestionPipeline; analyzer: AiAnalyzer; notifier: ReportNotifier } {
  const stack = new Stack(app, 'PipelineStack');
  const store = new CanonicalStore(stack, 'Store');
  const ingestion = new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()] });
  const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: ingestion.eventBus, dataBucket: ingestion.bucket });
  const notifier = new ReportNotifier(stack, 'Notifier', {
    eventBus: ingestion.eventBus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'],
  });
  return { stack, ingestion, analyzer, notifier };
}

const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:111111111111:${resource}`;

/** Literal attributes of a pipeline of another app, on the bucket `raw-data-bucket`. */
function ingestionAttributes(scope: Stack): IngestionPipelineAttributes {
  return {
    functionArn: arn('lambda', 'function:ingestion-processor'),
    serviceName: 'ingestion-prod',
    queueArn: arn('sqs', 'ingestion-queue'),
    deadLetterQueueArn: arn('sqs', 'ingestion-dlq'),
    bucket: s3.Bucket.fromBucketName(scope, 'Raw', 'raw-data-bucket'),
  };
}

/** Literal attributes of an analyzer of another app, on the bucket `raw-data-bucket`. */
function analyzerAttributes(scope: Stack): AiAnalyzerAttributes {
  return {
    functionArn: arn('lambda', 'function:ai-analyzer'),
    serviceName: 'ai-analyzer-prod',
    queueArn: arn('sqs', 'analyzer-queue'),
    deadLetterQueueArn: arn('sqs', 'analyzer-dlq'),
    analysisTableName: 'analyses',
    dataBucket: s3.Bucket.fromBucketName(scope, 'Data', 'raw-data-bucket'),
  };
}

describe('an imported ingestion pipeline, AI analyzer and report notifier (literal attributes, another stack)', () => {
  let monitoringStack: Stack;
  let template: Template;
  let monitoring: PipelineMonitoring;
  let ingestion: IIngestionPipeline;
  let analyzer: IAiAnalyzer;
  let notifier: IReportNotifier;
  let created: ReturnType<typeof createPipelineStack>;

  beforeAll(() => {
    const app = createTestApp();
    created = createPipelineStack(app);
    monitoringStack = new Stack(app, 'MonitoringStack');
    ingestion = IngestionPipeline.fromIngestionPipelineAttributes(monitoringStack, 'Ingestion', ingestionAttributes(monitoringStack));
    analyzer = AiAnalyzer.fromAiAnalyzerAttributes(monitoringStack, 'Analyzer', analyzerAttributes(monitoringStack));
    notifier = ReportNotifier.fromReportNotifierAttributes(monitoringStack, 'Notifier', {
      functionArn: arn('lambda', 'function:report-notifier'),
      deadLetterQueueArn: arn('sqs', 'notifier-dlq'),
    });
    monitoring = new PipelineMonitoring(monitoringStack, 'Monitoring', { ingestion, analyzer, notifier });
    template = Template.fromStack(monitoringStack);
  });

  test('the dashboard reads their metrics from the attributes: service names, queue and function names', () => {
    const body = dashboardBody(template);
    expect(body).toMatch(/ServerlessDataPipeline\W+RecordsReceived\W+service\W+ingestion-prod\W/);
    expect(body).toMatch(/ServerlessDataPipeline\W+IngestionLatency\W+service\W+ingestion-prod\W/);
    expect(body).toMatch(/AWS\/SQS\W+ApproximateNumberOfMessagesVisible\W+QueueName\W+ingestion-queue\W/);
    expect(body).toMatch(/AWS\/SQS\W+ApproximateAgeOfOldestMessage\W+QueueName\W+ingestion-queue\W/);
    expect(body).toMatch(/ServerlessDataPipeline\W+EstimatedCostUsd\W+service\W+ai-analyzer-prod\W/);
    expect(body).toMatch(/AWS\/SQS\W+ApproximateNumberOfMessagesVisible\W+QueueName\W+analyzer-queue\W/);
    expect(body).toMatch(/AWS\/Lambda\W+Invocations\W+FunctionName\W+report-notifier\W/);
    expect(body).toMatch(/AWS\/SQS\W+ApproximateNumberOfMessagesVisible\W+QueueName\W+notifier-dlq\W/);
    for (const name of ['ingestion-processor', 'ai-analyzer', 'report-notifier']) {
      expect(body).toMatch(new RegExp(`AWS/Lambda\\W+Throttles\\W+FunctionName\\W+${name}\\W`));
    }
    // Literal attributes: nothing is read from the stack that created them.
    expect(JSON.stringify(template.toJSON())).not.toContain('Fn::ImportValue');
    expect(monitoringStack.dependencies).toEqual([]);
  });

  test('their own alarms are not known: it alarms on each dead-letter queue and each function\'s errors, and on rejects and cost', () => {
    const alarms = alarmsByDescription(template);
    expect(Object.keys(alarms).sort()).toEqual([
      'AI analysis: the estimated Bedrock cost of the last 24 hours is above budget (more data, bigger prompts, or a retry loop)',
      'AI analyzer: messages reached the dead-letter queue (see its redrive procedure in the docs)',
      'AI analyzer: the function failed (see its log group)',
      'Ingestion processor: the function failed (see its log group)',
      'Ingestion: a large share of the records was rejected (a source changed its format, or bad data upstream): see rejected/ and the manifests',
      'Ingestion: messages reached the dead-letter queue (see its redrive procedure in the docs)',
      'Lambda throttling (Ingestion processor, AI analyzer, Report notifier): raise the account\'s concurrency or lower the sources\' concurrency',
      'Report notifier: messages reached the dead-letter queue (see its redrive procedure in the docs)',
      'Report notifier: the function failed (see its log group)',
    ]);
    const dlq = { MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' };
    expect(alarms['Ingestion: messages reached the dead-letter queue (see its redrive procedure in the docs)'])
      .toMatchObject({ ...dlq, Dimensions: [{ Name: 'QueueName', Value: 'ingestion-dlq' }] });
    expect(alarms['AI analyzer: messages reached the dead-letter queue (see its redrive procedure in the docs)'])
      .toMatchObject({ ...dlq, Dimensions: [{ Name: 'QueueName', Value: 'analyzer-dlq' }] });
    expect(alarms['Report notifier: messages reached the dead-letter queue (see its redrive procedure in the docs)'])
      .toMatchObject({ ...dlq, Dimensions: [{ Name: 'QueueName', Value: 'notifier-dlq' }] });
    const errors = { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 0 };
    expect(alarms['Ingestion processor: the function failed (see its log group)']).toMatchObject({ ...errors, Dimensions: [{ Name: 'FunctionName', Value: 'ingestion-processor' }] });
    expect(alarms['AI analyzer: the function failed (see its log group)']).toMatchObject({ ...errors, Dimensions: [{ Name: 'FunctionName', Value: 'ai-analyzer' }] });
    expect(alarms['Report notifier: the function failed (see its log group)']).toMatchObject({ ...errors, Dimensions: [{ Name: 'FunctionName', Value: 'report-notifier' }] });
    expect(alarms['AI analysis: the estimated Bedrock cost of the last 24 hours is above budget (more data, bigger prompts, or a retry loop)'])
      .toMatchObject({ MetricName: 'EstimatedCostUsd', Dimensions: [{ Name: 'service', Value: 'ai-analyzer-prod' }], Period: 86400 });
    expect(monitoring.alarms).toHaveLength(9);
    expect([ingestion.alarms, analyzer.alarms, notifier.alarms]).toEqual([[], [], []]);
  });

  test('importers and created constructs share the metric methods: dimensions from the attributes or from the construct', () => {
    const dims = (m: { dimensions?: any }) => monitoringStack.resolve(m.dimensions);
    expect(dims(ingestion.metricRecordsRejected())).toEqual({ service: 'ingestion-prod' });
    expect(dims(ingestion.metric('RecordsDuplicate'))).toEqual({ service: 'ingestion-prod' });
    expect(dims(analyzer.metricInputTokens())).toEqual({ service: 'ai-analyzer-prod' });
    expect(dims(analyzer.metricAnomaliesFound())).toEqual({ service: 'ai-analyzer-prod' });
    expect(dims(notifier.metricErrors())).toEqual({ FunctionName: 'report-notifier' });
    expect(dims(notifier.metricDeadLetterQueueDepth())).toEqual({ QueueName: 'notifier-dlq' });
    expect(ingestion.metricIngestionLatency().statistic).toBe('p90');
    expect(analyzer.metricEstimatedCost().statistic).toBe('Sum');

    const { stack, ingestion: i, analyzer: a, notifier: n } = created;
    expect(stack.resolve(i.metricRecordsRejected().dimensions)).toEqual({ service: i.serviceName });
    expect(stack.resolve(a.metricInputTokens().dimensions)).toEqual({ service: a.serviceName });
    const notifierFunctionId = stack.getLogicalId(n.notifierFunction.node.defaultChild as lambda.CfnFunction);
    expect(stack.resolve(n.metricErrors().dimensions)).toEqual({ FunctionName: { Ref: notifierFunctionId } });
    // The created constructs' alarms, each a new array: changing it changes nothing.
    expect(i.alarms).toEqual([i.deadLetterQueueAlarm, i.errorsAlarm, i.typedStorageRefreshAlarm]);
    i.alarms.length = 0;
    expect(i.alarms).toHaveLength(3);
    expect(a.alarms).toEqual([a.deadLetterQueueAlarm, a.errorsAlarm]);
    expect(n.alarms).toEqual([n.deadLetterQueueAlarm, n.errorsAlarm]);
  });
});

test('an imported pipeline grants uploads under its sources\' prefixes; an imported analyzer grants reading its analyses', () => {
  const stack = createTestStack();
  const ingestion = IngestionPipeline.fromIngestionPipelineAttributes(stack, 'Ingestion', {
    ...ingestionAttributes(stack), sourcePrefixes: ['crm/customers/', 'ehr/vitals/'],
  });
  const analyzer = AiAnalyzer.fromAiAnalyzerAttributes(stack, 'Analyzer', analyzerAttributes(stack));
  const role = new iam.Role(stack, 'Producer', { assumedBy: new iam.AccountRootPrincipal() });
  ingestion.grantUpload(role);
  analyzer.grantReadAnalyses(role);
  analyzer.grantInvoke(role);
  const statements: any[] = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
  const withAction = (action: string) => statements.find((s) => [s.Action].flat().includes(action));
  const resources = (statement: any) => JSON.stringify([statement.Resource].flat());
  const upload = withAction('s3:PutObject');
  expect([upload.Action].flat().sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
  expect(resources(upload)).toMatch(/raw-data-bucket\/crm\/customers\/\*.*raw-data-bucket\/ehr\/vitals\/\*/);
  const table = withAction('dynamodb:Query');
  expect(resources(table)).toMatch(/:table\/analyses"/);
  expect(resources(table)).toMatch(/:table\/analyses\/index\/\*"/);
  expect(resources(withAction('s3:GetObject*'))).toContain('raw-data-bucket/analyses/*');
  expect(withAction('lambda:InvokeFunction').Resource).toContain(arn('lambda', 'function:ai-analyzer'));
});

test('importers check their attributes and say what grantUpload needs', () => {
  const stack = createTestStack();
  const attrs = ingestionAttributes(stack);
  const monitorOnly = IngestionPipeline.fromIngestionPipelineAttributes(stack, 'MonitorOnly', attrs);
  expect(() => monitorOnly.grantUpload(new iam.AccountRootPrincipal()))
    .toThrow(/TestStack\/MonitorOnly: grantUpload needs the sources' prefixes; pass `sourcePrefixes` to IngestionPipeline.fromIngestionPipelineAttributes/);
  expect(() => IngestionPipeline.fromIngestionPipelineAttributes(stack, 'Bad', { ...attrs, sourcePrefixes: ['crm'] }))
    .toThrow(/sourcePrefixes\[0\] must be a key prefix ending with "\/"/);
  expect(() => AiAnalyzer.fromAiAnalyzerAttributes(stack, 'Analyzer', { ...analyzerAttributes(stack), analysisPrefix: 'analyses' })).toThrow(/analysisPrefix must be a key prefix ending with "\/"/);
});

test('created pipeline, analyzer and notifier monitored from another stack: cross-stack references one way, no cycle', () => {
  const app = createTestApp();
  const { stack, ingestion, analyzer, notifier } = createPipelineStack(app);
  const monitoringStack = new Stack(app, 'MonitoringStack');
  const monitoring = new PipelineMonitoring(monitoringStack, 'Monitoring', { ingestion, analyzer, notifier });
  // Synthesizing the app fails on a dependency cycle.
  const assembly = app.synth();
  expect(monitoringStack.dependencies).toEqual([stack]);
  expect(stack.dependencies).toEqual([]);
  const template = Template.fromJSON(assembly.getStackByName('MonitoringStack').template);
  const body = dashboardBody(template);
  expect(body).toContain('Fn::ImportValue');
  expect(body).toMatch(new RegExp(`ServerlessDataPipeline\\W+RecordsReceived\\W+service\\W+${ingestion.serviceName}\\W`));
  // The constructs alarm themselves: their alarms are on the widget (imported from their stack), not created again.
  const alarms = Object.keys(alarmsByDescription(template)).sort();
  expect(alarms).toEqual([
    'AI analysis: the estimated Bedrock cost of the last 24 hours is above budget (more data, bigger prompts, or a retry loop)',
    'Ingestion: a large share of the records was rejected (a source changed its format, or bad data upstream): see rejected/ and the manifests',
    'Lambda throttling (Ingestion processor, AI analyzer, Report notifier): raise the account\'s concurrency or lower the sources\' concurrency',
  ]);
  expect(monitoring.alarms).toHaveLength(3);
  const exports = Object.values(assembly.getStackByName('PipelineStack').template.Outputs ?? {}) as any[];
  const exported = JSON.stringify(exports.map((o) => o.Value));
  for (const alarm of [...ingestion.alarms, ...analyzer.alarms, ...notifier.alarms]) {
    expect(exported).toContain(stack.getLogicalId((alarm as cloudwatch.Alarm).node.defaultChild as cloudwatch.CfnAlarm));
  }
});

test('a report notifier sends the reports of an imported analyzer (another app)', () => {
  const stack = createTestStack();
  const analyzer = AiAnalyzer.fromAiAnalyzerAttributes(stack, 'Analyzer', { ...analyzerAttributes(stack), analysisPrefix: 'reports/analyses/' });
  new ReportNotifier(stack, 'Notifier', {
    eventBus: events.EventBus.fromEventBusName(stack, 'Bus', 'pipeline'), analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'],
  });
  Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({
        ANALYSIS_TABLE_NAME: 'analyses', ANALYSIS_BUCKET: 'raw-data-bucket', ANALYSIS_PREFIX: 'reports/analyses/', DATA_BUCKET: 'raw-data-bucket', MANIFEST_PREFIX: 'manifests/',
      }),
    },
  });
});
