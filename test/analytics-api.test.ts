/**
 * AnalyticsApi template tests: routes and their authorization, request validation, gateway
 * responses in the API's error shape, the function in the store's VPC with its endpoints and
 * least-privilege IAM, cache table, results bucket, alarms, user-defined operations, addRoute,
 * snapshot and cdk-nag (AwsSolutions + HIPAA Security).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AnalyticsApi, AnalyticsApiAuthorization, AnalyticsApiProps, CanonicalStore } from '../src';
import { createTestApp, createTestStack, removeTestAppDirs } from './construct-support/app';
import { cloudWatchLogsStatements, logGroupKeys, logKeyProps, testLogEncryptionKey } from './construct-support/log-encryption';
import { formatNagFindings, runNagChecks, unusedNagAcknowledgements } from './construct-support/nag';
import { missingVpcEndpoints } from './construct-support/vpc-endpoints';
import { BUILT_IN_OPERATIONS } from '../lambda/analytics-api/operations';

afterAll(removeTestAppDirs);

function apiStack(props: Partial<AnalyticsApiProps> = {}, build?: (stack: Stack) => Partial<AnalyticsApiProps>) {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store');
  const api = new AnalyticsApi(stack, 'Analytics', { store, ...props, ...build?.(stack) });
  return { stack, store, api };
}

function methods(template: Template): Array<{ path: string; method: string; props: any }> {
  const resources = template.findResources('AWS::ApiGateway::Resource');
  const pathOf = (ref: any): string => {
    if (!ref?.Ref || !resources[ref.Ref]) return '';
    const r = resources[ref.Ref].Properties;
    return `${pathOf(r.ParentId)}/${r.PathPart}`;
  };
  return Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => ({
    path: pathOf(m.Properties.ResourceId) || '/', method: m.Properties.HttpMethod, props: m.Properties,
  }));
}

function functionStatements(template: Template): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes('AnalyticsFunctionRole'))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('AnalyticsApi defaults', () => {
  const { stack, api } = apiStack();
  const template = Template.fromStack(stack);

  test('the four routes, all with IAM authorization, validated requests and a Lambda proxy integration', () => {
    const all = methods(template).map((m) => `${m.method} ${m.path}`).sort();
    expect(all).toEqual(['GET /analytics', 'GET /download/{key}', 'GET /health', 'POST /analytics']);
    for (const m of methods(template)) {
      expect(m.props.AuthorizationType).toBe('AWS_IAM');
      expect(m.props.RequestValidatorId).toBeDefined();
      expect(m.props.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' });
    }
    const byRoute = Object.fromEntries(methods(template).map((m) => [`${m.method} ${m.path}`, m.props]));
    expect(byRoute['GET /analytics'].RequestParameters).toEqual({ 'method.request.querystring.operation': true });
    expect(byRoute['GET /download/{key}'].RequestParameters).toEqual({ 'method.request.path.key': true });
    expect(byRoute['POST /analytics'].RequestModels).toEqual({ 'application/json': { Ref: expect.stringMatching(/AnalyticsRequest/) } });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.objectLike({ required: ['operation'], additionalProperties: false }),
    });
  });

  test('stage: throttling, access logs in JSON, execution logging, metrics, X-Ray; the account CloudWatch role', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100, LoggingLevel: 'ERROR', MetricsEnabled: true, DataTraceEnabled: false })],
    });
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('gateway responses use the API error shape', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
    const types = responses.map((r) => r.ResponseType);
    expect(types).toEqual(expect.arrayContaining(['THROTTLED', 'REQUEST_TOO_LARGE', 'BAD_REQUEST_BODY', 'ACCESS_DENIED', 'INTEGRATION_TIMEOUT', 'DEFAULT_4XX', 'DEFAULT_5XX']));
    const throttled = responses.find((r) => r.ResponseType === 'THROTTLED');
    expect(throttled.StatusCode).toBe('429');
    expect(throttled.ResponseTemplates['application/json']).toBe('{"error":{"code":"THROTTLED","message":$context.error.messageString},"requestId":"$context.requestId"}');
    expect(responses.find((r) => r.ResponseType === 'REQUEST_TOO_LARGE').StatusCode).toBe('413');
    expect(responses.find((r) => r.ResponseType === 'INTEGRATION_TIMEOUT').StatusCode).toBe('504');
    expect(responses.find((r) => r.ResponseType === 'BAD_REQUEST_BODY').ResponseTemplates['application/json']).toContain('$context.error.validationErrorString');
  });

  test('the function: Node.js 24 in the store’s VPC, 29 s, the handler contract in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Timeout: 29,
      MemorySize: 1024,
      VpcConfig: Match.objectLike({ SubnetIds: Match.anyValue() }),
      Environment: {
        Variables: Match.objectLike({
          DB_TLS: 'verify-full',
          DB_SECRET_ARN: { Ref: Match.stringLikeRegexp('StoreAnalyticsSecret') },
          SQL_READER_SECRET_ARN: { Ref: Match.stringLikeRegexp('StoreSqlReaderSecret') },
          CACHE_TABLE_NAME: { Ref: Match.stringLikeRegexp('AnalyticsCacheTable') },
          RESULTS_BUCKET: { Ref: Match.stringLikeRegexp('AnalyticsResultsBucket') },
          QUERY_TIMEOUT_MS: '25000',
          CACHE_TTL_SECONDS: '3600',
          LARGE_RESULT_MAX_ROWS: '10000',
          LARGE_RESULT_MAX_BYTES: '2000000',
        }),
      },
    });
    expect(api.handlerEnvironment.RESULTS_PREFIX).toBe('results/');
  });

  test('every AWS service the function calls has its VPC endpoint', () => {
    expect(missingVpcEndpoints(stack)).toEqual([]);
  });

  test('cache table: on demand, TTL, point-in-time recovery, encrypted, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'cacheKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      }),
    });
  });

  test('results bucket: private, encrypted, SSL only, access-logged, results expire', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'analytics-results/' }),
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-results', Prefix: 'results/', ExpirationInDays: 7 })]) },
      }),
    });
  });

  test('IAM: the cache item actions on the table, the results prefix, and the two reader secrets only', () => {
    const statements = functionStatements(template);
    const actions = statements.flatMap((s) => [].concat(s.Action));
    expect(statements.find((s) => s.Sid === 'ResultCache')).toMatchObject({ Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': [expect.stringMatching(/AnalyticsCacheTable/), 'Arn'] } });
    expect(JSON.stringify(statements.find((s) => s.Sid === 'LargeResults').Resource)).toContain('/results/*');
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions).not.toContain('s3:ListBucket');
    expect(actions).not.toContain('s3:DeleteObject');
    const secrets = JSON.stringify(statements.filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never)).map((s) => s.Resource));
    expect(secrets).toMatch(/StoreAnalyticsSecret/);
    expect(secrets).toMatch(/StoreSqlReaderSecret/);
    expect(secrets).not.toMatch(/Owner|Writer|Master|Admin/i);
  });

  test('one ingress rule per reader on the store’s port', () => {
    const rules = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .filter((r) => JSON.stringify(r.Properties.SourceSecurityGroupId).includes('AnalyticsFunction'));
    expect(rules.length).toBeGreaterThanOrEqual(1);
    expect(new Set(rules.map((r) => JSON.stringify([r.Properties.FromPort, r.Properties.GroupId]))).size).toBe(rules.length);
  });

  test('alarms: 5XX, p99 latency and function errors', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError', Threshold: 5, Dimensions: Match.arrayWith([{ Name: 'Stage', Value: Match.anyValue() }]) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', ExtendedStatistic: 'p99', Threshold: 10000 });
    expect(api.metricCacheHits().toMetricConfig().metricStat).toMatchObject({ metricName: 'CacheHit', namespace: 'ServerlessDataPipeline' });
  });

  test('snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('authorization options', () => {
  test('API key: a key, a usage plan with the throttling, every method requires the key', () => {
    const { stack, api } = apiStack({ authorization: AnalyticsApiAuthorization.API_KEY, throttlingRateLimit: 5, throttlingBurstLimit: 10 });
    const template = Template.fromStack(stack);
    expect(api.apiKey).toBeDefined();
    template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 5, BurstLimit: 10 } });
    template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 1);
    for (const m of methods(template)) expect(m.props).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });
  });

  test('Cognito: a user pool authorizer on every method', () => {
    const { stack } = apiStack({ authorization: AnalyticsApiAuthorization.COGNITO }, (s) => ({ userPool: new cognito.UserPool(s, 'Users') }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { Type: 'COGNITO_USER_POOLS' });
    for (const m of methods(template)) expect(m.props.AuthorizationType).toBe('COGNITO_USER_POOLS');
  });

  test('open only when asked', () => {
    const { stack } = apiStack({ authorization: AnalyticsApiAuthorization.NONE });
    for (const m of methods(Template.fromStack(stack))) expect(m.props.AuthorizationType).toBe('NONE');
  });

  test('grantInvoke gives execute-api:Invoke on the stage', () => {
    const { stack, api } = apiStack();
    const role = new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });
    api.grantInvoke(role);
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find((p) => JSON.stringify(p.Properties.Roles).includes('Caller'));
    expect(JSON.stringify(policy)).toContain('execute-api:Invoke');
    expect(JSON.stringify(policy)).toMatch(/AnalyticsApiDeploymentStageprod[0-9A-F]+"\},"\/\*\/\*"/);
  });
});

describe('options', () => {
  test('CORS: preflight methods, allowed origins for the handler, gateway responses with the origin', () => {
    const { stack } = apiStack({ corsAllowOrigins: ['https://app.example.com'] });
    const template = Template.fromStack(stack);
    expect(methods(template).filter((m) => m.method === 'OPTIONS').length).toBeGreaterThanOrEqual(4);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ CORS_ALLOW_ORIGINS: 'https://app.example.com' }) } });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Access-Control-Allow-Origin': "'https://app.example.com'" }),
    });
  });

  test('tuning, cache and limits reach the handler; alarms notify the topic; customer-managed key', () => {
    const { stack } = apiStack({
      cacheTtl: Duration.minutes(5),
      largeResultMaxRows: 500,
      queryTimeout: Duration.seconds(20),
      customQueryMaxRows: 5000,
      resultExpiry: Duration.days(2),
      serverErrorAlarmThreshold: 1,
      latencyAlarmThreshold: Duration.seconds(3),
    }, (s) => ({ alarmTopic: new sns.Topic(s, 'Ops'), encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }) }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CACHE_TTL_SECONDS: '300', LARGE_RESULT_MAX_ROWS: '500', QUERY_TIMEOUT_MS: '20000', CUSTOM_SQL_MAX_ROWS: '5000', RESULT_EXPIRY_DAYS: '2' }) },
    });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) expect(alarm.Properties.AlarmActions).toHaveLength(1);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', Threshold: 3000 });
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() } });
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 2 })]) } });
  });

  test('user-defined operations are staged next to the bundle and named in the environment', () => {
    const { stack, api } = apiStack({
      userOperations: [{
        name: 'vip_customers',
        sql: 'SELECT source_id, name FROM canonical.customers WHERE segment = :segment',
        parameterSchema: { type: 'object', required: ['segment'], properties: { segment: { type: 'string' } } },
      }],
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ USER_OPERATIONS_FILE: 'user-operations.json' }) } });
    const assetDir = (api.handlerCode as lambda.AssetCode).path;
    const staged = JSON.parse(fs.readFileSync(path.join(assetDir, 'user-operations.json'), 'utf8'));
    expect(staged).toEqual([expect.objectContaining({ name: 'vip_customers', longRunning: false })]);
    expect(fs.existsSync(path.join(assetDir, 'libpg-query.wasm'))).toBe(true);
  });

  test('addRoute adds methods with the API’s authorization and validation', () => {
    const { stack, api } = apiStack();
    api.addRoute('analytics/jobs', ['POST']);
    api.addRoute('/analytics/jobs/{jobId}', ['GET']);
    const template = Template.fromStack(stack);
    const route = methods(template).find((m) => m.path === '/analytics/jobs/{jobId}')!;
    expect(route.props).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'AWS_IAM', RequestParameters: { 'method.request.path.jobId': true } });
    expect(methods(template).find((m) => m.path === '/analytics/jobs' && m.method === 'POST')).toBeDefined();
  });

  test('invalid props fail with the prop named', () => {
    expect(() => apiStack({ authorization: AnalyticsApiAuthorization.COGNITO })).toThrow(/userPool is required with authorization COGNITO/);
    expect(() => apiStack({ queryTimeout: Duration.seconds(28) })).toThrow(/queryTimeout must be between 1 and 26 seconds/);
    expect(() => apiStack({ lambdaTuning: { timeout: Duration.seconds(60) } })).toThrow(/lambdaTuning.timeout must be at least/);
    expect(() => apiStack({ largeResultMaxBytes: 10_000_000 })).toThrow(/largeResultMaxBytes must be an integer between 1000 and 5000000/);
    expect(() => apiStack({ corsAllowOrigins: ['*', 'https://a.example'] })).toThrow(/corsAllowOrigins/);
    expect(() => apiStack({ userOperations: [{ name: 'customer_analysis', sql: 'SELECT 1' }] })).toThrow(/name of a built-in operation/);
    expect(() => apiStack({ userOperations: [{ name: 'Bad-Name', sql: 'SELECT 1' }] })).toThrow(/userOperations\[0\].name/);
    expect(() => apiStack({ userOperations: [{ name: 'a', sql: 'SELECT 1' }, { name: 'a', sql: 'SELECT 2' }] })).toThrow(/used twice/);
    expect(() => apiStack({ userOperations: [{ name: 'a', sql: 'SELECT 1', parameterSchema: { type: 'array' } }] })).toThrow(/parameterSchema must be a JSON Schema of type "object"/);
  });

  test('the construct knows the handler’s built-in operations', () => {
    expect(AnalyticsApi.BUILT_IN_OPERATIONS.slice().sort()).toEqual(BUILT_IN_OPERATIONS.map((o) => o.name).sort());
  });
});

describe('cdk-nag', () => {
  test.each([
    ['IAM (defaults)', {}],
    ['API key, CORS, key, topic, user operation', { authorization: AnalyticsApiAuthorization.API_KEY, corsAllowOrigins: ['https://app.example.com'], userOperations: [{ name: 'one', sql: 'SELECT 1' }] }],
    ['open API, web ACL', { authorization: AnalyticsApiAuthorization.NONE, webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1' }],
  ] as Array<[string, Partial<AnalyticsApiProps>]>)('AwsSolutions + HIPAA: no unacknowledged findings (%s)', (name, props) => {
    const { stack } = apiStack(props, (s) => (name.includes('key') ? {
      encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }),
      alarmTopic: new sns.Topic(s, 'Ops', { enforceSSL: true, masterKey: new kms.Key(s, 'TopicKey', { enableKeyRotation: true }) }),
    } : {}));
    const report = runNagChecks(stack, { hipaa: true });
    // Log-group encryption with a customer-managed key is the application's choice (the example app
    // encrypts every log group with its logs key through an aspect).
    const ours = (list: typeof report.errors) => list.filter((f) => f.path.startsWith('/TestStack/Analytics') && !f.message.startsWith('HIPAA.Security-CloudWatchLogGroupEncrypted'));
    expect(formatNagFindings(ours(report.errors))).toBe('');
    expect(formatNagFindings(ours(report.warnings))).toBe('');
    expect(unusedNagAcknowledgements(stack, report).filter((u) => u.startsWith('/TestStack/Analytics'))).toEqual([]);
  });
});

describe('logEncryptionKey', () => {
  testLogEncryptionKey('the function\'s and the access logs\' log groups', 2, (withKey) => {
    const { stack, api } = apiStack({}, logKeyProps(withKey));
    return { stack, construct: api };
  });

  test('an imported key, or one of another stack: used, its key policy left to the user', () => {
    const imported = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { stack, api } = apiStack({}, (s) => ({ logEncryptionKey: kms.Key.fromKeyArn(s, 'Imported', imported) }));
    expect(Object.values(logGroupKeys(Template.fromStack(stack), api))).toEqual([imported, imported]);

    const app = createTestApp();
    const keyStack = new Stack(app, 'KeyStack');
    const key = new kms.Key(keyStack, 'LogsKey');
    const apiStackOfItsOwn = new Stack(app, 'ApiStack');
    const other = new AnalyticsApi(apiStackOfItsOwn, 'Analytics', { store: new CanonicalStore(apiStackOfItsOwn, 'Store'), logEncryptionKey: key });
    const keys = Object.values(logGroupKeys(Template.fromStack(apiStackOfItsOwn), other));
    expect(keys).toEqual([expect.objectContaining({ 'Fn::ImportValue': expect.stringContaining('LogsKey') }), keys[0]]);
    expect(cloudWatchLogsStatements(Template.fromStack(keyStack), key)).toEqual([]);
  });
});
