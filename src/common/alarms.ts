/**
 * The alarms the constructs raise for a person: anything above zero in a 5-minute period
 * (a message in a dead-letter queue, a failed invocation, a timed-out job), missing data is fine.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { acknowledgeNagFinding } from './nag';

export function alarmOnAnything(scope: Construct, id: string, alarmDescription: string, metric: cloudwatch.IMetric): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription,
    metric,
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/**
 * The alarm notifies `topic` (the construct's `alarmTopic`); without one it only shows in
 * CloudWatch, and HIPAA Security's alarm-action rule is acknowledged with that reason.
 */
export function notifyAlarmTopic(alarm: cloudwatch.Alarm, topic: sns.ITopic | undefined): void {
  if (topic) alarm.addAlarmAction(new cwActions.SnsAction(topic));
  else acknowledgeNagFinding(alarm, 'HIPAA.Security-CloudWatchAlarmAction', 'No alarmTopic was given: the alarm shows in CloudWatch; pass alarmTopic to be notified');
}
