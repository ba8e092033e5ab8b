/**
 * IngestionPipeline template tests: notifications per prefix, queue + DLQ, event source mapping,
 * least-privilege IAM, VPC endpoints, the staged sources.json, alarms, snapshot, cdk-nag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Aspects, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { HIPAASecurityChecks } from 'cdk-nag-v2';
import { BuiltInSources, CanonicalStore, IngestionPipeline, IngestionPipelineProps, InputFormat, SourceDefinition, TransformType } from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';
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

  test('least privilege: read the raw prefixes, write processed/, rejected/, manifests/ only, nothing else on S3', () => {
    const statements = processorStatements(template);
    const s3Statements = statements.filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('s3:')));
    const resourcesOf = (s: any) => [].concat(s.Resource).map((r: any) => r['Fn::Join'][1][1]);
    const read = s3Statements.find((s) => s.Sid === 'ReadRawFiles');
    expect(read.Action).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
    expect(resourcesOf(read)).toEqual(SOURCES.map((s) => `/${s.prefix}*`));
    const write = s3Statements.find((s) => s.Sid === 'WriteOutputs');
    expect(write.Action).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
    expect(resourcesOf(write)).toEqual(['/processed/*', '/rejected/*', '/manifests/*']);
    expect(s3Statements).toHaveLength(2);
    expect(JSON.stringify(statements)).not.toMatch(/s3:\*|s3:Delete|s3:List/);
    const putEvents = statements.find((s) => s.Action === 'events:PutEvents');
    expect(putEvents.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^IngestionEventBus/), 'Arn'] });
    const secrets = statements.filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never));
    expect(secrets).toHaveLength(1);
    expect(JSON.stringify(secrets[0].Resource)).toContain(Stack.of(store).resolve((store.writerSecret.node.defaultChild as any).logicalId));
  });

  test('the VPC endpoints the processor calls exist: S3 gateway, Secrets Manager and EventBridge; no SQS endpoint', () => {
    expect(missingVpcEndpoints(stack)).toEqual([]);
    const names = JSON.stringify(Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties.ServiceName));
    expect(names).toContain('.s3');
    expect(names).toContain('.events');
    expect(names).toContain('.secretsmanager');
    expect(names).not.toContain('.sqs');
  });

  test('the code asset holds the bundled handler and the rendered sources.json', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const dir = path.join((stack.node.root as App).outdir, `asset.${hash}`);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'sources.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(renderSourcesConfig(SOURCES))));
    expect(fs.existsSync(path.join(dir, 'index.js'))).toBe(true);
  });

  test('the processor waits for the schema migrations', () => {
    const fn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, f]) => f.Properties.Description?.startsWith('IngestionPipeline'))!;
    expect(fn[1].DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^StoreMigrations/)]));
  });

  test('alarms for the dead-letter queue and for errors, without actions when no topic is given', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
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

  test('snapshot', () => {
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

  test('bucket options with an existing bucket', () => {
    expect(() => pipelineStack({ removalPolicy: RemovalPolicy.DESTROY }, (s) => ({ bucket: s3.Bucket.fromBucketName(s, 'B', 'existing-bucket') })))
      .toThrow(/^encryptionKey, serverAccessLogsBucket and removalPolicy apply to a bucket the pipeline creates/);
  });
});

describe('cdk-nag', () => {
  test.each(['defaults', 'customer-managed key, topic, gzip'])('AwsSolutions: no unacknowledged findings (%s)', (name) => {
    const { stack } = pipelineStack({ compressOutputs: name !== 'defaults' }, (s) => (name === 'defaults' ? {} : {
      encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }),
      alarmTopic: new sns.Topic(s, 'Ops', { enforceSSL: true, masterKey: new kms.Key(s, 'TopicKey', { enableKeyRotation: true }) }),
      rejectedRetention: Duration.days(30),
    }));
    // The HIPAA pack too, so the construct's HIPAA acknowledgements count as used (its errors on the
    // processor function are handled in createPipelineFunction, see test/security-review.test.ts).
    Aspects.of(stack).add(new HIPAASecurityChecks({ verbose: true, logIgnores: true }));
    const report = runNagChecks(stack);
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
