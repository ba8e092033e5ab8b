import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { SourceDefinition } from './source-definition';
import { ICanonicalStore } from '../canonical-store/canonical-store-props';
import { AlarmedPipelineConstructProps } from '../common/construct-props';

/** Properties of an `IngestionPipeline`. */
export interface IngestionPipelineProps extends AlarmedPipelineConstructProps {
  /**
   * The sources, one per key prefix of the raw-data bucket (see `BuiltInSources` for ready-made ones).
   */
  readonly sources: SourceDefinition[];

  /**
   * The canonical store: sources with `loadToStore` are upserted into it as its writer user, and
   * its `ingestion_runs` table is the record that makes every run exactly-once (for all sources).
   * The processor runs in the store's VPC and subnets.
   */
  readonly store: ICanonicalStore;

  /**
   * An existing raw-data bucket. The pipeline adds event notifications for the sources' prefixes
   * and writes `processed/`, `rejected/` and `manifests/` into it. Turn versioning on: the run
   * record keys on object versions.
   *
   * @default - a new bucket: versioned, encrypted, SSL only, public access blocked, with server
   * access logs and lifecycle rules for processed and rejected data
   */
  readonly bucket?: s3.IBucket;

  /**
   * Customer-managed key for the new bucket (ignored when `bucket` is given).
   *
   * @default - S3-managed encryption (SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Where the new bucket's server access logs go (ignored when `bucket` is given).
   *
   * @default - a new access-log bucket
   */
  readonly serverAccessLogsBucket?: s3.IBucket;

  /**
   * How long `rejected/` outputs are kept in the new bucket (the raw files stay regardless).
   *
   * @default Duration.days(365)
   */
  readonly rejectedRetention?: Duration;

  /**
   * How long `processed/` outputs are kept in the new bucket; they move to Standard-IA after 30 days.
   *
   * @default - kept
   */
  readonly processedRetention?: Duration;

  /**
   * The EventBridge bus for `Ingestion Succeeded` / `Ingestion Failed` events.
   *
   * @default - a new bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Most concurrent processor invocations the queue starts (2-1000): limits the connections the
   * store sees without throttling the function (throttled receives would burn receive counts).
   *
   * @default 2
   */
  readonly maxConcurrency?: number;

  /**
   * Queue messages (one S3 object each) per invocation (1-10); processed one after the other.
   *
   * @default 1
   */
  readonly batchSize?: number;

  /**
   * Attempts of a file before its message goes to the dead-letter queue (the last attempt sends
   * an `Ingestion Failed` event).
   *
   * @default 3
   */
  readonly maxReceiveCount?: number;

  /**
   * Gzip the NDJSON outputs (`.ndjson.gz`).
   *
   * @default false
   */
  readonly compressOutputs?: boolean;

  /**
   * Whether synth looks up which id normalization keyed the stored ids of each source (the SSM
   * parameters `idNormalizationParameters`, through the CDK CLI's context lookups, cached in
   * cdk.context.json) and refuses a changed `idNormalization` that declares no `rekeyIdsFrom`.
   * Applies to stacks with a concrete account and region (elsewhere the change is refused at run
   * time only). Turn it off to synthesize without AWS credentials and without the lookups in
   * cdk.context.json; the run-time check stays (docs/ingestion.md, "Source ids").
   *
   * @default true
   */
  readonly idNormalizationSynthCheck?: boolean;
}

/**
 * An ingestion pipeline, created (`IngestionPipeline`) or imported
 * (`IngestionPipeline.fromIngestionPipelineAttributes`): what monitoring and grants need.
 */
export interface IIngestionPipeline extends IConstruct {
  /** The processor function. */
  readonly processor: lambda.IFunction;

  /** The queue of S3 event notifications. */
  readonly queue: sqs.IQueue;

  /** Messages that failed `maxReceiveCount` times. */
  readonly deadLetterQueue: sqs.IQueue;

  /** The raw-data bucket (also holds processed/, rejected/ and manifests/). */
  readonly bucket: s3.IBucket;

  /** `POWERTOOLS_SERVICE_NAME` of the processor: the `service` dimension of its metrics. */
  readonly serviceName: string;

  /**
   * The pipeline's own alarms (dead-letter queue, processor errors); none for an imported
   * pipeline. A new array on each read: changing it changes nothing.
   */
  readonly alarms: cloudwatch.IAlarm[];

  /**
   * Lets `producer` upload files under the sources' prefixes only (`s3:PutObject`, multipart
   * uploads included), with the bucket key's encrypt and decrypt when the bucket has one.
   */
  grantUpload(producer: iam.IGrantable): iam.Grant;

  /** Read access to `processed/` and `manifests/`. */
  grantReadProcessed(grantee: iam.IGrantable): iam.Grant;

  /** Read access to `rejected/` and `manifests/`. */
  grantReadRejected(grantee: iam.IGrantable): iam.Grant;

  /** Records read from files (sum). */
  metricRecordsReceived(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Records loaded into the store (sum). */
  metricRecordsLoaded(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Records set aside in rejected/ (sum). */
  metricRecordsRejected(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Files set aside as unreadable, and last attempts that failed (sum). */
  metricFileFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Refreshes of the store's typed storage that failed after their retries (sum; analytics answers are labelled stale meanwhile). */
  metricTypedStorageRefreshFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** From the S3 event to the end of the file's run (ms, default statistic p90). */
  metricIngestionLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Processing time of a file (ms, default statistic p90). */
  metricProcessingDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** A metric the processor emits, dimension `service`. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/**
 * Attributes of an ingestion pipeline defined elsewhere (e.g. in another stack or app), to
 * monitor it or grant access to its bucket.
 */
export interface IngestionPipelineAttributes {
  /** ARN of the processor function (`pipeline.processor.functionArn`). */
  readonly functionArn: string;

  /** `serviceName` of the pipeline (the `service` dimension of the processor's metrics). */
  readonly serviceName: string;

  /** ARN of the queue of S3 event notifications (`pipeline.queue.queueArn`). */
  readonly queueArn: string;

  /** ARN of the dead-letter queue (`pipeline.deadLetterQueue.queueArn`). */
  readonly deadLetterQueueArn: string;

  /**
   * The raw-data bucket, with its encryption key when it has one (e.g.
   * `s3.Bucket.fromBucketAttributes(this, 'Raw', { bucketName, encryptionKey })`).
   */
  readonly bucket: s3.IBucket;

  /**
   * Key prefixes of the pipeline's sources (each ending with `/`): where `grantUpload` lets
   * producers write.
   *
   * @default - not known: `grantUpload` throws
   */
  readonly sourcePrefixes?: string[];
}
