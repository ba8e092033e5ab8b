import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import { ICanonicalStore } from '../canonical-store';
import { AlarmedPipelineConstructProps } from '../common/construct-props';

/**
 * How callers authenticate to the analytics API.
 */
export enum AnalyticsApiAuthorization {
  /** AWS Signature Version 4 with IAM credentials: grant callers `execute-api:Invoke` with `grantInvoke`. */
  IAM = 'IAM',
  /** An API key in the `x-api-key` header; the construct creates one key and a usage plan with the API's throttling. */
  API_KEY = 'API_KEY',
  /** A JWT (ID token) of a Cognito user pool in the `Authorization` header (prop `userPool`). */
  COGNITO = 'COGNITO',
  /** No authorization at all: anyone who knows the URL can query the store. An explicit opt-in. */
  NONE = 'NONE',
}

/**
 * An operation of your own: parameterized SQL over the canonical schema, run like the built-in
 * ones (as the analytics reader, in a read-only transaction, with the same timeout, cache and
 * large-result handling).
 */
export interface UserDefinedOperation {
  /**
   * Name callers use (`?operation=NAME`): lower-case letters, digits and `_`, starting with a
   * letter, at most 63 characters, not the name of a built-in operation.
   */
  readonly name: string;

  /**
   * One SELECT (a `WITH … SELECT` too). Parameters are written `:name` and bound as values,
   * never spliced into the text; each must be declared in `parameterSchema`. Tables are
   * referenced with their schema, e.g. `canonical.customers`.
   */
  readonly sql: string;

  /**
   * JSON Schema (an object schema) of the parameters, validated before the SQL runs; defaults
   * in it are applied. Missing optional parameters are bound as NULL.
   *
   * @default - no parameters: `{"type": "object", "additionalProperties": false}`
   */
  readonly parameterSchema?: { [key: string]: unknown };

  /**
   * What the operation answers, for documentation.
   *
   * @default - "User-defined operation NAME"
   */
  readonly description?: string;

  /**
   * Whether the operation may take long: with an `AsyncJobWorkflow`, a synchronous call that
   * misses the cache becomes a job (202).
   *
   * @default false
   */
  readonly longRunning?: boolean;
}

/**
 * Properties of an `AnalyticsApi`.
 */
export interface AnalyticsApiProps extends AlarmedPipelineConstructProps {
  /** The canonical store to query, as its analytics reader and (for users' SQL) its restricted reader. */
  readonly store: ICanonicalStore;

  /**
   * How callers authenticate.
   *
   * @default AnalyticsApiAuthorization.IAM
   */
  readonly authorization?: AnalyticsApiAuthorization;

  /**
   * The user pool whose tokens are accepted, with `AnalyticsApiAuthorization.COGNITO` (required then).
   *
   * @default - none
   */
  readonly userPool?: cognito.IUserPool;

  /**
   * Steady-state requests per second across the stage (API Gateway throttling; 429 beyond it).
   *
   * @default 50
   */
  readonly throttlingRateLimit?: number;

  /**
   * Burst of requests the stage accepts above the steady rate.
   *
   * @default 100
   */
  readonly throttlingBurstLimit?: number;

  /**
   * Origins allowed to call the API from a browser (CORS), e.g. `['https://app.example.com']`, or `['*']`.
   *
   * @default - no CORS: browsers on other origins cannot read responses
   */
  readonly corsAllowOrigins?: string[];

  /**
   * How long a result stays in the cache (it is never served after new data landed, whatever
   * this says). `Duration.seconds(0)` turns the cache off.
   *
   * @default Duration.hours(1)
   */
  readonly cacheTtl?: Duration;

  /**
   * Results with more rows than this go to the results bucket and the response carries a
   * download link instead of the rows.
   *
   * @default 10000
   */
  readonly largeResultMaxRows?: number;

  /**
   * Results with more bytes of JSON than this go to the results bucket (at most 5,000,000: Lambda
   * responses are limited to 6 MB).
   *
   * @default 2000000
   */
  readonly largeResultMaxBytes?: number;

  /**
   * Most rows a `custom_complex_query` may return (its `max_rows` parameter cannot exceed it).
   *
   * @default 100000
   */
  readonly customQueryMaxRows?: number;

  /**
   * Time budget of an operation's queries (statement timeout), below API Gateway's 29-second
   * integration limit: between 1 and 26 seconds.
   *
   * @default Duration.seconds(25)
   */
  readonly queryTimeout?: Duration;

