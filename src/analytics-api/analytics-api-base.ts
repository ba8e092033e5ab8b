/**
 * What an analytics API offers to other constructs (monitoring, grants), whether created here
 * (`AnalyticsApi`) or imported (`AnalyticsApi.fromAnalyticsApiAttributes`): the metrics are defined
 * once, from the REST API's name and stage and the function's service name.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AnalyticsApiAuthorization, IAnalyticsApi, UserDefinedOperation } from './analytics-api-props';
import { ANALYTICS_METRICS as M } from '../common/contracts';
import { handlerMetric } from '../common/lambda-tuning';

/** The metrics and grants of an analytics API, created or imported. */
export abstract class AnalyticsApiBase extends Construct implements IAnalyticsApi {
  /** The function behind the routes. */
  public abstract readonly apiFunction: lambda.IFunction;
  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  public abstract readonly serviceName: string;
  /** The API's own alarms (none for an imported API). */
  public abstract readonly alarms: cloudwatch.IAlarm[];

  /** Name of the REST API (the `ApiName` dimension of API Gateway's metrics). */
  public abstract readonly restApiName: string;
  /** Name of the stage (the `Stage` dimension). */
  public abstract readonly stageName: string;
  /** Id of the REST API. */
  public abstract readonly restApiId: string;
  /** Id of the REST API's root resource. */
  public abstract readonly rootResourceId?: string;
  /** Id of the `/analytics` resource. */
  public abstract readonly analyticsResourceId?: string;
  /** How callers authenticate. */
  public abstract readonly authorization: AnalyticsApiAuthorization;
  /** Id of the Cognito user pool authorizer, with COGNITO. */
  public abstract readonly authorizerId?: string;
  /** The bucket of large results. */
  public abstract readonly largeResultsBucket?: s3.IBucket;
  /** The result cache table. */
  public abstract readonly resultCacheTable?: dynamodb.ITable;
  /** The user-defined operations. */
  public abstract readonly userOperations: UserDefinedOperation[];

  /**
   * The environment of a function that runs the API's operations (no secret values); throws when
   * an imported API lacks the attributes it needs.
   *
   * @internal
   */
  public abstract _operationEnvironment(): { [key: string]: string };

  /** Lets `grantee` call the API (`execute-api:Invoke` on every route of the stage), for IAM authorization. */
  public abstract grantInvoke(grantee: iam.IGrantable): iam.Grant;

  /** Requests to the stage. */
  public metricCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stageMetric('Count', { statistic: 'SampleCount', ...props });
  }

  /** Client-side errors (4XX) of the stage. */
  public metricClientError(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stageMetric('4XXError', { statistic: 'Sum', ...props });
  }

  /** Server-side errors (5XX) of the stage. */
  public metricServerError(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stageMetric('5XXError', { statistic: 'Sum', ...props });
  }

  /** Latency of the stage (ms, default statistic p99). */
  public metricLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stageMetric('Latency', { statistic: 'p99', ...props });
  }

  /** Operations answered from the cache (EMF from the function). */
  public metricCacheHits(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.CACHE_HIT, { statistic: 'Sum', ...props });
  }

  /** Operations that ran their SQL (cache misses and bypasses). */
  public metricCacheMisses(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.CACHE_MISS, { statistic: 'Sum', ...props });
  }

  /** Handler time of an operation (ms, default statistic p90). */
  public metricOperationDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.OPERATION_DURATION, { statistic: 'p90', ...props });
  }

  /** Queries stopped by the statement timeout (HTTP 504). */
  public metricQueryTimeouts(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.QUERY_TIMEOUT, { statistic: 'Sum', ...props });
  }

  /** Requests that found the database unavailable (HTTP 503). */
  public metricDatabaseUnavailable(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.DATABASE_UNAVAILABLE, { statistic: 'Sum', ...props });
  }

  /**
   * A metric the function emits (CacheHit, CacheMiss, OperationDuration, LargeResult, QueryTimeout,
   * DatabaseUnavailable, InternalError), dimension `service`.
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return handlerMetric(this.serviceName, metricName, props);
  }

  private stageMetric(metricName: string, props: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ApiName: this.restApiName, Stage: this.stageName },
      period: Duration.minutes(5),
      ...props,
    });
  }
}
