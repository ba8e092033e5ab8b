import { Duration } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { BedrockModel } from './bedrock-model';
import { AlarmedPipelineConstructProps } from '../common/construct-props';

/**
 * A range a numeric attribute should stay in (a clinical or business range). Values outside it
 * are flagged as anomalies (`below_min` / `above_max`). Narrower than the ingestion's physical
 * plausibility checks, which reject impossible values.
 */
export interface AnomalyThreshold {
  /** Canonical attribute, e.g. `heart_rate`. */
  readonly field: string;

  /**
   * Values below this are flagged.
   *
   * @default - no lower bound
   */
  readonly min?: number;

  /**
   * Values above this are flagged.
   *
   * @default - no upper bound
   */
  readonly max?: number;

  /**
   * Name shown in reports, e.g. `Heart rate (bpm)`.
   *
   * @default - the field name
   */
  readonly label?: string;

  /**
   * Applies to this source only.
   *
   * @default - every analyzed source that has the field
   */
  readonly sourceName?: string;
}

/** Prices of the model, to estimate the cost of each analysis. */
export interface ModelPricing {
  /** USD per million input tokens. */
  readonly inputPerMillionTokensUsd: number;

  /** USD per million output tokens. */
  readonly outputPerMillionTokensUsd: number;
}

/**
 * What the report notifier needs of an analyzer: where analyses are stored, and where the
 * ingestion manifests are. Implemented by `AiAnalyzer` (created or imported).
 */
export interface IAnalysisStore {
  /** The table of analysis summaries (partition `sourceName`, sort `sk`, index `byDay`). */
  readonly analysisTable: dynamodb.ITable;

  /** The bucket of the analysis documents. */
  readonly analysisBucket: s3.IBucket;

  /** Key prefix of the analysis documents, ending with `/`. */
  readonly analysisPrefix: string;

  /** The pipeline's data bucket (manifests, processed data). */
  readonly dataBucket: s3.IBucket;

  /** Key prefix of the ingestion manifests in the data bucket, ending with `/`. */
  readonly manifestPrefix: string;
}

/**
 * Properties of an `AiAnalyzer`.
 */
export interface AiAnalyzerProps extends AlarmedPipelineConstructProps {
  /** The pipeline's event bus: the analyzer listens for `Ingestion Succeeded` and sends its own events there. */
  readonly eventBus: events.IEventBus;

  /**
   * The pipeline's data bucket, where the ingestion writes `processed/` and `manifests/`. The
   * analyzer may read only those two prefixes.
   */
  readonly dataBucket: s3.IBucket;

  /**
   * Names of the ingestion sources to analyze (the rule matches `detail.sourceName`).
   *
   * @default - every source
   */
  readonly sources?: string[];

  /**
   * Key prefix of the processed records in the data bucket.
   *
   * @default 'processed/'
   */
  readonly processedPrefix?: string;

  /**
   * Key prefix of the ingestion manifests in the data bucket.
   *
   * @default 'manifests/'
   */
  readonly manifestPrefix?: string;

  /**
   * Bucket for the analysis documents (JSON).
   *
   * @default - the data bucket
   */
  readonly analysisBucket?: s3.IBucket;

  /**
   * Key prefix of the analysis documents: `<prefix><source>/<yyyy>/<mm>/<dd>/<analysisId>.json`.
   *
   * @default 'analyses/'
   */
  readonly analysisPrefix?: string;

  /**
   * Ranges per attribute; values outside are flagged before any statistics. See
   * `AnomalyThresholds.vitalSigns()` for clinical ranges of the health readings.
   *
   * @default - no thresholds (statistical outliers only)
   */
  readonly thresholds?: AnomalyThreshold[];

  /**
   * Attributes to analyze statistically (threshold fields are always analyzed).
   *
   * @default - every numeric attribute of the records (at most 64)
   */
  readonly fields?: string[];

  /**
   * Whether z-score and IQR outliers are flagged (per field, over the run's records).
   *
   * @default true
   */
  readonly statisticalOutliers?: boolean;

  /**
   * |value - mean| / standard deviation above which a value is a z-score outlier.
   *
   * @default 3
   */
  readonly zScoreThreshold?: number;

  /**
   * k in the IQR fences [Q1 - k·IQR, Q3 + k·IQR].
   *
   * @default 1.5
   */
  readonly iqrMultiplier?: number;

  /**
   * Values a field needs before statistical outliers are computed for it.
   *
   * @default 10
   */
  readonly minSampleSize?: number;

  /**
   * The Bedrock model, called through the Converse API.
   *
   * @default BedrockModel.novaLite() - Amazon Nova Lite through the inference profile of the stack's region
   */
  readonly model?: BedrockModel;

  /**
   * The model's prices, for the estimated cost of each analysis (a metric and a field of the analysis).
   *
   * @default - Amazon Nova Lite on-demand: 0.06 USD per million input tokens, 0.24 per million output tokens
   */
  readonly modelPricing?: ModelPricing;

  /**
   * Most tokens the model may answer with.
   *
   * @default 1500
   */
  readonly maxOutputTokens?: number;

  /**
   * Sampling temperature (0-1): low for factual, repeatable answers.
   *
   * @default 0.2
   */
  readonly temperature?: number;

  /**
   * Most anomaly examples in the prompt (the worst, spread over the fields). The prompt never
   * holds the data set: statistics, counts and this sample.
   *
   * @default 40
   */
  readonly maxAnomaliesInPrompt?: number;

