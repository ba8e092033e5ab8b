import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PipelineMonitoringProps } from './pipeline-monitoring-props';
import { CanonicalStore } from '../canonical-store/canonical-store';
import { StoreEngine } from '../canonical-store/canonical-store-props';
import { notifyAlarmTopic } from '../common/alarms';

/** Dashboard width in grid units. */
const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;
/** CloudWatch metric math accepts at most 10 metrics in an alarm. */
const MAX_ALARM_METRICS = 10;
const GIB = 1024 * 1024 * 1024;

/** A Lambda function on the dashboard, with the label it is shown under. */
interface MonitoredFunction {
  readonly label: string;
  readonly fn: lambda.IFunction;
  /** Whether this construct alarms on its errors (false when its own construct already does). */
  readonly alarmOnErrors: boolean;
}

/**
 * One CloudWatch dashboard for the whole data pipeline, and alarms on what needs a person,
 * routed to the operations topic.
 *
 * It reads the constructs through their public `metric*()` methods and resources, so it works
 * with whichever of them an app has. Alarms that a construct already raises itself (when given
 * the same topic) are shown on the dashboard's alarm widget but not created twice.
 */
export class PipelineMonitoring extends Construct {
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly createdAlarms: cloudwatch.Alarm[] = [];

  private readonly props: PipelineMonitoringProps;
  private readonly period: Duration;
  private readonly functions: MonitoredFunction[] = [];
  /** Alarms of the other constructs, shown in the alarm status widget. */
  private readonly constructAlarms: cloudwatch.IAlarm[] = [];

