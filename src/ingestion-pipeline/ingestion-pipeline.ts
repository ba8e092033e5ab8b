import { CfnResource, Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, IConstruct } from 'constructs';
import { claimBucketSources } from './bucket-sources';
import { IdNormalizationParameters } from './id-normalization-parameters';
import { ImportedIngestionPipeline } from './imported-ingestion-pipeline';
import { IngestionPipelineBase } from './ingestion-pipeline-base';
import { IIngestionPipeline, IngestionPipelineAttributes, IngestionPipelineProps } from './ingestion-pipeline-props';
import { OUTPUT_PREFIXES, renderSourcesConfig, STAGING_PREFIX, validateSources } from './source-config';
import { SOURCES_FILE_NAME } from './sources-file';
import { CanonicalStore } from '../canonical-store/canonical-store';
import { AccessLevel } from '../canonical-store/canonical-store-props';
import { deliverAccessLogsThroughBucketPolicy } from '../common/access-logs';
import { alarmOnAnything, notifyAlarmTopic } from '../common/alarms';
import { assetWithConfig } from '../common/assets';
import { INGESTION_EVENT_SOURCE, INGESTION_FAILED, INGESTION_SUCCEEDED } from '../common/contracts';
import { createPipelineFunction } from '../common/lambda-tuning';
import { allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { PipelineAwsService } from '../common/vpc-endpoints';

const DEFAULT_TIMEOUT = Duration.minutes(15);

/**
 * Files uploaded under the sources' prefixes of a raw-data bucket are streamed, validated,
 * mapped and upserted into the canonical store (or only split into processed and rejected
 * output), exactly once per object version, with a manifest per file and an EventBridge event.
 *
 * S3 event notifications → SQS queue (dead-letter queue after `maxReceiveCount` attempts) →
 * processor Lambda in the store's VPC, with partial batch responses and a concurrency cap.
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the processor (default 1769 MiB,
 * one full vCPU since the processor is CPU-bound, and 15 minutes); `removalPolicy` covers the
 * buckets the pipeline creates (`DESTROY` empties them) and the processor's log group;
 * `logEncryptionKey` the processor's log group; VPC endpoints: S3 (gateway), Secrets Manager,
 * EventBridge. Alarms: dead-letter queue not empty, processor errors and files set aside, typed storage refresh failures.
 */
export class IngestionPipeline extends IngestionPipelineBase {
  /** EventBridge `source` of the pipeline's events. */
  public static readonly EVENT_SOURCE: string = INGESTION_EVENT_SOURCE;

  /** `detail-type` of the event sent when a file was processed (schema: docs/ingestion.md). */
  public static readonly SUCCEEDED_DETAIL_TYPE: string = INGESTION_SUCCEEDED;

  /** `detail-type` of the event sent when a file was set aside or its last attempt failed. */
  public static readonly FAILED_DETAIL_TYPE: string = INGESTION_FAILED;

  /**
   * Imports an ingestion pipeline defined elsewhere (e.g. in another stack or app) to monitor it
   * (`PipelineMonitoring`) or grant access to its bucket.
   */
  public static fromIngestionPipelineAttributes(scope: Construct, id: string, attrs: IngestionPipelineAttributes): IIngestionPipeline {
    return new ImportedIngestionPipeline(scope, id, attrs);
  }

  /** The raw-data bucket (also holds processed/, rejected/ and manifests/). */
  public readonly bucket: s3.IBucket;

  /** The bus the pipeline publishes its events to. */
  public readonly eventBus: events.IEventBus;

  /** The queue of S3 event notifications. */
  public readonly queue: sqs.IQueue;

  /** Messages that failed `maxReceiveCount` times (redrive: see docs/ingestion.md). */
  public readonly deadLetterQueue: sqs.IQueue;

  /** The processor function. */
  public readonly processor: lambda.IFunction;

  /** Alarm: the dead-letter queue holds messages. */
  public readonly deadLetterQueueAlarm: cloudwatch.Alarm;

  /** Alarm: the processor failed (invocation errors or files set aside). */
  public readonly errorsAlarm: cloudwatch.Alarm;

  /** Alarm: the store's typed storage could not be refreshed after a run (analytics answers are stale until it is). */
  public readonly typedStorageRefreshAlarm: cloudwatch.Alarm;

  /**
   * The rule that refreshes the store's typed storage after each run that loaded it: the processor
   * again, invoked asynchronously with the `Ingestion Succeeded` event (Lambda retries a failed
   * refresh twice; the next run's refresh derives whatever is still queued).
   */
  public readonly typedStorageRefreshRule: events.Rule;

  /** `POWERTOOLS_SERVICE_NAME` of the processor: the `service` dimension of its metrics. */
  public readonly serviceName: string;

  /**
   * One SSM parameter (String) per source system and entity type of the sources: the id
   * normalization that keyed the stored entities, `no-stored-runs` until a run commits. The
   * processor writes it; synth reads it (`idNormalizationSynthCheck`). Named
   * `/cdk-serverless-data-pipeline/<stack name>/<construct path>/id-normalization/<source system>/<entity type>`.
   */
  public readonly idNormalizationParameters: ssm.IStringParameter[];

  private readonly prefixes: string[];

  constructor(scope: Construct, id: string, props: IngestionPipelineProps) {
    super(scope, id);
    deliverAccessLogsThroughBucketPolicy(this);
    validateProps(props);
    const idParameters = new IdNormalizationParameters(this, 'IdNormalization', props.sources);
    if (props.idNormalizationSynthCheck !== false) idParameters.checkAtSynth('sources');
    this.idNormalizationParameters = [...idParameters.parameters];

    this.bucket = props.bucket ?? this.createBucket(props);
    claimBucketSources(this, this.bucket, props.sources);
    this.prefixes = props.sources.map((s) => s.prefix);
    this.eventBus = props.eventBus ?? new events.EventBus(this, 'EventBus');

    const maxReceiveCount = props.maxReceiveCount ?? 3;
    const timeout = props.lambdaTuning?.timeout ?? DEFAULT_TIMEOUT;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      // AWS's guidance for Lambda event sources: at least six times the function timeout.
      visibilityTimeout: Duration.seconds(Math.min(12 * 3600, timeout.toSeconds() * 6)),
      retentionPeriod: Duration.days(14),
      // SSE-SQS: S3 can send notifications to it without access to a KMS key.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    this.serviceName = `ingestion-${Names.uniqueResourceName(this, { maxLength: 48 })}`;
    const store = props.store;
    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    const built = createPipelineFunction(this, 'Processor', {
      assetName: 'ingestion-pipeline',
      code: assetWithConfig('ingestion-pipeline', SOURCES_FILE_NAME, renderSourcesConfig(props.sources, (s) => idParameters.nameFor(s))),
      description: 'IngestionPipeline processor: S3 files to the canonical store, exactly once',
      serviceName: this.serviceName,
      vpc: store.vpc,
      vpcSubnets: store.vpcSubnets,
      // 1769 MiB is one full vCPU: parsing, validating and hashing records is CPU-bound.
      defaults: { memorySize: 1769, timeout: DEFAULT_TIMEOUT },
      tuning: props.lambdaTuning,
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      logRemovalPolicy: props.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      environment: {
        ...store.connectionEnvironment(AccessLevel.WRITER),
        EVENT_BUS_NAME: this.eventBus.eventBusName,
        MAX_RECEIVE_COUNT: String(maxReceiveCount),
        // A failed attempt changes its message's visibility so it comes back after a short, growing delay.
        QUEUE_URL: this.queue.queueUrl,
        OUTPUT_COMPRESSION: props.compressOutputs ? 'gzip' : 'none',
      },
      callsServices: [
        PipelineAwsService.S3, PipelineAwsService.SECRETS_MANAGER, PipelineAwsService.EVENTBRIDGE, PipelineAwsService.SQS, PipelineAwsService.SSM,
      ],
      createVpcEndpoints: props.createVpcEndpoints,
      invokedSynchronouslyBy: 'the SQS event source mapping (failed files return to the queue, then its dead-letter queue)',
    });
    this.processor = built.fn;
    store.grantConnect(this.processor, AccessLevel.WRITER);
    if (store instanceof CanonicalStore) {
      // The function resource only (not its security group, which the store's ingress rule references).
      (this.processor.node.defaultChild as CfnResource).node.addDependency(store.migrations);
    }

    this.grantProcessorAccess(props);
    // Reads (once per cold start) and writes the stored id normalization of its identity spaces only.
    this.processor.addToRolePolicy(new iam.PolicyStatement({
      sid: 'PublishIdNormalization',
      actions: ['ssm:GetParameter', 'ssm:PutParameter'],
      resources: idParameters.parameters.map((p) => p.parameterArn),
    }));
    this.eventBus.grantPutEventsTo(this.processor);
    // The event source grants the queue's consume actions, sqs:ChangeMessageVisibility among them (the retry back-off).
    this.processor.addEventSource(new SqsEventSource(this.queue, {
      batchSize: props.batchSize ?? 1,
      maxConcurrency: props.maxConcurrency ?? 2,
      reportBatchItemFailures: true,
    }));
    for (const source of props.sources) {
      this.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(this.queue), { prefix: source.prefix });
    }
    this.acknowledgeNotificationsHandler();

    this.deadLetterQueueAlarm = alarmOnAnything(this, 'DeadLetterQueueAlarm', 'Ingestion messages reached the dead-letter queue: see the redrive procedure in docs/ingestion.md', this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }));
    this.errorsAlarm = alarmOnAnything(this, 'ErrorsAlarm', 'The ingestion processor failed, or set files aside (see the Ingestion Failed events and manifests)', new cloudwatch.MathExpression({
      expression: 'errors + fileFailures',
      usingMetrics: {
        errors: this.processor.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        fileFailures: this.metricFileFailures({ period: Duration.minutes(5) }),
      },
      period: Duration.minutes(5),
    }));
    this.typedStorageRefreshAlarm = alarmOnAnything(this, 'TypedStorageRefreshAlarm', 'The typed storage of the canonical store could not be refreshed after an ingestion run: analytics answers say stale: true until a later refresh succeeds (see docs/analytics-api.md, Freshness)', this.metricTypedStorageRefreshFailures({ period: Duration.minutes(5) }));
    for (const alarm of [this.deadLetterQueueAlarm, this.errorsAlarm, this.typedStorageRefreshAlarm]) notifyAlarmTopic(alarm, props.alarmTopic);
    this.typedStorageRefreshRule = this.onIngestionSucceeded('TypedStorageRefreshRule', undefined, {
      description: 'Refreshes the canonical store\'s typed storage after each ingestion run that loaded it',
      eventPattern: { detail: { loadToStore: [true] } },
      target: new targets.LambdaFunction(this.processor, { retryAttempts: 4, maxEventAge: Duration.hours(1) }),
    });
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  /** The pipeline's alarms: dead-letter queue, processor errors, typed storage refresh (a new array on each read). */
  public get alarms(): cloudwatch.IAlarm[] {
    return [this.deadLetterQueueAlarm, this.errorsAlarm, this.typedStorageRefreshAlarm];
  }

  /**
   * A rule on the pipeline's bus for `Ingestion Succeeded` events, optionally of some sources only.
   *
   * @param sourceNames names of the sources to match (default: all)
   */
  public onIngestionSucceeded(id: string, sourceNames?: string[], options: events.OnEventOptions = {}): events.Rule {
    return this.ruleFor(id, IngestionPipeline.SUCCEEDED_DETAIL_TYPE, sourceNames, options);
  }

  /** A rule on the pipeline's bus for `Ingestion Failed` events, optionally of some sources only. */
  public onIngestionFailed(id: string, sourceNames?: string[], options: events.OnEventOptions = {}): events.Rule {
    return this.ruleFor(id, IngestionPipeline.FAILED_DETAIL_TYPE, sourceNames, options);
  }

  private ruleFor(id: string, detailType: string, sourceNames: string[] | undefined, options: events.OnEventOptions): events.Rule {
    const rule = new events.Rule(this, id, {
      eventBus: this.eventBus,
      description: options.description,
      ruleName: options.ruleName,
      eventPattern: {
        ...options.eventPattern,
        source: [IngestionPipeline.EVENT_SOURCE],
        detailType: [detailType],
        ...(sourceNames && sourceNames.length > 0 ? { detail: { ...options.eventPattern?.detail, sourceName: sourceNames } } : {}),
      },
    });
    if (options.target) rule.addTarget(options.target);
    return rule;
  }

  protected sourcePrefixes(): string[] {
    return [...this.prefixes];
  }

  private createBucket(props: IngestionPipelineProps): s3.Bucket {
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    let logs = props.serverAccessLogsBucket;
    if (!logs) {
      const logBucket = new s3.Bucket(this, 'AccessLogsBucket', {
        // S3 delivers server access logs only to SSE-S3 buckets.
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removalPolicy,
        autoDeleteObjects: destroy,
        lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(7) }],
      });
      acknowledgeNagFinding(logBucket, 'HIPAA.Security-S3DefaultEncryptionKMS',
        'S3 delivers server access logs only to buckets encrypted with S3-managed keys (SSE-S3), not SSE-KMS');
      acknowledgeNagFinding(logBucket, 'HIPAA.Security-S3BucketReplicationEnabled',
        'Server access logs of the raw-data bucket: kept in one region with it');
      logs = logBucket;
    }
    const bucket = new s3.Bucket(this, 'Bucket', {
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'raw-data/',
      removalPolicy,
      autoDeleteObjects: destroy,
      lifecycleRules: [
        // Multipart outputs of an attempt that crashed before completing them.
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        {
          id: 'processed',
          prefix: 'processed/',
          transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }],
          expiration: props.processedRetention,
          noncurrentVersionExpiration: Duration.days(30),
        },
        {
          // Outputs of runs that crashed between their commit and the promotion are promoted by the
          // redelivery within minutes (or a DLQ redrive within its 14 days); anything older is debris.
          id: 'staging',
          prefix: STAGING_PREFIX,
          expiration: Duration.days(30),
          noncurrentVersionExpiration: Duration.days(1),
        },
        {
          id: 'rejected',
          prefix: 'rejected/',
          expiration: props.rejectedRetention ?? Duration.days(365),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
    });
    acknowledgeNagFinding(bucket, 'HIPAA.Security-S3BucketReplicationEnabled',
      'Cross-region replication is the operator\'s choice (data residency, cost): the bucket is versioned, and every file\'s outcome is recorded in PostgreSQL and in the manifests');
    if (!props.encryptionKey) {
      acknowledgeNagFinding(bucket, 'HIPAA.Security-S3DefaultEncryptionKMS',
        'Encrypted with SSE-S3 by default; pass encryptionKey for SSE-KMS with a customer-managed key');
    }
    return bucket;
  }

  /** Least privilege: read the sources' raw prefixes only; write processed/, rejected/, manifests/, staging/ only; delete staging/ only. */
  private grantProcessorAccess(props: IngestionPipelineProps): void {
    const fn = this.processor;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadRawFiles',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: props.sources.map((s) => this.bucket.arnForObjects(`${s.prefix}*`)),
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'WriteOutputs',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: OUTPUT_PREFIXES.map((p) => this.bucket.arnForObjects(`${p}*`)),
    }));
    // Outputs are staged until their run commits, then copied to their keys and the staged copy deleted.
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'PromoteStagedOutputs',
      actions: ['s3:GetObject', 's3:DeleteObject'],
      resources: [this.bucket.arnForObjects(`${STAGING_PREFIX}*`)],
    }));
    // A staged object already promoted must answer 404, not 403.
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ListStagedOutputs',
      actions: ['s3:ListBucket'],
      resources: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${STAGING_PREFIX}*`] } },
    }));
    const policy = defaultPolicyOf(fn.role!);
    if (this.bucket.encryptionKey) {
      this.bucket.encryptionKey.grantEncryptDecrypt(fn);
      acknowledgeNagFinding(policy, 'AwsSolutions-IAM5', 'kms:GenerateDataKey* and kms:ReEncrypt* on the bucket\'s key only (Key.grantEncryptDecrypt)',
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*']);
    }
    const prefixes = [...props.sources.map((s) => s.prefix), ...OUTPUT_PREFIXES];
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object-level access is scoped to the sources\' raw prefixes (read), the processed/, rejected/, manifests/ prefixes (write) '
      + 'and staging/ (write, read and delete of outputs awaiting their run\'s commit)',
      prefixes.map((p) => ({ regex: `/^Resource::<.*Bucket[A-Za-z0-9]*\\.Arn>/${escapeRegex(p)}\\*$/` })));
  }

  /** CDK's singleton BucketNotificationsHandler function: its findings, acknowledged where it lives. */
  private acknowledgeNotificationsHandler(): void {
    // The policy CDK attaches to the handler's role for this bucket.
    const handlerPolicy = this.bucket.node.tryFindChild('Notifications')?.node.tryFindChild('HandlerPolicy');
    if (handlerPolicy) {
      acknowledgeNagFinding(handlerPolicy, 'HIPAA.Security-IAMNoInlinePolicy',
        'CDK\'s BucketNotificationsHandler: the policy CDK attaches for this bucket only allows s3:PutBucketNotification and s3:GetBucketNotification on it');
    }
    for (const child of Stack.of(this).node.children) {
      if (!child.node.id.startsWith('BucketNotificationsHandler')) continue;
      const role = child.node.tryFindChild('Role') as IConstruct | undefined;
      if (role) {
        acknowledgeOnce(role, 'AwsSolutions-IAM4', 'CDK\'s BucketNotificationsHandler (custom resource that configures S3 notifications) uses AWSLambdaBasicExecutionRole',
          ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']);
        const policy = role.node.tryFindChild('DefaultPolicy');
        if (policy) {
          acknowledgeOnce(policy, 'AwsSolutions-IAM5', 'CDK\'s BucketNotificationsHandler needs s3:PutBucketNotification on the buckets it configures (CDK adds Resource::*)',
            ['Resource::*']);
          acknowledgeOnce(policy, 'HIPAA.Security-IAMNoInlinePolicy',
            'CDK\'s BucketNotificationsHandler: its generated policy only allows s3:PutBucketNotification');
        }
      }
    }
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function acknowledgeOnce(resource: IConstruct, id: string, reason: string, appliesTo?: string[]): void {
  const cfn = resource.node.defaultChild ?? resource;
  const existing: Array<{ id: string }> = (CfnResource.isCfnResource(cfn) ? cfn.getMetadata('cdk_nag')?.rules_to_suppress : undefined) ?? [];
  if (!existing.some((r) => r.id === id)) acknowledgeNagFinding(resource, id, reason, appliesTo);
}

function validateProps(props: IngestionPipelineProps): void {
  validateSources(props.sources, 'sources');
  if (!props.store) throw new Error('store is required: its ingestion_runs table makes every run exactly-once, and sources load into it');
  const int = (name: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined || Token.isUnresolved(value)) return;
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  };
  int('maxConcurrency', props.maxConcurrency, 2, 1000);
  int('batchSize', props.batchSize, 1, 10);
  int('maxReceiveCount', props.maxReceiveCount, 1, 100);
  if (props.bucket && (props.encryptionKey || props.serverAccessLogsBucket)) {
    throw new Error('encryptionKey and serverAccessLogsBucket apply to a bucket the pipeline creates; do not set them with bucket');
  }
}

