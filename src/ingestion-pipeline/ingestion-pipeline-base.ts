/**
 * What an ingestion pipeline offers to other constructs (monitoring, grants), whether created here
 * (`IngestionPipeline`) or imported (`IngestionPipeline.fromIngestionPipelineAttributes`): the
 * metrics are defined once, from the processor's service name, and the grants from the bucket.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { IIngestionPipeline } from './ingestion-pipeline-props';
import { INGESTION_METRICS as M } from '../common/contracts';
import { handlerMetric } from '../common/lambda-tuning';

/** The metrics and grants of an ingestion pipeline, created or imported. */
export abstract class IngestionPipelineBase extends Construct implements IIngestionPipeline {
  /** The processor function. */
  public abstract readonly processor: lambda.IFunction;
  /** The queue of S3 event notifications. */
  public abstract readonly queue: sqs.IQueue;
  /** Messages that failed `maxReceiveCount` times. */
  public abstract readonly deadLetterQueue: sqs.IQueue;
  /** The raw-data bucket. */
  public abstract readonly bucket: s3.IBucket;
  /** `POWERTOOLS_SERVICE_NAME` of the processor: the `service` dimension of its metrics. */
  public abstract readonly serviceName: string;
  /** The pipeline's own alarms (none for an imported pipeline); a new array on each read. */
  public abstract readonly alarms: cloudwatch.IAlarm[];

  /** Records read from files (EMF from the processor; dimension `service`). */
  public metricRecordsReceived(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.RECORDS_RECEIVED, { statistic: 'Sum', ...props });
  }

  /** Records loaded into the store (inserted, updated or unchanged). */
  public metricRecordsLoaded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.RECORDS_LOADED, { statistic: 'Sum', ...props });
  }

  /** Records set aside in rejected/ (duplicates within a file not included). */
  public metricRecordsRejected(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.RECORDS_REJECTED, { statistic: 'Sum', ...props });
  }

  /** Files set aside as unreadable, and last attempts that failed. */
  public metricFileFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.FILE_FAILURES, { statistic: 'Sum', ...props });
  }

  /**
   * Refreshes of the canonical store's typed storage that failed after their retries (sum): until a
   * later refresh succeeds, analytics answers come from an older data generation and say `stale: true`.
   */
  public metricTypedStorageRefreshFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.TYPED_STORAGE_REFRESH_FAILURES, { statistic: 'Sum', ...props });
  }

  /** From the S3 event to the end of the file's run, in milliseconds. */
  public metricIngestionLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.INGESTION_LATENCY, { statistic: 'p90', ...props });
  }

  /** Processing time of a file, in milliseconds. */
  public metricProcessingDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.PROCESSING_DURATION, { statistic: 'p90', ...props });
  }

  /** A metric the processor emits (RecordsReceived, RecordsLoaded, RecordsChanged, RecordsRejected, RecordsDuplicate, FilesProcessed, FileFailures, ProcessingDuration, IngestionLatency, TypedStorageRefreshFailures, TypedStorageRefreshDuration). */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return handlerMetric(this.serviceName, metricName, props);
  }

  /**
   * Lets `producer` upload files under the sources' prefixes only (`s3:PutObject`, multipart
   * uploads included), with the bucket key's encrypt and decrypt (multipart uploads decrypt their
   * parts) when the bucket has one. Nothing else of the bucket: not the outputs, not listing.
   */
  public grantUpload(producer: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee: producer,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: this.sourcePrefixes().map((p) => this.bucket.arnForObjects(`${p}*`)),
    });
    this.bucket.encryptionKey?.grantEncryptDecrypt(producer);
    return grant;
  }

  /** Read access to `processed/` and `manifests/` (what the analyzer and the reports need). */
  public grantReadProcessed(grantee: iam.IGrantable): iam.Grant {
    return this.grantReadPrefixes(grantee, ['processed/', 'manifests/']);
  }

  /** Read access to `rejected/` and `manifests/`. */
  public grantReadRejected(grantee: iam.IGrantable): iam.Grant {
    return this.grantReadPrefixes(grantee, ['rejected/', 'manifests/']);
  }

  /** Key prefixes of the pipeline's sources, where `grantUpload` lets producers write. */
  protected abstract sourcePrefixes(): string[];

  private grantReadPrefixes(grantee: iam.IGrantable, prefixes: string[]): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: prefixes.map((p) => this.bucket.arnForObjects(`${p}*`)),
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
    });
    this.bucket.encryptionKey?.grantDecrypt(grantee);
    return grant;
  }
}
