import { Annotations, Duration, Names, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AiAnalyzerBase, ANALYSIS_DAY_INDEX } from './ai-analyzer-base';
import { AiAnalyzerAttributes, AiAnalyzerProps, AnomalyThreshold, IAiAnalyzer } from './ai-analyzer-props';
import { BedrockModel } from './bedrock-model';
import { ImportedAiAnalyzer } from './imported-ai-analyzer';
import { validateKeyPrefixes } from './key-prefixes';
import { alarmOnAnything, notifyAlarmTopic } from '../common/alarms';
import { protectWithBackupPlan } from '../common/backups';
import { INGESTION_EVENT_SOURCE, INGESTION_SUCCEEDED, ANALYSIS_COMPLETE, ANALYSIS_EVENT_SOURCE, ANALYSIS_FAILED } from '../common/contracts';
import { createPipelineFunction } from '../common/lambda-tuning';
import { allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { PipelineAwsService } from '../common/vpc-endpoints';

const DEFAULT_TIMEOUT = Duration.minutes(5);
/** Lambda's limit on all environment variables together is 4 KB: the thresholds get at most this. */
const MAX_THRESHOLDS_JSON = 2048;
const NOVA_LITE_PRICING = { input: 0.06, output: 0.24 };

/** Ranges for common cases. */
export class AnomalyThresholds {
  /**
   * Adult resting vital signs for the `health_reading` attributes: heart rate 40-180 bpm, SpO2 at
   * least 92 %, systolic 90-180 and diastolic 50-120 mmHg, temperature 35-38.5 °C. A starting
   * point for a clinical team to adjust, not clinical advice.
   *
   * @param sourceName limit them to this source (default: every source with these attributes)
   */
  public static vitalSigns(sourceName?: string): AnomalyThreshold[] {
    return [
      { field: 'heart_rate', min: 40, max: 180, label: 'Heart rate (bpm)', sourceName },
      { field: 'spo2', min: 92, label: 'SpO2 (%)', sourceName },
      { field: 'systolic_bp', min: 90, max: 180, label: 'Systolic blood pressure (mmHg)', sourceName },
      { field: 'diastolic_bp', min: 50, max: 120, label: 'Diastolic blood pressure (mmHg)', sourceName },
      { field: 'temperature_c', min: 35, max: 38.5, label: 'Temperature (°C)', sourceName },
    ];
  }

  private constructor() {}
}

/**
 * Analyzes freshly ingested data: an EventBridge rule on the pipeline's bus sends each
 * `Ingestion Succeeded` event (of the chosen sources) to a queue; the analyzer function streams
 * the run's processed records from S3, flags anomalies (thresholds, z-score, IQR), asks a Bedrock
 * model for insights on a bounded, pseudonymized summary, stores the analysis in DynamoDB and S3,
 * and sends `Analysis Complete` (or `Analysis Failed`) to the bus. Idempotent per run; also
 * invocable on demand (see docs/ai-and-reports.md).
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the analyzer function (default
 * 1024 MiB, 5 minutes, logs kept three months); `removalPolicy` covers the analysis table and the
 * function's log group; `logEncryptionKey` the function's log group; `createVpcEndpoints` applies
 * with `vpc`. Alarms: dead-letter queue not empty, failed analyses.
 */
export class AiAnalyzer extends AiAnalyzerBase {
  /** EventBridge `source` of the analyzer's events. */
  public static readonly EVENT_SOURCE: string = ANALYSIS_EVENT_SOURCE;

  /** `detail-type` of the event sent when an analysis was stored (schema: docs/ai-and-reports.md). */
  public static readonly COMPLETE_DETAIL_TYPE: string = ANALYSIS_COMPLETE;

  /** `detail-type` of the event sent when an analysis could not be made. */
  public static readonly FAILED_DETAIL_TYPE: string = ANALYSIS_FAILED;

  /** Name of the analysis table's index by day (partition `day`, sort `sk`). */
  public static readonly DAY_INDEX_NAME: string = ANALYSIS_DAY_INDEX;

  /**
   * Imports an AI analyzer defined elsewhere (e.g. in another stack or app) to monitor it
   * (`PipelineMonitoring`), grant access to its analyses, or send its reports (`ReportNotifier`).
   */
  public static fromAiAnalyzerAttributes(scope: Construct, id: string, attrs: AiAnalyzerAttributes): IAiAnalyzer {
    return new ImportedAiAnalyzer(scope, id, attrs);
  }

  /** The table of analysis summaries: partition `sourceName`, sort `sk` (`<requestedAt>#<analysisId>`). */
  public readonly analysisTable: dynamodb.ITable;

  /** Powertools idempotency records (a redelivered event is not analyzed twice). */
  public readonly idempotencyTable: dynamodb.ITable;

  /** The selection that adds the analysis table to `backupPlan` (none without one). */
  public readonly backupSelection?: backup.BackupSelection;

  /** The bucket of the analysis documents. */
  public readonly analysisBucket: s3.IBucket;

  /** Key prefix of the analysis documents. */
  public readonly analysisPrefix: string;

  /** The pipeline's data bucket. */
  public readonly dataBucket: s3.IBucket;

  /** Key prefix of the processed records. */
  public readonly processedPrefix: string;

  /** Key prefix of the ingestion manifests. */
  public readonly manifestPrefix: string;

  /** The bus the analyzer listens to and publishes on. */
  public readonly eventBus: events.IEventBus;

  /** The analyzer function (invoke it directly for an on-demand analysis). */
  public readonly analyzerFunction: lambda.IFunction;

  /** The queue of `Ingestion Succeeded` events. */
  public readonly queue: sqs.IQueue;

  /** Events that could not be analyzed after `maxReceiveCount` deliveries, or not delivered to the queue. */
  public readonly deadLetterQueue: sqs.IQueue;

  /** The rule that sends `Ingestion Succeeded` events to the queue. */
  public readonly rule: events.Rule;

  /** The pseudonymization key, when pseudonymization is on. */
  public readonly pseudonymizationKey?: secretsmanager.ISecret;

  /** Model id or inference profile id the function calls (a token for the default model in an environment-agnostic stack). */
  public readonly modelId: string;

  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  public readonly serviceName: string;

  /** Alarm: the dead-letter queue holds messages. */
  public readonly deadLetterQueueAlarm: cloudwatch.Alarm;

  /** Alarm: analyses failed, or the function failed. */
  public readonly errorsAlarm: cloudwatch.Alarm;

  /** The analyzer's alarms: dead-letter queue, failed analyses (a new array on each read). */
  public get alarms(): cloudwatch.IAlarm[] {
    return [this.deadLetterQueueAlarm, this.errorsAlarm];
  }

  constructor(scope: Construct, id: string, props: AiAnalyzerProps) {
    super(scope, id);
    validateProps(props);

    this.eventBus = props.eventBus;
    this.dataBucket = props.dataBucket;
    this.processedPrefix = props.processedPrefix ?? 'processed/';
    this.manifestPrefix = props.manifestPrefix ?? 'manifests/';
    this.analysisBucket = props.analysisBucket ?? props.dataBucket;
    this.analysisPrefix = props.analysisPrefix ?? 'analyses/';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // ----- storage -----
    const analysisTable = new dynamodb.Table(this, 'AnalysisTable', {
      partitionKey: { name: 'sourceName', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expiresAt',
      removalPolicy,
    });
    analysisTable.addGlobalSecondaryIndex({
      indexName: AiAnalyzer.DAY_INDEX_NAME,
      partitionKey: { name: 'day', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.analysisTable = analysisTable;
    this.idempotencyTable = new dynamodb.Table(this, 'IdempotencyTable', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expiration',
      // Only in-flight and recent idempotency records: nothing to keep.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeNagFinding(this.idempotencyTable, 'HIPAA.Security-DynamoDBInBackupPlan',
      'Only in-flight and recent idempotency records, expired by TTL: nothing to restore; point-in-time recovery is on');
    this.backupSelection = protectWithBackupPlan(this, props.backupPlan,
      [{ construct: analysisTable, backupResource: backup.BackupResource.fromDynamoDbTable(analysisTable), nagRule: 'HIPAA.Security-DynamoDBInBackupPlan' }],
      'No backupPlan was given: point-in-time recovery (35 days) protects the analysis table; pass backupPlan to add it to an AWS Backup plan');

    const pseudonymize = props.pseudonymizePersonalData ?? true;
    if (pseudonymize) {
      this.pseudonymizationKey = props.pseudonymizationKey ?? this.createPseudonymizationKey(props.encryptionKey);
    }

    // ----- model -----
    const model = (props.model ?? BedrockModel.novaLite())._bind(this);
    this.modelId = model.modelId;
    if (!model.isDefault && !props.modelPricing) {
      Annotations.of(this).addWarningV2('cdk-serverless-data-pipeline:modelPricing',
        `model ${props.model?.description} is not the default: set modelPricing, or the estimated costs use Amazon Nova Lite's prices`);
    }
    const pricing = props.modelPricing
      ? { input: props.modelPricing.inputPerMillionTokensUsd, output: props.modelPricing.outputPerMillionTokensUsd }
      : NOVA_LITE_PRICING;

    // ----- queue and rule -----
    const maxReceiveCount = props.maxReceiveCount ?? 3;
    const timeout = props.lambdaTuning?.timeout ?? DEFAULT_TIMEOUT;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      visibilityTimeout: Duration.seconds(Math.min(12 * 3600, timeout.toSeconds() * 6)),
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
    this.rule = new events.Rule(this, 'IngestionSucceededRule', {
      eventBus: this.eventBus,
      description: 'Ingestion Succeeded events to the AI analyzer queue',
      eventPattern: {
        source: [INGESTION_EVENT_SOURCE],
        detailType: [INGESTION_SUCCEEDED],
        ...(props.sources && props.sources.length > 0 ? { detail: { sourceName: props.sources } } : {}),
      },
    });
    this.rule.addTarget(new targets.SqsQueue(this.queue, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 8,
      maxEventAge: Duration.hours(24),
    }));

    // ----- function -----
    const ttlDays = props.analysisRetention ? Math.max(1, Math.round(props.analysisRetention.toDays({ integral: false }))) : undefined;
    this.serviceName = `ai-analyzer-${Names.uniqueResourceName(this, { maxLength: 40 })}`;
    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    const built = createPipelineFunction(this, 'Function', {
      assetName: 'ai-analyzer',
      description: 'AiAnalyzer: anomalies and Bedrock insights on freshly ingested data',
      serviceName: this.serviceName,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      defaults: { memorySize: 1024, timeout: DEFAULT_TIMEOUT },
      tuning: props.lambdaTuning,
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      environment: {
        DATA_BUCKET: this.dataBucket.bucketName,
        PROCESSED_PREFIX: this.processedPrefix,
        MANIFEST_PREFIX: this.manifestPrefix,
        ANALYSIS_BUCKET: this.analysisBucket.bucketName,
        ANALYSIS_PREFIX: this.analysisPrefix,
        ANALYSIS_TABLE_NAME: this.analysisTable.tableName,
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName,
        ...(ttlDays ? { ANALYSIS_TTL_DAYS: String(ttlDays) } : {}),
        EVENT_BUS_NAME: this.eventBus.eventBusName,
        MODEL_ID: this.modelId,
        THRESHOLDS: JSON.stringify(props.thresholds ?? []),
        FIELDS: JSON.stringify(props.fields ?? []),
        Z_SCORE_THRESHOLD: String(props.zScoreThreshold ?? 3),
        IQR_MULTIPLIER: String(props.iqrMultiplier ?? 1.5),
        MIN_SAMPLE_SIZE: String(props.minSampleSize ?? 10),
        STATISTICAL_OUTLIERS: String(props.statisticalOutliers ?? true),
        PSEUDONYMIZE: String(pseudonymize),
        ...(this.pseudonymizationKey ? { PSEUDONYM_SECRET_ARN: this.pseudonymizationKey.secretArn } : {}),
        PERSONAL_DATA_FIELDS: JSON.stringify(props.personalDataFields ?? []),
        MAX_ANOMALIES_IN_PROMPT: String(props.maxAnomaliesInPrompt ?? 40),
        MAX_PROMPT_CHARACTERS: String(props.maxPromptCharacters ?? 24_000),
        MAX_OUTPUT_TOKENS: String(props.maxOutputTokens ?? 1500),
        TEMPERATURE: String(props.temperature ?? 0.2),
        PRICE_INPUT_PER_MILLION_TOKENS: String(pricing.input),
        PRICE_OUTPUT_PER_MILLION_TOKENS: String(pricing.output),
        MAX_RECEIVE_COUNT: String(maxReceiveCount),
        BEDROCK_MAX_ATTEMPTS: '6',
      },
      callsServices: [
        PipelineAwsService.S3, PipelineAwsService.DYNAMODB, PipelineAwsService.BEDROCK_RUNTIME, PipelineAwsService.EVENTBRIDGE,
        ...(pseudonymize ? [PipelineAwsService.SECRETS_MANAGER] : []),
      ],
      createVpcEndpoints: props.createVpcEndpoints,
      logRemovalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      invokedSynchronouslyBy: 'the SQS event source mapping of its queue (failed events go to the queue\'s dead-letter queue)',
    });
    this.analyzerFunction = built.fn;
    this.analyzerFunction.addEventSource(new SqsEventSource(this.queue, {
      batchSize: 1,
      maxConcurrency: props.maxConcurrency ?? 2,
      reportBatchItemFailures: true,
    }));
    this.grantFunctionAccess(model.statements);

    // ----- alarms -----
    this.deadLetterQueueAlarm = alarmOnAnything(this, 'DeadLetterQueueAlarm', 'Ingestion events the AI analyzer could not analyze are in its dead-letter queue (see docs/ai-and-reports.md)', this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }));
    this.errorsAlarm = alarmOnAnything(this, 'ErrorsAlarm', 'AI analyses failed (Analysis Failed events), or the analyzer function failed', new cloudwatch.MathExpression({
      expression: 'errors + failed',
      usingMetrics: {
        errors: this.analyzerFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        failed: this.metricAnalysesFailed({ period: Duration.minutes(5) }),
      },
      period: Duration.minutes(5),
    }));
    for (const alarm of [this.deadLetterQueueAlarm, this.errorsAlarm]) notifyAlarmTopic(alarm, props.alarmTopic);
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  /**
   * A rule on the bus for `Analysis Complete` events.
   */
  public onAnalysisComplete(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.ruleFor(id, AiAnalyzer.COMPLETE_DETAIL_TYPE, options);
  }

  /**
   * A rule on the bus for `Analysis Failed` events.
   */
  public onAnalysisFailed(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.ruleFor(id, AiAnalyzer.FAILED_DETAIL_TYPE, options);
  }

  private ruleFor(id: string, detailType: string, options: events.OnEventOptions): events.Rule {
    const rule = new events.Rule(this, id, {
      eventBus: this.eventBus,
      description: options.description,
      ruleName: options.ruleName,
      eventPattern: { ...options.eventPattern, source: [AiAnalyzer.EVENT_SOURCE], detailType: [detailType] },
    });
    if (options.target) rule.addTarget(options.target);
    return rule;
  }

  private createPseudonymizationKey(encryptionKey?: kms.IKey): secretsmanager.ISecret {
    const secret = new secretsmanager.Secret(this, 'PseudonymizationKey', {
      encryptionKey,
      description: 'HMAC key that pseudonymizes personal data before it is sent to the model (changing it changes every pseudonym)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      // Losing it would make later pseudonyms unlinkable to earlier ones.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const noRotation = 'A pseudonymization key, not a credential: rotating it would change every pseudonym and break the linking of analyses over time';
    acknowledgeNagFinding(secret, 'AwsSolutions-SMG4', noRotation);
    acknowledgeNagFinding(secret, 'HIPAA.Security-SecretsManagerRotationEnabled', noRotation);
    if (!encryptionKey) {
      acknowledgeNagFinding(secret, 'HIPAA.Security-SecretsManagerUsingKMSKey',
        'Secrets Manager encrypts the key with its AWS managed key by default; pass encryptionKey for a customer-managed KMS key');
    }
    return secret;
  }

  /** Least privilege: read processed/ and manifests/, write the analyses prefix, the two tables, the model, the bus, the key. */
  private grantFunctionAccess(modelStatements: iam.PolicyStatement[]): void {
    const fn = this.analyzerFunction;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadProcessedAndManifests',
      actions: ['s3:GetObject'],
      resources: [this.dataBucket.arnForObjects(`${this.processedPrefix}*`), this.dataBucket.arnForObjects(`${this.manifestPrefix}*`)],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'WriteAnalyses',
      actions: ['s3:PutObject'],
      resources: [this.analysisBucket.arnForObjects(`${this.analysisPrefix}*`)],
    }));
    this.dataBucket.encryptionKey?.grant(fn, 'kms:Decrypt');
    this.analysisBucket.encryptionKey?.grant(fn, 'kms:GenerateDataKey', 'kms:Decrypt');
    // The tables themselves (Table.grant would add their indexes too).
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'AnalysisItems', actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [this.analysisTable.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'IdempotencyRecords',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resources: [this.idempotencyTable.tableArn],
    }));
    for (const statement of modelStatements) fn.addToRolePolicy(statement);
    this.eventBus.grantPutEventsTo(fn);
    this.pseudonymizationKey?.grantRead(fn);

    const policy = defaultPolicyOf(fn.role!);
    const prefixes = [this.processedPrefix, this.manifestPrefix, this.analysisPrefix];
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object access is scoped to the processed/ and manifests/ prefixes (read) and the analyses prefix (write) of the pipeline\'s buckets',
      prefixes.map((p) => ({ regex: `/^Resource::(<[A-Za-z0-9]+\\.Arn>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)/${escapeRegex(p)}\\*$/` })));
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function validateProps(props: AiAnalyzerProps): void {
  if (!props.eventBus) throw new Error('eventBus is required: the analyzer listens for Ingestion Succeeded events on it');
  if (!props.dataBucket) throw new Error('dataBucket is required: the processed records are read from it');
  const int = (name: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined || Token.isUnresolved(value)) return;
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  };
  const num = (name: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined || Token.isUnresolved(value)) return;
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name} must be between ${min} and ${max}, got ${value}`);
  };
  int('maxConcurrency', props.maxConcurrency, 2, 1000);
  int('maxReceiveCount', props.maxReceiveCount, 1, 100);
  int('minSampleSize', props.minSampleSize, 2, 1_000_000);
  int('maxAnomaliesInPrompt', props.maxAnomaliesInPrompt, 0, 500);
  int('maxPromptCharacters', props.maxPromptCharacters, 1000, 500_000);
  int('maxOutputTokens', props.maxOutputTokens, 100, 10_000);
  num('zScoreThreshold', props.zScoreThreshold, 0.5, 100);
  num('iqrMultiplier', props.iqrMultiplier, 0.1, 100);
  num('temperature', props.temperature, 0, 1);
  if (props.modelPricing) {
    num('modelPricing.inputPerMillionTokensUsd', props.modelPricing.inputPerMillionTokensUsd, 0, 10_000);
    num('modelPricing.outputPerMillionTokensUsd', props.modelPricing.outputPerMillionTokensUsd, 0, 10_000);
  }
  validateKeyPrefixes({ processedPrefix: props.processedPrefix, manifestPrefix: props.manifestPrefix, analysisPrefix: props.analysisPrefix });
  if (props.encryptionKey && props.pseudonymizationKey) {
    throw new Error('encryptionKey applies to the pseudonymization secret the construct creates; do not set it with pseudonymizationKey');
  }
  if (props.pseudonymizationKey && props.pseudonymizePersonalData === false) {
    throw new Error('pseudonymizationKey is set but pseudonymizePersonalData is false: remove one of them');
  }
  const seen = new Set<string>();
  (props.thresholds ?? []).forEach((t, i) => {
    const where = `thresholds[${i}]`;
    if (!t.field || !/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(t.field)) throw new Error(`${where}.field must be an attribute name, got "${t.field}"`);
    if (t.min === undefined && t.max === undefined) throw new Error(`${where} (${t.field}) needs min, max or both`);
    for (const bound of [t.min, t.max]) {
      if (bound !== undefined && !Number.isFinite(bound)) throw new Error(`${where} (${t.field}): min and max must be finite numbers`);
    }
    if (t.min !== undefined && t.max !== undefined && t.min > t.max) throw new Error(`${where} (${t.field}): min ${t.min} is greater than max ${t.max}`);
    const key = `${t.sourceName ?? '*'}/${t.field}`;
    if (seen.has(key)) throw new Error(`${where}: a second threshold for ${t.field}${t.sourceName ? ` of ${t.sourceName}` : ''}`);
    seen.add(key);
  });
  const size = JSON.stringify(props.thresholds ?? []).length;
  if (size > MAX_THRESHOLDS_JSON) {
    throw new Error(`thresholds take ${size} characters as JSON; at most ${MAX_THRESHOLDS_JSON} fit in the function's environment (shorten the labels)`);
  }
}
