/**
 * The example app (examples/): the system's wiring, its outputs, its dashboard and alarms, the
 * context settings, and the optional CI/CD pipeline stack. Each app is synthesized once per
 * describe block and shared by its tests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DataPipelineStack } from '../examples/data-pipeline-stack';
import { buildExampleApp, EXAMPLE_STACK_NAME, ExampleApp, PIPELINE_STACK_NAME } from '../examples/example-app';
import { AnalyticsApi } from '../src';
import { createTestApp, removeTestAppDirs } from './construct-support/app';

afterAll(removeTestAppDirs);

const PIPELINE_CONTEXT = {
  pipeline: 'true',
  connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/00000000-0000-0000-0000-000000000000',
  repo: 'example/cdk-serverless-data-pipeline',
};

/** The logical id of a construct's CloudFormation resource. */
function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as any);
}

function ref(stack: Stack, construct: { node: { defaultChild?: unknown } }): { Ref: string } {
  return { Ref: logicalId(stack, construct) };
}

describe('the system stack (default context)', () => {
  let app: App;
  let example: ExampleApp;
  let stack: DataPipelineStack;
  let template: Template;

  beforeAll(() => {
    app = createTestApp();
    example = buildExampleApp(app);
    stack = example.dataPipeline;
    template = Template.fromStack(stack);
  });

  test('the app has the system stack only, named as the README says', () => {
    expect(example.pipeline).toBeUndefined();
    expect(app.node.children.filter(Stack.isStack).map((s) => s.stackName)).toEqual([EXAMPLE_STACK_NAME]);
    const assembly = app.synth();
    expect(assembly.getStackByName(EXAMPLE_STACK_NAME).template.Resources).toBeDefined();
  });

  test('the operations topic is KMS-encrypted, SSL-only, and usable by CloudWatch and EventBridge', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      Description: 'Example data pipeline: operations topic',
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        })]),
      },
    });
  });

  test('the store is Multi-AZ, encrypted with the data key, snapshotted on delete', () => {
    template.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Snapshot',
      Properties: Match.objectLike({
        MultiAZ: true,
        StorageEncrypted: true,
        KmsKeyId: { 'Fn::GetAtt': [logicalId(stack, stack.dataKey), 'Arn'] },
      }),
    });
    // The four database secrets too (and the pseudonymization key).
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(5);
    for (const secret of secrets) expect(secret.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.dataKey), 'Arn'] });
  });

  test('AWS Backup covers the database and the analysis table (the constructs\' backupPlan), in a vault with its own retained key', () => {
    const selections = Object.values(template.findResources('AWS::Backup::BackupSelection'));
    expect(selections).toHaveLength(2);
    const planId = { 'Fn::GetAtt': [logicalId(stack, stack.backupPlan), 'BackupPlanId'] };
    for (const selection of selections) expect(selection.Properties.BackupPlanId).toEqual(planId);
    const resources = JSON.stringify(selections.map((s) => s.Properties.BackupSelection.Resources));
    for (const resource of [stack.store.instance!, stack.analyzer.analysisTable]) {
      expect(resources).toContain(`"${logicalId(stack, resource)}"`);
    }
    // In-flight idempotency records only: never backed up.
    expect(resources).not.toContain(`"${logicalId(stack, stack.analyzer.idempotencyTable)}"`);
    template.hasResource('AWS::Backup::BackupVault', { DeletionPolicy: 'Retain' });
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ Description: 'Example data pipeline: AWS Backup vault' }) });
  });

  test('ingestion: the four feeds, a KMS-encrypted raw bucket, the processor writing to the store as its writer', () => {
    const notifications = Object.values(template.findResources('Custom::S3BucketNotifications'));
    expect(notifications).toHaveLength(1);
    const prefixes = notifications[0].Properties.NotificationConfiguration.QueueConfigurations
      .map((c: any) => c.Filter.Key.FilterRules[0].Value).sort();
    expect(prefixes).toEqual(['crm-data/', 'erp-data/orders/', 'erp-data/products/', 'health/raw/']);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [Match.objectLike({
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [logicalId(stack, stack.dataKey), 'Arn'] } },
        })],
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    const processor = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.ingestion.processor)];
    expect(processor.Properties.Environment.Variables.DB_SECRET_ARN).toEqual(ref(stack, stack.store.writerSecret));
    expect(processor.Properties.VpcConfig.SubnetIds).toEqual(stack.resolve(stack.store.vpc.isolatedSubnets.map((s) => s.subnetId)));
    // The raw bucket is kept with the data (default context).
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ VersioningConfiguration: { Status: 'Enabled' } }) });
  });

  test('the analytics API: its routes behind an API key (usage plan), reading the store as its two reader identities', () => {
    const resources = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties.PathPart);
    expect(resources).toEqual(expect.arrayContaining(['health', 'analytics', 'download', '{key}']));
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).filter((m) => m.Properties.HttpMethod !== 'OPTIONS');
    expect(methods.length).toBeGreaterThanOrEqual(4);
    for (const method of methods) expect(method.Properties).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: ref(stack, stack.api.apiKey!),
      KeyType: 'API_KEY',
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      ApiStages: [Match.objectLike({ ApiId: ref(stack, stack.api.api) })],
    });
    // Behind a regional WAF web ACL with AWS's managed rules and a rate limit, but no SQL-injection
    // group (custom SQL is a feature of the API).
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      WebACLArn: { 'Fn::GetAtt': [logicalId(stack, stack.apiWebAcl), 'Arn'] },
    });
    const acl = template.findResources('AWS::WAFv2::WebACL')[logicalId(stack, stack.apiWebAcl)].Properties;
    expect(acl.Scope).toBe('REGIONAL');
    const groups = acl.Rules.map((r: any) => r.Statement.ManagedRuleGroupStatement?.Name).filter(Boolean);
    expect(groups).toEqual(['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet']);
    expect(acl.Rules.find((r: any) => r.Statement.RateBasedStatement)).toMatchObject({ Action: { Block: {} }, Statement: { RateBasedStatement: { AggregateKeyType: 'IP' } } });
    // Logged to an aws-waf-logs- log group (encrypted like every log group here), the API key redacted.
    template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
      ResourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.apiWebAcl), 'Arn'] },
      RedactedFields: [{ SingleHeader: { Name: 'x-api-key' } }],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: Match.stringLikeRegexp('^aws-waf-logs-') });
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.api.handler)].Properties;
    expect(fn.Environment.Variables).toMatchObject({
      DB_SECRET_ARN: ref(stack, stack.store.analyticsSecret),
      SQL_READER_SECRET_ARN: ref(stack, stack.store.sqlReaderSecret),
      CACHE_TABLE_NAME: ref(stack, stack.api.cacheTable),
      RESULTS_BUCKET: ref(stack, stack.api.resultsBucket),
    });
    expect(fn.VpcConfig.SubnetIds).toEqual(stack.resolve(stack.store.vpc.isolatedSubnets.map((s) => s.subnetId)));
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: Match.objectLike({ SSEEnabled: true, KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(stack, stack.dataKey), 'Arn'] } }),
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  test('async jobs: the job routes on the same API, the runner reading the store, failures to the operations topic', () => {
    const paths = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties.PathPart);
    expect(paths).toEqual(expect.arrayContaining(['jobs', '{jobId}']));
    const runner = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.jobs.jobRunner)].Properties;
    expect(runner.Environment.Variables.DB_SECRET_ARN).toEqual(ref(stack, stack.store.analyticsSecret));
    expect(runner.VpcConfig.SubnetIds).toEqual(stack.resolve(stack.store.vpc.isolatedSubnets.map((s) => s.subnetId)));
    // The state machine publishes failed jobs to the operations topic.
    const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack, stack.jobs.stateMachine)];
    expect(JSON.stringify(machine.Properties.DefinitionString)).toContain(logicalId(stack, stack.opsTopic));
    // The API function may start executions of this state machine.
    const apiEnv = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.api.handler)].Properties.Environment.Variables;
    expect(JSON.stringify(apiEnv)).toContain(logicalId(stack, stack.jobs.stateMachine));
  });

  test('AI analysis: health-readings successes on the ingestion bus, in the store VPC, with its own KMS-encrypted pseudonymization key', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    const analyzerRule = rules.find((r) => r.Properties.Targets[0].Arn['Fn::GetAtt']?.[0] === logicalId(stack, stack.analyzer.queue))!;
    expect(analyzerRule.Properties).toMatchObject({
      EventBusName: ref(stack, stack.ingestion.eventBus),
      EventPattern: { 'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Succeeded'], 'detail': { sourceName: ['health-readings'] } },
    });
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.analyzer.analyzerFunction)].Properties;
    expect(fn.Environment.Variables).toMatchObject({
      DATA_BUCKET: ref(stack, stack.ingestion.bucket),
      EVENT_BUS_NAME: ref(stack, stack.ingestion.eventBus),
      PSEUDONYMIZE: 'true',
      PSEUDONYM_SECRET_ARN: ref(stack, stack.pseudonymizationKey),
    });
    expect(JSON.parse(fn.Environment.Variables.THRESHOLDS).map((t: { field: string }) => t.field)).toEqual(['heart_rate', 'spo2', 'systolic_bp', 'diastolic_bp', 'temperature_c']);
    expect(fn.VpcConfig.SubnetIds).toEqual(stack.resolve(stack.store.vpc.isolatedSubnets.map((s) => s.subnetId)));
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('pseudonymizes personal data'),
      KmsKeyId: { 'Fn::GetAtt': [logicalId(stack, stack.dataKey), 'Arn'] },
    });
  });

  test('reports: one per analysis, a daily digest, failures of ingestion and analysis to the operations topic', () => {
    const notifier = logicalId(stack, stack.notifier.notifierFunction);
    const toNotifier = Object.values(template.findResources('AWS::Events::Rule'))
      .filter((r) => r.Properties.Targets[0].Arn['Fn::GetAtt']?.[0] === notifier)
      .map((r) => [r.Properties.EventBusName, r.Properties.EventPattern['detail-type'][0]]);
    expect(toNotifier).toEqual(expect.arrayContaining([
      [ref(stack, stack.ingestion.eventBus), 'Analysis Complete'],
      [ref(stack, stack.ingestion.eventBus), 'Analysis Failed'],
      [ref(stack, stack.ingestion.eventBus), 'Ingestion Failed'],
    ]));
    expect(stack.notifier.alarmTopic).toBe(stack.opsTopic);
    const fn = template.findResources('AWS::Lambda::Function')[notifier].Properties;
    expect(fn.Environment.Variables).toMatchObject({
      OPS_TOPIC_ARN: ref(stack, stack.opsTopic),
      ANALYSIS_TABLE_NAME: ref(stack, stack.analyzer.analysisTable),
      FROM_ADDRESS: 'reports@example.com',
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 7 * * ? *)' });
    template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'reports@example.com' });
  });

  test('every log group is encrypted with a customer-managed key: the logs key, unless its construct brings its own', () => {
    const groups = Object.entries(template.findResources('AWS::Logs::LogGroup'));
    const keys = Object.keys(template.findResources('AWS::KMS::Key'));
    const logsKey = { 'Fn::GetAtt': [logicalId(stack, stack.logsKey), 'Arn'] };
    expect(groups.length).toBeGreaterThan(0);
    for (const [, group] of groups) expect(keys).toContain(group.Properties.KmsKeyId?.['Fn::GetAtt']?.[0]);
    // The log groups given the logs key: each construct's (logEncryptionKey) and the WAF log.
    expect(groups.filter(([, g]) => JSON.stringify(g.Properties.KmsKeyId) === JSON.stringify(logsKey)).length).toBeGreaterThanOrEqual(8);
    template.hasResourceProperties('AWS::KMS::Key', {
      Description: 'Example data pipeline: CloudWatch Logs log groups',
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
          Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
        })]),
      },
    });
  });

  test('every alarm of the stack notifies the operations topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(3);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([ref(stack, stack.opsTopic)]);
    }
  });

  test('the dashboard shows every part of the system: ingestion, API, jobs, AI, reports, database, alarms', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
    for (const title of ['Ingestion', 'Records per second', 'Dead-letter queue depth', 'Analytics API', 'Requests and errors', 'Latency (ms)',
      'Async jobs (Step Functions)', 'Job duration (ms)',
      'AI analysis (Amazon Bedrock)', 'Bedrock tokens',
      'Estimated Bedrock cost (USD)', 'Reports (Amazon SES)', 'Canonical store (PostgreSQL)', 'Database CPU (%)', 'Database connections', 'Free storage and memory (bytes)', 'Alarms']) {
      expect(body).toContain(title);
    }
  });

  test('outputs: the raw bucket, the API URL and key, the event bus, the operations topic, the database endpoint and the dashboard', () => {
    template.hasOutput('ApiUrl', { Value: stack.resolve(stack.api.url) });
    template.hasOutput('ApiKeyId', { Value: ref(stack, stack.api.apiKey!) });
    template.hasOutput('StateMachineArn', { Value: ref(stack, stack.jobs.stateMachine) });
    template.hasOutput('JobTopicArn', { Value: stack.resolve(stack.jobs.notificationTopic.topicArn) });
    template.hasOutput('RawDataBucketName', { Value: ref(stack, stack.ingestion.bucket) });
    template.hasOutput('EventBusName', { Value: ref(stack, stack.ingestion.eventBus) });
    template.hasOutput('OpsTopicArn', { Value: ref(stack, stack.opsTopic) });
    template.hasOutput('DatabaseEndpoint', { Value: Match.anyValue() });
    template.hasOutput('DashboardName', { Value: ref(stack, stack.monitoring.dashboard) });
  });
});

