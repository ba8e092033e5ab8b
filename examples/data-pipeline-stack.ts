/**
 * The example system in one stack: the operations topic first, then the canonical store and the
 * constructs that build on it, all wired together, monitored by one dashboard, and held to the
 * cdk-nag AwsSolutions and HIPAA Security rules (health data is part of the demo).
 */
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import {
  AiAnalyzer, AnalyticsApi, AnalyticsApiAuthorization, AnomalyThresholds, AsyncJobWorkflow, BuiltInSources, CanonicalStore,
  IngestionPipeline, PipelineMonitoring, ReportNotifier,
} from '../src';

/** Settings of the example stack. */
export interface DataPipelineStackProps extends StackProps {
  /**
   * A sandbox: delete the database, buckets, tables and log groups with the stack (context
   * `destroyData=true`). Keep false for real data: they are then retained or snapshotted.
   *
   * @default false
   */
  readonly destroyData?: boolean;

  /**
   * E-mail address subscribed to the operations topic (alarms and system errors); it must
   * confirm the subscription (context `alertEmail`).
   *
   * @default - no subscription: subscribe to the topic yourself
   */
  readonly alertEmail?: string;

  /**
   * Sender of the e-mailed reports, and their recipient unless `reportRecipients` is given
   * (context `reportEmail`). SES sends it a verification e-mail; in the SES sandbox, recipients
   * must be verified too.
   *
   * @default 'reports@example.com' (a placeholder: reports cannot be sent until you set yours)
   */
  readonly reportEmail?: string;

  /**
   * Recipients of the reports (context `reportRecipients`, comma-separated).
   *
   * @default - `reportEmail`
   */
  readonly reportRecipients?: string[];

  /**
   * Multi-AZ database: a standby in a second Availability Zone (context `multiAz=false` for a
   * cheaper single-AZ sandbox). HIPAA's availability rules expect it.
   *
   * @default true
   */
  readonly multiAz?: boolean;
}

/** One stack with the whole example system. */
export class DataPipelineStack extends Stack {
  /** Operations topic: alarms and system errors of every construct. */
  public readonly opsTopic: sns.Topic;
  /** Key of the data at rest: database storage, its secrets, buckets and tables. */
  public readonly dataKey: kms.Key;
  /** Key of every CloudWatch Logs log group of the stack (each construct's `logEncryptionKey`). */
  public readonly logsKey: kms.Key;
  public readonly store: CanonicalStore;
  public readonly ingestion: IngestionPipeline;
  public readonly apiWebAcl: wafv2.CfnWebACL;
  public readonly api: AnalyticsApi;
  public readonly jobs: AsyncJobWorkflow;
  public readonly analyzer: AiAnalyzer;
  public readonly pseudonymizationKey: secretsmanager.Secret;
  public readonly notifier: ReportNotifier;
  public readonly backupPlan: backup.BackupPlan;
  public readonly monitoring: PipelineMonitoring;

