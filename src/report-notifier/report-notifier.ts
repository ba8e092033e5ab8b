import { Aws, Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ImportedReportNotifier } from './imported-report-notifier';
import { ReportNotifierBase } from './report-notifier-base';
import { IReportNotifier, ReportNotifierAttributes, ReportNotifierProps } from './report-notifier-props';
import { AiAnalyzer } from '../ai-analyzer/ai-analyzer';
import { alarmOnAnything } from '../common/alarms';
import { INGESTION_EVENT_SOURCE, INGESTION_FAILED } from '../common/contracts';
import { createPipelineFunction } from '../common/lambda-tuning';
import { allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { denyPublishWithoutTls } from '../common/topics';
import { PipelineAwsService } from '../common/vpc-endpoints';

const DEFAULT_TIMEOUT = Duration.minutes(2);
const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

/**
 * E-mails reports of the pipeline's analyses and routes its failures:
 * - `Analysis Complete` → the report of that analysis (processing statistics from the run's
 *   manifest, anomalies, AI insights, recommendations and summary) as text and HTML, through SES;
 * - optionally a digest on a schedule (EventBridge Scheduler) of the period's analyses and files;
 * - `Ingestion Failed` (last attempt) and `Analysis Failed` → the operations topic (and optionally e-mail).
 * Event delivery is retried, then kept in a dead-letter queue (alarmed).
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the notifier function (default
 * 512 MiB, 2 minutes, logs kept three months); `removalPolicy` covers the function's log group;
 * `logEncryptionKey` the function's log group; VPC endpoints (with `vpc`): the services the
 * function calls. Alarms: dead-letter queue not empty, errors.
 */
export class ReportNotifier extends ReportNotifierBase {
  /** Imports a report notifier defined elsewhere (e.g. in another stack or app) to monitor it (`PipelineMonitoring`). */
  public static fromReportNotifierAttributes(scope: Construct, id: string, attrs: ReportNotifierAttributes): IReportNotifier {
    return new ImportedReportNotifier(scope, id, attrs);
  }

  /** The notifier function. */
  public readonly notifierFunction: lambda.IFunction;

  /** The operations topic (given, or created): failure notices and alarms. */
  public readonly alarmTopic: sns.ITopic;

  /** The SES identity the e-mails are sent from. */
  public readonly emailIdentity: ses.IEmailIdentity;

  /** The configuration set the e-mails are sent with, if any. */
  public readonly configurationSet?: ses.IConfigurationSet;

  /** Events (and digest invocations) that could not be handled after the retries. */
  public readonly deadLetterQueue: sqs.IQueue;

  /** The rule for `Analysis Complete`, when `reportOnAnalysis` is on. */
  public readonly analysisCompleteRule?: events.Rule;

  /** The rule for `Analysis Failed`. */
  public readonly analysisFailedRule: events.Rule;

  /** The rule for `Ingestion Failed` (last attempts only), when `routeIngestionFailures` is on. */
  public readonly ingestionFailedRule?: events.Rule;

  /** The digest schedule, when `digestSchedule` is set. */
  public readonly digestSchedule?: scheduler.CfnSchedule;

  /** Alarm: the dead-letter queue holds messages. */
  public readonly deadLetterQueueAlarm: cloudwatch.Alarm;

  /** Alarm: the notifier function failed. */
  public readonly errorsAlarm: cloudwatch.Alarm;

  /** The notifier's alarms: dead-letter queue, errors (a new array on each read). */
  public get alarms(): cloudwatch.IAlarm[] {
    return [this.deadLetterQueueAlarm, this.errorsAlarm];
  }

  constructor(scope: Construct, id: string, props: ReportNotifierProps) {
    super(scope, id);
    validateProps(props);
    const analyzer = props.analyzer;

    // ----- operations topic, identity, configuration set -----
    let topicKey: kms.IKey | undefined;
    if (props.alarmTopic) {
      this.alarmTopic = props.alarmTopic;
    } else {
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: 'Encrypts the data pipeline operations topic',
        enableKeyRotation: true,
      });
      // CloudWatch alarms (and SES event publishing) encrypt what they publish to the topic.
      for (const service of ['cloudwatch.amazonaws.com', 'ses.amazonaws.com']) {
        key.addToResourcePolicy(new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          principals: [new iam.ServicePrincipal(service)],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }));
      }
      topicKey = key;
      const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Data pipeline operations', masterKey: key });
      denyPublishWithoutTls(topic);
      this.alarmTopic = topic;
    }

    this.emailIdentity = props.emailIdentity ?? new ses.EmailIdentity(this, 'EmailIdentity', {
      identity: ses.Identity.email(props.fromAddress),
      configurationSet: props.configurationSet,
    });
    if (props.configurationSet) {
      this.configurationSet = props.configurationSet;
    } else if (props.createConfigurationSet) {
      const set = new ses.ConfigurationSet(this, 'ConfigurationSet', {
        suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      });
      set.addEventDestination('ToOperationsTopic', {
        destination: ses.EventDestination.snsTopic(this.alarmTopic),
        events: [
          ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT, ses.EmailSendingEvent.REJECT, ses.EmailSendingEvent.RENDERING_FAILURE,
        ],
      });
      this.configurationSet = set;
    }

    // ----- dead-letter queue and function -----
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    const serviceName = `report-notifier-${Names.uniqueResourceName(this, { maxLength: 40 })}`;
    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    const built = createPipelineFunction(this, 'Function', {
      assetName: 'report-notifier',
      description: 'ReportNotifier: e-mailed analysis reports and digests, failure notices to the operations topic',
      serviceName,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      defaults: { memorySize: 512, timeout: DEFAULT_TIMEOUT },
      tuning: props.lambdaTuning,
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      logRemovalPolicy: props.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      environment: {
        ANALYSIS_TABLE_NAME: analyzer.analysisTable.tableName,
        ANALYSIS_BUCKET: analyzer.analysisBucket.bucketName,
        ANALYSIS_PREFIX: analyzer.analysisPrefix,
        DATA_BUCKET: analyzer.dataBucket.bucketName,
        MANIFEST_PREFIX: analyzer.manifestPrefix,
        FROM_ADDRESS: props.fromAddress,
        ...(props.fromName ? { FROM_NAME: props.fromName } : {}),
        TO_ADDRESSES: JSON.stringify(props.toAddresses),
        ...(this.configurationSet ? { CONFIGURATION_SET_NAME: this.configurationSet.configurationSetName } : {}),
        OPS_TOPIC_ARN: this.alarmTopic.topicArn,
        EMAIL_FAILURES: String(props.emailFailures ?? false),
        SUBJECT_PREFIX: props.subjectPrefix ?? 'Data pipeline',
        DIGEST_LOOKBACK_HOURS: String((props.digestLookback ?? Duration.hours(24)).toHours({ integral: false })),
      },
      callsServices: [PipelineAwsService.SES, PipelineAwsService.SNS, PipelineAwsService.S3, PipelineAwsService.DYNAMODB],
      createVpcEndpoints: props.createVpcEndpoints,
      deadLetterQueue: this.deadLetterQueue,
    });
    const fn = built.fn;
    this.notifierFunction = fn;
    // Failed asynchronous invocations go to the dead-letter queue (the function's DLQ, set above).
    fn.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6) });
    this.grantFunctionAccess(props, topicKey);

    // ----- triggers -----
    const target = new targets.LambdaFunction(fn, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: props.retryAttempts ?? 8,
      maxEventAge: Duration.hours(24),
    });
    if (props.reportOnAnalysis ?? true) {
      this.analysisCompleteRule = new events.Rule(this, 'AnalysisCompleteRule', {
        eventBus: props.eventBus,
        description: 'Analysis Complete events to the report notifier (one report per analysis)',
        eventPattern: { source: [AiAnalyzer.EVENT_SOURCE], detailType: [AiAnalyzer.COMPLETE_DETAIL_TYPE] },
        targets: [target],
      });
    }
    this.analysisFailedRule = new events.Rule(this, 'AnalysisFailedRule', {
      eventBus: props.eventBus,
      description: 'Analysis Failed events to the report notifier (operations topic)',
      eventPattern: { source: [AiAnalyzer.EVENT_SOURCE], detailType: [AiAnalyzer.FAILED_DETAIL_TYPE] },
      targets: [target],
    });
    if (props.routeIngestionFailures ?? true) {
      this.ingestionFailedRule = new events.Rule(this, 'IngestionFailedRule', {
        eventBus: props.eventBus,
        description: 'Ingestion Failed events of last attempts to the report notifier (operations topic)',
        eventPattern: { source: [INGESTION_EVENT_SOURCE], detailType: [INGESTION_FAILED], detail: { final: [true] } },
        targets: [target],
      });
    }
    if (props.digestSchedule) this.digestSchedule = this.createDigestSchedule(props);

    // ----- alarms -----
    this.deadLetterQueueAlarm = alarmOnAnything(this, 'DeadLetterQueueAlarm', 'Reports or failure notices could not be sent: see the notifier\'s dead-letter queue', this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }));
    this.errorsAlarm = alarmOnAnything(this, 'ErrorsAlarm', 'The report notifier failed (SES, SNS or reading the analysis); it is retried', fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }));
    for (const alarm of [this.deadLetterQueueAlarm, this.errorsAlarm]) alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  private createDigestSchedule(props: ReportNotifierProps): scheduler.CfnSchedule {
    const role = new iam.Role(this, 'DigestScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
      description: 'EventBridge Scheduler: invokes the report notifier for the digest',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.notifierFunction.functionArn] }));
    this.deadLetterQueue.grantSendMessages(role);
    acknowledgeNagFinding(defaultPolicyOf(role), 'HIPAA.Security-IAMNoInlinePolicy',
      'EventBridge Scheduler\'s role for the digest: lambda:InvokeFunction on the notifier and sqs:SendMessage to its dead-letter queue only; a managed policy would add no reuse');
    const lookback = props.digestLookback ?? Duration.hours(24);
    return new scheduler.CfnSchedule(this, 'DigestSchedule', {
      description: 'Data pipeline digest e-mail',
      scheduleExpression: props.digestSchedule!.expressionString,
      scheduleExpressionTimezone: props.digestTimeZone ?? 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.notifierFunction.functionArn,
        roleArn: role.roleArn,
        input: JSON.stringify({ kind: 'digest', lookbackHours: lookback.toHours({ integral: false }) }),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      },
    });
  }

  /** Least privilege: read analyses and manifests, the table (and its day index), send from one identity, publish to the topic. */
  private grantFunctionAccess(props: ReportNotifierProps, topicKey: kms.IKey | undefined): void {
    const fn = this.notifierFunction;
    const { analysisTable, analysisBucket, analysisPrefix, dataBucket, manifestPrefix } = props.analyzer;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadAnalysesAndManifests',
      actions: ['s3:GetObject'],
      resources: [analysisBucket.arnForObjects(`${analysisPrefix}*`), dataBucket.arnForObjects(`${manifestPrefix}*`)],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ListManifests',
      actions: ['s3:ListBucket'],
      resources: [dataBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${manifestPrefix}*`] } },
    }));
    analysisBucket.encryptionKey?.grant(fn, 'kms:Decrypt');
    dataBucket.encryptionKey?.grant(fn, 'kms:Decrypt');
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadAndMarkAnalyses', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [analysisTable.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'QueryAnalysesByDay',
      actions: ['dynamodb:Query'],
      resources: [`${analysisTable.tableArn}/index/${AiAnalyzer.DAY_INDEX_NAME}`],
    }));
    analysisTable.encryptionKey?.grant(fn, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey');

    const stack = Stack.of(this);
    const sendResources = [this.emailIdentity.emailIdentityArn];
    if (this.configurationSet) {
      sendResources.push(stack.formatArn({ service: 'ses', resource: 'configuration-set', resourceName: this.configurationSet.configurationSetName }));
    }
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'SendReports',
      actions: ['ses:SendEmail'],
      resources: sendResources,
      conditions: { StringEquals: { 'ses:FromAddress': props.fromAddress } },
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishNotices', actions: ['sns:Publish'], resources: [this.alarmTopic.topicArn] }));
    topicKey?.grant(fn, 'kms:GenerateDataKey', 'kms:Decrypt');

    const policy = defaultPolicyOf(fn.role!);
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object reads are scoped to the analyses prefix and the manifests prefix of the pipeline\'s buckets',
      [analysisPrefix, manifestPrefix].map((p) => ({ regex: `/^Resource::(<[A-Za-z0-9]+\\.Arn>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)/${escapeRegex(p)}\\*$/` })));
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function validateProps(props: ReportNotifierProps): void {
  if (!props.analyzer) throw new Error('analyzer is required: the notifier reads its analyses');
  if (!Token.isUnresolved(props.fromAddress) && !EMAIL.test(props.fromAddress)) {
    throw new Error(`fromAddress must be an e-mail address (set the display name with fromName), got "${props.fromAddress}"`);
  }
  if (!props.toAddresses || props.toAddresses.length === 0) throw new Error('toAddresses must list at least one recipient');
  if (props.toAddresses.length > 50) throw new Error(`toAddresses: SES sends to at most 50 recipients per message, got ${props.toAddresses.length}`);
  for (const a of props.toAddresses) {
    if (!Token.isUnresolved(a) && !EMAIL.test(a)) throw new Error(`toAddresses: "${a}" is not an e-mail address`);
  }
  const identity = props.emailIdentity?.emailIdentityName;
  if (identity && !Token.isUnresolved(identity) && !Token.isUnresolved(props.fromAddress)) {
    const from = props.fromAddress.toLowerCase();
    const name = identity.toLowerCase();
    const domain = from.slice(from.indexOf('@') + 1);
    if (from !== name && domain !== name && !domain.endsWith(`.${name}`)) {
      throw new Error(`fromAddress ${props.fromAddress} does not belong to the SES identity ${identity}`);
    }
  }
  if (props.retryAttempts !== undefined && (!Number.isInteger(props.retryAttempts) || props.retryAttempts < 0 || props.retryAttempts > 185)) {
    throw new Error(`retryAttempts must be an integer between 0 and 185, got ${props.retryAttempts}`);
  }
  if (props.digestLookback && (props.digestLookback.toHours({ integral: false }) <= 0 || props.digestLookback.toDays({ integral: false }) > 31)) {
    throw new Error('digestLookback must be between 1 hour and 31 days');
  }
  if (props.digestTimeZone && !props.digestSchedule) throw new Error('digestTimeZone is set without digestSchedule');
  if (props.digestTimeZone && !/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(props.digestTimeZone)) {
    throw new Error(`digestTimeZone must be an IANA time zone such as "Europe/Berlin", got "${props.digestTimeZone}"`);
  }
  if (props.configurationSet && props.createConfigurationSet) throw new Error('configurationSet and createConfigurationSet are both set: choose one');
  if (props.subjectPrefix !== undefined && /[\r\n]/.test(props.subjectPrefix)) throw new Error('subjectPrefix must be one line');
}
