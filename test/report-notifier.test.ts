import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AiAnalyzer, ReportNotifier, ReportNotifierProps } from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';
import { snapshotTest } from './construct-support/floor';
import { logKeyProps, testLogEncryptionKey } from './construct-support/log-encryption';
import { formatNagFindings, NagFinding, NagReport, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { endpointsByVpc, missingVpcEndpoints } from './construct-support/vpc-endpoints';

afterAll(removeTestAppDirs);

/**
 * Findings on the constructs' resources: those on the test's own VPC are not theirs. Everything
 * else is acknowledged by the constructs (their defaults: no key, topic, VPC or backup plan given)
 * or must not occur.
 */
function unsettled(report: NagReport): { errors: NagFinding[]; warnings: NagFinding[] } {
  const ours = (f: NagFinding) => !f.path.startsWith('/TestStack/Vpc/');
  return { errors: report.errors.filter(ours), warnings: report.warnings.filter(ours) };
}

interface Built {
  readonly stack: Stack;
  readonly notifier: ReportNotifier;
  readonly analyzer: AiAnalyzer;
  readonly template: Template;
}

/** `props` may be built in the stack (e.g. a key of it). */
function build(
  props: Partial<ReportNotifierProps> | ((stack: Stack) => Partial<ReportNotifierProps>) = {}, stackProps: StackProps = {}, synth = true,
): Built {
  const stack = createTestStack('TestStack', stackProps);
  const own = typeof props === 'function' ? props(stack) : props;
  const bus = new events.EventBus(stack, 'Bus');
  const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: bus, dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data') });
  const notifier = new ReportNotifier(stack, 'Notifier', {
    eventBus: bus,
    analyzer,
    fromAddress: 'reports@pipeline.example.com',
    toAddresses: ['ops@example.com', 'lead@example.com'],
    ...own,
  });
  return { stack, notifier, analyzer, template: synth ? Template.fromStack(stack) : (undefined as unknown as Template) };
}

function notifierStatements(b: Built): any[] {
  const roleId = b.stack.resolve((b.notifier.notifierFunction.role!.node.defaultChild as iam.CfnRole).logicalId);
  return Object.values(b.template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function rulesFor(template: Template, detailType: string): any[] {
  return Object.values(template.findResources('AWS::Events::Rule')).filter((r) => r.Properties.EventPattern['detail-type'][0] === detailType);
}

describe('ReportNotifier defaults', () => {
  const b = build();
  const { template } = b;

  test('rules: Analysis Complete and Analysis Failed from the analyzer, Ingestion Failed of last attempts only', () => {
    expect(rulesFor(template, 'Analysis Complete')[0].Properties.EventPattern).toEqual({ 'source': ['cdk-serverless-data-pipeline.ai-analyzer'], 'detail-type': ['Analysis Complete'] });
    expect(rulesFor(template, 'Analysis Failed')[0].Properties.EventPattern).toEqual({ 'source': ['cdk-serverless-data-pipeline.ai-analyzer'], 'detail-type': ['Analysis Failed'] });
    expect(rulesFor(template, 'Ingestion Failed')[0].Properties.EventPattern).toEqual({
      'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Failed'], 'detail': { final: [true] },
    });
  });

  test('each rule targets the function with retries and a dead-letter queue; failed async invocations go there too', () => {
    for (const type of ['Analysis Complete', 'Analysis Failed', 'Ingestion Failed']) {
      expect(rulesFor(template, type)[0].Properties.Targets).toEqual([expect.objectContaining({
        Arn: { 'Fn::GetAtt': [expect.stringMatching(/^NotifierFunction/), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.stringMatching(/^NotifierDeadLetterQueue/), 'Arn'] } },
      })]);
    }
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierDeadLetterQueue'), 'Arn'] } },
    });
  });

  test('IAM: ses:SendEmail on the sender identity only, from the configured address only', () => {
    const send = notifierStatements(b).filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('ses:')));
    expect(send).toEqual([{
      Sid: 'SendReports',
      Effect: 'Allow',
      Action: 'ses:SendEmail',
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':identity/',
          { Ref: expect.stringMatching(/^NotifierEmailIdentity/) }]],
      },
      Condition: { StringEquals: { 'ses:FromAddress': 'reports@pipeline.example.com' } },
    }]);
    template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'reports@pipeline.example.com' });
  });

  test('IAM: reads analyses and manifests only, lists the manifests prefix only, the table and its day index', () => {
    const statements = notifierStatements(b);
    expect(statements.find((s) => s.Sid === 'ReadAnalysesAndManifests')).toMatchObject({
      Action: 's3:GetObject',
      Resource: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-data/analyses/*']] },
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::pipeline-data/manifests/*']] },
      ],
    });
    expect(statements.find((s) => s.Sid === 'ListManifests')).toMatchObject({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['manifests/*'] } } });
    expect(statements.find((s) => s.Sid === 'ReadAndMarkAnalyses')).toMatchObject({
      Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': [expect.stringMatching(/^AnalyzerAnalysisTable/), 'Arn'] },
    });
    expect(statements.find((s) => s.Sid === 'QueryAnalysesByDay')).toMatchObject({
      Action: 'dynamodb:Query',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^AnalyzerAnalysisTable/), 'Arn'] }, '/index/byDay']] },
    });
    expect(JSON.stringify(statements)).not.toMatch(/"s3:\*"|"dynamodb:\*"|"s3:PutObject"|"s3:DeleteObject"/);
  });

  test('an operations topic is created: KMS-encrypted (rotated key, usable by CloudWatch alarms), TLS only; the function may publish to it', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierAlarmTopicKey'), 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey'] })]) },
    });
    const statements = notifierStatements(b);
    expect(statements.find((s) => s.Sid === 'PublishNotices')).toMatchObject({ Action: 'sns:Publish', Resource: { Ref: expect.stringMatching(/^NotifierAlarmTopic/) } });
    expect(statements.find((s) => [].concat(s.Action).includes('kms:GenerateDataKey' as never))?.Action).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
    expect(b.notifier.alarmTopic).toBeDefined();
  });

  test('the function: its configuration in the environment; no digest schedule by default', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Timeout: 120,
      Environment: {
        Variables: Match.objectLike({
          FROM_ADDRESS: 'reports@pipeline.example.com',
          TO_ADDRESSES: '["ops@example.com","lead@example.com"]',
          ANALYSIS_PREFIX: 'analyses/',
          MANIFEST_PREFIX: 'manifests/',
          DATA_BUCKET: 'pipeline-data',
          EMAIL_FAILURES: 'false',
          OPS_TOPIC_ARN: { Ref: Match.stringLikeRegexp('^NotifierAlarmTopic') },
        }),
      },
    });
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  test('alarms on the dead-letter queue and the function errors notify the operations topic', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) => id.startsWith('Notifier'));
    expect(alarms).toHaveLength(2);
    for (const [, alarm] of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^NotifierAlarmTopic/) }]);
  });

  test('metric methods: invocations, errors, dead-letter queue depth', () => {
    const resolve = (m: any) => b.stack.resolve({ ns: m.namespace, name: m.metricName, stat: m.statistic, dims: m.dimensions });
    const fnRef = { Ref: b.stack.resolve((b.notifier.notifierFunction.node.defaultChild as iam.CfnRole).logicalId) };
    expect(resolve(b.notifier.metricInvocations())).toEqual({ ns: 'AWS/Lambda', name: 'Invocations', stat: 'Sum', dims: { FunctionName: fnRef } });
    expect(resolve(b.notifier.metricErrors())).toEqual({ ns: 'AWS/Lambda', name: 'Errors', stat: 'Sum', dims: { FunctionName: fnRef } });
    expect(resolve(b.notifier.metricDeadLetterQueueDepth())).toMatchObject({ ns: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible', stat: 'Maximum' });
  });

  snapshotTest('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('ReportNotifier options', () => {
  test('a daily digest with EventBridge Scheduler: the time zone, the digest input, a role that may invoke only the function', () => {
    const b = build({ digestSchedule: events.Schedule.cron({ hour: '7', minute: '0' }), digestTimeZone: 'Europe/Berlin', digestLookback: Duration.hours(48) });
    b.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 7 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierFunction'), 'Arn'] },
        Input: '{"kind":"digest","lookbackHours":48}',
        RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierDigestScheduleRole'), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierDeadLetterQueue'), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    });
    b.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } })],
      },
    });
    b.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifierFunction'), 'Arn'] } }]) },
    });
  });

  test('an existing domain identity, a configuration set created for bounces and complaints, a given topic, no per-analysis reports', () => {
    const stack = createTestStack();
    const bus = new events.EventBus(stack, 'Bus');
    const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: bus, dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data') });
    const topic = new sns.Topic(stack, 'Ops');
    const notifier = new ReportNotifier(stack, 'Notifier', {
      eventBus: bus,
      analyzer,
      fromAddress: 'reports@mail.example.com',
      toAddresses: ['ops@example.com'],
      emailIdentity: ses.EmailIdentity.fromEmailIdentityName(stack, 'Domain', 'example.com'),
      createConfigurationSet: true,
      alarmTopic: topic,
      reportOnAnalysis: false,
      routeIngestionFailures: false,
      emailFailures: true,
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SES::EmailIdentity', 0);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::KMS::Key', 0);
    expect(rulesFor(template, 'Analysis Complete')).toHaveLength(0);
    expect(rulesFor(template, 'Ingestion Failed')).toHaveLength(0);
    expect(rulesFor(template, 'Analysis Failed')).toHaveLength(1);
    template.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      EventDestination: Match.objectLike({ MatchingEventTypes: ['bounce', 'complaint', 'reject', 'renderingFailure'], SnsDestination: { TopicARN: { Ref: Match.stringLikeRegexp('^Ops') } } }),
    });
    const statements = notifierStatements({ stack, notifier, analyzer, template });
    const send = statements.find((s) => s.Sid === 'SendReports');
    expect(send.Resource).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':identity/example.com']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':configuration-set/', { Ref: expect.stringMatching(/^NotifierConfigurationSet/) }]] },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EMAIL_FAILURES: 'true', CONFIGURATION_SET_NAME: { Ref: Match.stringLikeRegexp('^NotifierConfigurationSet') } }) },
    });
  });

  function vpcStack(): Stack {
    const stack = createTestStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const bus = new events.EventBus(stack, 'Bus');
    const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: bus, dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'), vpc });
    new ReportNotifier(stack, 'Notifier', { eventBus: bus, analyzer, fromAddress: 'r@example.com', toAddresses: ['o@example.com'], vpc });
    return stack;
  }

  test('removalPolicy (a shared prop) covers the function\'s log group: retained by default, deleted with DESTROY', () => {
    const logGroupOf = (b: Built) => Object.entries(b.template.findResources('AWS::Logs::LogGroup')).filter(([id]) => id.startsWith('NotifierFunctionLogGroup'));
    expect(logGroupOf(build()).map(([, r]) => r.DeletionPolicy)).toEqual(['Retain']);
    expect(logGroupOf(build({ removalPolicy: RemovalPolicy.DESTROY })).map(([, r]) => r.DeletionPolicy)).toEqual(['Delete']);
  });

  test('in a VPC: the endpoints for SES, SNS, S3 and DynamoDB (and the analyzer\'s)', () => {
    const stack = vpcStack();
    expect(missingVpcEndpoints(stack)).toEqual([]);
    const services = [...endpointsByVpc(Template.fromStack(stack)).values()].flatMap((set) => [...set]);
    expect(services.sort()).toEqual(['bedrock-runtime', 'dynamodb', 'email', 'events', 's3', 'secretsmanager', 'sns']);
  });

  // The SES API endpoint is com.amazonaws.<region>.email (CDK's SES constant is the SMTP one, email-smtp).
  test('in a VPC: the SES API endpoint (com.amazonaws.<region>.email) for SendEmail', () => {
    expect(missingVpcEndpoints(vpcStack())).toEqual([]);
  });

  test.each([
    ['display name in fromAddress', { fromAddress: 'Reports <r@example.com>' }, /fromAddress must be an e-mail address \(set the display name with fromName\)/],
    ['no recipients', { toAddresses: [] }, /toAddresses must list at least one recipient/],
    ['bad recipient', { toAddresses: ['ops'] }, /"ops" is not an e-mail address/],
    ['identity of another domain', { emailIdentity: ses.EmailIdentity.fromEmailIdentityName(createTestStack(), 'I', 'other.org') }, /does not belong to the SES identity other\.org/],
    ['time zone without schedule', { digestTimeZone: 'UTC' }, /digestTimeZone is set without digestSchedule/],
    ['lookback', { digestSchedule: events.Schedule.rate(Duration.days(1)), digestLookback: Duration.days(40) }, /digestLookback must be between/],
  ])('invalid props are refused with the prop named: %s', (_name, props, message) => {
    expect(() => build(props as Partial<ReportNotifierProps>, {}, false)).toThrow(message);
  });
});

describe('cdk-nag', () => {
  test.each([
    ['defaults, environment-agnostic', {}, {}],
    ['digest, configuration set, in a VPC, account and region', { full: true }, { env: { account: '111111111111', region: 'eu-west-1' } }],
  ])('AwsSolutions and HIPAA Security: no unacknowledged finding (%s), and every acknowledgement is used', (_name, options, stackProps) => {
    const stack = createTestStack('TestStack', stackProps as StackProps);
    const full = (options as { full?: boolean }).full;
    const vpc = full
      ? new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] })
      : undefined;
    vpc?.addFlowLog('FlowLog');
    const bus = new events.EventBus(stack, 'Bus');
    const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus: bus, dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'), vpc });
    new ReportNotifier(stack, 'Notifier', {
      eventBus: bus,
      analyzer,
      fromAddress: 'reports@pipeline.example.com',
      toAddresses: ['ops@example.com'],
      vpc,
      ...(full ? { digestSchedule: events.Schedule.cron({ hour: '7', minute: '0' }), createConfigurationSet: true, emailFailures: true } : {}),
    });
    const report = runNagChecks(stack, { hipaa: true });
    const { errors, warnings } = unsettled(report);
    expect(formatNagFindings(errors)).toBe('');
    expect(formatNagFindings(warnings)).toBe('');
    expect(unusedNagAcknowledgements(stack, report)).toEqual([]);
  });
});

describe('logEncryptionKey', () => {
  testLogEncryptionKey('the notifier function\'s log group', 1, (withKey) => {
    const b = build(logKeyProps(withKey));
    return { stack: b.stack, construct: b.notifier };
  });
});