  /** The alarms this construct created (each notifies `alarmTopic` when given); a copy: changing it changes nothing. */
  public get alarms(): cloudwatch.Alarm[] {
    return [...this.createdAlarms];
  }

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps = {}) {
    super(scope, id);
    this.props = props;
    this.period = props.period ?? Duration.minutes(5);
    validate(props);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(6),
    });

    const sections: cloudwatch.IWidget[][] = [];
    if (props.ingestion) sections.push(this.ingestionSection());
    if (props.api) sections.push(this.apiSection());
    if (props.jobs) sections.push(this.jobsSection());
    if (props.analyzer) sections.push(this.analyzerSection());
    if (props.notifier) sections.push(this.notifierSection());
    if (props.store) sections.push(this.storeSection());

    for (const fn of props.functions ?? []) {
      this.functions.push({ label: fn.node.id, fn, alarmOnErrors: true });
    }
    if (this.functions.length > 0) sections.push(this.lambdaSection());

    this.dashboard.addWidgets(new cloudwatch.TextWidget({
      markdown: '# Serverless data pipeline\nIngestion, analytics API, jobs, AI analysis, reports and the canonical store. Alarms notify the operations topic.',
      width: FULL,
      height: 2,
    }));
    const allAlarms = [...this.createdAlarms, ...this.constructAlarms];
    if (allAlarms.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: allAlarms,
        width: FULL,
        height: Math.min(8, 2 + Math.ceil(allAlarms.length / 4)),
      }));
    }
    for (const widgets of sections) this.dashboard.addWidgets(...widgets);
  }

  // ----- sections -----

  private ingestionSection(): cloudwatch.IWidget[] {
    const ingestion = this.props.ingestion!;
    const sum = { period: this.period, statistic: 'Sum' };
    const perSecond = (metric: cloudwatch.IMetric, label: string, id: string) => new cloudwatch.MathExpression({
      expression: `${id} / PERIOD(${id})`,
      usingMetrics: { [id]: metric },
      period: this.period,
      label,
    });
    const received = ingestion.metricRecordsReceived(sum);
    const rejected = ingestion.metricRecordsRejected(sum);
    const widgets: cloudwatch.IWidget[] = [
      header('Ingestion'),
      graph('Records per second', [
        perSecond(received, 'Received', 'received'),
        perSecond(ingestion.metricRecordsLoaded(sum), 'Loaded', 'loaded'),
        perSecond(rejected, 'Rejected', 'rejected'),
      ], THIRD),
      graph('Rejected records, failed files, refresh failures', [
        ingestion.metricRecordsRejected({ ...sum, label: 'Rejected records' }),
        ingestion.metricFileFailures({ ...sum, label: 'Failed files' }),
        ingestion.metricTypedStorageRefreshFailures({ ...sum, label: 'Typed storage refresh failures' }),
      ], THIRD),
      graph('Latency p90 (ms)', [
        ingestion.metricIngestionLatency({ period: this.period, label: 'Upload to done' }),
        ingestion.metricProcessingDuration({ period: this.period, label: 'Processing' }),
      ], THIRD),
      graph('Queue', [
        ingestion.queue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum', label: 'Files waiting' }),
        ingestion.queue.metricApproximateNumberOfMessagesNotVisible({ period: this.period, statistic: 'Maximum', label: 'Files in progress' }),
      ], HALF, undefined, [
        ingestion.queue.metricApproximateAgeOfOldestMessage({ period: this.period, statistic: 'Maximum', label: 'Oldest (s)' }),
      ]),
      graph('Dead-letter queue depth', [
        ingestion.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum', label: 'Files in the DLQ' }),
      ], HALF),
    ];

    this.addAlarm('IngestionRejectedRecordsAlarm', {
      alarmDescription: 'Ingestion: a large share of the records was rejected (a source changed its format, or bad data upstream): see rejected/ and the manifests',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(received > 0, 100 * FILL(rejected, 0) / received, 0)',
        usingMetrics: { received, rejected },
        period: this.period,
        label: 'Rejected (%)',
      }),
      threshold: this.props.ingestionRejectedThresholdPercent ?? 10,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const alarmOnErrors = this.adoptAlarms('Ingestion', ingestion.alarms, ingestion.deadLetterQueue);
    this.functions.push({ label: 'Ingestion processor', fn: ingestion.processor, alarmOnErrors });
    return widgets;
  }

  private apiSection(): cloudwatch.IWidget[] {
    const api = this.props.api!;
    const sum = { period: this.period, statistic: 'Sum' };
    const widgets: cloudwatch.IWidget[] = [
      header('Analytics API'),
      graph('Requests and errors', [
        api.metricCount({ ...sum, label: 'Requests' }),
        api.metricClientError({ ...sum, label: '4XX' }),
        api.metricServerError({ ...sum, label: '5XX' }),
      ], THIRD),
      graph('Latency (ms)', [
        api.metricLatency({ period: this.period, statistic: 'p50', label: 'p50' }),
        api.metricLatency({ period: this.period, statistic: 'p90', label: 'p90' }),
        api.metricLatency({ period: this.period, statistic: 'p99', label: 'p99' }),
      ], THIRD),
      graph('Cache', [
        api.metricCacheHits({ ...sum, label: 'Hits' }),
        api.metricCacheMisses({ ...sum, label: 'Misses' }),
      ], THIRD, undefined, [api.metricOperationDuration({ period: this.period, label: 'Operation p90 (ms)' })]),
      graph('Query timeouts and database unavailable', [
        api.metricQueryTimeouts({ ...sum, label: 'Timeouts (504)' }),
        api.metricDatabaseUnavailable({ ...sum, label: 'Database unavailable (503)' }),
      ], FULL),
    ];
    this.constructAlarms.push(...api.alarms);
    // A created API alarms on its function's errors itself; an imported one's alarms are not known here.
    this.functions.push({ label: 'Analytics API', fn: api.apiFunction, alarmOnErrors: api.alarms.length === 0 });
    return widgets;
  }

  private jobsSection(): cloudwatch.IWidget[] {
    const jobs = this.props.jobs!;
    const sum = { period: this.period, statistic: 'Sum' };
    const widgets: cloudwatch.IWidget[] = [
      header('Async jobs (Step Functions)'),
      graph('Jobs', [
        jobs.metricJobsStarted({ ...sum, label: 'Started' }),
        jobs.metricJobsSucceeded({ ...sum, label: 'Succeeded' }),
        jobs.metricJobsFailed({ ...sum, label: 'Failed' }),
        jobs.metricJobsTimedOut({ ...sum, label: 'Timed out' }),
      ], HALF),
      graph('Job duration (ms)', [
        jobs.metricJobDuration({ period: this.period, statistic: 'p50', label: 'p50' }),
        jobs.metricJobDuration({ period: this.period, statistic: 'p90', label: 'p90' }),
      ], HALF),
    ];
    this.constructAlarms.push(...jobs.alarms);
    // A failing job runner fails its job, which the workflow publishes to the operations topic.
    this.functions.push({ label: 'Job runner', fn: jobs.jobRunnerFunction, alarmOnErrors: false });
    // The job routes' errors are the API's 5XX (alarmed by the API); an imported workflow's alarms are not known here.
    this.functions.push({ label: 'Jobs API', fn: jobs.jobsApiFunction, alarmOnErrors: jobs.alarms.length === 0 });
    return widgets;
  }

  private analyzerSection(): cloudwatch.IWidget[] {
    const analyzer = this.props.analyzer!;
    const sum = { period: this.period, statistic: 'Sum' };
    const widgets: cloudwatch.IWidget[] = [
      header('AI analysis (Amazon Bedrock)'),
      graph('Bedrock tokens', [
        analyzer.metricInputTokens({ ...sum, label: 'Input tokens' }),
        analyzer.metricOutputTokens({ ...sum, label: 'Output tokens' }),
      ], THIRD),
      graph('Estimated Bedrock cost (USD)', [analyzer.metricEstimatedCost({ ...sum, label: 'Cost (USD)' })], THIRD),
      graph('Analyses and anomalies', [
        analyzer.metricAnalysesCompleted({ ...sum, label: 'Completed' }),
        analyzer.metricAnalysesFailed({ ...sum, label: 'Failed' }),
      ], THIRD, undefined, [analyzer.metricAnomaliesFound({ ...sum, label: 'Anomalies found' })]),
      graph('Analysis queue', [
        analyzer.queue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum', label: 'Waiting' }),
        analyzer.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum', label: 'In the DLQ' }),
      ], FULL),
    ];
    this.addAlarm('BedrockDailyCostAlarm', {
      alarmDescription: 'AI analysis: the estimated Bedrock cost of the last 24 hours is above budget (more data, bigger prompts, or a retry loop)',
      metric: analyzer.metricEstimatedCost({ period: Duration.days(1), statistic: 'Sum' }),
      threshold: this.props.bedrockDailyCostThresholdUsd ?? 10,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const alarmOnErrors = this.adoptAlarms('AI analyzer', analyzer.alarms, analyzer.deadLetterQueue);
    this.functions.push({ label: 'AI analyzer', fn: analyzer.analyzerFunction, alarmOnErrors });
    return widgets;
  }

  private notifierSection(): cloudwatch.IWidget[] {
    const notifier = this.props.notifier!;
    const widgets: cloudwatch.IWidget[] = [
      header('Reports (Amazon SES)'),
      graph('Report runs', [
        notifier.metricInvocations({ period: this.period, label: 'Invocations' }),
        notifier.metricErrors({ period: this.period, label: 'Errors' }),
      ], HALF),
      graph('Undelivered events (dead-letter queue)', [
        notifier.metricDeadLetterQueueDepth({ period: this.period, label: 'In the DLQ' }),
      ], HALF),
    ];
    const alarmOnErrors = this.adoptAlarms('Report notifier', notifier.alarms, notifier.deadLetterQueue);
    this.functions.push({ label: 'Report notifier', fn: notifier.notifierFunction, alarmOnErrors });
    return widgets;
  }

  private storeSection(): cloudwatch.IWidget[] {
    const store = this.props.store!;
    const rds = store.engine === StoreEngine.RDS_POSTGRES;
    const cpu = store.metricCPUUtilization({ period: this.period, statistic: 'Average' });
    const connections = store.metricDatabaseConnections({ period: this.period, statistic: 'Maximum' });
    const widgets: cloudwatch.IWidget[] = [
      header('Canonical store (PostgreSQL)'),
      graph('Database CPU (%)', [cpu], THIRD, { min: 0, max: 100 }),
      graph('Database connections', [connections], THIRD),
    ];
    if (rds) {
      widgets.push(graph('Free storage and memory (bytes)', [
        store.metricFreeStorageSpace({ period: this.period, statistic: 'Minimum', label: 'Free storage' }),
        store.metricFreeableMemory({ period: this.period, statistic: 'Minimum', label: 'Freeable memory' }),
      ], THIRD));
    } else {
      widgets.push(graph('Capacity (ACUs) and freeable memory', [
        store.metricServerlessDatabaseCapacity({ period: this.period, statistic: 'Maximum', label: 'Capacity (ACU)' }),
      ], THIRD, undefined, [store.metricFreeableMemory({ period: this.period, statistic: 'Minimum', label: 'Freeable memory' })]));
    }

    this.addAlarm('DatabaseCpuAlarm', {
      alarmDescription: 'Canonical store: database CPU has been high for 15 minutes (slow queries, ingestion load, or an undersized instance)',
      metric: cpu,
      threshold: this.props.databaseCpuThresholdPercent ?? 80,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    if (rds) {
      this.addAlarm('DatabaseFreeStorageAlarm', {
        alarmDescription: 'Canonical store: the database is running out of storage (raise maxAllocatedStorage or clean up)',
        metric: store.metricFreeStorageSpace({ period: this.period, statistic: 'Minimum' }),
        threshold: (this.props.databaseFreeStorageThresholdGiB ?? 2) * GIB,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      });
    }
    if (this.props.databaseConnectionsThreshold !== undefined) {
      this.addAlarm('DatabaseConnectionsAlarm', {
        alarmDescription: 'Canonical store: more database connections than expected (check ingestion concurrency and API load)',
        metric: connections,
        threshold: this.props.databaseConnectionsThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      });
    }
    if (store instanceof CanonicalStore) this.functions.push({ label: 'Store migrator', fn: store.migrationFunction, alarmOnErrors: false });
    return widgets;
  }

  /** Errors, throttles and durations of every function; alarms on errors and on any throttling. */
  private lambdaSection(): cloudwatch.IWidget[] {
    const opts = (label: string, statistic: string): cloudwatch.MetricOptions => ({ period: this.period, statistic, label });
    const widgets: cloudwatch.IWidget[] = [
      header('Lambda functions'),
      graph('Errors', this.functions.map((f) => f.fn.metricErrors(opts(f.label, 'Sum'))), THIRD),
      graph('Throttles', this.functions.map((f) => f.fn.metricThrottles(opts(f.label, 'Sum'))), THIRD),
      graph('Duration p90 (ms)', this.functions.map((f) => f.fn.metricDuration(opts(f.label, 'p90'))), THIRD),
    ];

    for (const f of this.functions.filter((m) => m.alarmOnErrors)) {
      this.addAlarm(`${alarmIdOf(f.label)}ErrorsAlarm`, {
        alarmDescription: `${f.label}: the function failed (see its log group)`,
        metric: f.fn.metricErrors({ period: this.period, statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    // Throttling of any function: one alarm per group of at most 10 functions (metric math limit).
    for (let start = 0; start < this.functions.length; start += MAX_ALARM_METRICS) {
      const group = this.functions.slice(start, start + MAX_ALARM_METRICS);
      const usingMetrics: { [id: string]: cloudwatch.IMetric } = {};
      group.forEach((f, i) => { usingMetrics[`t${i}`] = f.fn.metricThrottles({ period: this.period, statistic: 'Sum' }); });
      this.addAlarm(start === 0 ? 'ThrottlesAlarm' : `ThrottlesAlarm${start / MAX_ALARM_METRICS + 1}`, {
        alarmDescription: `Lambda throttling (${group.map((f) => f.label).join(', ')}): raise the account's concurrency or lower the sources' concurrency`,
        metric: new cloudwatch.MathExpression({
          expression: `SUM([${Object.keys(usingMetrics).map((k) => `FILL(${k}, 0)`).join(', ')}])`,
          usingMetrics,
          period: this.period,
          label: 'Throttles',
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    return widgets;
  }

  /**
   * A construct's own alarms go on the alarm widget. Those of an imported construct are not known
   * here: this construct alarms on its dead-letter queue instead, and returns true so that it also
   * alarms on its function's errors.
   */
  private adoptAlarms(label: string, alarms: cloudwatch.IAlarm[], deadLetterQueue: sqs.IQueue): boolean {
    if (alarms.length > 0) {
      this.constructAlarms.push(...alarms);
      return false;
    }
    this.addAlarm(`${alarmIdOf(label)}DeadLetterQueueAlarm`, {
      alarmDescription: `${label}: messages reached the dead-letter queue (see its redrive procedure in the docs)`,
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    return true;
  }

  private addAlarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    notifyAlarmTopic(alarm, this.props.alarmTopic);
    this.createdAlarms.push(alarm);
    return alarm;
  }
}

function validate(props: PipelineMonitoringProps): void {
  const { databaseCpuThresholdPercent: cpu, databaseFreeStorageThresholdGiB: storage, databaseConnectionsThreshold: connections } = props;
  const cost = props.bedrockDailyCostThresholdUsd;
  if (cost !== undefined && !(cost > 0)) {
    throw new Error(`bedrockDailyCostThresholdUsd must be positive, got ${cost}`);
  }
  const rejected = props.ingestionRejectedThresholdPercent;
  if (rejected !== undefined && !(rejected >= 0 && rejected < 100)) {
    throw new Error(`ingestionRejectedThresholdPercent must be at least 0 and below 100, got ${rejected}`);
  }
  if (cpu !== undefined && !(cpu > 0 && cpu <= 100)) {
    throw new Error(`databaseCpuThresholdPercent must be between 0 (exclusive) and 100, got ${cpu}`);
  }
  if (storage !== undefined && !(storage > 0)) {
    throw new Error(`databaseFreeStorageThresholdGiB must be positive, got ${storage}`);
  }
  if (connections !== undefined && !(Number.isInteger(connections) && connections > 0)) {
    throw new Error(`databaseConnectionsThreshold must be a positive integer, got ${connections}`);
  }
  if (props.period && (props.period.toSeconds() < 60 || props.period.toSeconds() % 60 !== 0)) {
    throw new Error(`period must be a whole number of minutes, got ${props.period.toHumanString()}`);
  }
}

function header(title: string): cloudwatch.TextWidget {
  return new cloudwatch.TextWidget({ markdown: `## ${title}`, width: FULL, height: 1 });
}

function graph(
  title: string, left: cloudwatch.IMetric[], width: number,
  leftYAxis?: cloudwatch.YAxisProps, right?: cloudwatch.IMetric[],
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, right, width, height: HEIGHT, leftYAxis: leftYAxis ?? { min: 0 } });
}

/** A construct id from a label: `Store migrator` -> `StoreMigrator`. */
function alarmIdOf(label: string): string {
  return label.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}