  /**
   * Upper bound of the prompt's size in characters (examples are dropped to fit).
   *
   * @default 24000
   */
  readonly maxPromptCharacters?: number;

  /**
   * Whether the fields a source declares as personal data are pseudonymized (HMAC-SHA256 with a
   * key in Secrets Manager) before anything is sent to the model. Turn off only with a reason.
   *
   * @default true
   */
  readonly pseudonymizePersonalData?: boolean;

  /**
   * Attributes to treat as personal data in addition to those each ingestion event declares.
   *
   * @default - none
   */
  readonly personalDataFields?: string[];

  /**
   * The secret holding the pseudonymization key (a string of at least 16 characters). The same
   * key gives the same pseudonyms: share it between analyzers whose results should link up.
   *
   * @default - a new secret with a generated 64-character key (retained on deletion)
   */
  readonly pseudonymizationKey?: secretsmanager.ISecret;

  /**
   * Customer managed KMS key for the pseudonymization secret the construct creates (ignored with
   * `pseudonymizationKey`).
   *
   * @default - the AWS managed key of Secrets Manager (aws/secretsmanager)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long analyses stay in the table (DynamoDB TTL). The documents in S3 follow the bucket's
   * lifecycle rules. For backups, see `backupPlan`.
   *
   * @default - kept until deleted
   */
  readonly analysisRetention?: Duration;

  /**
   * An AWS Backup plan to add the analysis table to (one backup selection, whose role may back it
   * up and restore it). The plan may be in another stack. The idempotency table holds only
   * in-flight records and is never backed up.
   *
   * @default - no AWS Backup selection: the analysis table's point-in-time recovery protects it
   * (the HIPAA rule `DynamoDBInBackupPlan` is acknowledged with that reason)
   */
  readonly backupPlan?: backup.IBackupPlan;

  /**
   * Most concurrent analyses (2-1000): bounds the Bedrock request rate as well.
   *
   * @default 2
   */
  readonly maxConcurrency?: number;

  /**
   * Deliveries of an event before it goes to the dead-letter queue (an `Analysis Failed` event is
   * sent on the last).
   *
   * @default 3
   */
  readonly maxReceiveCount?: number;

  /**
   * Runs the function in this VPC (it then reaches Bedrock, EventBridge, Secrets Manager, S3 and
   * DynamoDB through VPC endpoints).
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
}

/**
 * An AI analyzer, created (`AiAnalyzer`) or imported (`AiAnalyzer.fromAiAnalyzerAttributes`):
 * what monitoring, grants and a `ReportNotifier` need.
 */
export interface IAiAnalyzer extends IConstruct, IAnalysisStore {
  /** The analyzer function. */
  readonly analyzerFunction: lambda.IFunction;

  /** The queue of `Ingestion Succeeded` events. */
  readonly queue: sqs.IQueue;

  /** Events that could not be analyzed after the retries. */
  readonly deadLetterQueue: sqs.IQueue;

  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  readonly serviceName: string;

  /**
   * The analyzer's own alarms (dead-letter queue, failed analyses); none for an imported
   * analyzer. A new array on each read: changing it changes nothing.
   */
  readonly alarms: cloudwatch.IAlarm[];

  /** Allows `grantee` to run an on-demand analysis (invoke the function). */
  grantInvoke(grantee: iam.IGrantable): iam.Grant;

  /** Allows `grantee` to read the analyses: the analysis table and its day index, and the analysis documents. */
  grantReadAnalyses(grantee: iam.IGrantable): iam.Grant;

  /** Input tokens sent to the model (sum). */
  metricInputTokens(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Output tokens the model answered with (sum). */
  metricOutputTokens(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Estimated model cost in USD (sum). */
  metricEstimatedCost(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Values flagged as anomalies (sum). */
  metricAnomaliesFound(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Analyses completed (sum). */
  metricAnalysesCompleted(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Analyses that failed (sum). */
  metricAnalysesFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** A metric the function emits, dimension `service`. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/**
 * Attributes of an AI analyzer defined elsewhere (e.g. in another stack or app), to monitor it,
 * grant access to its analyses, or send its reports with a `ReportNotifier`.
 */
export interface AiAnalyzerAttributes {
  /** ARN of the analyzer function (`analyzer.analyzerFunction.functionArn`). */
  readonly functionArn: string;

  /** `serviceName` of the analyzer (the `service` dimension of its metrics). */
  readonly serviceName: string;

  /** ARN of the queue of `Ingestion Succeeded` events (`analyzer.queue.queueArn`). */
  readonly queueArn: string;

  /** ARN of the dead-letter queue (`analyzer.deadLetterQueue.queueArn`). */
  readonly deadLetterQueueArn: string;

  /** Name of the analysis table (`analyzer.analysisTable.tableName`), in this stack's account and region. */
  readonly analysisTableName: string;

  /**
   * The pipeline's data bucket (processed records and manifests), with its encryption key when it
   * has one.
   */
  readonly dataBucket: s3.IBucket;

  /**
   * Key prefix of the ingestion manifests in the data bucket.
   *
   * @default 'manifests/'
   */
  readonly manifestPrefix?: string;

  /**
   * The bucket of the analysis documents, with its encryption key when it has one.
   *
   * @default - the data bucket
   */
  readonly analysisBucket?: s3.IBucket;

  /**
   * Key prefix of the analysis documents.
   *
   * @default 'analyses/'
   */
  readonly analysisPrefix?: string;
}
