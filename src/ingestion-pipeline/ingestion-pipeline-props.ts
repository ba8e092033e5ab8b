import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
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
}
