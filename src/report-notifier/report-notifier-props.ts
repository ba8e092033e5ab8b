import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { IAnalysisStore } from '../ai-analyzer/ai-analyzer-props';
import { PipelineConstructProps } from '../common/construct-props';

/**
 * Properties of a `ReportNotifier`.
 */
export interface ReportNotifierProps extends PipelineConstructProps {
  /** The pipeline's event bus (with the analyzer's and the ingestion's events). */
  readonly eventBus: events.IEventBus;

  /** Where the analyses and the ingestion manifests are: an `AiAnalyzer`. */
  readonly analyzer: IAnalysisStore;

  /** Sender address of the e-mails; it must belong to the SES identity (the address itself, or its domain). */
  readonly fromAddress: string;

  /**
   * Display name of the sender.
   *
   * @default - the address only
   */
  readonly fromName?: string;

  /** Recipients of the reports (and of failure e-mails with `emailFailures`). */
  readonly toAddresses: string[];

  /**
   * A verified SES identity (domain or address) that `fromAddress` belongs to. The function may
   * send from this identity only.
   *
   * @default - a new e-mail address identity for `fromAddress` (SES sends it a verification e-mail)
   */
  readonly emailIdentity?: ses.IEmailIdentity;

  /**
   * SES configuration set the e-mails are sent with.
   *
   * @default - none, unless `createConfigurationSet` is true
   */
  readonly configurationSet?: ses.IConfigurationSet;

  /**
   * Creates a configuration set that publishes bounces, complaints and rejections to the
   * operations topic. Ignored when `configurationSet` is given.
   *
   * @default false
   */
  readonly createConfigurationSet?: boolean;

  /**
   * Whether each `Analysis Complete` event sends the report of that analysis.
   *
   * @default true
   */
  readonly reportOnAnalysis?: boolean;

  /**
   * Whether `Ingestion Failed` events (the last attempt of a file) are routed to the operations topic.
   *
   * @default true
   */
  readonly routeIngestionFailures?: boolean;

  /**
   * Whether failure notices are also e-mailed to `toAddresses`.
   *
   * @default false
   */
  readonly emailFailures?: boolean;

  /**
   * Schedule of a digest e-mail (EventBridge Scheduler), e.g.
   * `events.Schedule.cron({ hour: '7', minute: '0' })` for a daily digest at 07:00.
   *
   * @default - no digest
   */
  readonly digestSchedule?: events.Schedule;

  /**
   * Time zone of `digestSchedule` (IANA name).
   *
   * @default 'UTC'
   */
  readonly digestTimeZone?: string;

  /**
   * Period a digest covers, up to its sending time.
   *
   * @default Duration.hours(24)
   */
  readonly digestLookback?: Duration;

  /**
   * Start of every subject line.
   *
   * @default 'Data pipeline'
   */
  readonly subjectPrefix?: string;

  /**
   * Attempts EventBridge makes to deliver an event to the function (then the dead-letter queue).
   *
   * @default 8
   */
  readonly retryAttempts?: number;

  /**
   * Runs the function in this VPC (it then reaches SES, SNS, S3 and DynamoDB through VPC endpoints).
   *
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Subnets of the function in `vpc`.
   *
   * @default - the VPC's private subnets (isolated when it has no others)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups of the function in `vpc`.
   *
   * @default - a new security group with all outbound traffic allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The operations topic: `Ingestion Failed` (last attempt) and `Analysis Failed` notices, and
   * this construct's alarms. Create one topic per application (with its subscriptions) and hand it
   * to every construct.
   *
   * @default - a new topic encrypted with a new KMS key (`alarmTopic` property: subscribe to it)
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * A report notifier, created (`ReportNotifier`) or imported
 * (`ReportNotifier.fromReportNotifierAttributes`): what monitoring needs.
 */
export interface IReportNotifier extends IConstruct {
  /** The notifier function. */
  readonly notifierFunction: lambda.IFunction;

  /** Events (and digest invocations) that could not be handled after the retries. */
  readonly deadLetterQueue: sqs.IQueue;

  /**
   * The notifier's own alarms (dead-letter queue, errors); none for an imported notifier. A new
   * array on each read: changing it changes nothing.
   */
  readonly alarms: cloudwatch.IAlarm[];

  /** Runs of the notifier function (sum). */
  metricInvocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Failed runs of the notifier function (sum). */
  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Events in the dead-letter queue (maximum). */
  metricDeadLetterQueueDepth(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/** Attributes of a report notifier defined elsewhere (e.g. in another stack or app), to monitor it. */
export interface ReportNotifierAttributes {
  /** ARN of the notifier function (`notifier.notifierFunction.functionArn`). */
  readonly functionArn: string;

  /** ARN of the dead-letter queue (`notifier.deadLetterQueue.queueArn`). */
  readonly deadLetterQueueArn: string;
}
