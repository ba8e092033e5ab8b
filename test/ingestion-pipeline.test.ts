/**
 * IngestionPipeline template tests: notifications per prefix, queue + DLQ, event source mapping,
 * least-privilege IAM, VPC endpoints, the staged sources.json, alarms, snapshot, cdk-nag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { BuiltInSources, CanonicalStore, IdNormalization, IngestionPipeline, IngestionPipelineProps, InputFormat, SourceDefinition, TransformType } from '../src';
import { createTestApp, createTestStack, removeTestAppDirs } from './construct-support/app';
import { snapshotTest } from './construct-support/floor';
import { logKeyProps, testLogEncryptionKey } from './construct-support/log-encryption';
import { formatNagFindings, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { missingVpcEndpoints } from './construct-support/vpc-endpoints';
import { renderSourcesConfig } from '../src/ingestion-pipeline/source-config';

afterAll(removeTestAppDirs);

const SOURCES = [BuiltInSources.crmCustomers(), BuiltInSources.erpOrders(), BuiltInSources.erpProducts(), BuiltInSources.healthReadings()];

function pipelineStack(props: Partial<IngestionPipelineProps> = {}, build?: (stack: Stack) => Partial<IngestionPipelineProps>) {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store');
  const pipeline = new IngestionPipeline(stack, 'Ingestion', { store, sources: SOURCES, ...props, ...build?.(stack) });
  return { stack, store, pipeline };
}

function processorStatements(template: Template): any[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes('IngestionProcessorRole'));
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('IngestionPipeline defaults', () => {
  const { stack, store, pipeline } = pipelineStack();
  const template = Template.fromStack(stack);

  test('a versioned, encrypted, SSL-only, private raw bucket with access logs and lifecycle rules, retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'raw-data/' }),
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({ Id: 'abort-incomplete-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
            Match.objectLike({ Id: 'processed', Prefix: 'processed/', Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }] }),
            Match.objectLike({ Id: 'staging', Prefix: 'staging/', ExpirationInDays: 30 }),
            Match.objectLike({ Id: 'rejected', Prefix: 'rejected/', ExpirationInDays: 365 }),
          ],
        },
      }),
    });
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(JSON.stringify(policies)).toContain('"aws:SecureTransport":"false"');
  });

  test('one S3 notification per source prefix, to the queue', () => {
    const notifications = Object.values(template.findResources('Custom::S3BucketNotifications'));
    expect(notifications).toHaveLength(1);
    const configs = notifications[0].Properties.NotificationConfiguration.QueueConfigurations;
    expect(configs.map((c: any) => [c.Events, c.Filter.Key.FilterRules])).toEqual(SOURCES.map((s) => [['s3:ObjectCreated:*'], [{ Name: 'prefix', Value: s.prefix }]]));
    for (const c of configs) expect(c.QueueArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^IngestionQueue/), 'Arn'] });
  });

  test('an SSE-SQS queue with a dead-letter queue after 3 attempts, and a visibility timeout of 6x the function timeout', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 5400,
      MessageRetentionPeriod: 1209600,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestionDeadLetterQueue'), 'Arn'] }, maxReceiveCount: 3 },
    });
    template.resourceCountIs('AWS::SQS::Queue', 2);
  });

  test('the event source mapping reports partial batch failures and caps concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  test('the processor runs in the store VPC as the writer, with the bus and the receive count', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^IngestionPipeline processor'),
      Runtime: 'nodejs24.x',
      MemorySize: 1769,
      Timeout: 900,
      VpcConfig: Match.objectLike({ SubnetIds: Match.anyValue() }),
      Environment: {
        Variables: Match.objectLike({
          DB_SECRET_ARN: { Ref: Stack.of(store).resolve((store.writerSecret.node.defaultChild as any).logicalId) },
          DB_TLS: 'verify-full',
          EVENT_BUS_NAME: { Ref: Match.stringLikeRegexp('^IngestionEventBus') },
          MAX_RECEIVE_COUNT: '3',
          OUTPUT_COMPRESSION: 'none',
          POWERTOOLS_SERVICE_NAME: pipeline.serviceName,
        }),
      },
    });
  });

  test('least privilege: read the raw prefixes, write processed/, rejected/, manifests/, staging/, read and delete staging/ only', () => {
    const statements = processorStatements(template);
    const s3Statements = statements.filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('s3:')));
    const resourcesOf = (s: any) => [].concat(s.Resource).map((r: any) => r['Fn::Join'][1][1]);
    const read = s3Statements.find((s) => s.Sid === 'ReadRawFiles');
    expect(read.Action).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
    expect(resourcesOf(read)).toEqual(SOURCES.map((s) => `/${s.prefix}*`));
    const write = s3Statements.find((s) => s.Sid === 'WriteOutputs');
    expect(write.Action).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
    expect(resourcesOf(write)).toEqual(['/processed/*', '/rejected/*', '/manifests/*', '/staging/*']);
    const promote = s3Statements.find((s) => s.Sid === 'PromoteStagedOutputs');
    expect(promote.Action).toEqual(['s3:GetObject', 's3:DeleteObject']);
    expect(resourcesOf(promote)).toEqual(['/staging/*']);
    const list = s3Statements.find((s) => s.Sid === 'ListStagedOutputs');
    expect(list).toMatchObject({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['staging/*'] } } });
    expect(s3Statements).toHaveLength(4);
    expect(JSON.stringify(statements)).not.toMatch(/s3:\*/);
    const putEvents = statements.find((s) => s.Action === 'events:PutEvents');
    expect(putEvents.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^IngestionEventBus/), 'Arn'] });
    const secrets = statements.filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never));
    expect(secrets).toHaveLength(1);
    expect(JSON.stringify(secrets[0].Resource)).toContain(Stack.of(store).resolve((store.writerSecret.node.defaultChild as any).logicalId));
  });

  test('the VPC endpoints the processor calls exist: S3 gateway, Secrets Manager, EventBridge, SQS (the retry back-off) and SSM (the id normalization parameters)', () => {
    expect(missingVpcEndpoints(stack)).toEqual([]);
    const names = JSON.stringify(Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties.ServiceName));
    expect(names).toContain('.s3');
    expect(names).toContain('.events');
    expect(names).toContain('.secretsmanager');
    expect(names).toContain('.sqs');
    expect(names).toContain('.ssm');
  });

  test('one SSM parameter per source system and entity type, named by stack and construct, deployed as no-stored-runs', () => {
    const parameters = Object.values(template.findResources('AWS::SSM::Parameter')).map((p) => p.Properties);
    expect(parameters.map((p) => [p.Name, p.Type, p.Value])).toEqual(SOURCES.map((s) => [
      `/cdk-serverless-data-pipeline/TestStack/Ingestion/id-normalization/${s.sourceSystem}/${s.entityType}`, 'String', 'no-stored-runs',
    ]));
    expect(pipeline.idNormalizationParameters).toHaveLength(SOURCES.length);
  });

  test('least privilege: the processor may read and write the pipeline\'s id normalization parameters only', () => {
    const statements = processorStatements(template).filter((s) => JSON.stringify(s.Action).includes('ssm:'));
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({ Sid: 'PublishIdNormalization', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:PutParameter'] });
    const arns = [].concat(statements[0].Resource).map((r: any) => stack.resolve(r)['Fn::Join'][1]);
    const logicalIds = Object.keys(template.findResources('AWS::SSM::Parameter'));
    expect(arns).toEqual(logicalIds.map((id) => ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter', { Ref: id }]));
  });

  test('the processor is given each source\'s parameter in sources.json (the src/lambda contract)', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    const dir = path.join((stack.node.root as App).outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
    const rendered = JSON.parse(fs.readFileSync(path.join(dir, 'sources.json'), 'utf8'));
    expect(rendered.sources.map((s: any) => s.idNormalizationParameter)).toEqual(
      SOURCES.map((s) => `/cdk-serverless-data-pipeline/TestStack/Ingestion/id-normalization/${s.sourceSystem}/${s.entityType}`));
  });

  test('a failed attempt can delay its retry: QUEUE_URL and sqs:ChangeMessageVisibility on the pipeline queue only', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    expect(fn.Properties.Environment.Variables.QUEUE_URL).toEqual({ Ref: expect.stringMatching(/^IngestionQueue/) });
    const visibility = processorStatements(template).filter((s) => [].concat(s.Action).includes('sqs:ChangeMessageVisibility' as never));
    expect(visibility).toHaveLength(1);
    expect(visibility[0].Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^IngestionQueue(?!.*DeadLetter)/), 'Arn'] });
  });

  test('the code asset holds the bundled handler and the rendered sources.json', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const dir = path.join((stack.node.root as App).outdir, `asset.${hash}`);
    const parameterOf = (s: SourceDefinition) => `/cdk-serverless-data-pipeline/TestStack/Ingestion/id-normalization/${s.sourceSystem}/${s.entityType}`;
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'sources.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(renderSourcesConfig(SOURCES, parameterOf))));
    expect(fs.existsSync(path.join(dir, 'index.js'))).toBe(true);
  });

  test('the processor waits for the schema migrations', () => {
    const fn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, f]) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    expect(fn[1].DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^StoreMigrations/)]));
  });

  test('alarms for the dead-letter queue, for errors and for the typed storage refresh, without actions when no topic is given', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'TypedStorageRefreshFailures', Namespace: 'ServerlessDataPipeline', Statistic: 'Sum', Threshold: 0, AlarmActions: Match.absent(),
    });
  });

  test('a rule on the bus invokes the processor with the Ingestion Succeeded events of runs that loaded the store (the typed storage refresh)', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Succeeded'], 'detail': { loadToStore: [true] } },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Processor'), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 3600 } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('TypedStorageRefreshRule'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: Match.arrayWith([Match.objectLike({ Expression: 'errors + fileFailures' })]) });
  });

  test('metric methods read the processor\'s EMF metrics', () => {
    const metric = pipeline.metricRecordsReceived();
    expect(metric.namespace).toBe('ServerlessDataPipeline');
    expect(metric.metricName).toBe('RecordsReceived');
    expect(metric.dimensions).toEqual({ service: pipeline.serviceName });
    expect(pipeline.metricIngestionLatency().statistic).toBe('p90');
  });

  snapshotTest('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('IngestionPipeline options', () => {
  test('existing bucket and bus, alarm topic, tuning, gzip outputs, a permissions boundary', () => {
    const tuning = { maxConcurrency: 5, batchSize: 4, maxReceiveCount: 5, compressOutputs: true, lambdaTuning: { memorySize: 2048 } };
    const { stack, pipeline } = pipelineStack(tuning, (s) => ({
      bucket: s3.Bucket.fromBucketName(s, 'Existing', 'my-raw-data'),
      eventBus: events.EventBus.fromEventBusName(s, 'Bus', 'analytics-bus'),
      alarmTopic: new sns.Topic(s, 'Ops'),
      permissionsBoundary: iam.ManagedPolicy.fromManagedPolicyName(s, 'Boundary', 'pipeline-boundary'),
    }));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::Events::EventBus', 0);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 4, ScalingConfig: { MaximumConcurrency: 5 } });
    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }) });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: 'analytics-bus', OUTPUT_COMPRESSION: 'gzip', MAX_RECEIVE_COUNT: '5' }) },
    });
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: Match.stringLikeRegexp('^Ops') }] });
    template.hasResourceProperties('Custom::S3BucketNotifications', { BucketName: 'my-raw-data' });
    const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('Ingestion'));
    expect(roles.length).toBeGreaterThan(0);
    for (const [, role] of roles) expect(JSON.stringify(role.Properties.PermissionsBoundary)).toContain('pipeline-boundary');
    expect(pipeline.bucket.bucketName).toBe('my-raw-data');
  });

  test('removalPolicy (a shared prop) also covers the processor\'s log group, with an existing bucket too', () => {
    const { stack } = pipelineStack({ removalPolicy: RemovalPolicy.DESTROY }, (s) => ({ bucket: s3.Bucket.fromBucketName(s, 'Existing', 'my-raw-data') }));
    const logGroups = Template.fromStack(stack).findResources('AWS::Logs::LogGroup');
    const processorLogs = Object.entries(logGroups).filter(([id]) => id.startsWith('IngestionProcessorLogGroup'));
    expect(processorLogs.map(([, r]) => r.DeletionPolicy)).toEqual(['Delete']);
  });

  test('a customer-managed key encrypts the new bucket and the processor may use it', () => {
    const { stack } = pipelineStack({}, (s) => ({ encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }), removalPolicy: RemovalPolicy.DESTROY }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } })] },
    });
    expect(JSON.stringify(processorStatements(template))).toContain('kms:GenerateDataKey');
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
  });

  test('onIngestionSucceeded / onIngestionFailed make rules on the bus for chosen sources', () => {
    const { stack, pipeline } = pipelineStack();
    pipeline.onIngestionSucceeded('HealthDone', ['health-readings']);
    pipeline.onIngestionFailed('AnyFailure');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Succeeded'], 'detail': { sourceName: ['health-readings'] } },
    });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: { 'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Failed'] } });
  });

  test('grantUpload writes under the sources\' prefixes only (with the bucket key when there is one)', () => {
    const { stack, pipeline } = pipelineStack({ sources: [BuiltInSources.crmCustomers(), BuiltInSources.erpOrders()] },
      (s) => ({ encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }) }));
    const producer = new iam.Role(stack, 'Producer', { assumedBy: new iam.AccountRootPrincipal() });
    pipeline.grantUpload(producer);
    const template = Template.fromStack(stack);
    const producerPolicy = Object.values(template.findResources('AWS::IAM::Policy'))
      .find((p) => JSON.stringify(p.Properties.Roles).includes('Producer'))!;
    const statements: any[] = producerPolicy.Properties.PolicyDocument.Statement;
    const s3Statements = statements.filter((st) => [].concat(st.Action).some((a: string) => a.startsWith('s3:')));
    expect(s3Statements).toHaveLength(1);
    expect(s3Statements[0].Action).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
    const resources = JSON.stringify(s3Statements[0].Resource);
    expect(resources).toContain('/crm-data/*');
    expect(resources).toContain('/erp-data/orders/*');
    for (const output of ['processed/', 'rejected/', 'manifests/']) expect(resources).not.toContain(`/${output}`);
    expect(statements.some((st) => [].concat(st.Action).includes('kms:GenerateDataKey*' as never))).toBe(true);
  });

  test('grantReadProcessed reads processed/ and manifests/ only', () => {
    const { stack, pipeline } = pipelineStack();
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    pipeline.grantReadProcessed(reader);
    const template = Template.fromStack(stack);
    const policy = Object.values(template.findResources('AWS::IAM::Policy')).find((p) => JSON.stringify(p.Properties.Roles).includes('Reader'))!;
    const text = JSON.stringify(policy.Properties.PolicyDocument.Statement);
    expect(text).toContain('/processed/*');
    expect(text).toContain('/manifests/*');
    expect(text).not.toContain('/rejected/*');
    expect(text).toContain('"s3:prefix":["processed/*","manifests/*"]');
  });
});

