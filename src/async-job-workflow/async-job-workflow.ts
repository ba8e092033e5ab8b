import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { AsyncJobWorkflowProps, JobRetryOptions } from './async-job-workflow-props';
import { buildJobStateMachines, ResolvedRetry } from './job-state-machine';
import { AnalyticsApi } from '../analytics-api';
import { AccessLevel } from '../canonical-store/canonical-store-props';
import { alarmOnAnything } from '../common/alarms';
import { createPipelineFunction, DEFAULT_LOG_RETENTION } from '../common/lambda-tuning';
import { allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding } from '../common/nag';
import { ensureVpcEndpoint, PipelineAwsService } from '../common/vpc-endpoints';

/** Lambda's longest timeout: the longest job attempt the workflow supports. */
const MAX_JOB_TIMEOUT = Duration.minutes(15);
/** Step Functions state data limit (256 KiB) minus the job's input and the state's other fields. */
const MAX_INLINE_RESULT_BYTES = 200_000;
/** Where the API's large results are stored (the analytics handler's RESULTS_PREFIX). */
const RESULTS_PREFIX = 'results/';

function resolveRetry(retry: JobRetryOptions | undefined): ResolvedRetry {
  const resolved = {
    maxAttempts: retry?.maxAttempts ?? 3,
    interval: retry?.interval ?? Duration.seconds(10),
    backoffRate: retry?.backoffRate ?? 2,
    maxDelay: retry?.maxDelay ?? Duration.minutes(2),
  };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 0 || resolved.maxAttempts > 10) {
    throw new Error(`retry.maxAttempts must be an integer between 0 and 10, got ${resolved.maxAttempts}`);
  }
  if (resolved.interval.toSeconds() < 1 || resolved.interval.toSeconds() > 3600) {
    throw new Error(`retry.interval must be between 1 second and 1 hour, got ${resolved.interval.toHumanString()}`);
  }
  if (resolved.backoffRate < 1 || resolved.backoffRate > 10) {
    throw new Error(`retry.backoffRate must be between 1 and 10, got ${resolved.backoffRate}`);
  }
  if (resolved.maxDelay.toSeconds() < resolved.interval.toSeconds() || resolved.maxDelay.toSeconds() > 3600) {
    throw new Error(`retry.maxDelay must be between retry.interval and 1 hour, got ${resolved.maxDelay.toHumanString()}`);
  }
  return resolved;
}

