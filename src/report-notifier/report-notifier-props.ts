import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import { IAnalysisStore } from '../ai-analyzer/ai-analyzer-props';
import { LambdaTuning } from '../common/lambda-tuning';

/**
 * Properties of a `ReportNotifier`.
 */
export interface ReportNotifierProps {
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
   * The operations topic: `Ingestion Failed` (last attempt) and `Analysis Failed` notices, and
   * this construct's alarms. Create one topic per application (with its subscriptions) and hand it
   * to every construct.
   *
   * @default - a new topic encrypted with a new KMS key (`alarmTopic` property: subscribe to it)
   */
  readonly alarmTopic?: sns.ITopic;

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
   * Memory, timeout, log retention and extra environment of the notifier function.
   *
   * @default - 512 MiB, 2 minutes, logs kept three months
   */
  readonly lambdaTuning?: LambdaTuning;

  /**
   * KMS key of the notifier function's log group.
   *
   * The key policy must let CloudWatch Logs of the region (`logs.<region>.amazonaws.com`) use the
   * key. When the key is a `kms.Key` of the construct's stack, the construct adds that statement
   * (for the account's log groups in the region, by `kms:EncryptionContext:aws:logs:arn`); for an
   * imported key, or one of another stack, add it to the key policy yourself.
   *
   * @default - log groups are encrypted by CloudWatch Logs with its own keys
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * Permissions boundary for the roles the construct creates.
   *
   * @default - none
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;

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
   * Whether to add the VPC endpoints the function needs to `vpc`.
   *
   * @default true
   */
  readonly createVpcEndpoints?: boolean;
}