describe('IngestionPipeline validation names the prop', () => {
  const base = BuiltInSources.crmCustomers();
  const cases: Array<[string, Partial<IngestionPipelineProps>, RegExp]> = [
    ['no sources', { sources: [] }, /^sources must list at least one source/],
    ['overlapping prefixes', { sources: [base, BuiltInSources.erpOrders({ prefix: 'crm-data/orders/' })] }, /^sources\[1\]\.prefix "crm-data\/orders\/" overlaps sources\[0\]\.prefix/],
    ['an output prefix', { sources: [BuiltInSources.crmCustomers({ prefix: 'processed/crm/' })] }, /^sources\[0\]\.prefix must not overlap the pipeline's output prefix "processed\/"/],
    ['a prefix without /', { sources: [BuiltInSources.crmCustomers({ prefix: 'crm' })] }, /^sources\[0\]\.prefix must be a key prefix ending with "\/"/],
    ['duplicate names', { sources: [base, BuiltInSources.erpOrders({ name: 'crm-customers' })] }, /^sources\[1\]\.name "crm-customers" is used by another source/],
    ['JSON_OBJECT without recordsPath', { sources: [{ ...base, format: InputFormat.JSON_OBJECT }] }, /^sources\[0\]\.recordsPath is required when format is JSON_OBJECT/],
    ['a bad target', { sources: [{ ...base, fields: [{ source: 'a', target: '__proto__' }] }] }, /^sources\[0\]\.fields\[0\]\.target must be an attribute name/],
    ['DEFAULT without value', { sources: [{ ...base, fields: [{ source: 'a', target: 'a', transforms: [{ type: TransformType.DEFAULT }] }] }] as SourceDefinition[] },
      /^sources\[0\]\.fields\[0\]\.transforms\[0\]\.value is required/],
    ['a DEFAULT value that is not text', { sources: [{ ...base, fields: [{ source: 'a', target: 'a', transforms: [{ type: TransformType.DEFAULT, value: 0 as unknown as string }] }] }] },
      /^sources\[0\]\.fields\[0\]\.transforms\[0\]\.value must be text \(for a number or boolean, follow DEFAULT with NUMBER, INTEGER or BOOLEAN\), got 0/],
    ['a bad date format', { sources: [{ ...base, fields: [{ source: 'a', target: 'a', transforms: [{ type: TransformType.DATE, format: 'dd/mm' }] }] }] },
      /^sources\[0\]\.fields\[0\]\.transforms\[0\]\.format must be iso/],
    ['an unmapped canonical key', { sources: [{ ...base, canonicalKeyField: 'nope' }] }, /^sources\[0\]\.canonicalKeyField must be one of the mapped attributes/],
    ['an unmapped personal data field', { sources: [{ ...base, personalDataFields: ['ssn'] }] }, /^sources\[0\]\.personalDataFields\[0\] must be one of/],
    ['a schema for arrays', { sources: [{ ...base, schema: { type: 'array' } }] }, /^sources\[0\]\.schema\.type must be "object"/],
    ['maxConcurrency 1', { maxConcurrency: 1 }, /^maxConcurrency must be an integer between 2 and 1000, got 1/],
    ['batchSize 20', { batchSize: 20 }, /^batchSize must be an integer between 1 and 10/],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    expect(() => pipelineStack({ sources: SOURCES, ...props })).toThrow(message);
  });

  const withSchema = (schema: Record<string, unknown>) => ({ sources: [{ ...base, schema }] });
  const crmSchema = base.schema as { [key: string]: any };
  const schemaCases: Array<[string, Partial<IngestionPipelineProps>, string]> = [
    ['a keyword typo (requird)', withSchema({ ...crmSchema, requird: ['name'] }),
      'sources[0].schema (source "crm-customers") has an unknown draft 2020-12 keyword "requird" at #'],
    ['a nested typo (maxLenght)', withSchema({ ...crmSchema, properties: { ...crmSchema.properties, name: { type: 'string', maxLenght: 5 } } }),
      'sources[0].schema (source "crm-customers") has an unknown draft 2020-12 keyword "maxLenght" at #/properties/name'],
    ['a draft-07 tuple in a 2020-12 schema', withSchema({ ...crmSchema, properties: { ...crmSchema.properties, tags: { type: 'array', items: [{ type: 'string' }] } } }),
      'sources[0].schema (source "crm-customers") is not a valid draft 2020-12 schema: #/properties/tags/items must be object,boolean (an array of schemas in "items" is a draft-07 tuple: in draft 2020-12 write "prefixItems", or declare "$schema": "http://json-schema.org/draft-07/schema#")'],
    ['additionalItems in a 2020-12 schema', withSchema({ ...crmSchema, properties: { ...crmSchema.properties, tags: { type: 'array', prefixItems: [{ type: 'string' }], additionalItems: false } } }),
      'sources[0].schema (source "crm-customers") has an unknown draft 2020-12 keyword "additionalItems" at #/properties/tags ("additionalItems" is a draft-07 keyword: in draft 2020-12 "items" (next to "prefixItems") says what later items must be, or declare "$schema": "http://json-schema.org/draft-07/schema#")'],
    ['prefixItems in a declared draft-07 schema', withSchema({ $schema: 'http://json-schema.org/draft-07/schema#', ...crmSchema, properties: { ...crmSchema.properties, tags: { type: 'array', prefixItems: [{ type: 'string' }] } } }),
      'sources[0].schema (source "crm-customers") has an unknown draft-07 keyword "prefixItems" at #/properties/tags ("prefixItems" is a draft 2020-12 keyword: remove "$schema" to use draft 2020-12)'],
    ['an unsupported $schema', withSchema({ $schema: 'http://json-schema.org/draft-04/schema#', ...crmSchema }),
      'sources[0].schema (source "crm-customers") $schema "http://json-schema.org/draft-04/schema#" is not supported'],
    ['a wrong keyword value', withSchema({ ...crmSchema, properties: { ...crmSchema.properties, lifetime_value: { type: 'number', minimum: '0' } } }),
      'sources[0].schema (source "crm-customers") is not a valid draft 2020-12 schema: #/properties/lifetime_value/minimum must be number'],
    ['properties without type "object" (ajv strictTypes)', withSchema({ ...crmSchema, properties: { ...crmSchema.properties, address: { properties: { city: { type: 'string' } } } } }),
      'sources[0].schema (source "crm-customers") is refused by ajv (draft 2020-12, strict): missing type "object" for keyword "properties" at "#/properties/address" (strictTypes)'],
    ['a required field the schema does not define (ajv strictRequired)', withSchema({ ...crmSchema, required: ['customer_id', 'nmae'] }),
      'sources[0].schema (source "crm-customers") is refused by ajv (draft 2020-12, strict): required property "nmae" is not defined at "#" (strictRequired)'],
    ['a mapping from a field the schema does not define', { sources: [{ ...base, fields: [...base.fields, { source: 'emial', target: 'email2' }] }] },
      `sources[0].fields[${base.fields.length}].source (source "crm-customers") reads "emial", which the source's schema does not define: declare it in the schema's properties (or correct the field name)`],
    ['a nested mapping below a field without properties', { sources: [{ ...base, fields: [...base.fields, { source: 'name.first', target: 'first_name' }] }] },
      `sources[0].fields[${base.fields.length}].source (source "crm-customers") reads "name.first", which the source's schema does not define`],
    ['a source id field the schema does not define', { sources: [{ ...base, sourceIdField: 'customerId' }] },
      'sources[0].sourceIdField (source "crm-customers") reads "customerId", which the source\'s schema does not define'],
    ['sources of one identity normalising ids differently', { sources: [base, BuiltInSources.crmCustomers({ name: 'crm-csv', prefix: 'crm-csv/' })].map((s, i) => ({ ...s, idNormalization: i === 0 ? IdNormalization.TRIM : IdNormalization.TRIM_AND_LOWERCASE })) },
      'sources[1].idNormalization (trim_and_lowercase) differs from sources[0].idNormalization (trim): both key customer entities of crm, so they must normalise ids the same way'],
  ];
  test.each(schemaCases)('schema and mapping checked at synth: %s', (_name, props, message) => {
    expect(() => pipelineStack({ sources: SOURCES, ...props })).toThrow(message);
  });

  test('schemas that compile: prefixItems (2020-12), a declared draft-07 tuple, nested and array paths, $ref, additionalProperties', () => {
    const tuple = { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] };
    const draft07 = { $schema: 'http://json-schema.org/draft-07/schema#', ...crmSchema, properties: { ...crmSchema.properties, tags: { type: 'array', items: [{ type: 'string' }], additionalItems: false } } };
    const nested = {
      ...crmSchema,
      $defs: { address: { type: 'object', properties: { city: { type: 'string' } } } },
      properties: { ...crmSchema.properties, pair: tuple, address: { $ref: '#/$defs/address' }, extra: { type: 'object', additionalProperties: { type: 'string' } } },
    };
    const fields = [...base.fields, { source: 'pair.1', target: 'pair_amount' }, { source: 'address.city', target: 'city' }, { source: 'extra.anything', target: 'extra' }];
    expect(() => pipelineStack({ sources: [{ ...base, schema: nested, fields }] })).not.toThrow();
    expect(() => pipelineStack({ sources: [{ ...base, schema: draft07, fields: [...base.fields, { source: 'tags.0', target: 'first_tag' }] }] })).not.toThrow();
    expect(() => pipelineStack({ sources: [{ ...base, schema: nested, fields: [...base.fields, { source: 'pair.2', target: 'third' }] }] }))
      .toThrow(`sources[0].fields[${base.fields.length}].source (source "crm-customers") reads "pair.2"`);
  });

  test('bucket options with an existing bucket', () => {
    expect(() => pipelineStack({}, (s) => ({ bucket: s3.Bucket.fromBucketName(s, 'B', 'existing-bucket'), serverAccessLogsBucket: new s3.Bucket(s, 'Logs') })))
      .toThrow(/^encryptionKey and serverAccessLogsBucket apply to a bucket the pipeline creates/);
  });
});

