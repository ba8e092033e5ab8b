import { ArnFormat, CustomResource, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, IConstruct } from 'constructs';
import { CanonicalStoreBase } from './canonical-store-base';
import {
  AccessLevel, CanonicalStoreAttributes, CanonicalStoreProps, ICanonicalStore, StoreEngine,
} from './canonical-store-props';
import { createDatabase, StoreDatabase } from './database';
import { addSingleUserRotation, createUserSecret } from './identities';
import { createStoreVpc } from './network';
import { connectionEnvironment, grantConnect, grantSecretRead, ImportedCanonicalStore } from './store-access';
import { validateProps } from './validate-props';
import { assetFingerprint } from '../common/assets';
import { protectWithBackupPlan } from '../common/backups';
import { acknowledgeDefaultRuntime, createPipelineFunction, DEFAULT_LOG_RETENTION } from '../common/lambda-tuning';
import { acknowledgeDefaultLogEncryption, allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { ensureVpcEndpoint, PipelineAwsService } from '../common/vpc-endpoints';

/** PostgreSQL's default port, on which an RDS Proxy for PostgreSQL always listens. */
const POSTGRES_DEFAULT_PORT = 5432;

/** Logical id CDK gives its stack-wide log-retention function. */
const LOG_RETENTION_FUNCTION_ID = 'LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a';

/**
 * The canonical store: PostgreSQL (RDS or Aurora Serverless v2) in isolated subnets, encrypted,
 * TLS-only, with one login user per `AccessLevel` (each with its own rotated secret) and the
 * schema migrated on every deploy by a custom resource.
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the migrator (default 512 MiB,
 * 10 minutes, logs kept three months); `removalPolicy` covers the database (default
 * `RemovalPolicy.SNAPSHOT`; `DESTROY` deletes the data and, with it, the log groups);
 * `logEncryptionKey` the migrator's, the migrations provider's and the created VPC's flow log
 * groups (not the database's exported logs, whose log group RDS creates); VPC endpoints: Secrets
 * Manager (the migrator and the rotation functions).
 */
export class CanonicalStore extends CanonicalStoreBase implements ICanonicalStore {
  /**
   * Imports a canonical store defined elsewhere (e.g. in another stack) to grant access to it.
   */
  public static fromCanonicalStoreAttributes(scope: Construct, id: string, attrs: CanonicalStoreAttributes): ICanonicalStore {
    return new ImportedCanonicalStore(scope, id, attrs);
  }

  /** Hostname handlers connect to: the proxy endpoint when there is a proxy, else the database endpoint. */
  public readonly endpoint: string;

  /** Hostname of the DB instance, or of the Aurora cluster's writer endpoint (used by the migrator). */
  public readonly databaseEndpoint: string;

  /**
   * Port handlers connect to: the proxy's (5432: an RDS Proxy for PostgreSQL listens on the
   * engine's default port, whatever the database's) when there is a proxy, else `databasePort`.
   */
  public readonly port: number;

  /** Port of the database itself (prop `port`): the migrator and the rotation functions connect to it. */
  public readonly databasePort: number;

  /** Name of the database that holds the canonical schema. */
  public readonly databaseName: string;

  /** The PostgreSQL service in use. */
  public readonly engine: StoreEngine;

  /** VPC of the database. */
  public readonly vpc: ec2.IVpc;

  /** Subnets of the database; also for Lambda functions that connect to it. */
  public readonly vpcSubnets: ec2.SubnetSelection;

  /** Security group of the database and its proxy. */
  public readonly securityGroup: ec2.ISecurityGroup;

  /** Security group of the four secret rotation functions. */
  public readonly rotationSecurityGroup: ec2.ISecurityGroup;

  /** The selection that adds the database to `backupPlan` (none without one). */
  public readonly backupSelection?: backup.BackupSelection;

  /** The RDS DB instance, with `StoreEngine.RDS_POSTGRES`. */
  public readonly instance?: rds.DatabaseInstance;

  /** The Aurora cluster, with `StoreEngine.AURORA_POSTGRES_SERVERLESS_V2`. */
  public readonly cluster?: rds.DatabaseCluster;

  /** The RDS Proxy, when `proxy` is true. */
  public readonly proxy?: rds.DatabaseProxy;

  /** Secret of the owner (master user `pipeline_admin`). Only the migrator reads it. */
  public readonly ownerSecret: secretsmanager.ISecret;

  /** Secret of `pipeline_writer` (ingestion). */
  public readonly writerSecret: secretsmanager.ISecret;

  /** Secret of `pipeline_analytics` (built-in analytics, read-only). */
  public readonly analyticsSecret: secretsmanager.ISecret;

  /** Secret of `pipeline_sql_reader` (user SQL on the typed views, read-only). */
  public readonly sqlReaderSecret: secretsmanager.ISecret;

  /** The function that applies the schema migrations. */
  public readonly migrationFunction: lambda.IFunction;

  /** The custom resource provider that runs `migrationFunction`. */
  public readonly migrationsProvider: cr.Provider;

  /** The custom resource that migrates the schema; depend on it to run after the schema exists. */
  public readonly migrations: CustomResource;

  /** Comma-separated ids of the migrations applied by the last deploy that ran them. */
  public readonly appliedMigrations: string;

  private readonly database: StoreDatabase;

  constructor(scope: Construct, id: string, props: CanonicalStoreProps = {}) {
    super(scope, id);
    validateProps(props);

    this.engine = props.engine ?? StoreEngine.RDS_POSTGRES;
    this.databasePort = props.port ?? POSTGRES_DEFAULT_PORT;
    // An RDS Proxy for PostgreSQL always listens on 5432: handlers get that port with a proxy.
    this.port = props.proxy ? POSTGRES_DEFAULT_PORT : this.databasePort;
    this.databaseName = props.databaseName ?? 'pipeline';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    const monitoringInterval = props.monitoringInterval ?? Duration.seconds(60);
    if (![0, 1, 5, 10, 15, 30, 60].includes(monitoringInterval.toSeconds())) {
      throw new Error(`monitoringInterval must be 0 (off), 1, 5, 10, 15, 30 or 60 seconds, got ${monitoringInterval.toHumanString()}`);
    }
    // Logs are kept with the data; only an explicit DESTROY deletes them.
    const logRemovalPolicy = destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
    const createVpcEndpoints = props.createVpcEndpoints ?? true;

    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);

    // ----- network -----
    this.vpc = props.vpc ?? createStoreVpc(this, {
      maxAzs: props.maxAzs ?? 2,
      natGateways: props.natGateways ?? 0,
      logRetention,
      logEncryptionKey: props.logEncryptionKey,
      removalPolicy: logRemovalPolicy,
    });
    if (!props.vpcSubnets && this.vpc.isolatedSubnets.length === 0) {
      throw new Error('vpc has no isolated subnets: pass `vpcSubnets` to choose the subnets of the database');
    }
    this.vpcSubnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    requireTwoAvailabilityZones(this.vpc, this.vpcSubnets, props.vpcSubnets ? 'vpcSubnets' : 'vpc');
    this.securityGroup = props.securityGroup ?? new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Canonical store database: no inbound access unless granted',
      allowAllOutbound: false,
    });

    // ----- database -----
    const ownerSecret = createUserSecret(this, AccessLevel.OWNER, this.databaseName, props.encryptionKey);
    // Used only if this stack has no log-retention function yet (it is a stack-wide singleton).
    const logRetentionRole = Stack.of(this).node.tryFindChild(LOG_RETENTION_FUNCTION_ID) ? undefined : this.createLogRetentionRole();
    this.database = createDatabase(this, {
      aurora: this.engine === StoreEngine.AURORA_POSTGRES_SERVERLESS_V2,
      postgresVersion: props.postgresVersion ?? rds.PostgresEngineVersion.VER_16_13,
      auroraPostgresVersion: props.auroraPostgresVersion ?? rds.AuroraPostgresEngineVersion.VER_16_13,
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.SMALL),
      allocatedStorage: props.allocatedStorage ?? 20,
      maxAllocatedStorage: props.maxAllocatedStorage ?? 100,
      multiAz: props.multiAz ?? false,
      minCapacity: props.serverlessV2MinCapacity ?? 0.5,
      maxCapacity: props.serverlessV2MaxCapacity ?? 4,
      vpc: this.vpc,
      vpcSubnets: this.vpcSubnets,
      securityGroup: this.securityGroup,
      port: this.databasePort,
      databaseName: this.databaseName,
      ownerSecret,
      encryptionKey: props.encryptionKey,
      backupRetention: props.backupRetention ?? Duration.days(7),
      removalPolicy,
      deletionProtection: props.deletionProtection ?? !destroy,
      performanceInsights: props.enablePerformanceInsights ?? false,
      monitoringInterval: monitoringInterval.toSeconds() > 0 ? monitoringInterval : undefined,
      logRetention,
      logRetentionRole,
    });
    this.instance = this.database.instance;
    this.cluster = this.database.cluster;
    this.databaseEndpoint = this.database.hostname;

    // ----- identities -----
    this.ownerSecret = this.database.ownerSecret;
    const attach = (level: AccessLevel) =>
      createUserSecret(this, level, this.databaseName, props.encryptionKey).attach(this.database.secretAttachmentTarget);
    this.writerSecret = attach(AccessLevel.WRITER);
    this.analyticsSecret = attach(AccessLevel.ANALYTICS_READER);
    this.sqlReaderSecret = attach(AccessLevel.RESTRICTED_READER);
    const secrets = [this.ownerSecret, this.writerSecret, this.analyticsSecret, this.sqlReaderSecret];

    if (props.proxy) {
      this.proxy = new rds.DatabaseProxy(this, 'Proxy', {
        proxyTarget: this.database.proxyTarget,
        secrets,
        vpc: this.vpc,
        vpcSubnets: this.vpcSubnets,
        // The proxy shares the database's security group: one grant opens both.
        securityGroups: [this.securityGroup],
        requireTLS: true,
        iamAuth: false,
      });
      this.securityGroup.connections.allowInternally(ec2.Port.tcp(this.databasePort), 'RDS Proxy to the database');
      acknowledgeProxyIngress(this.securityGroup);
    }
    this.endpoint = this.proxy ? this.proxy.endpoint : this.databaseEndpoint;

    // The migrator and the rotation functions call Secrets Manager from subnets without internet access.
    const secretsManagerEndpoint = createVpcEndpoints ? this.ensureVpcEndpoint(PipelineAwsService.SECRETS_MANAGER) : undefined;

    // ----- schema migrations -----
    const migrator = createPipelineFunction(this, 'MigrationFunction', {
      assetName: 'canonical-store',
      description: 'Applies the canonical store schema migrations (custom resource)',
      serviceName: 'canonical-store-migrator',
      vpc: this.vpc,
      vpcSubnets: this.vpcSubnets,
      defaults: { memorySize: 512, timeout: Duration.minutes(10) },
      tuning: props.lambdaTuning,
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      // Directly to the database, never through the proxy: DDL and session-level locks.
      environment: connectionEnvironment(this.databaseEndpoint, this.databasePort, this.databaseName, this.ownerSecret),
      callsServices: [PipelineAwsService.SECRETS_MANAGER],
      createVpcEndpoints,
      logRemovalPolicy,
      invokedSynchronouslyBy: 'the custom resource provider on each deploy (CloudFormation records failures)',
    });
    this.migrationFunction = migrator.fn;
    // The database's port, which differs from the handlers' (the proxy's) with a proxy and a custom port.
    grantConnect(this, migrator.fn, AccessLevel.OWNER, undefined, this.databasePort);
    // It creates the other users with their current passwords.
    [this.writerSecret, this.analyticsSecret, this.sqlReaderSecret].forEach((s) => grantSecretRead(s, migrator.fn));

    this.migrationsProvider = this.createMigrationsProvider(migrator.fn, {
      retention: logRetention,
      removalPolicy: logRemovalPolicy,
      encryptionKey: props.logEncryptionKey,
    });
    this.migrations = new CustomResource(this, 'Migrations', {
      serviceToken: this.migrationsProvider.serviceToken,
      resourceType: 'Custom::CanonicalStoreMigrations',
      // Everything the migrator depends on is a property, so that any change runs it again.
      properties: {
        UserMigrations: (props.migrations ?? []).map((m) => ({ id: m.id, sql: m.sql })),
        WriterSecretArn: this.writerSecret.secretArn,
        AnalyticsSecretArn: this.analyticsSecret.secretArn,
        SqlReaderSecretArn: this.sqlReaderSecret.secretArn,
        MigratorFingerprint: assetFingerprint('canonical-store'),
      },
    });
    // The database (with its cluster instances), the ingress rules and the endpoint must exist first.
    this.migrations.node.addDependency(this.database.resource, this.securityGroup);
    if (secretsManagerEndpoint) this.migrations.node.addDependency(secretsManagerEndpoint);
    this.appliedMigrations = this.migrations.getAttString('AppliedMigrations');

    // ----- rotation -----
    this.rotationSecurityGroup = new ec2.SecurityGroup(this, 'RotationSecurityGroup', {
      vpc: this.vpc,
      description: 'Secret rotation functions of the canonical store',
    });
    this.securityGroup.connections.allowFrom(this.rotationSecurityGroup, ec2.Port.tcp(this.databasePort), 'Secret rotation functions');
    for (const secret of secrets) {
      const schedule = addSingleUserRotation(secret, {
        vpc: this.vpc,
        vpcSubnets: this.vpcSubnets,
        securityGroup: this.rotationSecurityGroup,
        interval: props.rotationInterval ?? Duration.days(30),
      });
      // Rotation starts right away: the users must exist with their current passwords first.
      schedule.node.addDependency(this.migrations);
    }

    this.backupSelection = this.protectWithBackupPlan(props.backupPlan);
    this.acknowledgeNagFindings(props, migrator.fn, logRetentionRole);
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  /** The secret of an access level. */
  public secretFor(level: AccessLevel): secretsmanager.ISecret {
    switch (level) {
      case AccessLevel.OWNER: return this.ownerSecret;
      case AccessLevel.WRITER: return this.writerSecret;
      case AccessLevel.ANALYTICS_READER: return this.analyticsSecret;
      case AccessLevel.RESTRICTED_READER: return this.sqlReaderSecret;
      default: throw new Error(`Unknown access level ${level}`);
    }
  }

  /**
   * Lets `grantee` connect as `level`: the database port (and proxy) in the security group, and
   * read access to that level's secret only (plus kms:Decrypt through Secrets Manager with a CMK).
   */
  public grantConnect(grantee: iam.IGrantable, level: AccessLevel, connectable?: ec2.IConnectable): iam.Grant {
    return grantConnect(this, grantee, level, connectable);
  }

  /**
   * The handler contract for `level`: `DB_HOST` (the proxy when there is one), `DB_PORT`,
   * `DB_NAME`, `DB_SECRET_ARN` and `DB_TLS` (`verify-full`). No secret values.
   */
  public connectionEnvironment(level: AccessLevel): { [key: string]: string } {
    return connectionEnvironment(this.endpoint, this.port, this.databaseName, this.secretFor(level));
  }

  /**
   * The VPC endpoint of `service` in the store's VPC, created in this stack the first time it is
   * asked for (in the store's subnets), even when `createVpcEndpoints` is false.
   */
  public ensureVpcEndpoint(service: PipelineAwsService): ec2.IVpcEndpoint {
    return ensureVpcEndpoint(this, this.vpc, service, this.vpcSubnets);
  }

  protected metricDimensions(): { [name: string]: string } {
    return this.database.metricDimensions;
  }

  /**
   * Role of CDK's stack-wide function that sets the retention of the exported PostgreSQL log,
   * created here so that the permissions boundary applies to it.
   */
  private createLogRetentionRole(): iam.Role {
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'LogRetentionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sets the retention of the canonical store database log group',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      // The function's name is generated at deploy time (from the stack name): any Lambda log group.
      resources: [stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws/lambda/*:*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    }));
    return role;
  }

  private createMigrationsProvider(onEvent: lambda.IFunction, logGroupProps: logs.LogGroupProps): cr.Provider {
    const logGroup = new logs.LogGroup(this, 'MigrationsProviderLogGroup', logGroupProps);
    acknowledgeDefaultLogEncryption(logGroup, logGroupProps.encryptionKey);
    // Our own role instead of AWSLambdaBasicExecutionRole: this log group only (+ invoking the migrator).
    const role = new iam.Role(this, 'MigrationsProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Custom resource provider framework of the canonical store migrations',
    });
    logGroup.grantWrite(role);
    return new cr.Provider(this, 'MigrationsProvider', { onEventHandler: onEvent, logGroup, frameworkOnEventRole: role });
  }

  /**
   * The database in the user's AWS Backup plan, if given. AWS Backup protects Aurora by cluster:
   * the rule that looks for each DB instance in a plan is acknowledged on the cluster's instances.
   */
  private protectWithBackupPlan(plan: backup.IBackupPlan | undefined): backup.BackupSelection | undefined {
    const withoutPlan = 'No backupPlan was given: automated backups (backupRetention, point-in-time restore) and the snapshot on delete '
      + 'protect the data; pass backupPlan to add the database to an AWS Backup plan';
    if (this.instance) {
      return protectWithBackupPlan(this, plan, [{
        construct: this.instance, backupResource: backup.BackupResource.fromRdsDatabaseInstance(this.instance), nagRule: 'HIPAA.Security-RDSInBackupPlan',
      }], withoutPlan);
    }
    const cluster = this.cluster!;
    for (const member of cluster.node.findAll().filter((c) => c instanceof rds.CfnDBInstance)) {
      acknowledgeNagFinding(member, 'HIPAA.Security-RDSInBackupPlan', plan
        ? 'An Aurora instance: AWS Backup protects Aurora by cluster, and the cluster is in the given backupPlan'
        : `An Aurora instance: AWS Backup protects Aurora by cluster. ${withoutPlan}`);
    }
    const clusterBackup = backup.BackupResource.fromRdsDatabaseCluster(cluster);
    return protectWithBackupPlan(this, plan, [{ construct: cluster, backupResource: clusterBackup }], withoutPlan);
  }

  /** cdk-nag findings accepted by design, each on one resource, with the reason. */
  private acknowledgeNagFindings(props: CanonicalStoreProps, migrator: lambda.Function, logRetentionRole?: iam.Role): void {
    const database = this.instance ?? this.cluster!;
    if (this.instance && !props.multiAz) {
      const reason = 'Multi-AZ is opt-in (prop multiAz) so that a default deployment stays low-cost; automated backups and snapshot-on-delete protect the data';
      acknowledgeNagFinding(database, 'AwsSolutions-RDS3', reason);
      acknowledgeNagFinding(database, 'HIPAA.Security-RDSMultiAZSupport', reason);
    }
    const monitoringRole = database.node.tryFindChild('MonitoringRole');
    if (monitoringRole) {
      acknowledgeNagFinding(monitoringRole, 'AwsSolutions-IAM4',
        'AWS\'s managed policy for RDS Enhanced Monitoring: it only lets RDS publish OS metrics (RDSOSMetrics log group)',
        ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole']);
    } else {
      acknowledgeNagFinding(database, 'HIPAA.Security-RDSEnhancedMonitoringEnabled',
        'Enhanced Monitoring was turned off on purpose (monitoringInterval 0); CloudWatch RDS metrics and PostgreSQL logs remain');
    }
    this.acknowledgeGeneratedRoles(logRetentionRole);
    // cdk-nag flags the default port on RDS instances (not on provisioned-mode Aurora clusters).
    if (this.instance && this.databasePort === POSTGRES_DEFAULT_PORT) {
      acknowledgeNagFinding(database, 'AwsSolutions-RDS11',
        'The default PostgreSQL port is kept for client compatibility: the database sits in isolated subnets, reachable only from granted security groups, TLS and passwords required (prop port changes it)');
    }
    if (this.cluster) {
      acknowledgeNagFinding(database, 'AwsSolutions-RDS6',
        'Users authenticate with passwords kept in Secrets Manager and rotated automatically; IAM database authentication is not used');
    }

    // CDK's Provider grants invoke on the function and its versions/aliases (<arn>:*).
    const migratorLogicalId = Stack.of(this).resolve((migrator.node.defaultChild as lambda.CfnFunction).logicalId);
    const providerRole = this.node.findChild('MigrationsProviderRole');
    acknowledgeNagFinding(defaultPolicyOf(providerRole), 'AwsSolutions-IAM5',
      'The custom resource provider may invoke the migrator function only; the :* suffix covers its versions and aliases (CDK Provider grant)',
      [`Resource::<${migratorLogicalId}.Arn>:*`]);
    // CDK picks the provider framework's runtime (the latest Node.js it knows for the region): cdk-nag's runtime rule judges it.
    const framework = this.migrationsProvider.node.findChild('framework-onEvent') as lambda.Function;
    acknowledgeNagFinding(framework, 'HIPAA.Security-LambdaInsideVPC',
      'CDK\'s custom resource provider framework only invokes the migrator (which runs in the VPC) and answers CloudFormation; it touches no data');
    acknowledgeNagFinding(framework, 'HIPAA.Security-LambdaConcurrency',
      'CDK\'s custom resource provider framework: invoked by CloudFormation once per deploy');
    acknowledgeNagFinding(framework, 'HIPAA.Security-LambdaDLQ',
      'CDK\'s custom resource provider framework: invoked synchronously by CloudFormation, which records failures in the stack events');
    acknowledgeDefaultRuntime(framework, 'CDK\'s custom resource provider framework (runtime chosen by aws-cdk-lib) runs');

    if (logRetentionRole) {
      acknowledgeNagFinding(defaultPolicyOf(logRetentionRole), 'AwsSolutions-IAM5',
        'CDK log-retention function: sets retention on the RDS log group, whose name is only known at deploy time, and writes its own generated-name log group',
        ['Resource::*', { regex: '/^Resource::arn:<AWS::Partition>:logs:.+:log-group:\\/aws\\/lambda\\/\\*:\\*$/' }]);
    }
  }

  /** Roles that CDK generates for the store's plumbing: one purpose each, policies from grants. */
  private acknowledgeGeneratedRoles(logRetentionRole?: iam.Role): void {
    const roles: Array<[IConstruct | undefined, string]> = [
      [this.node.tryFindChild('MigrationsProviderRole'), 'Custom resource provider role: invokes the migrator and writes its own log group only'],
      [logRetentionRole, 'Role of CDK\'s log-retention function: sets the retention of the database log group and writes its own logs'],
      [this.vpc.node.tryFindChild('FlowLog')?.node.tryFindChild('IAMRole'), 'Role of the VPC flow log: writes the flow log group only'],
      [this.proxy?.node.tryFindChild('IAMRole'), 'Role of the RDS Proxy: reads the four database secrets only'],
    ];
    for (const [role, reason] of roles) {
      const policy = role?.node.tryFindChild('DefaultPolicy');
      if (policy) acknowledgeNagFinding(policy, 'HIPAA.Security-IAMNoInlinePolicy', reason);
    }
  }
}

/**
 * CDK's DatabaseProxy lets the proxy reach the database on the database's port, a deploy-time
 * attribute (Endpoint.Port) that cdk-nag's HIPAA port rules cannot resolve.
 */
function acknowledgeProxyIngress(securityGroup: ec2.ISecurityGroup): void {
  for (const child of securityGroup.node.children) {
    if (child instanceof ec2.CfnSecurityGroupIngress && Token.isUnresolved(child.fromPort)) {
      acknowledgeNagFinding(child, 'CdkNagValidationFailure',
        'CDK\'s RDS Proxy rule: the proxy reaches the database on its port, a deploy-time attribute cdk-nag cannot resolve; the source is the store\'s own security group, not an address range',
        ['HIPAA.Security-EC2RestrictedCommonPorts', 'HIPAA.Security-EC2RestrictedSSH']);
    }
  }
}

/**
 * AWS refuses a DB subnet group (and an RDS Proxy) whose subnets are in fewer than two Availability
 * Zones: fail at synth, naming the prop, instead of at deploy. Subnets imported without their zone
 * cannot be checked and are let through.
 */
function requireTwoAvailabilityZones(vpc: ec2.IVpc, selection: ec2.SubnetSelection, prop: string): void {
  const subnets = vpc.selectSubnets(selection).subnets;
  const zones = new Set<string>();
  for (const subnet of subnets) {
    try {
      zones.add(subnet.availabilityZone);
    } catch {
      return; // an imported subnet without its Availability Zone
    }
  }
  if (zones.size < 2) {
    throw new Error(`${prop}: the database subnets (${subnets.map((s) => (Token.isUnresolved(s.subnetId) ? s.node.path : s.subnetId)).join(', ') || 'none'}) are in ${zones.size} Availability Zone(s)`
      + `${zones.size > 0 ? ` (${[...zones].join(', ')})` : ''}; a DB subnet group needs subnets in at least two: choose subnets in two or more zones`);
  }
}
