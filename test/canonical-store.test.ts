import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  AccessLevel, CanonicalStore, CanonicalStoreProps, Migrations, PipelineAwsService, StoreEngine,
} from '../src';
import { createTestApp, createTestStack, removeTestAppDirs } from './construct-support/app';
import { snapshotTest } from './construct-support/floor';
import { logKeyProps, testLogEncryptionKey } from './construct-support/log-encryption';
import { formatNagFindings, NagFinding, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { missingVpcEndpoints } from './construct-support/vpc-endpoints';
import { ensureVpcEndpoint } from '../src/common/vpc-endpoints';

afterAll(removeTestAppDirs);

function storeStack(props: CanonicalStoreProps = {}): { stack: Stack; store: CanonicalStore; template: Template } {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store', props);
  return { stack, store, template: Template.fromStack(stack) };
}

/** Logical id of a construct's CloudFormation resource. */
function logicalId(construct: { node: { defaultChild?: unknown } } | object): string {
  const element = ((construct as any).node?.defaultChild ?? construct) as any;
  return Stack.of(element).resolve(element.logicalId);
}

/** The logical ids referenced by `{ Ref }` in any IAM policy that grants secretsmanager:GetSecretValue. */
function secretReadersByPolicy(template: Template): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    const refs = (policy.Properties.PolicyDocument.Statement as any[])
      .filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never))
      .flatMap((s) => [].concat(s.Resource))
      .map((r: any) => r.Ref)
      .filter(Boolean);
    result.set(id, refs);
  }
  return result;
}

const MIGRATE_BUNDLE = path.join(__dirname, '..', 'assets', 'canonical-store', 'index.js');