  /**
   * Operations of your own, besides the built-in ones.
   *
   * @default - none
   */
  readonly userOperations?: UserDefinedOperation[];

  /**
   * How long large results stay downloadable (the results bucket's lifecycle expiration; whole days).
   *
   * @default Duration.days(7)
   */
  readonly resultExpiry?: Duration;

  /**
   * A customer-managed key for the cache table and the results bucket.
   *
   * @default - AWS-managed encryption (DynamoDB's AWS owned key, SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Bucket that receives the results bucket's server access logs.
   *
   * @default - a new bucket (SSE-S3, versioned, logs kept one year)
   */
  readonly serverAccessLogsBucket?: s3.IBucket;

  /**
   * Server-side errors (HTTP 5XX) in 5 minutes above which the 5XX alarm fires.
   *
   * @default 5
   */
  readonly serverErrorAlarmThreshold?: number;

  /**
   * p99 latency (over 5 minutes) above which the latency alarm fires.
   *
   * @default Duration.seconds(10)
   */
  readonly latencyAlarmThreshold?: Duration;

  /**
   * ARN of an AWS WAFv2 web ACL (regional) to associate with the API's stage.
   *
   * @default - no web ACL
   */
  readonly webAclArn?: string;

  /**
   * Whether to create the account's API Gateway CloudWatch role (`AWS::ApiGateway::Account`),
   * which access and execution logging need. There is one per account and region: turn this off
   * when the account already has it.
   *
   * @default true
   */
  readonly createCloudWatchRole?: boolean;

  /**
   * Name of the API's stage (part of its URL).
   *
   * @default 'prod'
   */
  readonly stageName?: string;

  /**
   * How long the API's access logs are kept.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * An analytics API, created (`AnalyticsApi`) or imported (`AnalyticsApi.fromAnalyticsApiAttributes`):
 * what monitoring and grants need.
 */
export interface IAnalyticsApi extends IConstruct {
  /** The function behind the routes. */
  readonly apiFunction: lambda.IFunction;

  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  readonly serviceName: string;

  /** Name of the REST API (the `ApiName` dimension of API Gateway's metrics). */
  readonly restApiName: string;

  /** Name of the stage. */
  readonly stageName: string;

  /** The API's own alarms (server errors, latency, function errors); none for an imported API. */
  readonly alarms: cloudwatch.IAlarm[];

  /** Id of the REST API. */
  readonly restApiId: string;

  /**
   * Id of the REST API's root resource (`/`): where an `AsyncJobWorkflow` in another stack adds
   * its routes.
   *
   * @default - not known (an imported API without `rootResourceId`)
   */
  readonly rootResourceId?: string;

  /**
   * Id of the API's `/analytics` resource: the parent of the job routes an `AsyncJobWorkflow` in
   * another stack adds (API Gateway refuses a second `/analytics` resource).
   *
   * @default - not known (an imported API without `analyticsResourceId`)
   */
  readonly analyticsResourceId?: string;

  /** How callers authenticate (routes added by other constructs use the same). */
  readonly authorization: AnalyticsApiAuthorization;

  /**
   * Id of the API's Cognito user pool authorizer, with `AnalyticsApiAuthorization.COGNITO`.
   *
   * @default - none
   */
  readonly authorizerId?: string;

  /**
   * The bucket of large results (served by `GET /download/{key}` from the `results/` prefix).
   *
   * @default - not known (an imported API without `resultsBucketName`)
   */
  readonly largeResultsBucket?: s3.IBucket;

  /**
   * The result cache table.
   *
   * @default - not known (an imported API without `cacheTableName`)
   */
  readonly resultCacheTable?: dynamodb.ITable;

  /** The API's user-defined operations (an async job workflow runs them too). */
  readonly userOperations: UserDefinedOperation[];

  /** Lets `grantee` call the API (`execute-api:Invoke` on every route of the stage), for IAM authorization. */
  grantInvoke(grantee: iam.IGrantable): iam.Grant;

