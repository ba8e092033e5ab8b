/**
 * PipelineMonitoring: one dashboard for whichever constructs are given, alarms on what needs a
 * person, each notifying the operations topic.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AiAnalyzer, AnalyticsApi, AsyncJobWorkflow, BuiltInSources, CanonicalStore, IngestionPipeline, PipelineMonitoring, ReportNotifier, StoreEngine,
} from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';

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
    'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionTime', 'Job runner']) {
    expect(body).toContain(text);
  }
  const all = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
  for (const alarm of [api.serverErrorAlarm, api.latencyAlarm, api.functionErrorsAlarm, jobs.executionsTimedOutAlarm, jobs.markerFailedAlarm]) {
    expect(all).toContain(stack.getLogicalId(alarm.node.defaultChild as any));
  }
  expect(Object.keys(alarmsByDescription(template)).some((d) => /^(Analytics API|Job runner): the function failed/.test(d))).toBe(false);
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