describe('CanonicalStore defaults (RDS for PostgreSQL)', () => {
  const { stack, store, template } = storeStack();

  test('PostgreSQL 16 on an encrypted, private, TLS-only RDS instance', () => {
    template.resourceCountIs('AWS::RDS::DBInstance', 1);
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      DBInstanceClass: 'db.t4g.small',
      StorageEncrypted: true,
      StorageType: 'gp3',
      PubliclyAccessible: false,
      MultiAZ: false,
      BackupRetentionPeriod: 7,
      EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
      DBName: 'pipeline',
    });
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Family: 'postgres16',
      Parameters: { 'rds.force_ssl': '1' },
    });
  });

  test('snapshot on removal and deletion protection by default', () => {
    template.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Snapshot',
      UpdateReplacePolicy: 'Snapshot',
      Properties: Match.objectLike({ DeletionProtection: true }),
    });
  });

  test('the created VPC has isolated subnets only: no NAT gateway, no internet gateway, no routes out', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::Route', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
    const isolated = store.vpc.isolatedSubnets.map((s) => ({ Ref: logicalId(s) }));
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', { SubnetIds: isolated });
  });

  test('the created VPC has flow logs', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
  });

  test('a Secrets Manager interface endpoint with private DNS in the isolated subnets', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.secretsmanager']] },
      SubnetIds: store.vpc.isolatedSubnets.map((s) => ({ Ref: logicalId(s) })),
    });
  });

  test('every AWS service a VPC Lambda of ours calls has an endpoint in its VPC', () => {
    expect(missingVpcEndpoints(stack)).toEqual([]);
  });

  test('four login users, each with its own secret holding the database name', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 4);
    for (const username of ['pipeline_admin', 'pipeline_writer', 'pipeline_analytics', 'pipeline_sql_reader']) {
      template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: Match.objectLike({
          SecretStringTemplate: JSON.stringify({ username, dbname: 'pipeline' }),
          GenerateStringKey: 'password',
        }),
      });
    }
    template.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 4);
    template.allResourcesProperties('AWS::SecretsManager::SecretTargetAttachment', {
      TargetType: 'AWS::RDS::DBInstance',
      TargetId: { Ref: logicalId(store.instance!) },
    });
  });

  test('each secret is rotated every 30 days by a hosted single-user rotation function in the VPC', () => {
    const schedules = template.findResources('AWS::SecretsManager::RotationSchedule');
    expect(Object.keys(schedules)).toHaveLength(4);
    const rotated = Object.values(schedules).map((s) => s.Properties.SecretId.Ref).sort();
    const secrets = [store.ownerSecret, store.writerSecret, store.analyticsSecret, store.sqlReaderSecret].map(logicalId).sort();
    expect(rotated).toEqual(secrets);
    for (const schedule of Object.values(schedules)) {
      expect(schedule.Properties.RotationRules).toEqual({ ScheduleExpression: 'rate(30 days)' });
      expect(schedule.Properties.HostedRotationLambda).toMatchObject({
        RotationType: 'PostgreSQLSingleUser',
        VpcSecurityGroupIds: { 'Fn::GetAtt': [logicalId(store.rotationSecurityGroup), 'GroupId'] },
      });
      // Rotation starts right away: only after the migrator created the users.
      expect(schedule.DependsOn).toContain(logicalId(store.migrations));
    }
    expect(template.toJSON().Transform).toContain('AWS::SecretsManager-2024-09-16');
  });

  test('the rotation functions and the migrator may connect to the database port', () => {
    for (const source of [store.rotationSecurityGroup, store.migrationFunction.connections.securityGroups[0]]) {
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        GroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(source), 'GroupId'] },
      });
    }
  });

  test('the migrations custom resource carries everything the migrator depends on', () => {
    const fingerprint = crypto.createHash('sha256').update(fs.readFileSync(MIGRATE_BUNDLE)).digest('hex');
    template.hasResource('Custom::CanonicalStoreMigrations', {
      Properties: {
        ServiceToken: Match.anyValue(),
        UserMigrations: [],
        WriterSecretArn: { Ref: logicalId(store.writerSecret) },
        AnalyticsSecretArn: { Ref: logicalId(store.analyticsSecret) },
        SqlReaderSecretArn: { Ref: logicalId(store.sqlReaderSecret) },
        MigratorFingerprint: fingerprint,
      },
      DependsOn: Match.arrayWith([logicalId(store.instance!), logicalId(store.securityGroup)]),
    });
    expect(store.appliedMigrations).toBeDefined();
  });

  test('the migrator runs after the Secrets Manager endpoint exists', () => {
    const [endpointId] = Object.keys(template.findResources('AWS::EC2::VPCEndpoint'));
    const resource = Object.values(template.findResources('Custom::CanonicalStoreMigrations'))[0];
    expect(resource.DependsOn).toContain(endpointId);
  });

  test('the migrator: Node.js 24 on ARM64 in the isolated subnets, traced, with the handler contract', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      MemorySize: 512,
      Timeout: 600,
      VpcConfig: Match.objectLike({ SubnetIds: store.vpc.isolatedSubnets.map((s) => ({ Ref: logicalId(s) })) }),
      LoggingConfig: { LogGroup: Match.anyValue() },
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'canonical-store-migrator',
          POWERTOOLS_METRICS_NAMESPACE: 'ServerlessDataPipeline',
          // Directly to the instance, as the owner.
          DB_HOST: { 'Fn::GetAtt': [logicalId(store.instance!), 'Endpoint.Address'] },
          DB_PORT: '5432',
          DB_NAME: 'pipeline',
          DB_SECRET_ARN: { Ref: logicalId(store.ownerSecret) },
          DB_TLS: 'verify-full',
        },
      },
    });
  });

  test('every Lambda log group of ours has a retention', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const group of groups) expect(group.Properties.RetentionInDays).toBe(90);
  });

  test('only the migrator can read the owner secret; it reads all four', () => {
    const readers = secretReadersByPolicy(template);
    const migratorPolicy = logicalId(store.migrationFunction.role!.node.findChild('DefaultPolicy'));
    const secrets = [store.ownerSecret, store.writerSecret, store.analyticsSecret, store.sqlReaderSecret].map(logicalId);
    expect(readers.get(migratorPolicy)!.sort()).toEqual([...secrets].sort());
    const ownerReaders = [...readers].filter(([, refs]) => refs.includes(logicalId(store.ownerSecret))).map(([id]) => id);
    expect(ownerReaders).toEqual([migratorPolicy]);
  });

  test('no AWS managed policies on the roles of our functions (only RDS Enhanced Monitoring\'s own)', () => {
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      const service = role.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service;
      if (service === 'monitoring.rds.amazonaws.com') {
        expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain('AmazonRDSEnhancedMonitoringRole');
      } else {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    }
  });

  test('Enhanced Monitoring every 60 s and the postgresql and upgrade logs exported', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      MonitoringInterval: 60,
      EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
    });
  });

  test('connectionEnvironment is the handler contract, with the level\'s secret and no secret values', () => {
    const env = stack.resolve(store.connectionEnvironment(AccessLevel.WRITER));
    expect(env).toEqual({
      DB_HOST: { 'Fn::GetAtt': [logicalId(store.instance!), 'Endpoint.Address'] },
      DB_PORT: '5432',
      DB_NAME: 'pipeline',
      DB_SECRET_ARN: { Ref: logicalId(store.writerSecret) },
      DB_TLS: 'verify-full',
    });
    expect(store.secretFor(AccessLevel.RESTRICTED_READER)).toBe(store.sqlReaderSecret);
    expect(store.secretFor(AccessLevel.ANALYTICS_READER)).toBe(store.analyticsSecret);
    expect(store.secretFor(AccessLevel.OWNER)).toBe(store.ownerSecret);
  });

  test('metrics of the instance', () => {
    const cpu = store.metricCPUUtilization();
    expect(cpu.namespace).toBe('AWS/RDS');
    expect(cpu.metricName).toBe('CPUUtilization');
    expect(stack.resolve(cpu.dimensions)).toEqual({ DBInstanceIdentifier: { Ref: logicalId(store.instance!) } });
    expect(store.metricFreeStorageSpace().metricName).toBe('FreeStorageSpace');
    expect(store.metricDatabaseConnections({ period: Duration.minutes(1) }).period.toMinutes()).toBe(1);
    expect(() => store.metricServerlessDatabaseCapacity()).toThrow(/AURORA_POSTGRES_SERVERLESS_V2 only/);
  });

  snapshotTest('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('CanonicalStore options', () => {
  test('RemovalPolicy.DESTROY deletes the database and turns deletion protection off', () => {
    const { template } = storeStack({ removalPolicy: RemovalPolicy.DESTROY });
    template.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtection: false }),
    });
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete' });
  });

  test('deletionProtection can be set independently', () => {
    const { template } = storeStack({ removalPolicy: RemovalPolicy.DESTROY, deletionProtection: true });
    template.hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: true });
  });

  test('instance size, storage, Multi-AZ, backups, port, database name and rotation interval', () => {
    const { template } = storeStack({
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE),
      allocatedStorage: 100,
      maxAllocatedStorage: 500,
      multiAz: true,
      backupRetention: Duration.days(14),
      port: 6543,
      databaseName: 'customers',
      rotationInterval: Duration.days(7),
      postgresVersion: undefined,
    });
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceClass: 'db.r7g.large',
      AllocatedStorage: '100',
      MaxAllocatedStorage: 500,
      MultiAZ: true,
      BackupRetentionPeriod: 14,
      Port: '6543',
      DBName: 'customers',
    });
    template.allResourcesProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(7 days)' } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DB_PORT: '6543', DB_NAME: 'customers' }) },
    });
  });

  test('a customer-managed key encrypts the storage and the secrets, and the rotation functions get it', () => {
    const stack = createTestStack();
    const key = new kms.Key(stack, 'Key');
    new CanonicalStore(stack, 'Store', { encryptionKey: key });
    const template = Template.fromStack(stack);
    const keyArn = { 'Fn::GetAtt': [logicalId(key), 'Arn'] };
    template.hasResourceProperties('AWS::RDS::DBInstance', { StorageEncrypted: true, KmsKeyId: keyArn });
    template.allResourcesProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
    template.allResourcesProperties('AWS::SecretsManager::RotationSchedule', {
      HostedRotationLambda: Match.objectLike({ KmsKeyArn: keyArn }),
    });
  });

  test('the migrator can be tuned', () => {
    const { template } = storeStack({
      lambdaTuning: { memorySize: 1024, timeout: Duration.minutes(15), environment: { POWERTOOLS_LOG_LEVEL: 'DEBUG' }, reservedConcurrentExecutions: 1 },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Timeout: 900,
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ POWERTOOLS_LOG_LEVEL: 'DEBUG', DB_NAME: 'pipeline' }) },
    });
  });

  test('user migrations are passed in order to the custom resource', () => {
    const migrations = [{ id: '0001_views', sql: 'CREATE VIEW a AS SELECT 1;' }, { id: '0002.more-views', sql: 'SELECT 2;' }];
    const { template } = storeStack({ migrations });
    template.hasResourceProperties('Custom::CanonicalStoreMigrations', { UserMigrations: migrations });
  });

  test('Migrations.fromDirectory reads *.sql sorted by name', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
    try {
      fs.writeFileSync(path.join(dir, '0002_second.sql'), 'SELECT 2;');
      fs.writeFileSync(path.join(dir, '0001_first.sql'), 'SELECT 1;');
      fs.writeFileSync(path.join(dir, 'README.md'), 'not a migration');
      expect(Migrations.fromDirectory(dir)).toEqual([
        { id: '0001_first', sql: 'SELECT 1;' },
        { id: '0002_second', sql: 'SELECT 2;' },
      ]);
      expect(() => Migrations.fromDirectory(path.join(dir, 'missing'))).toThrow(/is not a directory/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('NAT gateways add public and private subnets; the database stays isolated', () => {
    const { store, template } = storeStack({ natGateways: 1 });
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 6);
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      SubnetIds: store.vpc.isolatedSubnets.map((s) => ({ Ref: logicalId(s) })),
    });
  });

  test('the permissions boundary is applied to every role', () => {
    const stack = createTestStack();
    const boundary = new iam.ManagedPolicy(stack, 'Boundary', { statements: [new iam.PolicyStatement({ actions: ['*'], resources: ['*'] })] });
    new CanonicalStore(stack, 'Store', { permissionsBoundary: boundary, proxy: true });
    const template = Template.fromStack(stack);
    const roles = Object.values(template.findResources('AWS::IAM::Role'));
    expect(roles.length).toBeGreaterThanOrEqual(5);
    for (const role of roles) expect(role.Properties.PermissionsBoundary).toEqual({ Ref: logicalId(boundary) });
  });
});

