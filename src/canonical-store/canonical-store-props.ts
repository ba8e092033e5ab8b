import { Duration } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';
import { PipelineConstructProps } from '../common/construct-props';
import { PipelineAwsService } from '../common/vpc-endpoints';

/**
 * The PostgreSQL service that hosts the canonical store.
 */
export enum StoreEngine {
  /** Amazon RDS for PostgreSQL: one provisioned DB instance (Multi-AZ optional). */
  RDS_POSTGRES = 'RDS_POSTGRES',
  /** Amazon Aurora PostgreSQL with Serverless v2 instances that scale in ACUs. */
  AURORA_POSTGRES_SERVERLESS_V2 = 'AURORA_POSTGRES_SERVERLESS_V2',
}

/**
 * The database identities of the canonical store, one login user (and one secret) each.
 */
export enum AccessLevel {
  /** The owner of the schema and master user (`pipeline_admin`): used by the migrator only. */
  OWNER = 'OWNER',
  /** Ingestion (`pipeline_writer`): writes the canonical tables. */
  WRITER = 'WRITER',
  /** Built-in analytics (`pipeline_analytics`): read-only. */
  ANALYTICS_READER = 'ANALYTICS_READER',
  /** User-supplied SQL (`pipeline_sql_reader`): read-only on the typed views, with a statement timeout. */
  RESTRICTED_READER = 'RESTRICTED_READER',
}

/**
 * A schema migration supplied by the user, applied once, in order, after the library's own migrations.
 */
export interface UserMigration {
  /**
   * Unique, stable id (letters, digits, `_`, `.`, `-`); migrations are applied in the order given.
   * An applied id is never applied again, so never change the SQL of an applied migration: add a new one.
   */
  readonly id: string;

  /** The SQL to run, as the schema owner, in one transaction. */
  readonly sql: string;
}

/**
 * A canonical store: a PostgreSQL database with one login user per `AccessLevel`.
 */
export interface ICanonicalStore extends IConstruct {
  /** Hostname handlers connect to: the RDS Proxy endpoint when there is a proxy, else the database endpoint. */
  readonly endpoint: string;

  /** Port handlers connect to (the proxy's, 5432, when there is a proxy). */
  readonly port: number;

  /** Name of the database that holds the canonical schema. */
  readonly databaseName: string;

  /** VPC of the database. */
  readonly vpc: ec2.IVpc;

  /** Subnets for Lambda functions that connect to the store. */
  readonly vpcSubnets: ec2.SubnetSelection;

  /** Security group of the database (and its proxy): `grantConnect` opens it to a grantee. */
  readonly securityGroup: ec2.ISecurityGroup;

  /** The PostgreSQL service. */
  readonly engine: StoreEngine;

  /** The Secrets Manager secret (username, password, host, port, dbname) of an access level. */
  secretFor(level: AccessLevel): secretsmanager.ISecret;

  /**
   * Lets `grantee` connect as `level`: network access to the store's port, and read access to
   * that level's secret only (with kms:Decrypt on its key through Secrets Manager when it has
   * one), all in the grantee's own policy.
   *
   * @param grantee the principal that reads the secret (e.g. a Lambda function)
   * @param level the database identity it connects as
   * @param connectable what opens network connections to the store
   * @default connectable - the grantee itself, when it has security groups (a function in a VPC)
   */
  grantConnect(grantee: iam.IGrantable, level: AccessLevel, connectable?: ec2.IConnectable): iam.Grant;

  /**
   * Environment variables a handler needs to connect as `level`: `DB_HOST`, `DB_PORT`, `DB_NAME`,
   * `DB_SECRET_ARN` and `DB_TLS`. No secret values.
   */
  connectionEnvironment(level: AccessLevel): { [key: string]: string };