function validateProps(scope: Construct, props: AsyncJobWorkflowProps): void {
  if (!props.api) throw new Error('api is required: the workflow adds its routes to an AnalyticsApi');
  if (!props.store) throw new Error('store is required: the job runner queries it');
  if (Stack.of(props.api) !== Stack.of(scope)) {
    throw new Error(`api must be in the same stack as the AsyncJobWorkflow (api: ${Stack.of(props.api).stackName}, workflow: ${Stack.of(scope).stackName}): `
      + 'the API function and the state machine reference each other\'s names and permissions');
  }
  const jobTimeout = props.jobTimeout?.toSeconds();
  if (jobTimeout !== undefined && (jobTimeout < 1 || jobTimeout > MAX_JOB_TIMEOUT.toSeconds())) {
    throw new Error(`jobTimeout must be between 1 second and 15 minutes (Lambda's limit), got ${props.jobTimeout!.toHumanString()}`);
  }
  if (props.lambdaTuning?.timeout) {
    throw new Error('lambdaTuning.timeout cannot be set: the job runner\'s timeout is jobTimeout');
  }
  const inline = props.inlineResultMaxBytes;
  if (inline !== undefined && !Token.isUnresolved(inline) && (!Number.isInteger(inline) || inline < 1 || inline > MAX_INLINE_RESULT_BYTES)) {
    throw new Error(`inlineResultMaxBytes must be an integer between 1 and ${MAX_INLINE_RESULT_BYTES}, got ${inline}`);
  }
  const retentionDays = props.jobRetention?.toDays({ integral: false });
  if (retentionDays !== undefined && (retentionDays < 1 || !Number.isInteger(retentionDays) || retentionDays > 365)) {
    throw new Error(`jobRetention must be a whole number of days between 1 and 365, got ${props.jobRetention!.toHumanString()}`);
  }
  if (props.notificationEmails?.length && props.notificationTopic) {
    throw new Error('notificationEmails subscribe to the topic the construct creates: subscribe them to your notificationTopic yourself');
  }
  for (const email of props.notificationEmails ?? []) {
    if (!Token.isUnresolved(email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new Error(`notificationEmails: "${email}" is not an e-mail address`);
  }
}

/**
 * Long analytics as Step Functions jobs, tracked in DynamoDB, retried, notified.
 *
 * Adds to an `AnalyticsApi`:
 *   - `POST /analytics/jobs` `{"operation", "parameters"}` → 202 with `jobId`, `status: "SUBMITTED"`, `statusUrl`
 *     (parameters validated first: 400 in the API's error shape);
 *   - `GET /analytics/jobs/{jobId}` → status (SUBMITTED, RUNNING, SUCCEEDED, FAILED), timestamps, the result
 *     inline (up to about 200 KB) or `largeResult`/`downloadUrl`, the error; 404 for an unknown id;
 *   - long-running operations called synchronously answer 202 with a job.
 *
 * Creates a job table (TTL, point-in-time recovery, encrypted), a job-runner function (the analytics
 * code, its own function and role), a Standard state machine (logging, X-Ray) whose Lambda task
 * retries transient failures with exponential backoff and jitter, an encrypted notification topic
 * (unless given), and an EventBridge rule that marks a job FAILED when its execution failed, timed
 * out or was aborted before a Catch did (an Express state machine, no code). See docs/async-jobs.md.
 */
export class AsyncJobWorkflow extends Construct {
  /** The longest job attempt the design supports (Lambda's maximum timeout). */
  public static readonly MAX_JOB_TIMEOUT: Duration = MAX_JOB_TIMEOUT;

  /** The job state machine (Standard). */
  public readonly stateMachine: sfn.StateMachine;

  /** The Express state machine that marks jobs whose execution ended without a Catch. */
  public readonly unfinishedJobMarker: sfn.StateMachine;

  /** The EventBridge rule on the job state machine's FAILED / TIMED_OUT / ABORTED executions. */
  public readonly unfinishedJobRule: events.Rule;

  /** The job table (partition key `jobId`, TTL attribute `expiresAt`). */
  public readonly jobTable: dynamodb.Table;

  /** The function that runs a job's query (the state machine's RunQuery task). */
  public readonly jobRunner: lambda.Function;

  /** Where job completions and failures are published. */
  public readonly notificationTopic: sns.ITopic;

  /** The key of the created topic and, without `logEncryptionKey`, of the state machines' log groups. */
  public readonly encryptionKey: kms.Key;

  /** The time limit of one job attempt (the job runner's timeout). */
  public readonly jobTimeout: Duration;

  /** The RunQuery task's timeout (jobTimeout plus the Lambda start-up margin). */
  public readonly taskTimeout: Duration;

  /** The state machine's execution timeout (every attempt, the retry waits and the status steps). */
  public readonly executionTimeout: Duration;

  /** Alarm: job executions timed out (the marker then failed the job). */
  public readonly executionsTimedOutAlarm: cloudwatch.Alarm;

  /** Alarm: the unfinished-job marker failed (a job may show RUNNING although its execution ended). */
  public readonly markerFailedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AsyncJobWorkflowProps) {
    super(scope, id);
    validateProps(this, props);
    if (props.permissionsBoundary) iam.PermissionsBoundary.of(this).apply(props.permissionsBoundary);
    const api: AnalyticsApi = props.api;
    const store = props.store;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.jobTimeout = props.jobTimeout ?? MAX_JOB_TIMEOUT;
    const retry = resolveRetry(props.retry);
    const retentionDays = props.jobRetention?.toDays() ?? 7;

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `Async analytics jobs (${this.node.path}): notification topic and state machine logs`,
      enableKeyRotation: true,
      removalPolicy,
    });

    this.jobTable = new dynamodb.Table(this, 'JobTable', {
      partitionKey: { name: 'jobId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    acknowledgeNagFinding(this.jobTable, 'HIPAA.Security-DynamoDBInBackupPlan',
      'Job records expire after the job retention (TTL); point-in-time recovery is on, an AWS Backup plan would only add cost');

    if (props.notificationTopic) {
      this.notificationTopic = props.notificationTopic;
    } else {
      const topic = new sns.Topic(this, 'NotificationTopic', {
        displayName: 'Analytics jobs',
        masterKey: this.encryptionKey,
      });
      // What enforceSSL writes, written here: the supported aws-cdk-lib versions add it only beside another statement.
      topic.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowPublishThroughSSLOnly',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { Bool: { 'aws:SecureTransport': 'false' } },
      }));
      for (const email of props.notificationEmails ?? []) topic.addSubscription(new subscriptions.EmailSubscription(email));
      this.notificationTopic = topic;
    }

    // ----- the job runner: the analytics code with the handler `index.jobRunner` -----
    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    const built = createPipelineFunction(this, 'JobRunner', {
      assetName: 'analytics-api',
      code: api.handlerCode,
      handler: 'index.jobRunner',
      description: 'AsyncJobWorkflow: runs one analytics job',
      serviceName: `${api.serviceName}-jobs`,
      vpc: store.vpc,
      vpcSubnets: store.vpcSubnets,
      defaults: { memorySize: 1024, timeout: this.jobTimeout },
      tuning: { ...props.lambdaTuning, timeout: this.jobTimeout },
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      environment: {
        ...api.handlerEnvironment,
        ...store.connectionEnvironment(AccessLevel.ANALYTICS_READER),
        SQL_READER_SECRET_ARN: store.secretFor(AccessLevel.RESTRICTED_READER).secretArn,
        JOB_INLINE_RESULT_MAX_BYTES: String(props.inlineResultMaxBytes ?? MAX_INLINE_RESULT_BYTES),
      },
      callsServices: [PipelineAwsService.SECRETS_MANAGER, PipelineAwsService.S3, PipelineAwsService.DYNAMODB],
      createVpcEndpoints: props.createVpcEndpoints,
      logRemovalPolicy: removalPolicy,
      invokedSynchronouslyBy: 'Step Functions (the RunQuery task retries transient errors and catches the others)',
    });
    this.jobRunner = built.fn;
    store.grantConnect(this.jobRunner, AccessLevel.ANALYTICS_READER);
    store.grantConnect(this.jobRunner, AccessLevel.RESTRICTED_READER);
    this.grantRunnerAccess(api);

    // ----- the state machines -----
    const machines = buildJobStateMachines(this, {
      table: this.jobTable,
      runner: this.jobRunner,
      topic: this.notificationTopic,
      opsTopic: props.alarmTopic,
      topicKey: props.notificationTopic ? undefined : this.encryptionKey,
      logKey: props.logEncryptionKey ?? this.encryptionKey,
      jobTimeout: this.jobTimeout,
      retry,
      logExecutionData: props.logExecutionData ?? false,
      logRetention: props.lambdaTuning?.logRetention ?? DEFAULT_LOG_RETENTION,
      removalPolicy,
    });
    if (!props.logEncryptionKey) {
      // The construct's key encrypts the state machines' log groups: CloudWatch Logs of the region may use it.
      this.encryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${Stack.of(this).region}.amazonaws.com`));
    }
    this.stateMachine = machines.stateMachine;
    this.unfinishedJobMarker = machines.marker;
    this.unfinishedJobRule = machines.rule;
    this.taskTimeout = machines.taskTimeout;
    this.executionTimeout = machines.executionTimeout;

    // ----- the API function: routes, configuration, permissions -----
    this.connectApi(api, retentionDays, props.createVpcEndpoints ?? true);

    // ----- alarms -----
    this.executionsTimedOutAlarm = alarmOnAnything(this, 'ExecutionsTimedOutAlarm', 'Analytics job executions timed out (their jobs were marked FAILED by the unfinished-job marker)', this.metricJobsTimedOut());
    this.markerFailedAlarm = alarmOnAnything(this, 'MarkerFailedAlarm', 'The unfinished-job marker failed: a job may still show SUBMITTED or RUNNING although its execution ended', this.unfinishedJobMarker.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }));
    for (const alarm of [this.executionsTimedOutAlarm, this.markerFailedAlarm]) {
      if (props.alarmTopic) alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      else acknowledgeNagFinding(alarm, 'HIPAA.Security-CloudWatchAlarmAction', 'No alarmTopic was given: the alarm shows in CloudWatch; pass alarmTopic to be notified');
    }
  }

  /** Jobs that succeeded (executions of the job state machine). */
  public metricJobsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricSucceeded({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Jobs whose execution failed (the query failed after its retries, or a notification could not be sent). */
  public metricJobsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Job executions that ran past the execution timeout. */
  public metricJobsTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Jobs started. */
  public metricJobsStarted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricStarted({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Time from a job's start to its end (ms, default statistic p90). */
  public metricJobDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTime({ period: Duration.minutes(5), statistic: 'p90', ...props });
  }

  /** The cache table (read and write) and the results prefix (write) of the API. */
  private grantRunnerAccess(api: AnalyticsApi): void {
    const fn = this.jobRunner;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ResultCache',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [api.cacheTable.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'LargeResults',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [api.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
    }));
    const policy = fn.role!.node.findChild('DefaultPolicy');
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object-level writes to the API\'s results prefix only: large job results are written under random keys',
      [{ regex: `/^Resource::<.*ResultsBucket[A-Za-z0-9]*\\.Arn>\\/${RESULTS_PREFIX.replace('/', '')}\\/\\*$/` }]);
    const keys = [api.cacheTable.encryptionKey, api.resultsBucket.encryptionKey].filter((k): k is kms.IKey => k !== undefined);
    for (const key of new Set(keys)) key.grantEncryptDecrypt(fn);
    if (keys.length > 0) {
      acknowledgeNagFinding(policy, 'AwsSolutions-IAM5', 'kms:GenerateDataKey* and kms:ReEncrypt* on the API\'s key only (Key.grantEncryptDecrypt)',
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*']);
    }
  }

  /**
   * The job routes on the API (answered by the API's own function), and what that function needs:
   * the table and state machine names, PutItem/GetItem/UpdateItem on the job table, StartExecution
   * on the state machine and DescribeExecution on its executions, a Step Functions VPC endpoint.
   * The state machine never references the API function: no dependency cycle.
   */
  private connectApi(api: AnalyticsApi, retentionDays: number, createVpcEndpoints: boolean): void {
    const fn = api.handler;
    fn.addEnvironment('JOB_TABLE_NAME', this.jobTable.tableName);
    fn.addEnvironment('JOB_STATE_MACHINE_ARN', this.stateMachine.stateMachineArn);
    fn.addEnvironment('JOB_RETENTION_DAYS', String(retentionDays));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'AsyncJobs',
      actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [this.jobTable.tableArn],
    }));
    this.stateMachine.grantStartExecution(fn);
    this.stateMachine.grantExecution(fn, 'states:DescribeExecution');
    acknowledgeNagFinding(fn.role!.node.findChild('DefaultPolicy'), 'AwsSolutions-IAM5',
      'DescribeExecution on the executions of the job state machine only (execution ARNs end in the job id)',
      [{ regex: '/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*:\\*$/' }]);
    if (createVpcEndpoints) ensureVpcEndpoint(this, api.store.vpc, PipelineAwsService.STEP_FUNCTIONS, api.store.vpcSubnets);
    api.addRoute('analytics/jobs', ['POST']);
    api.addRoute('analytics/jobs/{jobId}', ['GET']);
  }
}