describe('CanonicalStore with Aurora PostgreSQL Serverless v2', () => {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store', {
    engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2,
    serverlessV2MinCapacity: 0.5,
    serverlessV2MaxCapacity: 8,
    multiAz: true,
  });
  const template = Template.fromStack(stack);

  test('an encrypted, TLS-only Serverless v2 cluster with a writer and a reader that scales with it', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
      BackupRetentionPeriod: 7,
      DeletionProtection: true,
      EnableCloudwatchLogsExports: ['postgresql'],
      DatabaseName: 'pipeline',
    });
    template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    template.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', { Parameters: { 'rds.force_ssl': '1' } });
    template.resourceCountIs('AWS::RDS::DBInstance', 2);
    template.allResourcesProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
    template.hasResourceProperties('AWS::RDS::DBInstance', { PromotionTier: 1 });
  });

  test('secrets are attached to the cluster; the migrator waits for the writer instance', () => {
    template.allResourcesProperties('AWS::SecretsManager::SecretTargetAttachment', {
      TargetType: 'AWS::RDS::DBCluster',
      TargetId: { Ref: logicalId(store.cluster!) },
    });
    const writer = logicalId(store.cluster!.node.findChild('Writer'));
    template.hasResource('Custom::CanonicalStoreMigrations', { DependsOn: Match.arrayWith([logicalId(store.cluster!), writer]) });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DB_HOST: { 'Fn::GetAtt': [logicalId(store.cluster!), 'Endpoint.Address'] } }) },
    });
  });

  test('ACU and memory metrics; no storage metric', () => {
    expect(stack.resolve(store.metricServerlessDatabaseCapacity().dimensions)).toEqual({ DBClusterIdentifier: { Ref: logicalId(store.cluster!) } });
    expect(store.metricFreeableMemory().metricName).toBe('FreeableMemory');
    expect(() => store.metricFreeStorageSpace()).toThrow(/RDS_POSTGRES only/);
  });
});

