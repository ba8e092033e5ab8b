import { CfnResource, Duration, Names, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { AnalyticsApiBase } from './analytics-api-base';
import { AnalyticsApiAttributes, AnalyticsApiAuthorization, AnalyticsApiProps, IAnalyticsApi, UserDefinedOperation } from './analytics-api-props';
import { ImportedAnalyticsApi } from './imported-analytics-api';
import { BUILT_IN_OPERATION_NAMES, checkNumber, operationCode, operationEnvironment, RESULTS_PREFIX, validateUserOperations } from './operation-settings';
import { acknowledgeMethodAuthorization, methodAuthorization } from './route-authorization';
import { CanonicalStore } from '../canonical-store/canonical-store';
import { AccessLevel, ICanonicalStore } from '../canonical-store/canonical-store-props';
import { deliverAccessLogsThroughBucketPolicy } from '../common/access-logs';
import { notifyAlarmTopic } from '../common/alarms';
import { createPipelineFunction } from '../common/lambda-tuning';
import { acknowledgeDefaultLogEncryption, allowCloudWatchLogsToUseKey } from '../common/log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from '../common/nag';
import { applyPermissionsBoundary } from '../common/permissions-boundary';
import { PipelineAwsService } from '../common/vpc-endpoints';

const API_GATEWAY_TIMEOUT_SECONDS = 29;

/** One error shape for the responses API Gateway produces itself: [type, status, code]. */
const GATEWAY_RESPONSES: Array<[apigw.ResponseType, string, string]> = [
  [apigw.ResponseType.BAD_REQUEST_BODY, '400', 'BAD_REQUEST_BODY'],
  [apigw.ResponseType.BAD_REQUEST_PARAMETERS, '400', 'BAD_REQUEST_PARAMETERS'],
  [apigw.ResponseType.UNAUTHORIZED, '401', 'UNAUTHORIZED'],
  [apigw.ResponseType.ACCESS_DENIED, '403', 'ACCESS_DENIED'],
  [apigw.ResponseType.EXPIRED_TOKEN, '403', 'EXPIRED_TOKEN'],
  [apigw.ResponseType.INVALID_API_KEY, '403', 'INVALID_API_KEY'],
  [apigw.ResponseType.INVALID_SIGNATURE, '403', 'INVALID_SIGNATURE'],
  [apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, '403', 'MISSING_AUTHENTICATION_TOKEN'],
  [apigw.ResponseType.WAF_FILTERED, '403', 'WAF_FILTERED'],
  [apigw.ResponseType.RESOURCE_NOT_FOUND, '404', 'NOT_FOUND'],
  [apigw.ResponseType.REQUEST_TOO_LARGE, '413', 'PAYLOAD_TOO_LARGE'],
  [apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, '415', 'UNSUPPORTED_MEDIA_TYPE'],
  [apigw.ResponseType.THROTTLED, '429', 'THROTTLED'],
  [apigw.ResponseType.QUOTA_EXCEEDED, '429', 'QUOTA_EXCEEDED'],
  [apigw.ResponseType.INTEGRATION_FAILURE, '502', 'INTEGRATION_FAILURE'],
  [apigw.ResponseType.INTEGRATION_TIMEOUT, '504', 'INTEGRATION_TIMEOUT'],
  [apigw.ResponseType.DEFAULT_4XX, '400', 'BAD_REQUEST'],
  [apigw.ResponseType.DEFAULT_5XX, '500', 'INTERNAL_ERROR'],
];

/**
 * Advanced SQL analytics over a canonical store through simple REST calls: a REST API (API
 * Gateway) in front of one Lambda function in the store's VPC, with a DynamoDB result cache keyed
 * by the store's data generation and an S3 bucket for large results.
 *
 * Routes: `GET /health`, `GET /analytics?operation=NAME&…`, `POST /analytics`
 * (`{"operation", "parameters"}`), `GET /download/{key}`. See docs/analytics-api.md.
 *
 * Shared props (`PipelineConstructProps`): `lambdaTuning` tunes the API's function (default
 * 1024 MiB, 29 seconds, logs kept three months; its timeout must stay below API Gateway's 29
 * seconds); `removalPolicy` covers the cache table, the results bucket (`DESTROY` empties it) and
 * the log groups; `logEncryptionKey` the function's log group and the stage's access logs (not API
 * Gateway's execution logs); VPC endpoints: Secrets Manager, S3 and DynamoDB. Alarms: server errors,
 * p99 latency, function errors.
 */
export class AnalyticsApi extends AnalyticsApiBase {
  /** Names of the built-in operations (a frozen array: it cannot be changed). */
  public static readonly BUILT_IN_OPERATIONS: string[] = Object.freeze([...BUILT_IN_OPERATION_NAMES]) as string[];

  /**
   * Imports an analytics API defined elsewhere (another stack or app), e.g. to monitor it with
   * `PipelineMonitoring` or grant callers access to it.
   */
  public static fromAnalyticsApiAttributes(scope: Construct, id: string, attrs: AnalyticsApiAttributes): IAnalyticsApi {
    return new ImportedAnalyticsApi(scope, id, attrs);
  }

  /** The REST API. */
  public readonly api: apigw.RestApi;

  /** The function behind every route. */
  public readonly handler: lambda.Function;

  /** The result cache (partition key `cacheKey`, TTL attribute `expiresAt`). */
  public readonly cacheTable: dynamodb.Table;

  /** Large results (under `results/`), deleted after `resultExpiry`. */
  public readonly resultsBucket: s3.Bucket;

  /** The store the API queries. */
  public readonly store: ICanonicalStore;

  /** How callers authenticate. */
  public readonly authorization: AnalyticsApiAuthorization;

  /** The API key, with `AnalyticsApiAuthorization.API_KEY`. */
  public readonly apiKey?: apigw.IApiKey;

  /** URL of the API's stage, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/prod/`. */
  public readonly url: string;

  /** Alarm: server-side errors (5XX) on the stage. */
  public readonly serverErrorAlarm: cloudwatch.Alarm;

  /** Alarm: p99 latency of the stage. */
  public readonly latencyAlarm: cloudwatch.Alarm;

  /** Alarm: the function failed (crashes, timeouts). */
  public readonly functionErrorsAlarm: cloudwatch.Alarm;

  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  public readonly serviceName: string;

  /**
   * The function's code (the bundled analytics handler, with the user-defined operations):
   * another function of the same asset can use it with its own handler export.
   */
  public readonly handlerCode: lambda.Code;

  /**
   * The handler's environment (connection, cache, results bucket, limits; no secret values),
   * for another function of the same code.
   */
  public readonly handlerEnvironment: { [key: string]: string };

  /** Name of the REST API. */
  public readonly restApiName: string;

  /** Name of the stage. */
  public readonly stageName: string;

  /** Id of the REST API. */
  public readonly restApiId: string;

  /** Id of the REST API's root resource (`/`) (always set on a created API). */
  public readonly rootResourceId?: string;

  /** Id of the `/analytics` resource, the parent of an async job workflow's routes (always set on a created API). */
  public readonly analyticsResourceId?: string;

  /** Id of the Cognito user pool authorizer, with `AnalyticsApiAuthorization.COGNITO`. */
  public readonly authorizerId?: string;

  private readonly operations: UserDefinedOperation[];

  private readonly methodOptions: apigw.MethodOptions;
  private readonly requestValidator: apigw.RequestValidator;

  constructor(scope: Construct, id: string, props: AnalyticsApiProps) {
    super(scope, id);
    deliverAccessLogsThroughBucketPolicy(this);
    validateProps(props);
    this.store = props.store;
    this.authorization = props.authorization ?? AnalyticsApiAuthorization.IAM;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.cacheTable = new dynamodb.Table(this, 'CacheTable', {
      partitionKey: { name: 'cacheKey', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      removalPolicy,
    });
    acknowledgeNagFinding(this.cacheTable, 'HIPAA.Security-DynamoDBInBackupPlan',
      'A cache of query results, recomputable from the store at any time: point-in-time recovery is on, an AWS Backup plan would only add cost');

    this.resultsBucket = this.createResultsBucket(props, removalPolicy);

    this.serviceName = `analytics-${Names.uniqueResourceName(this, { maxLength: 48 })}`;
    const queryTimeout = props.queryTimeout ?? Duration.seconds(25);
    const store = props.store;
    this.operations = [...(props.userOperations ?? [])];
    this.handlerEnvironment = {
      ...store.connectionEnvironment(AccessLevel.ANALYTICS_READER),
      SQL_READER_SECRET_ARN: store.secretFor(AccessLevel.RESTRICTED_READER).secretArn,
      ...operationEnvironment({
        ...props,
        cacheTableName: this.cacheTable.tableName,
        resultsBucketName: this.resultsBucket.bucketName,
        queryTimeout,
      }),
    };

    // With user-defined operations, their user-operations.json travels next to the handler.
    this.handlerCode = operationCode('analytics-api', props.userOperations);
    allowCloudWatchLogsToUseKey(this, props.logEncryptionKey);
    const built = createPipelineFunction(this, 'Function', {
      assetName: 'analytics-api',
      code: this.handlerCode,
      description: 'AnalyticsApi: SQL analytics over the canonical store',
      serviceName: this.serviceName,
      vpc: store.vpc,
      vpcSubnets: store.vpcSubnets,
      defaults: { memorySize: 1024, timeout: Duration.seconds(API_GATEWAY_TIMEOUT_SECONDS) },
      tuning: props.lambdaTuning,
      tuningProp: 'lambdaTuning',
      logEncryptionKey: props.logEncryptionKey,
      environment: this.handlerEnvironment,
      callsServices: [PipelineAwsService.SECRETS_MANAGER, PipelineAwsService.S3, PipelineAwsService.DYNAMODB],
      createVpcEndpoints: props.createVpcEndpoints,
      logRemovalPolicy: removalPolicy,
      invokedSynchronouslyBy: 'API Gateway (the caller gets the error and retries)',
    });
    this.handler = built.fn;
    store.grantConnect(this.handler, AccessLevel.ANALYTICS_READER);
    store.grantConnect(this.handler, AccessLevel.RESTRICTED_READER);
    if (store instanceof CanonicalStore) {
      // The function resource only (not its security group, which the store's ingress rule references).
      (this.handler.node.defaultChild as CfnResource).node.addDependency(store.migrations);
    }
    this.grantHandlerAccess(props);

    const api = this.createRestApi(props);
    this.api = api;
    this.url = api.url;
    this.restApiName = api.restApiName;
    this.stageName = api.deploymentStage.stageName;
    this.restApiId = api.restApiId;
    this.rootResourceId = api.restApiRootResourceId;
    this.requestValidator = new apigw.RequestValidator(this, 'RequestValidator', {
      restApi: api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const authorizer = this.authorization === AnalyticsApiAuthorization.COGNITO
      ? new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [props.userPool!] })
      : undefined;
    this.authorizerId = authorizer?.authorizerId;
    this.methodOptions = methodAuthorization(this.authorization, authorizer);
    if (this.authorization === AnalyticsApiAuthorization.API_KEY) {
      const key = api.addApiKey('ApiKey', { description: `Key of the analytics API ${this.node.path}` });
      const plan = api.addUsagePlan('UsagePlan', {
        description: 'Analytics API callers: the stage throttling applies per key too',
        throttle: { rateLimit: props.throttlingRateLimit ?? 50, burstLimit: props.throttlingBurstLimit ?? 100 },
      });
      plan.addApiStage({ stage: api.deploymentStage });
      plan.addApiKey(key);
      this.apiKey = key;
    }
    this.addGatewayResponses(props);

    const integration = new apigw.LambdaIntegration(this.handler, { proxy: true });
    this.addMethod(api.root.addResource('health'), 'GET', integration);
    const analytics = api.root.addResource('analytics');
    this.analyticsResourceId = analytics.resourceId;
    this.addMethod(analytics, 'GET', integration, { 'method.request.querystring.operation': true });
    const requestModel = api.addModel('AnalyticsRequest', {
      contentType: 'application/json',
      modelName: 'AnalyticsRequest',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        title: 'AnalyticsRequest',
        type: apigw.JsonSchemaType.OBJECT,
        required: ['operation'],
        additionalProperties: false,
        properties: {
          operation: { type: apigw.JsonSchemaType.STRING, minLength: 1, maxLength: 100 },
          parameters: { type: apigw.JsonSchemaType.OBJECT },
          cache: { type: apigw.JsonSchemaType.BOOLEAN },
        },
      },
    });
    this.addMethod(analytics, 'POST', integration, undefined, { 'application/json': requestModel });
    this.addMethod(api.root.addResource('download').addResource('{key}'), 'GET', integration, { 'method.request.path.key': true });

    if (props.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', { resourceArn: api.deploymentStage.stageArn, webAclArn: props.webAclArn });
    }

    const alarms = this.createAlarms(props);
    this.serverErrorAlarm = alarms.serverErrors;
    this.latencyAlarm = alarms.latency;
    this.functionErrorsAlarm = alarms.functionErrors;
    // Last: also reaches the stack-wide functions aws-cdk-lib created for the construct.
    applyPermissionsBoundary(this, props.permissionsBoundary);
  }

  /** The function behind every route (`handler`). */
  public get apiFunction(): lambda.IFunction {
    return this.handler;
  }

  /** The results bucket (`resultsBucket`). */
  public get largeResultsBucket(): s3.IBucket | undefined {
    return this.resultsBucket;
  }

  /** The result cache table (`cacheTable`). */
  public get resultCacheTable(): dynamodb.ITable | undefined {
    return this.cacheTable;
  }

  /** @internal */
  public _operationEnvironment(): { [key: string]: string } {
    return this.handlerEnvironment;
  }

  /** The user-defined operations (a copy of the `userOperations` prop, new on each read). */
  public get userOperations(): UserDefinedOperation[] {
    return [...this.operations];
  }

  /** The API's alarms: server errors, p99 latency, function errors. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [this.serverErrorAlarm, this.latencyAlarm, this.functionErrorsAlarm];
  }

  /**
   * Adds a route to the API, with the API's authorization and request validation, proxied to
   * `handler` (e.g. `addRoute('analytics/jobs', ['POST'])` for the async job workflow).
   *
   * @param resourcePath path below the stage root, e.g. `analytics/jobs/{jobId}`
   * @param methods HTTP methods, e.g. `['GET']`
   * @param handler the function that answers (Lambda proxy integration)
   * @default handler - the API's own function
   */
  public addRoute(resourcePath: string, methods: string[], handler?: lambda.IFunction): apigw.Resource {
    const resource = this.api.root.resourceForPath(resourcePath.replace(/^\/+|\/+$/g, ''));
    const integration = new apigw.LambdaIntegration(handler ?? this.handler, { proxy: true });
    const pathParameters = Object.fromEntries([...resourcePath.matchAll(/\{([A-Za-z0-9_]+)\+?\}/g)].map((m) => [`method.request.path.${m[1]}`, true]));
    for (const method of methods) this.addMethod(resource, method.toUpperCase(), integration, pathParameters);
    return resource as apigw.Resource;
  }

  /** Lets `grantee` call the API (`execute-api:Invoke` on every route of the stage), for IAM authorization. */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.api.arnForExecuteApi('*', '/*', this.api.deploymentStage.stageName)],
    });
  }


  private addMethod(
    resource: apigw.IResource, httpMethod: string, integration: apigw.Integration,
    requestParameters?: { [param: string]: boolean }, requestModels?: { [contentType: string]: apigw.IModel },
  ): apigw.Method {
    const method = resource.addMethod(httpMethod, integration, {
      ...this.methodOptions,
      requestValidator: this.requestValidator,
      requestParameters: requestParameters && Object.keys(requestParameters).length > 0 ? requestParameters : undefined,
      requestModels,
    });
    acknowledgeMethodAuthorization(method, this.authorization);
    return method;
  }

  private createResultsBucket(props: AnalyticsApiProps, removalPolicy: RemovalPolicy): s3.Bucket {
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    let logsBucket = props.serverAccessLogsBucket;
    if (!logsBucket) {
      const created = new s3.Bucket(this, 'AccessLogsBucket', {
        encryption: s3.BucketEncryption.S3_MANAGED, // S3 delivers server access logs only to SSE-S3 buckets
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removalPolicy,
        autoDeleteObjects: destroy,
        lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(7) }],
      });
      acknowledgeNagFinding(created, 'HIPAA.Security-S3DefaultEncryptionKMS',
        'S3 delivers server access logs only to buckets encrypted with S3-managed keys (SSE-S3), not SSE-KMS');
      acknowledgeNagFinding(created, 'HIPAA.Security-S3BucketReplicationEnabled', 'Server access logs of the results bucket: kept in one region with it');
      logsBucket = created;
    }
    const bucket = new s3.Bucket(this, 'ResultsBucket', {
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: logsBucket,
      serverAccessLogsPrefix: 'analytics-results/',
      removalPolicy,
      autoDeleteObjects: destroy,
      lifecycleRules: [
        { id: 'expire-results', prefix: RESULTS_PREFIX, expiration: props.resultExpiry ?? Duration.days(7) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    acknowledgeNagFinding(bucket, 'HIPAA.Security-S3BucketVersioningEnabled',
      'Temporary query results, written once under random keys and expired by the lifecycle rule: versions would only keep expired results');
    acknowledgeNagFinding(bucket, 'HIPAA.Security-S3BucketReplicationEnabled',
      'Temporary query results, recomputable from the store: replicating them to another region adds nothing');
    if (!props.encryptionKey) {
      acknowledgeNagFinding(bucket, 'HIPAA.Security-S3DefaultEncryptionKMS',
        'Encrypted with SSE-S3 by default; pass encryptionKey for SSE-KMS with a customer-managed key');
    }
    return bucket;
  }

  /** Least privilege: the cache table's GetItem/PutItem, and the results prefix (write, read for presigned URLs). */
  private grantHandlerAccess(props: AnalyticsApiProps): void {
    const fn = this.handler;
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ResultCache',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [this.cacheTable.tableArn],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      sid: 'LargeResults',
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
      resources: [this.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
    }));
    const policy = defaultPolicyOf(fn.role!);
    acknowledgeNagFinding(policy, 'AwsSolutions-IAM5',
      'Object-level access to the results prefix only: results are written under random keys and read back for presigned download URLs',
      [{ regex: `/^Resource::<.*ResultsBucket[A-Za-z0-9]*\\.Arn>\\/${RESULTS_PREFIX.replace('/', '')}\\/\\*$/` }]);
    if (props.encryptionKey) {
      props.encryptionKey.grantEncryptDecrypt(fn);
      acknowledgeNagFinding(policy, 'AwsSolutions-IAM5', 'kms:GenerateDataKey* and kms:ReEncrypt* on the construct\'s key only (Key.grantEncryptDecrypt)',
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*']);
    }
  }

  private createRestApi(props: AnalyticsApiProps): apigw.RestApi {
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      encryptionKey: props.logEncryptionKey,
    });
    acknowledgeDefaultLogEncryption(accessLogs, props.logEncryptionKey);
    const origins = props.corsAllowOrigins ?? [];
    const api = new apigw.RestApi(this, 'Api', {
      description: 'Analytics over the canonical store (cdk-serverless-data-pipeline AnalyticsApi)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: props.createCloudWatchRole ?? true,
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        throttlingRateLimit: props.throttlingRateLimit ?? 50,
        throttlingBurstLimit: props.throttlingBurstLimit ?? 100,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId',
          extendedRequestId: '$context.extendedRequestId',
          ip: '$context.identity.sourceIp',
          caller: '$context.identity.caller',
          user: '$context.identity.user',
          apiKeyId: '$context.identity.apiKeyId',
          requestTime: '$context.requestTime',
          httpMethod: '$context.httpMethod',
          resourcePath: '$context.resourcePath',
          status: '$context.status',
          protocol: '$context.protocol',
          responseLength: '$context.responseLength',
          responseLatency: '$context.responseLatency',
          integrationLatency: '$context.integration.latency',
          integrationStatus: '$context.integration.status',
          errorMessage: '$context.error.message',
          errorType: '$context.error.responseType',
        })),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
      },
      defaultCorsPreflightOptions: origins.length > 0 ? {
        allowOrigins: origins,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: [...apigw.Cors.DEFAULT_HEADERS, 'X-Api-Key'],
        maxAge: Duration.hours(1),
      } : undefined,
    });
    if (props.createCloudWatchRole ?? true) {
      const role = api.node.tryFindChild('CloudWatchRole');
      if (role) {
        acknowledgeNagFinding(role, 'AwsSolutions-IAM4',
          'The account\'s API Gateway CloudWatch role uses the AWS managed policy API Gateway requires for logging',
          ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs']);
      }
    }
    const stage = api.deploymentStage;
    acknowledgeNagFinding(stage, 'HIPAA.Security-APIGWCacheEnabledAndEncrypted',
      'Results are cached by the function in an encrypted DynamoDB table keyed by the store\'s data generation; the API Gateway cache cannot see new data landing');
    acknowledgeNagFinding(stage, 'HIPAA.Security-APIGWSSLEnabled',
      'The integration is a Lambda function (AWS_PROXY), not an HTTP backend that could verify a client certificate');
    if (!props.webAclArn) {
      acknowledgeNagFinding(stage, 'AwsSolutions-APIG3', 'Pass webAclArn to associate your AWS WAFv2 web ACL; the stage has throttling and authorization by default');
    }
    return api;
  }

  private addGatewayResponses(props: AnalyticsApiProps): void {
    const origins = props.corsAllowOrigins ?? [];
    const headers: { [name: string]: string } = { 'Content-Type': "'application/json'", 'Cache-Control': "'no-store'" };
    if (origins.length === 1) headers['Access-Control-Allow-Origin'] = `'${origins[0]}'`;
    for (const [type, statusCode, code] of GATEWAY_RESPONSES) {
      const details = type === apigw.ResponseType.BAD_REQUEST_BODY
        ? ',"details":{"validation":"$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\\'", "\'")"}'
        : '';
      this.api.addGatewayResponse(`Response${code.split('_').map((w) => w.charAt(0) + w.slice(1).toLowerCase()).join('')}${statusCode}`, {
        type,
        statusCode,
        responseHeaders: headers,
        templates: {
          'application/json': `{"error":{"code":"${code}","message":$context.error.messageString${details}},"requestId":"$context.requestId"}`,
        },
      });
    }
  }

  private createAlarms(props: AnalyticsApiProps) {
    const serverErrors = new cloudwatch.Alarm(this, 'ServerErrorAlarm', {
      alarmDescription: 'The analytics API answered with server errors (5XX): database unavailable, query timeouts or failures',
      metric: this.metricServerError({ statistic: 'Sum' }),
      threshold: props.serverErrorAlarmThreshold ?? 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latency = new cloudwatch.Alarm(this, 'LatencyAlarm', {
      alarmDescription: 'p99 latency of the analytics API is high',
      metric: this.metricLatency(),
      threshold: (props.latencyAlarmThreshold ?? Duration.seconds(10)).toMilliseconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const functionErrors = new cloudwatch.Alarm(this, 'FunctionErrorsAlarm', {
      alarmDescription: 'The analytics function failed (crashed or timed out)',
      metric: this.handler.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [serverErrors, latency, functionErrors]) notifyAlarmTopic(alarm, props.alarmTopic);
    return { serverErrors, latency, functionErrors };
  }
}

function validateProps(props: AnalyticsApiProps): void {
  if (!props.store) throw new Error('store is required: the API queries its canonical schema');
  const authorization = props.authorization ?? AnalyticsApiAuthorization.IAM;
  if (authorization === AnalyticsApiAuthorization.COGNITO && !props.userPool) {
    throw new Error('userPool is required with authorization COGNITO');
  }
  if (props.userPool && authorization !== AnalyticsApiAuthorization.COGNITO) {
    throw new Error('userPool is only used with authorization COGNITO');
  }
  const number = checkNumber;
  number('throttlingRateLimit', props.throttlingRateLimit, 0, 1_000_000, false);
  number('throttlingBurstLimit', props.throttlingBurstLimit, 0, 1_000_000);
  number('largeResultMaxRows', props.largeResultMaxRows, 1, 10_000_000);
  number('largeResultMaxBytes', props.largeResultMaxBytes, 1000, 5_000_000);
  number('customQueryMaxRows', props.customQueryMaxRows, 1, 10_000_000);
  number('serverErrorAlarmThreshold', props.serverErrorAlarmThreshold, 0, 1_000_000);
  if (props.cacheTtl && (props.cacheTtl.toSeconds() < 0 || props.cacheTtl.toSeconds() > 30 * 86400)) {
    throw new Error(`cacheTtl must be between 0 and 30 days, got ${props.cacheTtl.toHumanString()}`);
  }
  const queryTimeout = props.queryTimeout?.toSeconds() ?? 25;
  if (queryTimeout < 1 || queryTimeout > API_GATEWAY_TIMEOUT_SECONDS - 3) {
    throw new Error(`queryTimeout must be between 1 and ${API_GATEWAY_TIMEOUT_SECONDS - 3} seconds (API Gateway stops waiting at 29), got ${queryTimeout}`);
  }
  const lambdaTimeout = props.lambdaTuning?.timeout?.toSeconds();
  if (lambdaTimeout !== undefined && (lambdaTimeout > API_GATEWAY_TIMEOUT_SECONDS || lambdaTimeout < queryTimeout + 2)) {
    throw new Error(`lambdaTuning.timeout must be at least queryTimeout + 2 s (${queryTimeout + 2}) and at most ${API_GATEWAY_TIMEOUT_SECONDS} seconds, got ${lambdaTimeout}`);
  }
  const expiryDays = props.resultExpiry?.toDays({ integral: false });
  if (expiryDays !== undefined && (expiryDays < 1 || !Number.isInteger(expiryDays))) {
    throw new Error(`resultExpiry must be a whole number of days (at least 1), got ${props.resultExpiry!.toHumanString()}`);
  }
  const origins = props.corsAllowOrigins ?? [];
  if (origins.some((o) => typeof o !== 'string' || o.trim() === '' || /[,'\s]/.test(o))) {
    throw new Error('corsAllowOrigins must be origins like "https://app.example.com" (no commas, quotes or spaces), or "*"');
  }
  if (origins.includes('*') && origins.length > 1) throw new Error('corsAllowOrigins: "*" allows every origin; list no others with it');
  validateUserOperations(props.userOperations ?? []);
}
