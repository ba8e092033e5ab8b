import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AiAnalyzer, AiAnalyzerProps, AnomalyThresholds, BedrockModel } from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';
import { snapshotTest } from './construct-support/floor';
import { logKeyProps, testLogEncryptionKey } from './construct-support/log-encryption';
import { formatNagFindings, NagFinding, NagReport, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { endpointsByVpc, missingVpcEndpoints } from './construct-support/vpc-endpoints';

afterAll(removeTestAppDirs);

/**
 * Findings on the construct's resources: those on the test's own VPC are not the construct's.
 * Everything else is acknowledged by the construct (its defaults: no key, topic, VPC or backup
 * plan given) or must not occur.
 */
function unsettled(report: NagReport): { errors: NagFinding[]; warnings: NagFinding[] } {
  const ours = (f: NagFinding) => !f.path.startsWith('/TestStack/Vpc/');
  return { errors: report.errors.filter(ours), warnings: report.warnings.filter(ours) };
}

interface Built {
  readonly stack: Stack;
  readonly analyzer: AiAnalyzer;
  readonly template: Template;
}

/** `props` may be built in the stack (e.g. a key of it). */
function build(
  props: Partial<AiAnalyzerProps> | ((stack: Stack) => Partial<AiAnalyzerProps>) = {}, stackProps: StackProps = {}, synth = true,
): Built {
  const stack = createTestStack('TestStack', stackProps);
  const own = typeof props === 'function' ? props(stack) : props;
  const analyzer = new AiAnalyzer(stack, 'Analyzer', {
    eventBus: new events.EventBus(stack, 'Bus'),
    dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'),
    thresholds: AnomalyThresholds.vitalSigns('health-readings'),
    ...own,
  });
  return { stack, analyzer, template: synth ? Template.fromStack(stack) : (undefined as unknown as Template) };
}

/** All statements of the analyzer function's role policy. */
function functionStatements(b: Built): any[] {
  const roleId = b.stack.resolve((b.analyzer.analyzerFunction.role!.node.defaultChild as iam.CfnRole).logicalId);
  const policies = Object.values(b.template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId));
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function statementsWith(statements: any[], action: string): any[] {
  return statements.filter((s) => [].concat(s.Action).some((a: string) => a === action || (a.endsWith('*') && action.startsWith(a.slice(0, -1)))));
}

describe('AiAnalyzer defaults (environment-agnostic stack)', () => {
  const b = build({ sources: ['health-readings', 'crm-customers'] });
  const { template } = b;

  test('a rule on the bus for Ingestion Succeeded of the chosen sources, to the queue with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
      EventPattern: {
        'source': ['cdk-serverless-data-pipeline.ingestion'],
        'detail-type': ['Ingestion Succeeded'],
        'detail': { sourceName: ['health-readings', 'crm-customers'] },
      },
      Targets: [Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('AnalyzerQueue'), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('AnalyzerDeadLetterQueue'), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
      })],
    });
  });

  test('without sources, every source is analyzed (no detail filter)', () => {
    const all = build({}).template;
    const rules = Object.values(all.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties.EventPattern.detail).toBeUndefined();
  });

  test('queue: encrypted, TLS only, redrive after 3 receives, visibility six times the function timeout; consumed one at a time, 2 concurrently', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 1800,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('AnalyzerDeadLetterQueue'), 'Arn'] }, maxReceiveCount: 3 },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('the function: Node.js 24 on ARM, 1 GiB, 5 minutes, its configuration in the environment (no secret values)', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({
          DATA_BUCKET: 'pipeline-data',
          PROCESSED_PREFIX: 'processed/',
          ANALYSIS_PREFIX: 'analyses/',
          MODEL_ID: { 'Fn::FindInMap': ['NovaLiteInferenceProfiles', { Ref: 'AWS::Region' }, 'ProfileId'] },
          PSEUDONYMIZE: 'true',
          PSEUDONYM_SECRET_ARN: { Ref: Match.stringLikeRegexp('AnalyzerPseudonymizationKey') },
          PRICE_INPUT_PER_MILLION_TOKENS: '0.06',
          PRICE_OUTPUT_PER_MILLION_TOKENS: '0.24',
          THRESHOLDS: Match.stringLikeRegexp('"field":"heart_rate","min":40,"max":180'),
          MAX_RECEIVE_COUNT: '3',
        }),
      },
    });
  });

  test('the default model: Nova Lite through the inference profile of the region, from a mapping resolved at deploy time', () => {
    const mapping = template.toJSON().Mappings.NovaLiteInferenceProfiles;
    expect(mapping['us-east-1']).toMatchObject({ ProfileId: 'us.amazon.nova-lite-v1:0', Destination1: 'us-east-1', Destination3: 'us-west-2' });
    expect(mapping['eu-central-1'].ProfileId).toBe('eu.amazon.nova-lite-v1:0');
    expect(mapping['ap-southeast-2'].ProfileId).toBe('apac.amazon.nova-lite-v1:0');
    // Each row lists the destinations of its geography only.
    expect(Object.entries(mapping['eu-west-1']).filter(([k]) => k.startsWith('Destination')).every(([, v]) => String(v).startsWith('eu-'))).toBe(true);
  });

  test('IAM: bedrock:InvokeModel on the inference profile, and on Nova Lite in its regions only through that profile', () => {
    const bedrock = statementsWith(functionStatements(b), 'bedrock:InvokeModel');
    expect(bedrock).toHaveLength(2);
    const region = { Ref: 'AWS::Region' };
    const profileArn = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', region, ':', { Ref: 'AWS::AccountId' }, ':inference-profile/',
        { 'Fn::FindInMap': ['NovaLiteInferenceProfiles', region, 'ProfileId'] }]],
    };
    expect(bedrock[0]).toMatchObject({ Effect: 'Allow', Action: 'bedrock:InvokeModel', Resource: profileArn });
    expect(bedrock[1].Action).toBe('bedrock:InvokeModel');
    expect(bedrock[1].Resource).toHaveLength(7);
    expect(bedrock[1].Resource[0]).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { 'Fn::FindInMap': ['NovaLiteInferenceProfiles', region, 'Destination1'] },
        '::foundation-model/amazon.nova-lite-v1:0']],
    });
    expect(bedrock[1].Condition).toEqual({ StringLike: { 'bedrock:InferenceProfileArn': profileArn } });
    expect(JSON.stringify(bedrock)).not.toMatch(/bedrock:\*|foundation-model\/\*|"Resource":"\*"/);
  });

  test('IAM: S3 read on processed/ and manifests/ only, write on analyses/ only; no listing, no deletes', () => {
    const statements = functionStatements(b);
    const s3Statements = statements.filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('s3:')));
    expect(s3Statements).toEqual([
      expect.objectContaining({
        Action: 's3:GetObject',
        Resource: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-data/processed/*']] },
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-data/manifests/*']] },
        ],
      }),
      expect.objectContaining({ Action: 's3:PutObject', Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-data/analyses/*']] } }),
    ]);
  });

  test('IAM: the two tables with the item actions the handler uses, PutEvents on the bus, the pseudonymization key', () => {
    const statements = functionStatements(b);
    const ddb = statements.filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('dynamodb:')));
    expect(ddb.map((s) => [].concat(s.Action).sort())).toEqual([
      ['dynamodb:GetItem', 'dynamodb:PutItem'],
      ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    ]);
    expect(statementsWith(statements, 'events:PutEvents')[0].Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Bus/), 'Arn'] });
    const secret = statementsWith(statements, 'secretsmanager:GetSecretValue');
    expect(secret[0].Resource).toEqual({ Ref: expect.stringMatching(/^AnalyzerPseudonymizationKey/) });
  });

  test('analysis table: by source and time, index by day, TTL, point-in-time recovery, encrypted, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'sourceName', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        GlobalSecondaryIndexes: [Match.objectLike({
          IndexName: 'byDay',
          KeySchema: [{ AttributeName: 'day', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        })],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        BillingMode: 'PAY_PER_REQUEST',
      }),
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
  });

  test('the pseudonymization key is generated in Secrets Manager and retained', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true }) }),
    });
  });

  test('alarms: dead-letter queue not empty, failed analyses or function errors', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'errors + failed' })]),
    });
  });

  test('metrics: tokens and cost from the handler\'s embedded metrics, by service', () => {
    const metric = b.analyzer.metricInputTokens();
    expect(metric.namespace).toBe('ServerlessDataPipeline');
    expect(metric.metricName).toBe('InputTokens');
    expect(metric.statistic).toBe('Sum');
    expect(b.stack.resolve(metric.dimensions)).toEqual({ service: b.analyzer.serviceName });
    expect(b.analyzer.metricEstimatedCost().metricName).toBe('EstimatedCostUsd');
    expect(b.analyzer.metricOutputTokens().metricName).toBe('OutputTokens');
  });

  snapshotTest('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('AiAnalyzer models and regions', () => {
  test('a stack in eu-west-1 resolves the EU profile at synth (no mapping in the template)', () => {
    const b = build({}, { env: { account: '111111111111', region: 'eu-west-1' } });
    const json = b.template.toJSON();
    expect(json.Mappings).toBeUndefined();
    b.template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MODEL_ID: 'eu.amazon.nova-lite-v1:0' }) } });
    const bedrock = statementsWith(functionStatements(b), 'bedrock:InvokeModel');
    const regions = (bedrock[1].Resource as any[]).map((r) => JSON.stringify(r).match(/bedrock:([a-z0-9-]+)::/)![1]);
    expect(regions.sort()).toEqual(['eu-central-1', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-3']);
  });

  test('a region without a Nova Lite profile is refused at synth with the alternatives named', () => {
    expect(() => build({}, { env: { account: '111111111111', region: 'sa-east-1' } }, false)).toThrow(/no cross-region inference profile known for sa-east-1.*BedrockModel\.foundationModel/);
  });

  test('a foundation model: InvokeModel on that model in the stack region only', () => {
    const b = build({ model: BedrockModel.foundationModel('amazon.nova-micro-v1:0'), modelPricing: { inputPerMillionTokensUsd: 0.035, outputPerMillionTokensUsd: 0.14 } });
    const bedrock = statementsWith(functionStatements(b), 'bedrock:InvokeModel');
    expect(bedrock).toEqual([expect.objectContaining({
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, '::foundation-model/amazon.nova-micro-v1:0']] },
    })]);
    b.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MODEL_ID: 'amazon.nova-micro-v1:0', PRICE_INPUT_PER_MILLION_TOKENS: '0.035' }) },
    });
    expect(b.template.toJSON().Mappings).toBeUndefined();
  });

  test('a user-supplied inference profile: the profile, and the model in each of its regions', () => {
    const b = build({
      model: BedrockModel.inferenceProfile('eu.anthropic.claude-3-haiku-20240307-v1:0', 'anthropic.claude-3-haiku-20240307-v1:0', ['eu-central-1', 'eu-west-1', 'eu-west-3']),
      modelPricing: { inputPerMillionTokensUsd: 0.25, outputPerMillionTokensUsd: 1.25 },
    });
    const bedrock = statementsWith(functionStatements(b), 'bedrock:InvokeModel');
    expect(JSON.stringify(bedrock[0].Resource)).toContain(':inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0');
    expect((bedrock[1].Resource as any[]).map((r) => JSON.stringify(r))).toEqual(['eu-central-1', 'eu-west-1', 'eu-west-3'].map((r) => JSON.stringify({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:bedrock:${r}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0`]],
    })));
  });

  test('another model without prices: a warning that costs use Nova Lite prices', () => {
    const b = build({ model: BedrockModel.foundationModel('amazon.nova-pro-v1:0') });
    Annotations.fromStack(b.stack).hasWarning('/TestStack/Analyzer', Match.stringLikeRegexp('set modelPricing'));
  });
});

describe('AiAnalyzer options', () => {
  test('pseudonymization off: no key, no Secrets Manager access', () => {
    const b = build({ pseudonymizePersonalData: false });
    b.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(statementsWith(functionStatements(b), 'secretsmanager:GetSecretValue')).toEqual([]);
    b.template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PSEUDONYMIZE: 'false' }) } });
  });

  test('encryptionKey: the pseudonymization secret is encrypted with it, and the function may decrypt with it', () => {
    const stack = createTestStack();
    const key = new kms.Key(stack, 'Cmk', { enableKeyRotation: true });
    const analyzer = new AiAnalyzer(stack, 'Analyzer', {
      eventBus: new events.EventBus(stack, 'Bus'), dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'), encryptionKey: key,
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cmk'), 'Arn'] } });
    // Secret.grantRead: the key policy lets the role decrypt through Secrets Manager only.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Action: 'kms:Decrypt',
          Principal: { AWS: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AnalyzerFunctionRole'), 'Arn'] } },
          Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
        })]),
      },
    });
    void analyzer;
    expect(() => new AiAnalyzer(stack, 'Other', {
      eventBus: analyzer.eventBus, dataBucket: analyzer.dataBucket, encryptionKey: key, pseudonymizationKey: analyzer.pseudonymizationKey,
    })).toThrow(/encryptionKey applies to the pseudonymization secret the construct creates/);
  });

  test('analysisRetention sets the TTL days; a separate analysis bucket gets the writes; KMS buckets get exactly the key actions', () => {
    const stack = createTestStack();
    const key = new kms.Key(stack, 'DataKey');
    const data = s3.Bucket.fromBucketAttributes(stack, 'Data', { bucketName: 'pipeline-data', encryptionKey: key });
    const results = s3.Bucket.fromBucketName(stack, 'Results', 'pipeline-results');
    const analyzer = new AiAnalyzer(stack, 'Analyzer', {
      eventBus: events.EventBus.fromEventBusName(stack, 'Bus', 'pipeline'),
      dataBucket: data,
      analysisBucket: results,
      analysisPrefix: 'insights/',
      analysisRetention: Duration.days(90),
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ANALYSIS_TTL_DAYS: '90', ANALYSIS_BUCKET: 'pipeline-results', ANALYSIS_PREFIX: 'insights/', EVENT_BUS_NAME: 'pipeline' }) },
    });
    const statements = functionStatements({ stack, analyzer, template });
    expect(statementsWith(statements, 's3:PutObject')[0].Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-results/insights/*']] });
    expect(statementsWith(statements, 'kms:Decrypt')[0].Action).toBe('kms:Decrypt');
  });

  test('in a VPC: the endpoints for Bedrock Runtime, EventBridge, Secrets Manager, S3 and DynamoDB', () => {
    const stack = createTestStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    new AiAnalyzer(stack, 'Analyzer', {
      eventBus: new events.EventBus(stack, 'Bus'),
      dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'),
      vpc,
    });
    expect(missingVpcEndpoints(stack)).toEqual([]);
    const services = [...endpointsByVpc(Template.fromStack(stack)).values()].flatMap((set) => [...set]);
    expect(services.sort()).toEqual(['bedrock-runtime', 'dynamodb', 'events', 's3', 'secretsmanager']);
  });

  test('alarms notify the topic when one is given', () => {
    const stack = createTestStack();
    const topic = new sns.Topic(stack, 'Ops');
    new AiAnalyzer(stack, 'Analyzer', {
      eventBus: new events.EventBus(stack, 'Bus'),
      dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'),
      alarmTopic: topic,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const template = Template.fromStack(stack);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: Match.stringLikeRegexp('^Ops') }] });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ GlobalSecondaryIndexes: Match.anyValue() }) });
  });

  test.each([
    ['min > max', { thresholds: [{ field: 'heart_rate', min: 200, max: 100 }] }, /min 200 is greater than max 100/],
    ['no bound', { thresholds: [{ field: 'heart_rate' }] }, /needs min, max or both/],
    ['duplicate', { thresholds: [{ field: 'spo2', min: 92 }, { field: 'spo2', min: 90 }] }, /a second threshold for spo2/],
    ['too large', { thresholds: Array.from({ length: 40 }, (_, i) => ({ field: `f${i}`, min: 0, label: 'x'.repeat(40) })) }, /at most 2048 fit/],
    ['maxConcurrency', { maxConcurrency: 1 }, /maxConcurrency must be an integer between 2 and 1000/],
    ['prefix', { analysisPrefix: 'analyses' }, /analysisPrefix must be a key prefix ending with "\/"/],
    ['temperature', { temperature: 2 }, /temperature must be between 0 and 1/],
  ])('invalid props are refused with the prop named: %s', (_name, props, message) => {
    expect(() => build({ thresholds: undefined, ...(props as Partial<AiAnalyzerProps>) }, {}, false)).toThrow(message);
  });

  test('BedrockModel.inferenceProfile needs its regions', () => {
    expect(() => BedrockModel.inferenceProfile('us.x.y-v1:0', 'x.y-v1:0', [])).toThrow(/regions must list/);
    expect(() => BedrockModel.inferenceProfile('us.x.y-v1:0', 'x.y-v1:0', ['Frankfurt'])).toThrow(/not a region name/);
  });
});

describe('cdk-nag', () => {
  test.each([
    ['environment-agnostic', {}, {}],
    ['in a VPC, account and region', { vpc: true }, { env: { account: '111111111111', region: 'us-east-1' } }],
  ])('AwsSolutions and HIPAA Security: no unacknowledged finding (%s), and every acknowledgement is used', (_name, options, stackProps) => {
    const stack = createTestStack('TestStack', stackProps as StackProps);
    const vpc = (options as any).vpc
      ? new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] })
      : undefined;
    if (vpc) vpc.addFlowLog('FlowLog');
    new AiAnalyzer(stack, 'Analyzer', {
      eventBus: new events.EventBus(stack, 'Bus'),
      dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'),
      thresholds: AnomalyThresholds.vitalSigns(),
      vpc,
    });
    const report = runNagChecks(stack, { hipaa: true });
    const { errors, warnings } = unsettled(report);
    expect(formatNagFindings(errors)).toBe('');
    expect(formatNagFindings(warnings)).toBe('');
    expect(unusedNagAcknowledgements(stack, report)).toEqual([]);
  });
});

describe('backupPlan', () => {
  test('the analysis table joins the given plan; the idempotency table never does; HIPAA DynamoDBInBackupPlan met, not acknowledged', () => {
    const b = build((stack) => {
      const plan = new backup.BackupPlan(stack, 'Plan', { backupVault: new backup.BackupVault(stack, 'Vault') });
      plan.addRule(backup.BackupPlanRule.daily());
      return { backupPlan: plan };
    });
    const tableId = b.stack.resolve((b.analyzer.analysisTable.node.defaultChild as any).logicalId);
    b.template.resourceCountIs('AWS::Backup::BackupSelection', 1);
    b.template.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: Match.objectLike({ Resources: [{ 'Fn::GetAtt': [tableId, 'Arn'] }] }),
    });
    expect(b.analyzer.backupSelection).toBeDefined();
    const report = runNagChecks(b.stack, { hipaa: true });
    const all = [...report.errors, ...report.warnings];
    expect(formatNagFindings(all)).toBe('');
    expect(unusedNagAcknowledgements(b.stack, report)).toEqual([]);
    const analysisTableNag = JSON.stringify((b.analyzer.analysisTable.node.defaultChild as any).getMetadata('cdk_nag') ?? {});
    expect(analysisTableNag).not.toContain('DynamoDBInBackupPlan');
  });

  test('without a plan: no selection, the rule acknowledged on both tables with the reason', () => {
    const b = build();
    b.template.resourceCountIs('AWS::Backup::BackupSelection', 0);
    for (const table of [b.analyzer.analysisTable, b.analyzer.idempotencyTable]) {
      expect(JSON.stringify((table.node.defaultChild as any).getMetadata('cdk_nag'))).toContain('HIPAA.Security-DynamoDBInBackupPlan');
    }
  });
});

describe('logEncryptionKey', () => {
  testLogEncryptionKey('the analyzer function\'s log group', 1, (withKey) => {
    const b = build(logKeyProps(withKey));
    return { stack: b.stack, construct: b.analyzer };
  });
});

test('grantReadAnalyses: read the analysis table and its index, and the documents under the analysis prefix', () => {
  const b = build({}, {}, false);
  const reader = new iam.Role(b.stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
  b.analyzer.grantReadAnalyses(reader);
  const template = Template.fromStack(b.stack);
  const roleId = b.stack.resolve((reader.node.defaultChild as iam.CfnRole).logicalId);
  const statements: any[] = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
  const actions = statements.flatMap((st) => [].concat(st.Action)) as string[];
  expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
  expect(actions.filter((a) => /^(dynamodb:(Put|Update|Delete)|s3:(Put|Delete))/.test(a))).toEqual([]);
  const s3Read = statements.find((st) => [].concat(st.Action).includes('s3:GetObject*' as never));
  expect(JSON.stringify(s3Read.Resource)).toContain(`/${b.analyzer.analysisPrefix}*`);
});
