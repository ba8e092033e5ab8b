/** An AI analyzer defined elsewhere, imported by its attributes (monitoring, grants, reports). */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AiAnalyzerBase, ANALYSIS_DAY_INDEX } from './ai-analyzer-base';
import { AiAnalyzerAttributes } from './ai-analyzer-props';
import { validateKeyPrefixes } from './key-prefixes';

export class ImportedAiAnalyzer extends AiAnalyzerBase {
  public readonly analyzerFunction: lambda.IFunction;
  public readonly queue: sqs.IQueue;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly serviceName: string;
  public readonly analysisTable: dynamodb.ITable;
  public readonly analysisBucket: s3.IBucket;
  public readonly analysisPrefix: string;
  public readonly dataBucket: s3.IBucket;
  public readonly manifestPrefix: string;

  constructor(scope: Construct, id: string, attrs: AiAnalyzerAttributes) {
    super(scope, id);
    validateKeyPrefixes({ manifestPrefix: attrs.manifestPrefix, analysisPrefix: attrs.analysisPrefix });
    // grantInvoke adds to the grantee's identity policy only: an imported function's resource policy cannot be changed here.
    this.analyzerFunction = lambda.Function.fromFunctionAttributes(this, 'Function', { functionArn: attrs.functionArn, skipPermissions: true });
    this.queue = sqs.Queue.fromQueueArn(this, 'Queue', attrs.queueArn);
    this.deadLetterQueue = sqs.Queue.fromQueueArn(this, 'DeadLetterQueue', attrs.deadLetterQueueArn);
    this.serviceName = attrs.serviceName;
    this.analysisTable = dynamodb.Table.fromTableAttributes(this, 'AnalysisTable', {
      tableName: attrs.analysisTableName,
      globalIndexes: [ANALYSIS_DAY_INDEX],
    });
    this.dataBucket = attrs.dataBucket;
    this.manifestPrefix = attrs.manifestPrefix ?? 'manifests/';
    this.analysisBucket = attrs.analysisBucket ?? attrs.dataBucket;
    this.analysisPrefix = attrs.analysisPrefix ?? 'analyses/';
  }

  /** None are known for an imported analyzer. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [];
  }
}
