import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { SourceDefinition } from './source-definition';
import { ICanonicalStore } from '../canonical-store/canonical-store-props';
import { LambdaTuning } from '../common/lambda-tuning';

/** Properties of an `IngestionPipeline`. */
export interface IngestionPipelineProps {
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
   * What happens to the new bucket(s) when removed from the stack. RETAIN keeps the data;
   * DESTROY also empties them (an explicit opt-in).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

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
   * Topic for the alarms (dead-letter queue not empty, processor errors, files set aside).
   *
   * @default - alarms are created without actions
   */
  readonly alarmTopic?: sns.ITopic;

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
   * Tuning of the processor function.
   *
   * @default - 1769 MiB (one full vCPU: the processor is CPU-bound), 15 minutes
   */
  readonly lambdaTuning?: LambdaTuning;

  /**
   * KMS key of the processor function's log group.
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
   * Whether to add the VPC endpoints the processor needs (S3 gateway, Secrets Manager and
   * EventBridge interface endpoints) to the store's VPC. Turn off when the VPC already has them.
   *
   * @default true
   */
  readonly createVpcEndpoints?: boolean;

  /**
   * Permissions boundary for every IAM role the pipeline creates.
   *
   * @default - none
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;

  /**
   * Gzip the NDJSON outputs (`.ndjson.gz`).
   *
   * @default false
   */
  readonly compressOutputs?: boolean;
}
