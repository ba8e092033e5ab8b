import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { AsyncJobWorkflowBase } from './async-job-workflow-base';
import { AsyncJobWorkflowAttributes, AsyncJobWorkflowProps, IAsyncJobWorkflow, JobRetryOptions } from './async-job-workflow-props';
import { ImportedAsyncJobWorkflow } from './imported-async-job-workflow';
import { buildJobStateMachines, ResolvedRetry } from './job-state-machine';
import { AnalyticsApi, AnalyticsApiAuthorization, AnalyticsApiBase, IAnalyticsApi } from '../analytics-api';
import { operationCode, RESULTS_PREFIX } from '../analytics-api/operation-settings';
import { acknowledgeMethodAuthorization, methodAuthorization } from '../analytics-api/route-authorization';
import { AccessLevel } from '../canonical-store/canonical-store-props';
import { alarmOnAnything, notifyAlarmTopic } from '../common/alarms';
import { createPipelineFunction, DEFAULT_LOG_RETENTION } from '../common/lambda-tuning';
import { allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { denyPublishWithoutTls } from '../common/topics';
import { ensureVpcEndpoint, PipelineAwsService } from '../common/vpc-endpoints';

/** Lambda's longest timeout: the longest job attempt the workflow supports. */
const MAX_JOB_TIMEOUT = Duration.minutes(15);
/** Step Functions state data limit (256 KiB) minus the job's input and the state's other fields. */
const MAX_INLINE_RESULT_BYTES = 200_000;
/** The operation settings the jobs API function needs to validate a submitted call. */
const JOBS_API_SETTINGS = ['USER_OPERATIONS_FILE', 'CORS_ALLOW_ORIGINS', 'CUSTOM_SQL_MAX_ROWS'];
/** The job routes: [path below the stage root, HTTP method, required request parameters]. */
const JOB_ROUTES: Array<[string, string, { [param: string]: boolean }]> = [
  ['/analytics/jobs', 'POST', {}],
  ['/analytics/jobs/{jobId}', 'GET', { 'method.request.path.jobId': true }],
];

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

function validateProps(props: AsyncJobWorkflowProps): void {
  if (!props.api) throw new Error('api is required: the workflow adds its routes to an AnalyticsApi');
  if (!props.store) throw new Error('store is required: the job runner queries it');
  if (!(props.api instanceof AnalyticsApiBase)) {
    throw new Error('api must be an AnalyticsApi or an API imported with AnalyticsApi.fromAnalyticsApiAttributes');
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
 * Adds to an analytics API (created in this stack or another, or imported), answered by the
 * workflow's own jobs API function:
 *   - `POST /analytics/jobs` `{"operation", "parameters"}` → 202 with `jobId`, `status: "SUBMITTED"`, `statusUrl`
 *     (parameters validated first: 400 in the API's error shape);
 *   - `GET /analytics/jobs/{jobId}` → status (SUBMITTED, RUNNING, SUCCEEDED, FAILED), timestamps, the result
 *     inline (up to about 200 KB) or `largeResult`/`downloadUrl`, the error; 404 for an unknown id;
 *   - with an `AnalyticsApi` in the same stack: long-running operations called synchronously answer
 *     202 with a job (the API function is given the job table and state machine).
 * On an API in another stack or imported, the routes, a request validator and a deployment to the
 * API's stage are created in the workflow's stack.
 *
 * Creates a job table (TTL, point-in-time recovery, encrypted), a job-runner function and a jobs
 * API function (the `async-job-workflow` bundle with the API's operations), a Standard state machine (logging, X-Ray) whose Lambda task
 * retries transient failures with exponential backoff and jitter, an encrypted notification topic
 * (unless given), and an EventBridge rule that marks a job FAILED when its execution failed, timed
 * out or was aborted before a Catch did (an Express state machine, no code). See docs/async-jobs.md.
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the job runner (default 1024 MiB,
 * logs kept three months; its timeout is `jobTimeout`, setting `timeout` is an error); the jobs
 * API function (512 MiB, 29 seconds) takes its `runtime` and `logRetention` only;
 * `removalPolicy` covers the job table, the key and the log groups; `logEncryptionKey` the job
 * runner's, the jobs API function's and the two state machines' log groups (default for the state machines: the
 * construct's key); VPC endpoints: Secrets Manager, S3, DynamoDB, Step Functions. Alarms:
 * executions timed out, the unfinished-job marker failing (and every failed job is published to
 * `alarmTopic`).
 */
export class AsyncJobWorkflow extends AsyncJobWorkflowBase {
  /** The longest job attempt the design supports (Lambda's maximum timeout). */
  public static readonly MAX_JOB_TIMEOUT: Duration = MAX_JOB_TIMEOUT;

  /** Imports an async job workflow defined elsewhere (another stack or app), to monitor it or grant access to its routes. */
  public static fromAsyncJobWorkflowAttributes(scope: Construct, id: string, attrs: AsyncJobWorkflowAttributes): IAsyncJobWorkflow {
    return new ImportedAsyncJobWorkflow(scope, id, attrs);
  }

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

  /** The function behind `POST /analytics/jobs` and `GET /analytics/jobs/{jobId}`. */
  public readonly jobsApiHandler: lambda.Function;

  /**
   * The deployment of the job routes to the API's stage, when the API is in another stack or
   * imported (in the API's own stack, the API's deployment includes them).
   */
  public readonly deployment?: apigw.Deployment;

  /** Id of the REST API that serves the job routes. */
  public readonly restApiId: string;

  /** Name of its stage. */
  public readonly stageName: string;

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

  private readonly createVpcEndpoints: boolean;

  constructor(scope: Construct, id: string, props: AsyncJobWorkflowProps) {
    super(scope, id);
    validateProps(props);
    const api = props.api as AnalyticsApiBase;
    this.restApiId = api.restApiId;
    this.stageName = api.stageName;
    const store = props.store;
    // An AnalyticsApi of this stack: the routes join its own deployment, and its function may be
    // told about the workflow (the long-running delegate). Anything else is left untouched.
    const sameStackApi = api instanceof AnalyticsApi && Stack.of(api) === Stack.of(this) ? api : undefined;
    const resultsBucket = api.largeResultsBucket ?? missingAttribute(api, 'resultsBucketName');
    const cacheTable = api.resultCacheTable ?? missingAttribute(api, 'cacheTableName');
    const operationEnv = api._operationEnvironment();
    const code = operationCode('async-job-workflow', api.userOperations);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.jobTimeout = props.jobTimeout ?? MAX_JOB_TIMEOUT;
    const retry = resolveRetry(props.retry);
    const retentionDays = props.jobRetention?.toDays() ?? 7;
    this.createVpcEndpoints = props.createVpcEndpoints ?? true;

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

    this.notificationTopic = props.notificationTopic ?? this.createNotificationTopic(props.notificationEmails ?? []);

    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    this.jobRunner = this.createJobRunner(props, api.serviceName, code, operationEnv);
    store.grantConnect(this.jobRunner, AccessLevel.ANALYTICS_READER);
    store.grantConnect(this.jobRunner, AccessLevel.RESTRICTED_READER);
    this.grantRunnerAccess(resultsBucket, cacheTable);

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

    // ----- the jobs API function and its routes; the API function, when it may be told -----
    this.jobsApiHandler = this.createJobsApiFunction(props, api.serviceName, code, operationEnv, retentionDays);
    this.grantJobAccess(this.jobsApiHandler);
    if (sameStackApi) {
      for (const [path, method] of JOB_ROUTES) sameStackApi.addRoute(path, [method], this.jobsApiHandler);
      this.connectApiFunction(sameStackApi, retentionDays);
    } else {
      this.deployment = this.deployRoutes(api, this.jobsApiHandler);
    }

    // ----- alarms -----
    this.executionsTimedOutAlarm = alarmOnAnything(this, 'ExecutionsTimedOutAlarm', 'Analytics job executions timed out (their jobs were marked FAILED by the unfinished-job marker)', this.metricJobsTimedOut());
    this.markerFailedAlarm = alarmOnAnything(this, 'MarkerFailedAlarm', 'The unfinished-job marker failed: a job may still show SUBMITTED or RUNNING although its execution ended', this.unfinishedJobMarker.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }));
    for (const alarm of [this.executionsTimedOutAlarm, this.markerFailedAlarm]) notifyAlarmTopic(alarm, props.alarmTopic);
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  /** The job state machine (`stateMachine`). */
  public get jobStateMachine(): sfn.IStateMachine {
    return this.stateMachine;
  }

  /** The job runner (`jobRunner`). */
  public get jobRunnerFunction(): lambda.IFunction {
    return this.jobRunner;
  }

  /** The jobs API function (`jobsApiHandler`). */
  public get jobsApiFunction(): lambda.IFunction {
    return this.jobsApiHandler;
  }

  /** The workflow's alarms: executions timed out, the unfinished-job marker failed. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [this.executionsTimedOutAlarm, this.markerFailedAlarm];
  }

  /** The notification topic the construct creates: encrypted with its key, publishing over TLS only. */
  private createNotificationTopic(emails: string[]): sns.ITopic {
    const topic = new sns.Topic(this, 'NotificationTopic', {
      displayName: 'Analytics jobs',
      masterKey: this.encryptionKey,
    });
    denyPublishWithoutTls(topic);
    for (const email of emails) topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  /** The job runner: handler `index.jobRunner` of the workflow's bundle (with the API's operations). */
  private createJobRunner(
    props: AsyncJobWorkflowProps, serviceName: string, code: lambda.Code, operationEnv: { [key: string]: string },
  ): lambda.Function {
    return createPipelineFunction(this, 'JobRunner', {
      assetName: 'async-job-workflow',
      code,
      handler: 'index.jobRunner',
      description: 'AsyncJobWorkflow: runs one analytics job',
      serviceName: `${serviceName}-jobs`,
      vpc: props.store.vpc,
      vpcSubnets: props.store.vpcSubnets,
      defaults: { memorySize: 1024, timeout: this.jobTimeout },
      tuning: { ...props.lambdaTuning, timeout: this.jobTimeout },
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      environment: {
        ...operationEnv,
        ...props.store.connectionEnvironment(AccessLevel.ANALYTICS_READER),
        SQL_READER_SECRET_ARN: props.store.secretFor(AccessLevel.RESTRICTED_READER).secretArn,
        JOB_INLINE_RESULT_MAX_BYTES: String(props.inlineResultMaxBytes ?? MAX_INLINE_RESULT_BYTES),
      },
      callsServices: [PipelineAwsService.SECRETS_MANAGER, PipelineAwsService.S3, PipelineAwsService.DYNAMODB],
      createVpcEndpoints: props.createVpcEndpoints,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      invokedSynchronouslyBy: 'Step Functions (the RunQuery task retries transient errors and catches the others)',
    }).fn;
  }

  /** The jobs API function: submits jobs and answers their status (handler `index.handler`). */
  private createJobsApiFunction(
    props: AsyncJobWorkflowProps, serviceName: string, code: lambda.Code, operationEnv: { [key: string]: string }, retentionDays: number,
  ): lambda.Function {
    const jobsEnv: { [key: string]: string } = {
      JOB_TABLE_NAME: this.jobTable.tableName,
      JOB_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
      JOB_RETENTION_DAYS: String(retentionDays),
    };
    for (const key of JOBS_API_SETTINGS) if (operationEnv[key] !== undefined) jobsEnv[key] = operationEnv[key];
    return createPipelineFunction(this, 'JobsApiFunction', {
      assetName: 'async-job-workflow',
      code,
      handler: 'index.handler',
      description: 'AsyncJobWorkflow: submits jobs and answers their status',
      serviceName: `${serviceName}-jobs-api`,
      vpc: props.store.vpc,
      vpcSubnets: props.store.vpcSubnets,
      defaults: { memorySize: 512, timeout: Duration.seconds(29) },
      tuning: { logRetention: props.lambdaTuning?.logRetention, runtime: props.lambdaTuning?.runtime },
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      environment: jobsEnv,
      callsServices: [PipelineAwsService.DYNAMODB, PipelineAwsService.STEP_FUNCTIONS],
      createVpcEndpoints: props.createVpcEndpoints,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      invokedSynchronouslyBy: 'API Gateway (the caller gets the error and retries)',
    }).fn;
  }

  /** The cache table (read and write) and the results prefix (write) of the API. */
  private grantRunnerAccess(resultsBucket: s3.IBucket, cacheTable: dynamodb.ITable): void {
    const fn = this.jobRunner;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ResultCache',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [cacheTable.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'LargeResults',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
    }));
    const policy = defaultPolicyOf(fn.role!);
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object-level writes to the API\'s results prefix only: large job results are written under random keys',
      [{ regex: `/^Resource::.*\\/${RESULTS_PREFIX.replace('/', '')}\\/\\*$/` }]);
    const keys = [cacheTable.encryptionKey, resultsBucket.encryptionKey].filter((k): k is kms.IKey => k !== undefined);
    for (const key of new Set(keys)) key.grantEncryptDecrypt(fn);
    if (keys.length > 0) {
      acknowledgeNagFinding(policy, 'AwsSolutions-IAM5', 'kms:GenerateDataKey* and kms:ReEncrypt* on the API\'s key only (Key.grantEncryptDecrypt)',
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*']);
    }
  }

  /**
   * What a function that submits jobs and reads them needs: PutItem/GetItem/UpdateItem on the job
   * table, StartExecution on the state machine and DescribeExecution on its executions.
   */
  private grantJobAccess(fn: lambda.Function): void {
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'AsyncJobs',
      actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [this.jobTable.tableArn],
    }));
    this.stateMachine.grantStartExecution(fn);
    this.stateMachine.grantExecution(fn, 'states:DescribeExecution');
    acknowledgeNagFinding(defaultPolicyOf(fn.role!), 'AwsSolutions-IAM5',
      'DescribeExecution on the executions of the job state machine only (execution ARNs end in the job id)',
      [{ regex: '/^Resource::arn:<AWS::Partition>:states:.*:execution:.*:\\*$/' }]);
  }

  /**
   * The long-running delegate: the API function (same stack only) gets the job table and state
   * machine names, the job grants and a Step Functions VPC endpoint. The state machine never
   * references the API function: no dependency cycle.
   */
  private connectApiFunction(api: AnalyticsApi, retentionDays: number): void {
    const fn = api.handler;
    fn.addEnvironment('JOB_TABLE_NAME', this.jobTable.tableName);
    fn.addEnvironment('JOB_STATE_MACHINE_ARN', this.stateMachine.stateMachineArn);
    fn.addEnvironment('JOB_RETENTION_DAYS', String(retentionDays));
    this.grantJobAccess(fn);
    if (this.createVpcEndpoints) ensureVpcEndpoint(this, api.store.vpc, PipelineAwsService.STEP_FUNCTIONS, api.store.vpcSubnets);
  }

  /**
   * The job routes on an API of another stack (or imported), created in this stack: below the API's
   * `/analytics` resource, with its authorization, a request validator, an invoke permission per
   * route scoped to the API's stage, and a deployment to that stage (a new one whenever the routes
   * change).
   */
  private deployRoutes(api: AnalyticsApiBase, fn: lambda.Function): apigw.Deployment {
    const restApi = apigw.RestApi.fromRestApiAttributes(this, 'RestApi', {
      restApiId: api.restApiId,
      rootResourceId: api.rootResourceId ?? missingAttribute(api, 'rootResourceId'),
    });
    const analytics = apigw.Resource.fromResourceAttributes(this, 'AnalyticsResource', {
      restApi,
      resourceId: api.analyticsResourceId ?? missingAttribute(api, 'analyticsResourceId'),
      path: '/analytics',
    });
    const authorizer: apigw.IAuthorizer | undefined = api.authorization === AnalyticsApiAuthorization.COGNITO
      ? { authorizerId: api.authorizerId ?? missingAttribute(api, 'authorizerId'), authorizationType: apigw.AuthorizationType.COGNITO }
      : undefined;
    const validator = new apigw.RequestValidator(this, 'RequestValidator', { restApi, validateRequestBody: true, validateRequestParameters: true });
    const stack = Stack.of(this);
    const integration = new apigw.Integration({
      type: apigw.IntegrationType.AWS_PROXY,
      integrationHttpMethod: 'POST',
      uri: `arn:${stack.partition}:apigateway:${stack.region}:lambda:path/2015-03-31/functions/${fn.functionArn}/invocations`,
    });
    const jobs = analytics.addResource('jobs');
    const resources: { [path: string]: apigw.IResource } = { '/analytics/jobs': jobs, '/analytics/jobs/{jobId}': jobs.addResource('{jobId}') };
    const methods: apigw.Method[] = [];
    JOB_ROUTES.forEach(([path, httpMethod, requestParameters], i) => {
      const method = resources[path].addMethod(httpMethod, integration, {
        ...methodAuthorization(api.authorization, authorizer),
        requestValidator: validator,
        requestParameters: Object.keys(requestParameters).length > 0 ? requestParameters : undefined,
      });
      acknowledgeMethodAuthorization(method, api.authorization);
      fn.addPermission(`ApiInvoke${i}`, {
        principal: new iam.ServicePrincipal('apigateway.amazonaws.com'),
        sourceArn: this.executeApiArn(httpMethod, path.replace(/\{[^}]*\}/g, '*')),
      });
      methods.push(method);
    });
    const deployment = new apigw.Deployment(this, 'Deployment', {
      api: restApi,
      stageName: api.stageName,
      description: `AsyncJobWorkflow ${this.node.path}: the job routes`,
    });
    for (const method of methods) deployment.node.addDependency(method);
    // A new deployment whenever the routes change (a deployment is a snapshot of the API).
    deployment.addToLogicalId({ routes: JOB_ROUTES, authorization: api.authorization, authorizer: authorizer?.authorizerId, fn: fn.functionArn });
    return deployment;
  }
}

/** The synth error for an imported API that lacks an attribute the workflow needs. */
function missingAttribute(api: IAnalyticsApi, attribute: string): never {
  throw new Error(`AsyncJobWorkflow: the analytics API ${api.node.path} has no ${attribute}: `
    + `pass ${attribute} to AnalyticsApi.fromAnalyticsApiAttributes`);
}
