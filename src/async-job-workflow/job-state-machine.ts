/**
 * The job workflow's state machines (internal to AsyncJobWorkflow):
 *
 * Job (Standard):
 *   MarkRunning (DynamoDB UpdateItem) → RunQuery (job runner, retried on transient errors)
 *     → MarkSucceeded (UpdateItem: the inline result or the S3 pointer) → NotifySucceeded (SNS) → JobSucceeded
 *   Catch on MarkRunning, RunQuery, MarkSucceeded → MarkFailed (UpdateItem with the error)
 *     → NotifyFailed (job topic) → NotifyOpsFailed (ops topic, when given) → JobFailed (Fail)
 *   NotifySucceeded failing → NotificationFailed (Fail; the job stays SUCCEEDED)
 *
 * Unfinished-job marker (Express), started by an EventBridge rule on the job state machine's
 * FAILED / TIMED_OUT / ABORTED executions:
 *   MarkUnfinishedJobFailed (UpdateItem only if SUBMITTED or RUNNING) → NotifyUnfinishedJobFailed
 *     → NotifyOpsUnfinishedJobFailed → MarkerDone;  the job already finished → AlreadyFinished
 */
import { Duration, Names, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeDefaultLogEncryption } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';

/** Errors of the job runner that mean "try again later" (lambda/async-job-workflow/errors.ts: TRANSIENT_JOB_ERRORS). */
export const TRANSIENT_RUNNER_ERRORS = ['TransientDatabaseError', 'TransientServiceError'];

/** Lambda service errors worth retrying (the invocation did not run, or its answer was lost). */
export const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
];

/** A status update whose condition failed: permanent, never retried. */
export const CONDITION_FAILED = 'DynamoDB.ConditionalCheckFailedException';

/**
 * Time allowed on top of the function's timeout before the RunQuery task times out: Lambda's
 * initialization (up to 10 s, not counted in the function timeout) and the invoke round trip.
 */
export const TASK_TIMEOUT_MARGIN = Duration.seconds(15);

/** Slack in the execution timeout for the status updates and notifications around the query. */
const EXECUTION_TIMEOUT_SLACK = Duration.minutes(5);

export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly interval: Duration;
  readonly backoffRate: number;
  readonly maxDelay: Duration;
}