describe('CanonicalStore with RDS Proxy', () => {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store', { proxy: true });
  const template = Template.fromStack(stack);

  test('a TLS-only proxy with the four users, in the database security group', () => {
    template.hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      Auth: Match.arrayEquals(
        [store.ownerSecret, store.writerSecret, store.analyticsSecret, store.sqlReaderSecret].map((s) =>
          Match.objectLike({ SecretArn: { Ref: logicalId(s) } })),
      ),
      VpcSecurityGroupIds: [{ 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] }],
    });
    // The proxy reaches the database inside the shared security group.
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      GroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
    });
  });

  test('handlers connect through the proxy; the migrator connects to the instance', () => {
    expect(stack.resolve(store.connectionEnvironment(AccessLevel.ANALYTICS_READER).DB_HOST))
      .toEqual({ 'Fn::GetAtt': [logicalId(store.proxy!), 'Endpoint'] });
    expect(stack.resolve(store.endpoint)).toEqual({ 'Fn::GetAtt': [logicalId(store.proxy!), 'Endpoint'] });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DB_HOST: { 'Fn::GetAtt': [logicalId(store.instance!), 'Endpoint.Address'] } }) },
    });
  });
});

describe('RDS Proxy with a database port other than 5432', () => {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store', { proxy: true, port: 5433 });
  const handler = new lambda.Function(stack, 'Handler', {
    runtime: lambda.Runtime.NODEJS_22_X,
    code: lambda.Code.fromInline('exports.handler = async () => {}'),
    handler: 'index.handler',
    vpc: store.vpc,
    vpcSubnets: store.vpcSubnets,
  });
  store.grantConnect(handler, AccessLevel.WRITER);
  const template = Template.fromStack(stack);

  test('handlers get the proxy\'s port (5432); the database, the migrator and the rotation use 5433', () => {
    expect(store.port).toBe(5432);
    expect(store.databasePort).toBe(5433);
    expect(store.connectionEnvironment(AccessLevel.WRITER).DB_PORT).toBe('5432');
    template.hasResourceProperties('AWS::RDS::DBInstance', { Port: '5433' });
    // The migrator connects to the instance directly, on the database's port.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DB_HOST: { 'Fn::GetAtt': [logicalId(store.instance!), 'Endpoint.Address'] }, DB_PORT: '5433' }) },
    });
    const sg = { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] };
    // Proxy -> database, migrator -> database, rotation -> database: all on 5433.
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 5433, ToPort: 5433, GroupId: sg, SourceSecurityGroupId: sg });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5433, GroupId: sg, SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StoreMigrationFunctionSecurityGroup'), 'GroupId'] },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5433, GroupId: sg, SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(store.rotationSecurityGroup), 'GroupId'] },
    });
  });

  test('grantConnect opens the proxy\'s port 5432 to a handler', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      ToPort: 5432,
      GroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HandlerSecurityGroup'), 'GroupId'] },
    });
  });
});

describe('Availability Zones of the database subnets', () => {
  function byoVpc(stack: Stack, zones: string[]): ec2.IVpc {
    return ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-12345',
      availabilityZones: zones,
      isolatedSubnetIds: zones.map((_, i) => `subnet-${i}`),
      vpcCidrBlock: '10.1.0.0/16',
    });
  }

  test('subnets in one Availability Zone are a synth error naming the prop', () => {
    const stack = createTestStack();
    expect(() => new CanonicalStore(stack, 'Store', { vpc: byoVpc(stack, ['eu-west-1a']), createVpcEndpoints: false }))
      .toThrow(/^vpc: the database subnets \(subnet-0\) are in 1 Availability Zone\(s\) \(eu-west-1a\); a DB subnet group needs subnets in at least two/);
  });

  test('vpcSubnets choosing subnets of one zone is a synth error naming vpcSubnets', () => {
    const stack = createTestStack();
    const vpc = byoVpc(stack, ['eu-west-1a', 'eu-west-1b']);
    expect(() => new CanonicalStore(stack, 'Store', { vpc, vpcSubnets: { availabilityZones: ['eu-west-1b'] }, createVpcEndpoints: false }))
      .toThrow(/^vpcSubnets: .* in 1 Availability Zone\(s\) \(eu-west-1b\)/);
  });

  test('subnets in two zones, and subnets imported without their zone, are accepted', () => {
    const stack = createTestStack();
    expect(() => new CanonicalStore(stack, 'Store', { vpc: byoVpc(stack, ['eu-west-1a', 'eu-west-1b']), createVpcEndpoints: false })).not.toThrow();
    const other = createTestStack();
    const vpc = byoVpc(other, ['eu-west-1a', 'eu-west-1b']);
    const subnets = [ec2.Subnet.fromSubnetId(other, 'A', 'subnet-x'), ec2.Subnet.fromSubnetId(other, 'B', 'subnet-y')];
    expect(() => new CanonicalStore(other, 'Store', { vpc, vpcSubnets: { subnets }, createVpcEndpoints: false })).not.toThrow();
  });
});