describe('two pipelines on one bucket', () => {
  function twoPipelines(first: SourceDefinition[], second: SourceDefinition[], secondBucket?: (stack: Stack) => s3.IBucket) {
    const app = createTestApp();
    const storeStack = new Stack(app, 'StoreStack');
    const store = new CanonicalStore(storeStack, 'Store');
    const bucket = s3.Bucket.fromBucketName(storeStack, 'Raw', 'shared-raw-bucket');
    const a = new IngestionPipeline(storeStack, 'Crm', { store, bucket, sources: first });
    const otherStack = new Stack(app, 'OtherStack');
    return () => new IngestionPipeline(otherStack, 'Erp', { store, bucket: secondBucket?.(otherStack) ?? a.bucket, sources: second });
  }

  test('overlapping prefixes are a synth error naming both pipelines', () => {
    const add = twoPipelines([BuiltInSources.crmCustomers()], [BuiltInSources.erpOrders({ prefix: 'crm-data/orders/' })]);
    expect(add).toThrow('IngestionPipeline OtherStack/Erp (source "erp-orders", prefix "crm-data/orders/") and IngestionPipeline StoreStack/Crm '
      + '(source "crm-customers", prefix "crm-data/") use the same bucket with overlapping prefixes: S3 refuses overlapping event notifications');
  });

  test('the same source name is a synth error naming both pipelines, also for the bucket imported again by name', () => {
    const add = twoPipelines([BuiltInSources.crmCustomers()], [BuiltInSources.crmCustomers({ prefix: 'crm-2/' })],
      (stack) => s3.Bucket.fromBucketName(stack, 'SameBucket', 'shared-raw-bucket'));
    expect(add).toThrow(/^IngestionPipeline OtherStack\/Erp \(source "crm-customers", prefix "crm-2\/"\) and IngestionPipeline StoreStack\/Crm .* with the same source name: both would write processed\/crm-customers\//);
  });

  test('disjoint prefixes and names on one bucket, or overlapping ones on another bucket, are fine', () => {
    expect(twoPipelines([BuiltInSources.crmCustomers()], [BuiltInSources.erpOrders()])).not.toThrow();
    const other = twoPipelines([BuiltInSources.crmCustomers()], [BuiltInSources.crmCustomers()],
      (stack) => s3.Bucket.fromBucketName(stack, 'OtherBucket', 'another-raw-bucket'));
    expect(other).not.toThrow();
  });
});

describe('cdk-nag', () => {
  test.each(['defaults', 'customer-managed key, topic, gzip'])('AwsSolutions and HIPAA Security: no unacknowledged findings (%s)', (name) => {
    const { stack } = pipelineStack({ compressOutputs: name !== 'defaults' }, (s) => (name === 'defaults' ? {} : {
      encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }),
      alarmTopic: new sns.Topic(s, 'Ops', { enforceSSL: true, masterKey: new kms.Key(s, 'TopicKey', { enableKeyRotation: true }) }),
      rejectedRetention: Duration.days(30),
    }));
    const report = runNagChecks(stack, { hipaa: true });
    expect(formatNagFindings(report.errors)).toBe('');
    expect(formatNagFindings(report.warnings)).toBe('');
    expect(unusedNagAcknowledgements(stack, report)).toEqual([]);
  });
});