describe('the README walk-through', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const start = readme.indexOf('## Example and demo walk-through');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  let stack: DataPipelineStack;
  let template: Template;

  beforeAll(() => {
    stack = buildExampleApp(createTestApp()).dataPipeline;
    template = Template.fromStack(stack);
  });

  test('exists', () => {
    expect(readme).toContain('## Example and demo walk-through');
  });

  test('reads only outputs the stack has, and lists them all', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    const used = [...section.matchAll(/\$\(out (\w+)\)/g)].map((m) => m[1]);
    const table = section.slice(section.indexOf('| Output | What |')).split('\n\n')[0];
    const listed = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((o) => !outputs.includes(o))).toEqual([]);
    expect(listed.filter((o) => !outputs.includes(o))).toEqual([]);
    // Every output of the example (not the RestApi's own generated `<id>Endpoint<hash>`) is in the table.
    expect(outputs.filter((o) => !/[0-9A-F]{8}$/.test(o) && !listed.includes(o))).toEqual([]);
  });

  test('calls only routes the API has', () => {
    // The API's resource paths, from the template's parent/child resources.
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const pathOf = (id: string): string => {
      const r = resources[id];
      const parent = r.Properties.ParentId.Ref as string | undefined;
      return `${parent && resources[parent] ? pathOf(parent) : ''}/${r.Properties.PathPart}`;
    };
    const apiPaths = Object.keys(resources).map((id) => pathOf(id).split('/').slice(1));
    // `$API/analytics/jobs/$JOB_ID?x=1` -> ['analytics', 'jobs', '$JOB_ID']; a `{param}` segment matches any value.
    const called = [...section.matchAll(/\$API\/([^"?\s]*)/g)].map((m) => m[1].split('/'));
    expect(called.length).toBeGreaterThanOrEqual(8);
    const matchesRoute = (c: string[]) => apiPaths.some((p) => p.length === c.length && p.every((seg, i) => /^\{\w+\}$/.test(seg) || seg === c[i]));
    const unknown = called.filter((c) => !matchesRoute(c)).map((c) => c.join('/'));
    expect(unknown).toEqual([]);
  });

  test('uploads to the prefixes of the example\'s sources, the files that exist', () => {
    const uploads = [...section.matchAll(/aws s3 cp (examples\/sample-data\/[\w.-]+)\s+s3:\/\/\$BUCKET\/([\w/.-]+)/g)];
    expect(uploads.map((u) => u[1]).sort()).toEqual([
      'examples/sample-data/customer-data.json', 'examples/sample-data/erp-orders.ndjson',
      'examples/sample-data/erp-products.ndjson', 'examples/sample-data/health-readings.csv',
    ]);
    const configs = Object.values(template.findResources('Custom::S3BucketNotifications'))[0].Properties.NotificationConfiguration.QueueConfigurations;
    const prefixes: string[] = configs.map((c: any) => c.Filter.Key.FilterRules[0].Value);
    for (const [, file, key] of uploads) {
      expect(fs.existsSync(path.join(__dirname, '..', file))).toBe(true);
      expect(prefixes.some((p) => key.startsWith(p))).toBe(true);
    }
  });

  test('uses operations and parameters the API knows', () => {
    const operations = [...section.matchAll(/operation(?:=|":")(\w+)/g)].map((m) => m[1]);
    expect(new Set(operations)).toEqual(new Set(['database_info', 'customer_analysis', 'multi_dimensional_analytics', 'custom_complex_query', 'no_such_operation']));
    for (const op of operations.filter((o) => o !== 'no_such_operation')) expect(AnalyticsApi.BUILT_IN_OPERATIONS).toContain(op);
  });
});

describe('context settings', () => {
  test('destroyData=true: the database and the keys are deleted with the stack, the backup vault stays', () => {
    const { dataPipeline } = buildExampleApp(createTestApp({ context: { destroyData: 'true', multiAz: 'false' } }));
    const template = Template.fromStack(dataPipeline);
    template.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtection: false, MultiAZ: false }) });
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ Description: Match.stringLikeRegexp('data at rest') }) });
    template.hasResource('AWS::SNS::Topic', { DeletionPolicy: 'Delete' });
    template.hasResource('AWS::Backup::BackupVault', { DeletionPolicy: 'Retain' });
  });

  test('reportEmail and reportRecipients set the reports\' sender and recipients', () => {
    const { dataPipeline } = buildExampleApp(createTestApp({ context: { reportEmail: 'me@clinic.example', reportRecipients: 'a@clinic.example, b@clinic.example' } }));
    const template = Template.fromStack(dataPipeline);
    template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'me@clinic.example' });
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(dataPipeline, dataPipeline.notifier.notifierFunction)].Properties;
    expect(JSON.parse(fn.Environment.Variables.TO_ADDRESSES)).toEqual(['a@clinic.example', 'b@clinic.example']);
  });

  test('alertEmail subscribes an address to the operations topic', () => {
    const { dataPipeline } = buildExampleApp(createTestApp({ context: { alertEmail: 'ops@example.com' } }));
    Template.fromStack(dataPipeline).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: ref(dataPipeline, dataPipeline.opsTopic),
    });
  });

  test('flags must be true or false', () => {
    expect(() => buildExampleApp(createTestApp({ context: { destroyData: 'yes' } }))).toThrow(/destroyData must be true or false/);
  });

  test('the pipeline needs its connection and repository', () => {
    expect(() => buildExampleApp(createTestApp({ context: { pipeline: 'true' } }))).toThrow(/connectionArn=.*repo=/);
    expect(() => buildExampleApp(createTestApp({ context: { ...PIPELINE_CONTEXT, repo: 'not a repo' } }))).toThrow(/owner\/name/);
  });
});