describe('bring your own VPC and VPC endpoints', () => {
  test('BYO VPC and security group with createVpcEndpoints: false creates no VPC and no endpoint', () => {
    const stack = createTestStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-12345',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      isolatedSubnetIds: ['subnet-a', 'subnet-b'],
      vpcCidrBlock: '10.1.0.0/16',
    });
    const securityGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-12345');
    const store = new CanonicalStore(stack, 'Store', { vpc, securityGroup, createVpcEndpoints: false });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', { SubnetIds: ['subnet-a', 'subnet-b'] });
    template.hasResourceProperties('AWS::RDS::DBInstance', { VPCSecurityGroups: ['sg-12345'] });
    expect(store.securityGroup).toBe(securityGroup);
  });

  test('BYO VPC gets the Secrets Manager endpoint by default, in the database subnets', () => {
    const stack = createTestStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 1 });
    new CanonicalStore(stack, 'Store', { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      SubnetIds: vpc.privateSubnets.map((s) => ({ Ref: logicalId(s) })),
    });
    expect(missingVpcEndpoints(stack)).toEqual([]);
  });

  test('an endpoint is created once per VPC, however often it is asked for', () => {
    const stack = createTestStack();
    const store = new CanonicalStore(stack, 'Store');
    const second = new CanonicalStore(stack, 'Second', { vpc: store.vpc });
    const first = store.ensureVpcEndpoint(PipelineAwsService.SQS);
    expect(store.ensureVpcEndpoint(PipelineAwsService.SQS)).toBe(first);
    expect(second.ensureVpcEndpoint(PipelineAwsService.SQS)).toBe(first);
    expect(ensureVpcEndpoint(store, store.vpc, PipelineAwsService.SECRETS_MANAGER))
      .toBe(ensureVpcEndpoint(second, store.vpc, PipelineAwsService.SECRETS_MANAGER));
    store.ensureVpcEndpoint(PipelineAwsService.S3);
    const template = Template.fromStack(stack);
    // Secrets Manager + SQS (interface) + S3 (gateway), for the two stores.
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 3);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
    });
  });

  test('a VPC created in the app: one set of endpoints, in the VPC\'s stack, whatever the stacks that ask', () => {
    const app = createTestApp();
    const network = new Stack(app, 'Network');
    const vpc = new ec2.Vpc(network, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const a = new Stack(app, 'A');
    const b = new Stack(app, 'B');
    new CanonicalStore(a, 'Store', { vpc });
    new CanonicalStore(b, 'Store', { vpc });
    const endpoints = Template.fromStack(network).findResources('AWS::EC2::VPCEndpoint');
    expect(Object.values(endpoints).map((e) => e.Properties.ServiceName)).toEqual([
      { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.secretsmanager']] },
    ]);
    Template.fromStack(a).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    Template.fromStack(b).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    expect(missingVpcEndpoints(a)).toEqual([]);
    expect(missingVpcEndpoints(b)).toEqual([]);
  });

  test('an imported VPC with a literal id: one set, in the first stack that asks; the other stacks depend on it', () => {
    const app = createTestApp();
    const attrs = {
      vpcId: 'vpc-12345',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      isolatedSubnetIds: ['subnet-a', 'subnet-b'],
      isolatedSubnetRouteTableIds: ['rtb-a', 'rtb-b'],
      vpcCidrBlock: '10.1.0.0/16',
    };
    const first = new Stack(app, 'First');
    const second = new Stack(app, 'Second');
    new CanonicalStore(first, 'Store', { vpc: ec2.Vpc.fromVpcAttributes(first, 'Vpc', attrs) });
    // The same VPC imported again in another stack (as each stack of an app would).
    const vpcAgain = ec2.Vpc.fromVpcAttributes(second, 'Vpc', attrs);
    new CanonicalStore(second, 'Store', { vpc: vpcAgain });
    ensureVpcEndpoint(second, vpcAgain, PipelineAwsService.S3);
    Template.fromStack(first).resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    Template.fromStack(first).hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcId: 'vpc-12345', PrivateDnsEnabled: true, SubnetIds: ['subnet-a', 'subnet-b'] });
    Template.fromStack(second).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    expect(second.dependencies).toContain(first);
    expect(missingVpcEndpoints(second)).toEqual([]);
  });

  test('an imported VPC whose id is a token: a synth error asking to choose; createVpcEndpoints: false works', () => {
    const stack = createTestStack();
    const attrs = {
      vpcId: Fn.importValue('SharedVpcId'),
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      isolatedSubnetIds: ['subnet-a', 'subnet-b'],
    };
    expect(() => new CanonicalStore(stack, 'Store', { vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', attrs) }))
      .toThrow(/^TestStack\/Store: needs a SECRETS_MANAGER VPC endpoint in VPC TestStack\/Vpc, whose id is only known at deploy time.*pass `createVpcEndpoints: false`.*or import the VPC by its literal id/);
    const other = createTestStack();
    new CanonicalStore(other, 'Store', { vpc: ec2.Vpc.fromVpcAttributes(other, 'Vpc', attrs), createVpcEndpoints: false });
    Template.fromStack(other).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  test('every service has an endpoint type', () => {
    const stack = createTestStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    for (const service of Object.values(PipelineAwsService)) ensureVpcEndpoint(stack, vpc, service);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', Object.values(PipelineAwsService).length);
  });
});

describe('grants and imports', () => {
  test('grantConnect opens the port and one secret to the grantee', () => {
    const stack = createTestStack();
    const key = new kms.Key(stack, 'Key');
    const store = new CanonicalStore(stack, 'Store', { encryptionKey: key });
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      handler: 'index.handler',
      vpc: store.vpc,
      vpcSubnets: store.vpcSubnets,
    });
    store.grantConnect(fn, AccessLevel.ANALYTICS_READER);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      GroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(fn.connections.securityGroups[0]), 'GroupId'] },
    });
    const fnPolicy = logicalId(fn.role!.node.findChild('DefaultPolicy'));
    expect(secretReadersByPolicy(template).get(fnPolicy)).toEqual([logicalId(store.analyticsSecret)]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Action: 'kms:Decrypt',
          Resource: { 'Fn::GetAtt': [logicalId(key), 'Arn'] },
          Condition: { StringEquals: { 'kms:ViaService': Match.anyValue() } },
        })]),
      },
      Roles: [{ Ref: logicalId(fn.role!) }],
    });
    // Nothing in the key policy: a grantee in another stack must not make the store's stack depend on it.
    expect(JSON.stringify(template.findResources('AWS::KMS::Key'))).not.toContain(logicalId(fn.role!));
  });

  test('grantConnect takes the network side separately for a grantee without security groups', () => {
    const stack = createTestStack();
    const store = new CanonicalStore(stack, 'Store');
    const role = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    expect(() => store.grantConnect(role, AccessLevel.WRITER)).toThrow(/has no security groups; pass `connectable`/);
    const sg = new ec2.SecurityGroup(stack, 'TaskSg', { vpc: store.vpc });
    store.grantConnect(role, AccessLevel.WRITER, sg);
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(sg), 'GroupId'] },
    });
  });

  test('grantConnect adds an egress rule only where the grantee restricts outbound traffic, and no synth warning', () => {
    const stack = createTestStack();
    const store = new CanonicalStore(stack, 'Store');
    const open = new ec2.SecurityGroup(stack, 'OpenSg', { vpc: store.vpc });
    const restricted = new ec2.SecurityGroup(stack, 'RestrictedSg', { vpc: store.vpc, allowAllOutbound: false });
    store.grantConnect(new iam.Role(stack, 'A', { assumedBy: new iam.AccountRootPrincipal() }), AccessLevel.WRITER, open);
    store.grantConnect(new iam.Role(stack, 'B', { assumedBy: new iam.AccountRootPrincipal() }), AccessLevel.WRITER, restricted);
    const template = Template.fromStack(stack);
    const egress = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties);
    expect(egress).toEqual([expect.objectContaining({
      GroupId: { 'Fn::GetAtt': [logicalId(restricted), 'GroupId'] },
      DestinationSecurityGroupId: { 'Fn::GetAtt': [logicalId(store.securityGroup), 'GroupId'] },
      FromPort: 5432,
      ToPort: 5432,
    })]);
    for (const sg of [open, restricted]) {
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(sg), 'GroupId'] } });
    }
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('Ignoring Egress rule'));
  });

  test('fromCanonicalStoreAttributes shares a store with another stack', () => {
    const app = createTestApp();
    const storeStackA = new Stack(app, 'StoreStack');
    const store = new CanonicalStore(storeStackA, 'Store');
    const consumer = new Stack(app, 'Consumer');
    const imported = CanonicalStore.fromCanonicalStoreAttributes(consumer, 'Imported', {
      endpoint: store.endpoint,
      port: store.port,
      databaseName: store.databaseName,
      vpc: store.vpc,
      securityGroup: store.securityGroup,
      writerSecret: store.writerSecret,
    });
    const fn = new lambda.Function(consumer, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      handler: 'index.handler',
      vpc: imported.vpc,
      vpcSubnets: imported.vpcSubnets,
      environment: imported.connectionEnvironment(AccessLevel.WRITER),
    });
    imported.grantConnect(fn, AccessLevel.WRITER);
    const template = Template.fromStack(consumer);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DB_NAME: 'pipeline', DB_PORT: '5432', DB_TLS: 'verify-full', DB_HOST: { 'Fn::ImportValue': Match.anyValue() } }) },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })]) },
    });
    // The ingress rule lives in the consumer stack so the store stack does not depend on it.
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 1);
    expect(imported.vpcSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED });
    expect(() => imported.secretFor(AccessLevel.OWNER)).toThrow(/pass `ownerSecret`/);
    // The VPC is created in the store's stack: its endpoints live there, whoever asks for them.
    const endpoint = imported.ensureVpcEndpoint(PipelineAwsService.SQS);
    expect(Stack.of(endpoint)).toBe(storeStackA);
  });

  test('a grantee in another stack with a customer-managed key: no dependency cycle', () => {
    const app = createTestApp();
    const storeStackA = new Stack(app, 'StoreStack');
    const key = new kms.Key(storeStackA, 'Key', { enableKeyRotation: true });
    const store = new CanonicalStore(storeStackA, 'Store', { encryptionKey: key });
    const consumer = new Stack(app, 'Consumer');
    const fn = new lambda.Function(consumer, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      handler: 'index.handler',
      vpc: store.vpc,
      environment: store.connectionEnvironment(AccessLevel.WRITER),
    });
    store.grantConnect(fn, AccessLevel.WRITER);
    expect(() => app.synth()).not.toThrow();
    expect(consumer.dependencies).toContain(storeStackA);
    expect(storeStackA.dependencies).not.toContain(consumer);
  });

  test('imported secrets are used as given', () => {
    const stack = createTestStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['a', 'b'], isolatedSubnetIds: ['s-1', 's-2'] });
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:reader-AbCdEf');
    const imported = CanonicalStore.fromCanonicalStoreAttributes(stack, 'Imported', {
      endpoint: 'db.example.internal',
      databaseName: 'pipeline',
      vpc,
      securityGroup: ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-1'),
      sqlReaderSecret: secret,
    });
    expect(imported.connectionEnvironment(AccessLevel.RESTRICTED_READER)).toEqual({
      DB_HOST: 'db.example.internal',
      DB_PORT: '5432',
      DB_NAME: 'pipeline',
      DB_SECRET_ARN: secret.secretArn,
      DB_TLS: 'verify-full',
    });
    expect(() => imported.secretFor(AccessLevel.WRITER)).toThrow(/writerSecret/);
  });
});