describe('logEncryptionKey', () => {
  testLogEncryptionKey('the processor\'s log group', 1, (withKey) => {
    const { stack, pipeline } = pipelineStack({}, logKeyProps(withKey));
    return { stack, construct: pipeline };
  });
});

describe('a changed idNormalization is refused at synth while the stored ids were keyed otherwise', () => {
  const ENV = { account: '123456789012', region: 'eu-west-1' };
  const PARAMETER = '/cdk-serverless-data-pipeline/Prod/Data.Ingestion/id-normalization/crm/customer';
  /** The context key of the CDK's SSM lookup (aws-cdk-lib ContextProvider.getKey: provider, then the props sorted, colons quoted). */
  const CONTEXT_KEY = `ssm:account=123456789012:parameterName=${PARAMETER}:region=eu-west-1`;
  const customers = (idNormalization?: IdNormalization, rekeyIdsFrom?: IdNormalization): SourceDefinition => ({
    ...BuiltInSources.crmCustomers(), idNormalization, rekeyIdsFrom,
  });

  const ssmLookups = (app: App) => (app.synth().manifest.missing ?? []).filter((m) => m.provider === 'ssm');
  /** An app as the CDK CLI runs it after the lookup: the looked-up value in the context (cdk.context.json). */
  function synth(sources: SourceDefinition[], stored?: string, props: Partial<IngestionPipelineProps> = {}, envAgnostic = false) {
    const app = createTestApp(stored === undefined ? {} : { context: { [CONTEXT_KEY]: stored } });
    const stack = new Stack(app, 'Prod', { env: envAgnostic ? undefined : ENV });
    const store = new CanonicalStore(stack, 'Store');
    const data = new Construct(stack, 'Data');
    const pipeline = new IngestionPipeline(data, 'Ingestion', { store, sources, ...props });
    return { app, stack, pipeline };
  }

  test('the lookup asks for the parameter of each identity space, under the documented context key; the default answer is no-stored-runs', () => {
    const { app } = synth([customers(), BuiltInSources.erpOrders()]);
    const missing = ssmLookups(app);
    expect(missing.map((m) => m.key)).toEqual([CONTEXT_KEY, CONTEXT_KEY.replace('/crm/customer', '/erp/order')]);
    expect(missing[0]).toMatchObject({ provider: 'ssm', props: { parameterName: PARAMETER, dummyValue: 'no-stored-runs', ignoreErrorOnMissingContext: true } });
  });

  test('refused: stored TRIM, configured TRIM_AND_LOWERCASE, no rekeyIdsFrom (the message names the source, both normalizations and what to set)', () => {
    expect(() => synth([BuiltInSources.erpOrders(), customers(IdNormalization.TRIM_AND_LOWERCASE)], 'trim')).toThrow(
      'sources[1].idNormalization (source "crm-customers") is IdNormalization.TRIM_AND_LOWERCASE, has no rekeyIdsFrom, and the stored customer entities of crm '
      + `were keyed with IdNormalization.TRIM (SSM parameter ${PARAMETER}): set rekeyIdsFrom: IdNormalization.TRIM to re-key them on the next run, `
      + 'or idNormalization back to IdNormalization.TRIM. The stored value was looked up at synth and is cached in cdk.context.json '
      + `as "${CONTEXT_KEY}"; if the ids were re-keyed since, refresh it with: cdk context --reset "${CONTEXT_KEY}" (docs/ingestion.md, "Source ids")`);
  });

  test('refused: a rekeyIdsFrom that is not the stored normalization', () => {
    expect(() => synth([customers(IdNormalization.TRIM_AND_UPPERCASE, IdNormalization.TRIM_AND_LOWERCASE)], 'trim')).toThrow(
      /is IdNormalization.TRIM_AND_UPPERCASE, declares rekeyIdsFrom IdNormalization.TRIM_AND_LOWERCASE, but the stored customer entities of crm were keyed with IdNormalization.TRIM/);
  });

  test('refused: stored NONE (an id normalization, not "no stored runs")', () => {
    expect(() => synth([customers()], 'none')).toThrow(/is IdNormalization.TRIM, has no rekeyIdsFrom, and the stored customer entities of crm were keyed with IdNormalization.NONE/);
  });

  test.each([
    ['the re-key declared (rekeyIdsFrom: the stored one)', customers(IdNormalization.TRIM_AND_LOWERCASE, IdNormalization.TRIM), 'trim'],
    ['equal', customers(IdNormalization.TRIM_AND_LOWERCASE), 'trim_and_lowercase'],
    ['equal, the default', customers(), 'trim'],
    ['rekeyIdsFrom left in place after the re-key ran', customers(IdNormalization.TRIM_AND_LOWERCASE, IdNormalization.TRIM), 'trim_and_lowercase'],
    ['no stored runs (the value the construct deploys)', customers(IdNormalization.TRIM_AND_LOWERCASE), 'no-stored-runs'],
    ['the lookup\'s dummy value', customers(IdNormalization.TRIM_AND_LOWERCASE), `dummy-value-for-${PARAMETER}`],
  ])('accepted: %s', (_what, source, stored) => {
    const { stack } = synth([source], stored);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('a value that is no normalization: a warning, the check left to run time', () => {
    const { stack } = synth([customers()], 'garbage');
    Annotations.fromStack(stack).hasWarning('/Prod/Data/Ingestion', Match.stringLikeRegexp(`SSM parameter ${PARAMETER} holds "garbage", which is no id normalization`));
  });

  test('idNormalizationSynthCheck: false looks nothing up and refuses nothing', () => {
    const { app } = synth([customers(IdNormalization.TRIM_AND_LOWERCASE)], 'trim', { idNormalizationSynthCheck: false });
    expect(ssmLookups(app)).toEqual([]);
    const { app: withoutContext } = synth([customers(IdNormalization.TRIM_AND_LOWERCASE)], undefined, { idNormalizationSynthCheck: false });
    expect(ssmLookups(withoutContext)).toEqual([]);
  });

  test('an environment-agnostic stack: no lookup, an info saying the check happens at run time only and how to get it at synth', () => {
    const { app, stack } = synth([customers(IdNormalization.TRIM_AND_LOWERCASE)], 'trim', {}, true);
    expect(ssmLookups(app)).toEqual([]);
    Annotations.fromStack(stack).hasInfo('/Prod/Data/Ingestion', Match.stringLikeRegexp('checked against the stored ids at run time only.*Give the stack an env \\(account and region\\)'));
  });

  test('parameter names: characters SSM refuses are replaced and the level suffixed with a hash of the original', () => {
    const { stack } = synth([{ ...customers(), sourceSystem: 'my crm', entityType: 'kunde/ä' }]);
    const names = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).map((p) => p.Properties.Name);
    expect(names).toEqual([expect.stringMatching(/^\/cdk-serverless-data-pipeline\/Prod\/Data\.Ingestion\/id-normalization\/my_crm-[0-9a-f]{8}\/kunde__-[0-9a-f]{8}$/)]);
  });
});
