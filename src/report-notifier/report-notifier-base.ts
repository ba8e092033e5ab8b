/**
 * What a report notifier offers to other constructs (monitoring), whether created here
 * (`ReportNotifier`) or imported (`ReportNotifier.fromReportNotifierAttributes`): the metrics are
 * defined once, from its function and dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { IReportNotifier } from './report-notifier-props';

/** The metrics of a report notifier, created or imported. */
export abstract class ReportNotifierBase extends Construct implements IReportNotifier {
  /** The notifier function. */
  public abstract readonly notifierFunction: lambda.IFunction;
  /** Events (and digest invocations) that could not be handled after the retries. */
  public abstract readonly deadLetterQueue: sqs.IQueue;
  /** The notifier's own alarms (none for an imported notifier); a new array on each read. */
  public abstract readonly alarms: cloudwatch.IAlarm[];

  /** Runs of the notifier function (events and digests handled), sum over 5 minutes. */
  public metricInvocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.notifierFunction.metricInvocations({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Failed runs of the notifier function (they are retried, then kept in the dead-letter queue). */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.notifierFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Events in the dead-letter queue (undelivered reports and notices), maximum over 5 minutes. */
  public metricDeadLetterQueueDepth(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum', ...props });
  }
}
