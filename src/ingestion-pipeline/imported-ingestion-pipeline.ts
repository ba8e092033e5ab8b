/** An ingestion pipeline defined elsewhere, imported by its attributes (monitoring, grants). */
import { Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { IngestionPipelineBase } from './ingestion-pipeline-base';
import { IngestionPipelineAttributes } from './ingestion-pipeline-props';

export class ImportedIngestionPipeline extends IngestionPipelineBase {
  public readonly processor: lambda.IFunction;
  public readonly queue: sqs.IQueue;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly bucket: s3.IBucket;
  public readonly serviceName: string;
  private readonly prefixes?: string[];

  constructor(scope: Construct, id: string, attrs: IngestionPipelineAttributes) {
    super(scope, id);
    this.processor = lambda.Function.fromFunctionArn(this, 'Processor', attrs.functionArn);
    this.queue = sqs.Queue.fromQueueArn(this, 'Queue', attrs.queueArn);
    this.deadLetterQueue = sqs.Queue.fromQueueArn(this, 'DeadLetterQueue', attrs.deadLetterQueueArn);
    this.bucket = attrs.bucket;
    this.serviceName = attrs.serviceName;
    this.prefixes = attrs.sourcePrefixes ? [...attrs.sourcePrefixes] : undefined;
    (this.prefixes ?? []).forEach((prefix, i) => {
      if (!Token.isUnresolved(prefix) && (!prefix.endsWith('/') || prefix.startsWith('/'))) {
        throw new Error(`sourcePrefixes[${i}] must be a key prefix ending with "/" (no leading "/"), got ${JSON.stringify(prefix)}`);
      }
    });
  }

  /** None are known for an imported pipeline. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [];
  }

  protected sourcePrefixes(): string[] {
    if (!this.prefixes || this.prefixes.length === 0) {
      throw new Error(`${this.node.path}: grantUpload needs the sources' prefixes; pass \`sourcePrefixes\` to IngestionPipeline.fromIngestionPipelineAttributes`);
    }
    return this.prefixes;
  }
}