describe('validation', () => {
  const invalid: Array<[string, CanonicalStoreProps, RegExp]> = [
    ['duplicate migration ids', { migrations: [{ id: 'a', sql: 'SELECT 1' }, { id: 'a', sql: 'SELECT 2' }] }, /migrations: duplicate id "a"/],
    ['a migration id with a slash', { migrations: [{ id: '../a', sql: 'SELECT 1' }] }, /migrations\[0\]\.id "\.\.\/a" is invalid/],
    ['an empty migration id', { migrations: [{ id: '', sql: 'SELECT 1' }] }, /migrations\[0\]\.id "" is invalid/],
    ['an empty migration', { migrations: [{ id: 'a', sql: '  ' }] }, /migrations: "a" has no SQL/],
    ['min ACU above max ACU', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, serverlessV2MinCapacity: 8, serverlessV2MaxCapacity: 4 }, /serverlessV2MinCapacity \(8\) must not be greater than serverlessV2MaxCapacity \(4\)/],
    ['ACUs off the 0.5 steps', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, serverlessV2MaxCapacity: 4.2 }, /serverlessV2MaxCapacity must be between 1 and 256 ACUs in steps of 0.5/],
    ['an Aurora prop with RDS', { serverlessV2MaxCapacity: 4 }, /serverlessV2MaxCapacity does not apply to engine RDS_POSTGRES/],
    ['an RDS prop with Aurora', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, allocatedStorage: 50 }, /allocatedStorage does not apply to engine AURORA_POSTGRES_SERVERLESS_V2/],
    ['too little storage', { allocatedStorage: 10 }, /allocatedStorage must be a whole number of GiB between 20 and 65536/],
    ['max storage below storage', { allocatedStorage: 50, maxAllocatedStorage: 40 }, /maxAllocatedStorage \(40\) must not be smaller than allocatedStorage \(50\)/],
    ['one AZ', { maxAzs: 1 }, /maxAzs must be at least 2/],
    ['negative NAT gateways', { natGateways: -1 }, /natGateways must be a non-negative integer/],
    ['backups kept too long', { backupRetention: Duration.days(40) }, /backupRetention must be between 1 day and 35 days/],
    ['rotation too often', { rotationInterval: Duration.hours(1) }, /rotationInterval must be between 4 hours and 1000 days/],
    ['a reserved database name', { databaseName: 'postgres' }, /databaseName "postgres" is invalid/],
    ['a port RDS refuses', { port: 80 }, /port must be between 1150 and 65535/],
    ['too little memory for the migrator', { lambdaTuning: { memorySize: 64 } }, /lambdaTuning\.memorySize must be an integer between 128 and 10240/],
    ['a migrator timeout over 15 minutes', { lambdaTuning: { timeout: Duration.minutes(20) } }, /lambdaTuning\.timeout must be between 1 second and 15 minutes/],
    ['overriding the handler contract', { lambdaTuning: { environment: { DB_HOST: 'elsewhere' } } }, /lambdaTuning\.environment cannot set DB_HOST/],
  ];

  test.each(invalid)('rejects %s', (_name, props, message) => {
    expect(() => new CanonicalStore(createTestStack(), 'Store', props)).toThrow(message);
  });

  test('a BYO VPC without isolated subnets needs vpcSubnets', () => {
    const stack = createTestStack();
    expect(() => new CanonicalStore(stack, 'Store', { vpc: new ec2.Vpc(stack, 'Vpc') })).toThrow(/vpc has no isolated subnets: pass `vpcSubnets`/);
  });

  test('natGateways and maxAzs only apply to the created VPC', () => {
    const stack = createTestStack();
    const vpc = new ec2.Vpc(stack, 'Vpc');
    expect(() => new CanonicalStore(stack, 'A', { vpc, natGateways: 1 })).toThrow(/natGateways applies to the VPC the construct creates/);
    expect(() => new CanonicalStore(stack, 'B', { vpc, maxAzs: 3 })).toThrow(/maxAzs applies to the VPC the construct creates/);
  });
});