export interface JobStateMachineOptions {
  readonly table: dynamodb.ITable;
  readonly runner: lambda.IFunction;
  readonly topic: sns.ITopic;
  readonly opsTopic?: sns.ITopic;
  /** The key of the topics the construct created (publishers need it). */
  readonly topicKey?: kms.IKey;
  /** The key of the log groups (CloudWatch Logs must be allowed to use it: the caller's business). */
  readonly logKey: kms.IKey;
  readonly jobTimeout: Duration;
  readonly retry: ResolvedRetry;
  readonly logExecutionData: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export interface JobStateMachines {
  readonly stateMachine: sfn.StateMachine;
  readonly marker: sfn.StateMachine;
  readonly rule: events.Rule;
  readonly taskTimeout: Duration;
  readonly executionTimeout: Duration;
}

/** Total of the retry waits (upper bound: jitter only shortens them). */
export function totalRetryWait(retry: ResolvedRetry): Duration {
  let seconds = 0;
  for (let i = 0; i < retry.maxAttempts; i++) {
    seconds += Math.min(retry.interval.toSeconds() * Math.pow(retry.backoffRate, i), retry.maxDelay.toSeconds());
  }
  return Duration.seconds(Math.ceil(seconds));
}

/** The execution timeout: every attempt running to its task timeout, the waits between them, and slack. */
export function executionTimeoutFor(jobTimeout: Duration, retry: ResolvedRetry): Duration {
  const task = jobTimeout.toSeconds() + TASK_TIMEOUT_MARGIN.toSeconds();
  return Duration.seconds((retry.maxAttempts + 1) * task + totalRetryWait(retry).toSeconds() + EXECUTION_TIMEOUT_SLACK.toSeconds());
}

const S = (value: string) => tasks.DynamoAttributeValue.fromString(value);
const at = (path: string) => sfn.JsonPath.stringAt(path);
const NOW = '$$.State.EnteredTime';
const STATUS_NAMES = { '#status': 'status' };
/** Throttling and service errors of a DynamoDB or SNS step: 3 retries, 1 s, 2 s, 4 s apart at most. */
const SERVICE_ERROR_RETRY: sfn.RetryProps = {
  errors: [sfn.Errors.TASKS_FAILED], interval: Duration.seconds(1), maxAttempts: 3, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL,
};

/** Retries of a status update: throttling and service errors, never a failed condition. */
function addStatusUpdateRetry(task: sfn.TaskStateBase): void {
  task.addRetry({ errors: [CONDITION_FAILED], maxAttempts: 0 });
  task.addRetry(SERVICE_ERROR_RETRY);
}

function addPublishRetry(task: sfn.TaskStateBase): void {
  task.addRetry(SERVICE_ERROR_RETRY);
}

function logGroup(scope: Construct, id: string, options: JobStateMachineOptions): logs.LogGroup {
  const group = new logs.LogGroup(scope, id, {
    // Step Functions' vended-logs prefix keeps the account's CloudWatch Logs resource policy small.
    logGroupName: `/aws/vendedlogs/states/${Names.uniqueResourceName(scope, { maxLength: 200, separator: '-' })}-${id}`,
    encryptionKey: options.logKey,
    retention: options.logRetention,
    removalPolicy: options.removalPolicy,
  });
  acknowledgeDefaultLogEncryption(group, options.logKey);
  return group;
}

function acknowledgeStateMachineRole(stateMachine: sfn.StateMachine, invokesLambda: boolean): void {
  const policy = stateMachine.role.node.tryFindChild('DefaultPolicy');
  if (!policy) return;
  if (invokesLambda) {
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'X-Ray and CloudWatch Logs delivery actions support no resource-level permissions; Lambda invoke covers the job runner\'s versions and aliases (:*)',
      ['Resource::*', { regex: '/^Resource::<.*\\.Arn>:\\*$/' }]);
  } else {
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5', 'X-Ray and CloudWatch Logs delivery actions support no resource-level permissions', ['Resource::*']);
  }
  acknowledgeNagFinding(policy, 'HIPAA.Security-IAMNoInlinePolicy',
    'The policy is generated from least-privilege grants for this one role; a managed policy would add no reuse');
}

function grantTopicKey(stateMachine: sfn.StateMachine, key: kms.IKey | undefined): void {
  if (!key) return;
  // SNS encrypts with the topic's key on behalf of the publisher.
  stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: [key.keyArn] }));
  acknowledgeNagFinding(defaultPolicyOf(stateMachine.role), 'AwsSolutions-IAM5',
    'kms:GenerateDataKey* on the notification topic\'s key only: SNS encrypts each published message with a new data key',
    ['Action::kms:GenerateDataKey*']);
}

