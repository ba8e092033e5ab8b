/** An analytics API defined elsewhere, imported by its attributes (monitoring, grants, async jobs). */
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AnalyticsApiBase } from './analytics-api-base';
import { AnalyticsApiAttributes, AnalyticsApiAuthorization, UserDefinedOperation } from './analytics-api-props';
import { checkNumber, operationEnvironment, validateUserOperations } from './operation-settings';

export class ImportedAnalyticsApi extends AnalyticsApiBase {
  public readonly apiFunction: lambda.IFunction;
  public readonly serviceName: string;
  public readonly restApiName: string;
  public readonly stageName: string;
  public readonly restApiId: string;
  public readonly rootResourceId?: string;
  public readonly analyticsResourceId?: string;
  public readonly authorization: AnalyticsApiAuthorization;
  public readonly authorizerId?: string;
  public readonly largeResultsBucket?: s3.IBucket;
  public readonly resultCacheTable?: dynamodb.ITable;
  private readonly operations: UserDefinedOperation[];
  private readonly restApi: apigw.IRestApi;
  private readonly attrs: AnalyticsApiAttributes;

  constructor(scope: Construct, id: string, attrs: AnalyticsApiAttributes) {
    super(scope, id);
    this.attrs = attrs;
    this.restApiId = attrs.restApiId;
    this.restApi = apigw.RestApi.fromRestApiId(this, 'RestApi', attrs.restApiId);
    this.restApiName = attrs.restApiName;
    this.stageName = attrs.stageName ?? 'prod';
    this.serviceName = attrs.serviceName;
    this.apiFunction = lambda.Function.fromFunctionArn(this, 'Function', attrs.functionArn);
    this.rootResourceId = attrs.rootResourceId;
    this.analyticsResourceId = attrs.analyticsResourceId;
    this.authorization = attrs.authorization ?? AnalyticsApiAuthorization.IAM;
    if (attrs.authorizerId && this.authorization !== AnalyticsApiAuthorization.COGNITO) {
      throw new Error('authorizerId is only used with authorization COGNITO');
    }
    this.authorizerId = attrs.authorizerId;
    const key = attrs.encryptionKeyArn ? kms.Key.fromKeyArn(this, 'Key', attrs.encryptionKeyArn) : undefined;
    this.largeResultsBucket = attrs.resultsBucketName
      ? s3.Bucket.fromBucketAttributes(this, 'ResultsBucket', { bucketName: attrs.resultsBucketName, encryptionKey: key })
      : undefined;
    this.resultCacheTable = attrs.cacheTableName
      ? dynamodb.Table.fromTableAttributes(this, 'CacheTable', { tableName: attrs.cacheTableName, encryptionKey: key })
      : undefined;
    this.operations = [...(attrs.userOperations ?? [])];
    validateUserOperations(this.operations);
    checkNumber('largeResultMaxRows', attrs.largeResultMaxRows, 1, 10_000_000);
    checkNumber('largeResultMaxBytes', attrs.largeResultMaxBytes, 1000, 5_000_000);
    checkNumber('customQueryMaxRows', attrs.customQueryMaxRows, 1, 10_000_000);
  }

  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.restApi.arnForExecuteApi('*', '/*', this.stageName)],
    });
  }

  /** @internal */
  public _operationEnvironment(): { [key: string]: string } {
    const missing = (name: string) => new Error(`${this.node.path}: the imported analytics API has no ${name}: `
      + `pass ${name} to AnalyticsApi.fromAnalyticsApiAttributes (an AsyncJobWorkflow needs it)`);
    if (!this.attrs.cacheTableName) throw missing('cacheTableName');
    if (!this.attrs.resultsBucketName) throw missing('resultsBucketName');
    return operationEnvironment({
      ...this.attrs,
      cacheTableName: this.attrs.cacheTableName,
      resultsBucketName: this.attrs.resultsBucketName,
      userOperations: this.userOperations,
    });
  }

  /** None: an imported construct's alarms are not known here (a new array on each read). */
  public get alarms(): cloudwatch.IAlarm[] {
    return [];
  }

  /** The user-defined operations given in the attributes (a copy on each read). */
  public get userOperations(): UserDefinedOperation[] {
    return [...this.operations];
  }
}