describe('cdk-nag AwsSolutions and HIPAA Security', () => {
  const variants: Array<[string, (stack: Stack) => CanonicalStoreProps]> = [
    ['defaults', () => ({})],
    ['Aurora Serverless v2, Multi-AZ, proxy', () => ({ engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, multiAz: true, proxy: true })],
    ['RDS Multi-AZ, proxy, CMK, other port, NAT gateway', (stack) => ({
      multiAz: true, proxy: true, encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }), port: 6543, natGateways: 1,
    })],
    ['BYO VPC without endpoints, permissions boundary', (stack) => ({
      vpc: new ec2.Vpc(stack, 'Vpc', { flowLogs: { FlowLog: {} } }),
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      createVpcEndpoints: false,
      permissionsBoundary: iam.ManagedPolicy.fromManagedPolicyName(stack, 'Boundary', 'boundary'),
    })],
  ];

  variants.push(['imported VPC with a known CIDR, in an account and region', (stack) => ({
    vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-1', vpcCidrBlock: '10.1.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'], isolatedSubnetIds: ['subnet-1', 'subnet-2'],
    }),
  })]);

  test.each(variants)('%s: no unacknowledged errors or warnings', (name, props) => {
    const stack = createTestStack('TestStack', name.includes('account') ? { env: { account: '111111111111', region: 'eu-west-1' } } : {});
    const store = new CanonicalStore(stack, 'Store', props(stack));
    store.grantConnect(store.migrationFunction, AccessLevel.WRITER);
    const report = runNagChecks(stack, { hipaa: true });
    // The user's own VPC in the BYO variant is not the construct's.
    const ours = (f: NagFinding) => !f.path.startsWith('/TestStack/Vpc/');
    expect(formatNagFindings(report.errors.filter(ours))).toBe('');
    expect(formatNagFindings(report.warnings.filter(ours))).toBe('');
    // Every acknowledgement is needed: none hides a finding that does not occur.
    expect(unusedNagAcknowledgements(stack, report)).toEqual([]);
  });
});