/** Builds the job state machine, the unfinished-job marker and the rule between them. */
export function buildJobStateMachines(scope: Construct, options: JobStateMachineOptions): JobStateMachines {
  const { table, runner, topic, opsTopic } = options;
  const key = { jobId: S(at('$.jobId')) };
  const taskTimeout = options.jobTimeout.plus(TASK_TIMEOUT_MARGIN);
  const executionTimeout = executionTimeoutFor(options.jobTimeout, options.retry);

  const markRunning = new tasks.DynamoUpdateItem(scope, 'MarkRunning', {
    comment: 'The job is RUNNING (only a SUBMITTED or RUNNING job: an execution started by hand for a finished job fails here)',
    table,
    key,
    updateExpression: 'SET #status = :running, startedAt = :now, updatedAt = :now, executionArn = :execution',
    conditionExpression: 'attribute_exists(jobId) AND #status IN (:submitted, :running)',
    expressionAttributeNames: STATUS_NAMES,
    expressionAttributeValues: { ':running': S('RUNNING'), ':submitted': S('SUBMITTED'), ':now': S(at(NOW)), ':execution': S(at('$$.Execution.Id')) },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addStatusUpdateRetry(markRunning);

  const runQuery = new tasks.LambdaInvoke(scope, 'RunQuery', {
    comment: 'The analytics query (job runner). Transient errors are retried with exponential backoff and full jitter; the caller\'s errors are not.',
    lambdaFunction: runner,
    payload: sfn.TaskInput.fromObject({
      jobId: at('$.jobId'),
      operation: at('$.operation'),
      parameters: sfn.JsonPath.objectAt('$.parameters'),
      useCache: at('$.useCache'),
    }),
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    taskTimeout: sfn.Timeout.duration(taskTimeout),
    resultPath: '$.run',
  });
  if (options.retry.maxAttempts > 0) {
    runQuery.addRetry({
      errors: [...TRANSIENT_RUNNER_ERRORS, ...TRANSIENT_LAMBDA_ERRORS],
      interval: options.retry.interval,
      maxAttempts: options.retry.maxAttempts,
      backoffRate: options.retry.backoffRate,
      maxDelay: options.retry.maxDelay,
      jitterStrategy: sfn.JitterType.FULL,
    });
  }

  const markSucceeded = new tasks.DynamoUpdateItem(scope, 'MarkSucceeded', {
    comment: 'The job SUCCEEDED: its result (gzip JSON up to ~200 KB) or the pointer to it in S3',
    table,
    key,
    updateExpression: 'SET #status = :succeeded, finishedAt = :now, updatedAt = :now, resultKind = :kind, resultData = :data, '
      + 'rowCount = :rows, dataGeneration = :generation, latestDataGeneration = :latest, durationMs = :duration, truncated = :truncated, '
      + 'cacheStatus = :cache',
    conditionExpression: '#status = :running',
    expressionAttributeNames: STATUS_NAMES,
    expressionAttributeValues: {
      ':succeeded': S('SUCCEEDED'),
      ':running': S('RUNNING'),
      ':now': S(at(NOW)),
      ':kind': S(at('$.run.resultKind')),
      ':data': tasks.DynamoAttributeValue.fromBinary(at('$.run.resultData')),
      ':rows': tasks.DynamoAttributeValue.numberFromString(at('$.run.rowCount')),
      ':generation': tasks.DynamoAttributeValue.numberFromString(at('$.run.dataGeneration')),
      ':latest': tasks.DynamoAttributeValue.numberFromString(at('$.run.latestDataGeneration')),
      ':duration': tasks.DynamoAttributeValue.numberFromString(at('$.run.durationMs')),
      // As text: booleanFromJsonPath renders "BOOL" without ".$" in the supported aws-cdk-lib versions (a literal, not the path).
      ':truncated': S(sfn.JsonPath.format('{}', at('$.run.truncated'))),
      ':cache': S(at('$.run.cacheStatus')),
    },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addStatusUpdateRetry(markSucceeded);

  const notifySucceeded = new tasks.SnsPublish(scope, 'NotifySucceeded', {
    topic,
    subject: 'Analytics job succeeded',
    message: sfn.TaskInput.fromObject({
      jobId: at('$.jobId'),
      status: 'SUCCEEDED',
      operation: at('$.operation'),
      submittedAt: at('$.submittedAt'),
      finishedAt: at('$.run.finishedAt'),
      rowCount: at('$.run.rowCount'),
      resultKind: at('$.run.resultKind'),
    }),
    messageAttributes: { status: { value: 'SUCCEEDED' }, operation: { value: at('$.operation') } },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addPublishRetry(notifySucceeded);

  const markFailed = new tasks.DynamoUpdateItem(scope, 'MarkFailed', {
    comment: 'The job FAILED, with the error (never overwriting a SUCCEEDED job)',
    table,
    key,
    updateExpression: 'SET #status = :failed, finishedAt = :now, updatedAt = :now, errorName = :name, errorCause = :cause',
    conditionExpression: 'attribute_exists(jobId) AND #status <> :succeeded',
    expressionAttributeNames: STATUS_NAMES,
    expressionAttributeValues: {
      ':failed': S('FAILED'),
      ':succeeded': S('SUCCEEDED'),
      ':now': S(at(NOW)),
      ':name': S(at('$.error.Error')),
      ':cause': S(at('$.error.Cause')),
    },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addStatusUpdateRetry(markFailed);

  const failureMessage = {
    jobId: at('$.jobId'),
    status: 'FAILED',
    operation: at('$.operation'),
    submittedAt: at('$.submittedAt'),
    error: at('$.error.Error'),
  };
  const notifyFailed = new tasks.SnsPublish(scope, 'NotifyFailed', {
    topic,
    subject: 'Analytics job failed',
    message: sfn.TaskInput.fromObject(failureMessage),
    messageAttributes: { status: { value: 'FAILED' }, operation: { value: at('$.operation') } },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addPublishRetry(notifyFailed);

  const jobFailed = new sfn.Fail(scope, 'JobFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
  const succeeded = new sfn.Succeed(scope, 'JobSucceeded');
  const notificationFailed = new sfn.Fail(scope, 'NotificationFailed', {
    error: 'NotificationFailed',
    cause: 'The job succeeded (its record says so) but its notification could not be published',
  });

  let failureTail: sfn.IChainable = jobFailed;
  let notifyOpsFailed: tasks.SnsPublish | undefined;
  if (opsTopic) {
    notifyOpsFailed = new tasks.SnsPublish(scope, 'NotifyOpsFailed', {
      topic: opsTopic,
      subject: 'Analytics job failed',
      message: sfn.TaskInput.fromObject({ ...failureMessage, cause: at('$.error.Cause'), executionArn: at('$$.Execution.Id') }),
      messageAttributes: { status: { value: 'FAILED' }, operation: { value: at('$.operation') } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    addPublishRetry(notifyOpsFailed);
    notifyOpsFailed.addCatch(jobFailed, { resultPath: '$.notifyError' });
    notifyOpsFailed.next(jobFailed);
    failureTail = notifyOpsFailed;
  }
  notifyFailed.addCatch(failureTail, { resultPath: '$.notifyError' });
  markFailed.addCatch(notifyFailed, { resultPath: '$.markError' });
  markFailed.next(notifyFailed);
  notifyFailed.next(failureTail);

  for (const task of [markRunning, runQuery, markSucceeded]) task.addCatch(markFailed, { resultPath: '$.error' });
  notifySucceeded.addCatch(notificationFailed, { resultPath: '$.error' });

  const definition = markRunning.next(runQuery).next(markSucceeded).next(notifySucceeded).next(succeeded);
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    comment: 'Analytics jobs: status in DynamoDB, the query in the job runner, the result on the job or in S3, a notification',
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    timeout: executionTimeout,
    tracingEnabled: true,
    logs: { destination: logGroup(scope, 'StateMachineLogs', options), level: sfn.LogLevel.ALL, includeExecutionData: options.logExecutionData },
  });
  grantTopicKey(stateMachine, options.topicKey);
  acknowledgeStateMachineRole(stateMachine, true);

  // ----- the unfinished-job marker -----
  const eventKey = { jobId: S(at('$.detail.name')) };
  const markUnfinished = new tasks.DynamoUpdateItem(scope, 'MarkUnfinishedJobFailed', {
    comment: 'The execution ended without a Catch marking the job: mark it FAILED unless it finished',
    table,
    key: eventKey,
    updateExpression: 'SET #status = :failed, finishedAt = :now, updatedAt = :now, errorName = :name, errorCause = :cause',
    conditionExpression: 'attribute_exists(jobId) AND #status IN (:submitted, :running)',
    expressionAttributeNames: STATUS_NAMES,
    expressionAttributeValues: {
      ':failed': S('FAILED'),
      ':submitted': S('SUBMITTED'),
      ':running': S('RUNNING'),
      ':now': S(at(NOW)),
      ':name': S(sfn.JsonPath.format('Execution.{}', at('$.detail.status'))),
      ':cause': S(sfn.JsonPath.format('The workflow execution {} ended with status {} before the job was marked finished',
        at('$.detail.executionArn'), at('$.detail.status'))),
    },
    returnValues: tasks.DynamoReturnValues.ALL_NEW,
    resultSelector: { operation: at('$.Attributes.operation.S'), submittedAt: at('$.Attributes.submittedAt.S') },
    resultPath: '$.job',
  });
  addStatusUpdateRetry(markUnfinished);
  const unfinishedMessage = {
    jobId: at('$.detail.name'),
    status: 'FAILED',
    operation: at('$.job.operation'),
    submittedAt: at('$.job.submittedAt'),
    error: sfn.JsonPath.format('Execution.{}', at('$.detail.status')),
  };
  const notifyUnfinished = new tasks.SnsPublish(scope, 'NotifyUnfinishedJobFailed', {
    topic,
    subject: 'Analytics job failed',
    message: sfn.TaskInput.fromObject(unfinishedMessage),
    messageAttributes: { status: { value: 'FAILED' }, operation: { value: at('$.job.operation') } },
    resultPath: sfn.JsonPath.DISCARD,
  });
  addPublishRetry(notifyUnfinished);
  const markerDone = new sfn.Succeed(scope, 'MarkerDone');
  const markerFailed = new sfn.Fail(scope, 'MarkerFailed', { error: 'MarkerFailed', cause: 'The unfinished job could not be marked FAILED or its notification failed' });
  let markerTail: sfn.IChainable = markerDone;
  if (opsTopic) {
    const notifyOpsUnfinished = new tasks.SnsPublish(scope, 'NotifyOpsUnfinishedJobFailed', {
      topic: opsTopic,
      subject: 'Analytics job failed',
      message: sfn.TaskInput.fromObject({ ...unfinishedMessage, executionArn: at('$.detail.executionArn') }),
      messageAttributes: { status: { value: 'FAILED' }, operation: { value: at('$.job.operation') } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    addPublishRetry(notifyOpsUnfinished);
    notifyOpsUnfinished.addCatch(markerFailed, { resultPath: '$.error' });
    notifyOpsUnfinished.next(markerDone);
    markerTail = notifyOpsUnfinished;
  }
  notifyUnfinished.addCatch(markerFailed, { resultPath: '$.error' });
  markUnfinished.addCatch(new sfn.Succeed(scope, 'AlreadyFinished', { comment: 'The job was SUCCEEDED or FAILED already (a Catch marked it)' }), {
    errors: [CONDITION_FAILED], resultPath: '$.error',
  });
  markUnfinished.addCatch(markerFailed, { resultPath: '$.error' });
  const marker = new sfn.StateMachine(scope, 'UnfinishedJobMarker', {
    comment: 'Marks a job FAILED (and notifies) when its execution failed, timed out or was aborted before a Catch marked it',
    stateMachineType: sfn.StateMachineType.EXPRESS,
    definitionBody: sfn.DefinitionBody.fromChainable(markUnfinished.next(notifyUnfinished).next(markerTail)),
    timeout: Duration.minutes(5),
    tracingEnabled: true,
    logs: { destination: logGroup(scope, 'UnfinishedJobMarkerLogs', options), level: sfn.LogLevel.ALL, includeExecutionData: options.logExecutionData },
  });
  grantTopicKey(marker, options.topicKey);
  acknowledgeStateMachineRole(marker, false);

  const rule = new events.Rule(scope, 'UnfinishedJobRule', {
    description: 'Job executions that failed, timed out or were aborted: the marker makes sure the job is FAILED',
    eventPattern: {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [stateMachine.stateMachineArn], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
    },
    targets: [new targets.SfnStateMachine(marker, { retryAttempts: 185, maxEventAge: Duration.hours(24) })],
  });
  const eventsPolicy = marker.node.tryFindChild('EventsRole')?.node.tryFindChild('DefaultPolicy');
  if (eventsPolicy) {
    acknowledgeNagFinding(eventsPolicy, 'HIPAA.Security-IAMNoInlinePolicy',
      'EventBridge\'s role for this one rule target: states:StartExecution on the marker only');
  }

  return { stateMachine, marker, rule, taskTimeout, executionTimeout };
}
