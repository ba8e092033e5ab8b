/**
 * The PostgreSQL database of the canonical store: an RDS instance or an Aurora Serverless v2
 * cluster, behind one shape so the rest of the construct does not care which.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface StoreDatabaseOptions {
  readonly aurora: boolean;
  readonly postgresVersion: rds.PostgresEngineVersion;
  readonly auroraPostgresVersion: rds.AuroraPostgresEngineVersion;
  readonly instanceType: ec2.InstanceType;
  readonly allocatedStorage: number;
  readonly maxAllocatedStorage: number;
  readonly multiAz: boolean;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly port: number;
  readonly databaseName: string;
  readonly ownerSecret: secretsmanager.ISecret;
  readonly encryptionKey?: kms.IKey;
  readonly backupRetention: Duration;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly performanceInsights: boolean;
  /** Enhanced Monitoring interval; undefined when off. */
  readonly monitoringInterval?: Duration;
  readonly logRetention: logs.RetentionDays;
  /** Role of CDK's log-retention function, created in our scope so the permissions boundary applies. */
  readonly logRetentionRole?: iam.IRole;
}

export interface StoreDatabase {
  readonly instance?: rds.DatabaseInstance;
  readonly cluster?: rds.DatabaseCluster;
  /** The instance, or the cluster with its instances: what must exist before the schema is migrated. */
  readonly resource: Construct;
  /** Hostname of the instance, or of the cluster's writer endpoint. */
  readonly hostname: string;
  /** The owner secret, attached (host, port, engine filled in by Secrets Manager). */
  readonly ownerSecret: secretsmanager.ISecret;
  readonly secretAttachmentTarget: secretsmanager.ISecretAttachmentTarget;
  readonly proxyTarget: rds.ProxyTarget;
  /** CloudWatch dimensions of the AWS/RDS metrics. */
  readonly metricDimensions: { [name: string]: string };
}

export function createDatabase(scope: Construct, o: StoreDatabaseOptions): StoreDatabase {
  return o.aurora ? createAuroraCluster(scope, o) : createRdsInstance(scope, o);
}

/** TLS only: connections without it are refused by the server itself. */
const PARAMETERS = { 'rds.force_ssl': '1' };

function createRdsInstance(scope: Construct, o: StoreDatabaseOptions): StoreDatabase {
  const engine = rds.DatabaseInstanceEngine.postgres({ version: o.postgresVersion });
  const parameterGroup = new rds.ParameterGroup(scope, 'ParameterGroup', {
    engine,
    description: 'Canonical store: TLS required',
    parameters: PARAMETERS,
  });
  const instance = new rds.DatabaseInstance(scope, 'Instance', {
    engine,
    instanceType: o.instanceType,
    vpc: o.vpc,
    vpcSubnets: o.vpcSubnets,
    securityGroups: [o.securityGroup],
    port: o.port,
    publiclyAccessible: false,
    credentials: rds.Credentials.fromSecret(o.ownerSecret),
    databaseName: o.databaseName,
    allocatedStorage: o.allocatedStorage,
    maxAllocatedStorage: o.maxAllocatedStorage,
    storageType: rds.StorageType.GP3,
    storageEncrypted: true,
    storageEncryptionKey: o.encryptionKey,
    multiAz: o.multiAz,
    backupRetention: o.backupRetention,
    deletionProtection: o.deletionProtection,
    removalPolicy: o.removalPolicy,
    parameterGroup,
    cloudwatchLogsExports: ['postgresql', 'upgrade'],
    cloudwatchLogsRetention: o.logRetention,
    cloudwatchLogsRetentionRole: o.logRetentionRole,
    enablePerformanceInsights: o.performanceInsights,
    performanceInsightEncryptionKey: o.performanceInsights ? o.encryptionKey : undefined,
    monitoringInterval: o.monitoringInterval,
    autoMinorVersionUpgrade: true,
  });
  return {
    instance,
    resource: instance,
    hostname: instance.instanceEndpoint.hostname,
    ownerSecret: instance.secret!,
    secretAttachmentTarget: instance,
    proxyTarget: rds.ProxyTarget.fromInstance(instance),
    metricDimensions: { DBInstanceIdentifier: instance.instanceIdentifier },
  };
}

function createAuroraCluster(scope: Construct, o: StoreDatabaseOptions): StoreDatabase {
  const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: o.auroraPostgresVersion });
  // Bound to the cluster as its cluster parameter group, where rds.force_ssl lives in Aurora.
  const parameterGroup = new rds.ParameterGroup(scope, 'ParameterGroup', {
    engine,
    description: 'Canonical store: TLS required',
    parameters: PARAMETERS,
  });
  const cluster = new rds.DatabaseCluster(scope, 'Cluster', {
    engine,
    writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false, autoMinorVersionUpgrade: true }),
    // The reader scales with the writer so that it can take over at full size.
    readers: o.multiAz
      ? [rds.ClusterInstance.serverlessV2('Reader', { publiclyAccessible: false, autoMinorVersionUpgrade: true, scaleWithWriter: true })]
      : undefined,
    serverlessV2MinCapacity: o.minCapacity,
    serverlessV2MaxCapacity: o.maxCapacity,
    vpc: o.vpc,
    vpcSubnets: o.vpcSubnets,
    securityGroups: [o.securityGroup],
    port: o.port,
    credentials: rds.Credentials.fromSecret(o.ownerSecret),
    defaultDatabaseName: o.databaseName,
    storageEncrypted: true,
    storageEncryptionKey: o.encryptionKey,
    backup: { retention: o.backupRetention },
    deletionProtection: o.deletionProtection,
    removalPolicy: o.removalPolicy,
    parameterGroup,
    cloudwatchLogsExports: ['postgresql'],
    cloudwatchLogsRetention: o.logRetention,
    cloudwatchLogsRetentionRole: o.logRetentionRole,
    enablePerformanceInsights: o.performanceInsights,
    performanceInsightEncryptionKey: o.performanceInsights ? o.encryptionKey : undefined,
    monitoringInterval: o.monitoringInterval,
  });
  return {
    cluster,
    resource: cluster,
    hostname: cluster.clusterEndpoint.hostname,
    ownerSecret: cluster.secret!,
    secretAttachmentTarget: cluster,
    proxyTarget: rds.ProxyTarget.fromCluster(cluster),
    metricDimensions: { DBClusterIdentifier: cluster.clusterIdentifier },
  };
}