  constructor(scope: Construct, id: string, props: DataPipelineStackProps = {}) {
    super(scope, id, props);
    const destroy = props.destroyData ?? false;
    const removalPolicy = destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    // ----- keys and the operations topic, created first and handed to every construct -----
    this.dataKey = new kms.Key(this, 'DataKey', {
      description: 'Example data pipeline: data at rest (database, secrets, buckets, tables)',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(7),
    });
    this.logsKey = createLogsKey(this, removalPolicy);
    this.opsTopic = createOpsTopic(this, removalPolicy);
    if (props.alertEmail) this.opsTopic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
    // AWS Backup, besides RDS's automated backups and the tables' point-in-time recovery: the store
    // and the analyzer add their data to it.
    this.backupPlan = createBackupPlan(this);

    // ----- the canonical store -----
    this.store = new CanonicalStore(this, 'Store', {
      removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.SNAPSHOT,
      encryptionKey: this.dataKey,
      logEncryptionKey: this.logsKey,
      multiAz: props.multiAz ?? true,
      backupPlan: this.backupPlan,
    });

    // ----- ingestion: CRM and ERP feeds into the store; the health feed validated and split only -----
    this.ingestion = new IngestionPipeline(this, 'Ingestion', {
      store: this.store,
      sources: [
        BuiltInSources.crmCustomers(), //   crm-data/
        BuiltInSources.erpOrders(), //      erp-data/orders/
        BuiltInSources.erpProducts(), //    erp-data/products/
        BuiltInSources.healthReadings(), // health/raw/ (loadToStore: false)
      ],
      encryptionKey: this.dataKey,
      logEncryptionKey: this.logsKey,
      alarmTopic: this.opsTopic,
      removalPolicy,
    });

    // ----- the analytics API: an API key (usage plan) for the README's curl demo, behind AWS WAF -----
    this.apiWebAcl = apiWebAcl(this, this.logsKey, removalPolicy);
    this.api = new AnalyticsApi(this, 'Api', {
      store: this.store,
      authorization: AnalyticsApiAuthorization.API_KEY,
      webAclArn: this.apiWebAcl.attrArn,
      encryptionKey: this.dataKey,
      logEncryptionKey: this.logsKey,
      alarmTopic: this.opsTopic,
      removalPolicy,
    });

    // ----- long analytics as Step Functions jobs on the API (/analytics/jobs) -----
    this.jobs = new AsyncJobWorkflow(this, 'Jobs', {
      api: this.api,
      store: this.store,
      alarmTopic: this.opsTopic,
      notificationEmails: props.alertEmail ? [props.alertEmail] : undefined,
      logEncryptionKey: this.logsKey,
      removalPolicy,
    });

    // ----- AI analysis of the health feed (in the store's VPC: Bedrock through an endpoint) -----
    // The key that pseudonymizes patient ids before the model sees them: encrypted with the data key.
    this.pseudonymizationKey = new secretsmanager.Secret(this, 'PseudonymizationKey', {
      description: 'HMAC key that pseudonymizes personal data before it is sent to the model (changing it changes every pseudonym)',
      encryptionKey: this.dataKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy,
    });
    this.analyzer = new AiAnalyzer(this, 'Analyzer', {
      pseudonymizationKey: this.pseudonymizationKey,
      eventBus: this.ingestion.eventBus,
      dataBucket: this.ingestion.bucket,
      sources: ['health-readings'],
      thresholds: AnomalyThresholds.vitalSigns('health-readings'),
      alarmTopic: this.opsTopic,
      logEncryptionKey: this.logsKey,
      removalPolicy,
      vpc: this.store.vpc,
      vpcSubnets: this.store.vpcSubnets,
      backupPlan: this.backupPlan,
    });

    // ----- e-mailed reports on each analysis and a daily digest; failures to the operations topic -----
    const reportEmail = props.reportEmail ?? 'reports@example.com';
    this.notifier = new ReportNotifier(this, 'Notifier', {
      eventBus: this.ingestion.eventBus,
      analyzer: this.analyzer,
      fromAddress: reportEmail,
      fromName: 'Data pipeline example',
      toAddresses: props.reportRecipients && props.reportRecipients.length > 0 ? props.reportRecipients : [reportEmail],
      alarmTopic: this.opsTopic,
      digestSchedule: events.Schedule.cron({ hour: '7', minute: '0' }),
      logEncryptionKey: this.logsKey,
      vpc: this.store.vpc,
      vpcSubnets: this.store.vpcSubnets,
    });

    // ----- monitoring -----
    this.monitoring = new PipelineMonitoring(this, 'Monitoring', {
      alarmTopic: this.opsTopic,
      store: this.store,
      ingestion: this.ingestion,
      api: this.api,
      jobs: this.jobs,
      analyzer: this.analyzer,
      notifier: this.notifier,
    });

    // ----- outputs -----
    new CfnOutput(this, 'RawDataBucketName', { value: this.ingestion.bucket.bucketName, description: 'Upload source files here: crm-data/, erp-data/orders/, erp-data/products/, health/raw/' });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Analytics API base URL (ends with the stage and a slash)' });
    new CfnOutput(this, 'ApiKeyId', {
      value: this.api.apiKey!.keyId,
      description: 'API key of the demo: aws apigateway get-api-key --api-key <id> --include-value --query value --output text',
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.jobs.stateMachine.stateMachineArn, description: 'Step Functions state machine of the async analytics jobs' });
    new CfnOutput(this, 'JobTopicArn', { value: this.jobs.notificationTopic.topicArn, description: 'Job notifications (succeeded / failed)' });
    new CfnOutput(this, 'EventBusName', { value: this.ingestion.eventBus.eventBusName, description: 'EventBridge bus of the Ingestion Succeeded / Failed events' });
    new CfnOutput(this, 'OpsTopicArn', { value: this.opsTopic.topicArn, description: 'Operations topic (alarms, system errors): subscribe to it' });
    new CfnOutput(this, 'DatabaseEndpoint', { value: this.store.endpoint, description: 'PostgreSQL endpoint (isolated subnets: reachable from the VPC only)' });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName, description: 'CloudWatch dashboard of the whole system' });

    this.acknowledgeNagFindings();
  }

  /** cdk-nag findings on the example's own resources, accepted by design (one resource, one rule or finding). */
  private acknowledgeNagFindings(): void {
    const hmacKey = 'A pseudonymization (HMAC) key, not a credential: rotating it would change every pseudonym and break the linking of analyses over time; only the analyzer may read it';
    Validations.of(this.pseudonymizationKey).acknowledge(
      { id: 'AwsSolutions-SMG4', reason: hmacKey },
      { id: 'HIPAA.Security-SecretsManagerRotationEnabled', reason: hmacKey },
    );
  }
}