describe('the CI/CD pipeline stack (-c pipeline=true)', () => {
  let example: ExampleApp;
  let template: Template;
  let projects: Array<{ [key: string]: any }>;

  beforeAll(() => {
    example = buildExampleApp(createTestApp({ context: { ...PIPELINE_CONTEXT, alertEmail: 'ops@example.com' } }));
    template = Template.fromStack(example.pipeline!);
    projects = Object.values(template.findResources('AWS::CodeBuild::Project'));
  });

  /** The buildspec of the CodeBuild project whose build spec contains `text`. */
  function buildSpecWith(text: string): string | undefined {
    return projects.map((p) => String(p.Properties.Source.BuildSpec)).find((spec) => spec.includes(text));
  }

  test('is a separate stack next to the system stack', () => {
    expect(example.pipeline!.stackName).toBe(PIPELINE_STACK_NAME);
    expect(example.dataPipeline.stackName).toBe(EXAMPLE_STACK_NAME);
  });

  test('takes the source from the CodeStar connection', () => {
    template.hasResourceProperties('AWS::CodePipeline::Pipeline', {
      Stages: Match.arrayWith([Match.objectLike({
        Name: 'Source',
        Actions: [Match.objectLike({
          ActionTypeId: Match.objectLike({ Provider: 'CodeStarSourceConnection' }),
          Configuration: Match.objectLike({
            ConnectionArn: PIPELINE_CONTEXT.connectionArn,
            FullRepositoryId: PIPELINE_CONTEXT.repo,
            BranchName: 'main',
          }),
        })],
      })]),
    });
  });

  test('synthesizes the same app, with the same context, so that it can update itself', () => {
    const synth = buildSpecWith('cdk synth');
    expect(synth).toBeDefined();
    expect(synth).toContain('npm ci');
    expect(synth).toMatch(/runtime-versions[\s\S]*nodejs[\s\S]*20/);
    expect(synth).toContain(`npx cdk synth -c pipeline=true -c connectionArn=${PIPELINE_CONTEXT.connectionArn} -c repo=${PIPELINE_CONTEXT.repo} -c branch=main -c alertEmail=ops@example.com`);
    // Self-mutation: a project that deploys the pipeline stack itself.
    expect(buildSpecWith(`cdk -a . deploy ${PIPELINE_STACK_NAME}`)).toBeDefined();
  });

  test('runs the tests, then deploys the data pipeline stage', () => {
    expect(buildSpecWith('npm test')).toBeDefined();
    const pipeline = Object.values(template.findResources('AWS::CodePipeline::Pipeline'))[0];
    type Action = { Name: string; RunOrder: number; ActionTypeId: { Provider: string } };
    const stages: Array<{ Name: string; Actions: Action[] }> = pipeline.Properties.Stages;
    expect(stages.map((s) => s.Name)).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'Deploy']);
    const deploy = stages.find((s) => s.Name === 'Deploy')!;
    const test = deploy.Actions.find((a) => a.Name === 'Test')!;
    const prepare = deploy.Actions.find((a) => a.Name === 'DataPipeline.Prepare')!;
    expect(test.ActionTypeId.Provider).toBe('CodeBuild');
    expect(prepare.ActionTypeId.Provider).toBe('CloudFormation');
    expect(test.RunOrder).toBeLessThan(prepare.RunOrder);
    // The stage's stack is the example system, with the same settings.
    expect(example.pipeline!.stage.stack).toBeInstanceOf(DataPipelineStack);
    Template.fromStack(example.pipeline!.stage.stack).hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'ops@example.com' });
  });

  test('keeps its artifacts in a versioned, KMS-encrypted, access-logged bucket', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } })] },
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});
