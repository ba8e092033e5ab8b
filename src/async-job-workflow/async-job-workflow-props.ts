import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { IConstruct } from 'constructs';
import { IAnalyticsApi } from '../analytics-api';
import { ICanonicalStore } from '../canonical-store';
import { AlarmedPipelineConstructProps } from '../common/construct-props';

/**
 * How the workflow retries a job whose query failed for a transient reason (connection reset or
 * refused, serialization failure, too many connections, throttling of Lambda or of an AWS service).
 * The caller's errors (unknown table, invalid parameters, query timeout) are never retried.
 */
export interface JobRetryOptions {
  /**
   * Retries after the first attempt (0 turns retries off).
   *
   * @default 3
   */
  readonly maxAttempts?: number;

  /**
   * Wait before the first retry; each further retry waits `backoffRate` times longer, with full
   * jitter (a random wait between 0 and that).
   *
   * @default Duration.seconds(10)
   */
  readonly interval?: Duration;

  /**
   * Multiplier of the wait between retries (1 to 10).
   *
   * @default 2
   */
  readonly backoffRate?: number;

  /**
   * Longest wait between two retries.
   *
   * @default Duration.minutes(2)
   */
  readonly maxDelay?: Duration;
}

/**
 * Properties of an `AsyncJobWorkflow`.
 */
export interface AsyncJobWorkflowProps extends AlarmedPipelineConstructProps {
  /**
   * The analytics API that gets the job routes (`POST /analytics/jobs`,
   * `GET /analytics/jobs/{jobId}`, answered by the workflow's own function): an `AnalyticsApi` in
   * this stack or another, or one imported with `AnalyticsApi.fromAnalyticsApiAttributes` (with
   * `rootResourceId`, `analyticsResourceId`, `resultsBucketName` and `cacheTableName`). Only an
   * `AnalyticsApi` in the workflow's own stack also hands synchronous calls of long-running
   * operations to the workflow (see docs/async-jobs.md).
   */
  readonly api: IAnalyticsApi;

  /**
   * The canonical store the job runner queries (as the analytics reader, and as the restricted
   * reader for `custom_complex_query`), usually the one the API was given.
   */
  readonly store: ICanonicalStore;

  /**
   * Topic that receives a message when a job succeeds or fails. When you pass a topic encrypted
   * with a customer-managed KMS key, its key policy must let the workflow's state machine roles use
   * the key (`kms:GenerateDataKey*`, `kms:Decrypt`).
   *
   * @default - a new topic encrypted with a new customer-managed KMS key (key rotation on)
   */
  readonly notificationTopic?: sns.ITopic;

  /**
   * E-mail addresses subscribed to the notification topic (each confirms its subscription).
   * Only with the topic the construct creates.
   *
   * @default - no subscriptions
   */
  readonly notificationEmails?: string[];

  /**
   * Longest run of one job attempt: the job runner's Lambda timeout (at most 15 minutes, Lambda's
   * limit). The query gets this time minus a safety margin (10%, between 1 and 30 seconds). The
   * state machine's own timeout is derived from it and the retry policy.
   *
   * @default Duration.minutes(15)
   */
  readonly jobTimeout?: Duration;

  /**
   * Retries of transient failures of the job's query.
   *
   * @default - 3 retries, 10 seconds first, backoff rate 2, at most 2 minutes apart, full jitter
   */
  readonly retry?: JobRetryOptions;

  /**
   * How long job records are kept (DynamoDB TTL). Large results in S3 follow the results bucket's
   * own expiry.
   *
   * @default Duration.days(7)
   */
  readonly jobRetention?: Duration;

  /**
   * Results with at most this many bytes of JSON are stored on the job record; larger ones are
   * written to the API's results bucket and the job points to them (between 1 and 200,000: Step
   * Functions passes the stored result through its 256 KiB state).
   *
   * @default 200000
   */
  readonly inlineResultMaxBytes?: number;

  /**
   * Whether the state machines log execution data (job parameters, results, error causes) to
   * CloudWatch Logs. Events are always logged (level ALL).
   *
   * @default false
   */
  readonly logExecutionData?: boolean;
}

/**
 * An async job workflow, created (`AsyncJobWorkflow`) or imported
 * (`AsyncJobWorkflow.fromAsyncJobWorkflowAttributes`): what monitoring and grants need.
 */
export interface IAsyncJobWorkflow extends IConstruct {
  /** The job state machine (Standard). */
  readonly jobStateMachine: sfn.IStateMachine;

  /** The function that runs a job's query (the state machine's RunQuery task). */
  readonly jobRunnerFunction: lambda.IFunction;

  /** The function behind `POST /analytics/jobs` and `GET /analytics/jobs/{jobId}`. */
  readonly jobsApiFunction: lambda.IFunction;

  /** The workflow's own alarms (executions timed out, the unfinished-job marker failed); none for an imported workflow. */
  readonly alarms: cloudwatch.IAlarm[];

  /** Id of the REST API that serves the job routes. */
  readonly restApiId: string;

  /** Name of its stage. */
  readonly stageName: string;

  /** Lets `grantee` submit jobs (`execute-api:Invoke` on `POST /analytics/jobs`), for IAM authorization. */
  grantSubmitJobs(grantee: iam.IGrantable): iam.Grant;

  /** Lets `grantee` read jobs and their large results, for IAM authorization. */
  grantReadJobs(grantee: iam.IGrantable): iam.Grant;

  /** Jobs that succeeded. */
  metricJobsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Jobs whose execution failed. */
  metricJobsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Job executions that ran past the execution timeout. */
  metricJobsTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Jobs started. */
  metricJobsStarted(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Time from a job's start to its end (ms, default statistic p90). */
  metricJobDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/**
 * Attributes of an async job workflow defined elsewhere (e.g. in another stack or app), to monitor
 * it or grant access to its routes.
 */
export interface AsyncJobWorkflowAttributes {
  /** ARN of the job state machine. */
  readonly stateMachineArn: string;

  /** ARN of the job runner function. */
  readonly jobRunnerFunctionArn: string;

  /** ARN of the jobs API function. */
  readonly jobsApiFunctionArn: string;

  /** Id of the REST API that serves the job routes. */
  readonly restApiId: string;

  /**
   * Name of its stage.
   *
   * @default 'prod'
   */
  readonly stageName?: string;
}