  /** Requests to the stage. */
  metricCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Client-side errors (4XX) of the stage. */
  metricClientError(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Server-side errors (5XX) of the stage. */
  metricServerError(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Latency of the stage (ms, default statistic p99). */
  metricLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Operations answered from the cache. */
  metricCacheHits(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Operations that ran their SQL. */
  metricCacheMisses(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Handler time of an operation (ms, default statistic p90). */
  metricOperationDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Queries stopped by the statement timeout (HTTP 504). */
  metricQueryTimeouts(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** Requests that found the database unavailable (HTTP 503). */
  metricDatabaseUnavailable(props?: cloudwatch.MetricOptions): cloudwatch.Metric;

  /** A metric the function emits, dimension `service`. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/**
 * Attributes of an analytics API defined elsewhere (e.g. in another stack or app), to monitor it,
 * grant access to it, or run an `AsyncJobWorkflow` on it (that needs the ids of its root and
 * `/analytics` resources, its results bucket and cache table, and its operation settings).
 */
export interface AnalyticsApiAttributes {
  /** Id of the REST API. */
  readonly restApiId: string;

  /** Name of the REST API (the `ApiName` dimension of API Gateway's metrics). */
  readonly restApiName: string;

  /**
   * Name of the stage.
   *
   * @default 'prod'
   */
  readonly stageName?: string;

  /** ARN of the API's function. */
  readonly functionArn: string;

  /** `serviceName` of the API (the `service` dimension of the function's metrics). */
  readonly serviceName: string;

  /**
   * Id of the REST API's root resource (`/`). Needed by an `AsyncJobWorkflow` on this API.
   *
   * @default - not known: an AsyncJobWorkflow on this API fails at synthesis
   */
  readonly rootResourceId?: string;

  /**
   * Id of the API's `/analytics` resource (in the API's stack: `api.analyticsResourceId`). Needed
   * by an `AsyncJobWorkflow` on this API: its job routes go below it.
   *
   * @default - not known: an AsyncJobWorkflow on this API fails at synthesis
   */
  readonly analyticsResourceId?: string;

  /**
   * How callers authenticate (the API's `authorization` prop): an `AsyncJobWorkflow` gives its
   * routes the same.
   *
   * @default AnalyticsApiAuthorization.IAM
   */
  readonly authorization?: AnalyticsApiAuthorization;

  /**
   * Id of the API's Cognito user pool authorizer (`api.authorizerId`), with
   * `AnalyticsApiAuthorization.COGNITO`.
   *
   * @default - none (required with COGNITO by an AsyncJobWorkflow)
   */
  readonly authorizerId?: string;

  /**
   * Name of the API's results bucket (`api.resultsBucket.bucketName`): an `AsyncJobWorkflow`
   * writes large job results there, under `results/`, so `GET /download/{key}` serves them.
   *
   * @default - not known: an AsyncJobWorkflow on this API fails at synthesis
   */
  readonly resultsBucketName?: string;

  /**
   * Name of the API's result cache table (`api.cacheTable.tableName`): an `AsyncJobWorkflow`'s
   * job runner reads and fills it.
   *
   * @default - not known: an AsyncJobWorkflow on this API fails at synthesis
   */
  readonly cacheTableName?: string;

  /**
   * ARN of the customer-managed key the API was given as `encryptionKey` (its cache table and
   * results bucket).
   *
   * @default - the API's cache table and bucket use AWS-managed encryption
   */
  readonly encryptionKeyArn?: string;

  /**
   * The API's user-defined operations, as given to it: an `AsyncJobWorkflow` on this API runs
   * them (and refuses unknown operation names otherwise).
   *
   * @default - only the built-in operations
   */
  readonly userOperations?: UserDefinedOperation[];

  /**
   * The API's `cacheTtl`, for an `AsyncJobWorkflow`'s job runner.
   *
   * @default Duration.hours(1)
   */
  readonly cacheTtl?: Duration;

  /**
   * The API's `resultExpiry`, for an `AsyncJobWorkflow`'s job runner.
   *
   * @default Duration.days(7)
   */
  readonly resultExpiry?: Duration;

  /**
   * The API's `largeResultMaxRows`, for an `AsyncJobWorkflow`'s job runner.
   *
   * @default 10000
   */
  readonly largeResultMaxRows?: number;

  /**
   * The API's `largeResultMaxBytes`, for an `AsyncJobWorkflow`'s job runner.
   *
   * @default 2000000
   */
  readonly largeResultMaxBytes?: number;

  /**
   * The API's `customQueryMaxRows`, for an `AsyncJobWorkflow`'s job runner.
   *
   * @default 100000
   */
  readonly customQueryMaxRows?: number;

  /**
   * The API's `corsAllowOrigins`, for an `AsyncJobWorkflow`'s jobs function.
   *
   * @default - no CORS headers
   */
  readonly corsAllowOrigins?: string[];
}
