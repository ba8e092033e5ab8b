/** An analytics API defined elsewhere, imported by its attributes (monitoring, grants). */
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { AnalyticsApiBase } from './analytics-api-base';
import { AnalyticsApiAttributes } from './analytics-api-props';

export class ImportedAnalyticsApi extends AnalyticsApiBase {
  public readonly apiFunction: lambda.IFunction;
  public readonly serviceName: string;
  public readonly restApiName: string;
  public readonly stageName: string;
  public readonly alarms: cloudwatch.IAlarm[] = [];
  private readonly restApi: apigw.IRestApi;

  constructor(scope: Construct, id: string, attrs: AnalyticsApiAttributes) {
    super(scope, id);
    this.restApi = apigw.RestApi.fromRestApiId(this, 'RestApi', attrs.restApiId);
    this.restApiName = attrs.restApiName;
    this.stageName = attrs.stageName ?? 'prod';
    this.serviceName = attrs.serviceName;
    this.apiFunction = lambda.Function.fromFunctionArn(this, 'Function', attrs.functionArn);
  }

  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.restApi.arnForExecuteApi('*', '/*', this.stageName)],
    });
  }
}