/**
 * A customer-managed key for this stack's log groups. The constructs it is given to as
 * `logEncryptionKey` let CloudWatch Logs use it (a key-policy statement for the account's log
 * groups in the region, which also covers the WAF log).
 */
function createLogsKey(scope: Stack, removalPolicy: RemovalPolicy): kms.Key {
  return new kms.Key(scope, 'LogsKey', {
    description: 'Example data pipeline: CloudWatch Logs log groups',
    enableKeyRotation: true,
    removalPolicy,
    pendingWindow: Duration.days(7),
  });
}

/**
 * The operations topic, encrypted with its own key. Principals of the account may use the key
 * through SNS only (as with the AWS managed key), so any construct granted `sns:Publish` can
 * publish; CloudWatch alarms and EventBridge rules publish as services and are allowed explicitly.
 */
function createOpsTopic(scope: Stack, removalPolicy: RemovalPolicy): sns.Topic {
  const key = new kms.Key(scope, 'OpsTopicKey', {
    description: 'Example data pipeline: operations topic',
    enableKeyRotation: true,
    removalPolicy,
    pendingWindow: Duration.days(7),
  });
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.AnyPrincipal()],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
    conditions: {
      StringEquals: { 'kms:CallerAccount': scope.account, 'kms:ViaService': `sns.${scope.region}.amazonaws.com` },
    },
  }));
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
    conditions: { StringEquals: { 'aws:SourceAccount': scope.account } },
  }));
  const topic = new sns.Topic(scope, 'OpsTopic', {
    displayName: 'Data pipeline operations',
    masterKey: key,
  });
  // SSL only (the topic's `enforceSSL` adds this statement only once some other statement exists).
  topic.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'AllowPublishThroughSSLOnly',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: { Bool: { 'aws:SecureTransport': 'false' } },
  }));
  topic.applyRemovalPolicy(removalPolicy);
  return topic;
}

/** Daily backups kept 35 days, in a vault encrypted with its own key. */
function createBackupPlan(scope: Stack): backup.BackupPlan {
  // The vault and its key hold the recovery points: both are kept when the stack is deleted,
  // even a sandbox's (AWS Backup refuses to delete a vault that has recovery points).
  const key = new kms.Key(scope, 'BackupKey', {
    description: 'Example data pipeline: AWS Backup vault',
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const vault = new backup.BackupVault(scope, 'BackupVault', { encryptionKey: key, removalPolicy: RemovalPolicy.RETAIN });
  const plan = new backup.BackupPlan(scope, 'BackupPlan', { backupVault: vault });
  // Warm storage only: RDS snapshots do not move to cold storage.
  plan.addRule(backup.BackupPlanRule.daily());
  return plan;
}

/**
 * A regional WAF web ACL for the API: AWS's common and known-bad-inputs rule groups and a per-IP
 * rate limit. Not the SQL-injection group: the API's custom_complex_query takes SQL in its body
 * by design (it runs as a read-only role with a statement timeout).
 */
function apiWebAcl(scope: Construct, logsKey: kms.IKey, removalPolicy: RemovalPolicy): wafv2.CfnWebACL {
  const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true });
  const managed = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
    name,
    priority,
    overrideAction: { none: {} },
    statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
    visibilityConfig: visibility(name),
  });
  const acl = new wafv2.CfnWebACL(scope, 'ApiWebAcl', {
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    visibilityConfig: visibility('AnalyticsApiWebAcl'),
    rules: [
      managed('AWSManagedRulesCommonRuleSet', 1),
      managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
      {
        name: 'RateLimitPerIp',
        priority: 3,
        action: { block: {} },
        // Requests per 5 minutes from one address; the stage's throttling limits the total.
        statement: { rateBasedStatement: { limit: 1000, aggregateKeyType: 'IP' } },
        visibilityConfig: visibility('RateLimitPerIp'),
      },
    ],
  });
  // Its log (the rules each request matched; WAF requires the aws-waf-logs- prefix), without the API key.
  const log = new logs.LogGroup(scope, 'ApiWebAclLog', {
    logGroupName: `aws-waf-logs-${Stack.of(scope).stackName}-api`,
    retention: logs.RetentionDays.ONE_YEAR,
    encryptionKey: logsKey,
    removalPolicy,
  });
  new wafv2.CfnLoggingConfiguration(scope, 'ApiWebAclLogging', {
    resourceArn: acl.attrArn,
    logDestinationConfigs: [Stack.of(scope).formatArn({ service: 'logs', resource: 'log-group', resourceName: log.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    redactedFields: [{ singleHeader: { Name: 'x-api-key' } }],
  });
  return acl;
}