describe('backupPlan', () => {
  function withPlan(engine?: StoreEngine): { stack: Stack; store: CanonicalStore; template: Template } {
    const app = createTestApp();
    const planStack = new Stack(app, 'Backups');
    const plan = new backup.BackupPlan(planStack, 'Plan', { backupVault: new backup.BackupVault(planStack, 'Vault') });
    plan.addRule(backup.BackupPlanRule.daily());
    const stack = new Stack(app, 'TestStack');
    const store = new CanonicalStore(stack, 'Store', { backupPlan: plan, engine });
    return { stack, store, template: Template.fromStack(stack) };
  }

  test('the database joins the given plan (another stack): one selection whose role may back up and restore', () => {
    const { store, template } = withPlan();
    template.resourceCountIs('AWS::Backup::BackupSelection', 1);
    template.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupPlanId: { 'Fn::ImportValue': Match.stringLikeRegexp('Backups:.*Plan') },
      BackupSelection: Match.objectLike({
        Resources: [{ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':rds:'), ':db:', { Ref: logicalId(store.instance!) }])] }],
      }),
    });
    const role = template.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'backup.amazonaws.com' } })] }) } });
    const policies = Object.values(role).flatMap((r) => r.Properties.ManagedPolicyArns.map((a: any) => JSON.stringify(a)));
    expect(policies.sort()).toEqual([
      expect.stringContaining('service-role/AWSBackupServiceRolePolicyForBackup'),
      expect.stringContaining('service-role/AWSBackupServiceRolePolicyForRestores'),
    ]);
    expect(store.backupSelection).toBeDefined();
  });

  test('an Aurora cluster joins it by its cluster ARN', () => {
    const { store, template } = withPlan(StoreEngine.AURORA_POSTGRES_SERVERLESS_V2);
    template.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: Match.objectLike({
        Resources: [{ 'Fn::Join': ['', Match.arrayWith([':cluster:', { Ref: logicalId(store.cluster!) }])] }],
      }),
    });
  });

  test('HIPAA RDSInBackupPlan is met by the selection, not acknowledged; without a plan it is acknowledged with the reason', () => {
    const { stack } = withPlan();
    const report = runNagChecks(stack, { hipaa: true });
    const all = [...report.errors, ...report.warnings];
    expect(all.filter((f) => f.message.startsWith('HIPAA.Security-RDSInBackupPlan'))).toEqual([]);
    expect(formatNagFindings(all.filter((f) => !f.path.startsWith('/TestStack/Vpc/')))).toBe('');
    expect(unusedNagAcknowledgements(stack, report)).toEqual([]);

    const alone = storeStack();
    const instance = alone.store.instance!.node.defaultChild as any;
    expect(JSON.stringify(instance.getMetadata('cdk_nag'))).toContain('HIPAA.Security-RDSInBackupPlan');
    expect(alone.store.backupSelection).toBeUndefined();
    alone.template.resourceCountIs('AWS::Backup::BackupSelection', 0);
  });
});

describe('logEncryptionKey', () => {
  testLogEncryptionKey('the migrator\'s, migrations provider\'s and VPC flow log groups', 3, (withKey) => {
    const stack = createTestStack();
    return { stack, construct: new CanonicalStore(stack, 'Store', logKeyProps(withKey)(stack)) };
  });
});
