/** A report notifier defined elsewhere, imported by its attributes (monitoring). */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ReportNotifierBase } from './report-notifier-base';
import { ReportNotifierAttributes } from './report-notifier-props';

export class ImportedReportNotifier extends ReportNotifierBase {
  public readonly notifierFunction: lambda.IFunction;
  public readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, attrs: ReportNotifierAttributes) {
    super(scope, id);
    this.notifierFunction = lambda.Function.fromFunctionArn(this, 'Function', attrs.functionArn);
    this.deadLetterQueue = sqs.Queue.fromQueueArn(this, 'DeadLetterQueue', attrs.deadLetterQueueArn);
  }

  /** None are known for an imported notifier. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [];
  }
}