  /** A metric of the database in the AWS/RDS namespace. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** CPU utilization, in percent. */
  metricCPUUtilization(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Open database connections. */
  metricDatabaseConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Free memory, in bytes. */
  metricFreeableMemory(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Free storage space, in bytes (`StoreEngine.RDS_POSTGRES` only). */
  metricFreeStorageSpace(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Capacity in ACUs (`StoreEngine.AURORA_POSTGRES_SERVERLESS_V2` only). */
  metricServerlessDatabaseCapacity(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /**
   * Makes sure the store's VPC has an endpoint for `service` (one per VPC per app, in the
   * store's subnets), for Lambda functions in this VPC that call it.
   */
  ensureVpcEndpoint(service: PipelineAwsService): ec2.IVpcEndpoint;
}

/**
 * Properties of a `CanonicalStore`.
 */
export interface CanonicalStoreProps extends PipelineConstructProps {
  /**
   * The PostgreSQL service.
   *
   * @default StoreEngine.RDS_POSTGRES
   */
  readonly engine?: StoreEngine;

  /**
   * Engine version with `StoreEngine.RDS_POSTGRES`.
   *
   * @default rds.PostgresEngineVersion.VER_16_13
   */
  readonly postgresVersion?: rds.PostgresEngineVersion;

  /**
   * Engine version with `StoreEngine.AURORA_POSTGRES_SERVERLESS_V2`.
   *
   * @default rds.AuroraPostgresEngineVersion.VER_16_13
   */
  readonly auroraPostgresVersion?: rds.AuroraPostgresEngineVersion;

  /**
   * Instance type with `StoreEngine.RDS_POSTGRES`.
   *
   * @default - t4g.small (burstable, Graviton)
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * Initial storage in GiB with `StoreEngine.RDS_POSTGRES` (gp3).
   *
   * @default 20
   */
  readonly allocatedStorage?: number;

  /**
   * Upper limit in GiB for storage autoscaling with `StoreEngine.RDS_POSTGRES`.
   *
   * @default 100
   */
  readonly maxAllocatedStorage?: number;

  /**
   * High availability in a second Availability Zone: a Multi-AZ standby with RDS, a reader
   * that scales with the writer (and takes over on failover) with Aurora.
   *
   * @default false
   */
  readonly multiAz?: boolean;

  /**
   * Minimum capacity of each Aurora Serverless v2 instance, in ACUs (0-256, in steps of 0.5;
   * 0 pauses the instance when idle).
   *
   * @default 0.5
   */
  readonly serverlessV2MinCapacity?: number;

  /**
   * Maximum capacity of each Aurora Serverless v2 instance, in ACUs (1-256, in steps of 0.5).
   *
   * @default 4
   */
  readonly serverlessV2MaxCapacity?: number;

  /**
   * Name of the database created for the canonical schema.
   *
   * @default 'pipeline'
   */
  readonly databaseName?: string;

  /**
   * Port of the database. With `proxy`, handlers connect to the proxy on 5432 (an RDS Proxy for
   * PostgreSQL listens on the engine's default port) and the proxy to the database on this port.
   *
   * @default 5432
   */
  readonly port?: number;

  /**
   * How long automated backups are kept (1-35 days).
   *
   * @default Duration.days(7)
   */
  readonly backupRetention?: Duration;

  /**
   * An AWS Backup plan to add the database to (one backup selection, whose role may back it up
   * and restore it), e.g. for a HIPAA account whose backups are kept in a vault with its own rules.
   * The plan may be in another stack.
   *
   * @default - no AWS Backup selection: RDS automated backups (`backupRetention`, point-in-time
   * restore) and the snapshot on delete protect the data (the HIPAA rule `RDSInBackupPlan` is
   * acknowledged with that reason)
   */
  readonly backupPlan?: backup.IBackupPlan;

  /**
   * Customer-managed KMS key for the storage, the four secrets and Performance Insights.
   *
   * @default - AWS managed keys (aws/rds, aws/secretsmanager)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Whether the database refuses deletion.
   *
   * @default - true, unless `removalPolicy` is `RemovalPolicy.DESTROY`
   */
  readonly deletionProtection?: boolean;

  /**
   * Performance Insights (7 days of retention, free tier). Not available on every instance class.
   *
   * @default false
   */
  readonly enablePerformanceInsights?: boolean;

  /**
   * Interval of RDS Enhanced Monitoring (OS metrics every N seconds: 1, 5, 10, 15, 30 or 60);
   * `Duration.seconds(0)` turns it off.
   *
   * @default Duration.seconds(60)
   */
  readonly monitoringInterval?: Duration;

  /**
   * Put an RDS Proxy (TLS required, all four users registered) in front of the database;
   * handlers then connect through it. The migrator always connects to the database directly.
   *
   * @default false
   */
  readonly proxy?: boolean;

  /**
   * Bring your own VPC. It needs subnets for the database in at least two Availability Zones
   * (checked at synth when the subnets' zones are known).
   *
   * @default - a new VPC with isolated subnets only (see `natGateways`), with flow logs
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Subnets of the database, the proxy, the migrator and the rotation functions.
   *
   * @default - the isolated subnets of the VPC
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * NAT gateways of the created VPC. With more than 0, the VPC also gets public subnets and
   * private subnets with egress (the database stays in the isolated subnets). Not allowed with `vpc`.
   *
   * @default 0
   */
  readonly natGateways?: number;

  /**
   * Availability Zones of the created VPC. Not allowed with `vpc`.
   *
   * @default 2
   */
  readonly maxAzs?: number;

  /**
   * Bring your own security group for the database and its proxy.
   *
   * @default - a new security group that allows no inbound traffic until access is granted
   */
  readonly securityGroup?: ec2.ISecurityGroup;

  /**
   * How often each of the four secrets is rotated (single-user rotation: the usernames stay, the passwords change).
   *
   * @default Duration.days(30)
   */
  readonly rotationInterval?: Duration;

  /**
   * Your schema migrations, applied after the library's own on every deploy that adds some.
   * See `Migrations.fromDirectory`.
   *
   * @default - the library's migrations only
   */
  readonly migrations?: UserMigration[];

  /**
   * Retention of the database's exported `postgresql` log and of the created VPC's flow logs.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Attributes of a canonical store defined elsewhere (e.g. in another stack).
 */
export interface CanonicalStoreAttributes {
  /** Hostname handlers connect to (the proxy endpoint when there is one). */
  readonly endpoint: string;

  /**
   * Port handlers connect to.
   *
   * @default 5432
   */
  readonly port?: number;

  /** Name of the database. */
  readonly databaseName: string;

  /** VPC of the database. */
  readonly vpc: ec2.IVpc;

  /**
   * Subnets for Lambda functions that connect to the store.
   *
   * @default - the isolated subnets of the VPC
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /** Security group of the database (and its proxy). */
  readonly securityGroup: ec2.ISecurityGroup;

  /**
   * The PostgreSQL service.
   *
   * @default StoreEngine.RDS_POSTGRES
   */
  readonly engine?: StoreEngine;

  /**
   * The DB instance identifier (RDS) or DB cluster identifier (Aurora): the dimension of the
   * store's metrics (`metric*()`, `PipelineMonitoring`).
   *
   * @default - the metric methods throw
   */
  readonly databaseIdentifier?: string;

  /**
   * Secret of `AccessLevel.OWNER`. Leave it out unless this scope really needs the owner.
   *
   * @default - `secretFor(AccessLevel.OWNER)` throws
   */
  readonly ownerSecret?: secretsmanager.ISecret;

  /**
   * Secret of `AccessLevel.WRITER`.
   *
   * @default - `secretFor(AccessLevel.WRITER)` throws
   */
  readonly writerSecret?: secretsmanager.ISecret;

  /**
   * Secret of `AccessLevel.ANALYTICS_READER`.
   *
   * @default - `secretFor(AccessLevel.ANALYTICS_READER)` throws
   */
  readonly analyticsSecret?: secretsmanager.ISecret;

  /**
   * Secret of `AccessLevel.RESTRICTED_READER`.
   *
   * @default - `secretFor(AccessLevel.RESTRICTED_READER)` throws
   */
  readonly sqlReaderSecret?: secretsmanager.ISecret;
}
