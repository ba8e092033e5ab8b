/**
 * AWS Backup for the resources that hold a construct's data: added to the user's backup plan when
 * one is given (`backupPlan` prop), otherwise the HIPAA "in a backup plan" rule is acknowledged with
 * what protects the data instead (automated backups, point-in-time recovery).
 */
import * as backup from 'aws-cdk-lib/aws-backup';
import { Construct, IConstruct } from 'constructs';
import { acknowledgeNagFinding } from './nag';

/** A resource to back up, and the cdk-nag rule that looks for it in a backup selection. */
export interface BackedUpResource {
  /** The L2 (or CfnResource) the rule is evaluated on. */
  readonly construct: IConstruct;
  /** The same resource, as AWS Backup selects it. */
  readonly backupResource: backup.BackupResource;
  /** `HIPAA.Security-RDSInBackupPlan` or `HIPAA.Security-DynamoDBInBackupPlan`; none for an Aurora cluster. */
  readonly nagRule?: string;
}

/**
 * Puts `resources` into `plan` (one backup selection under `scope`, whose role may back up and
 * restore them), or, without a plan, acknowledges each resource's rule with `withoutPlanReason`.
 */
export function protectWithBackupPlan(
  scope: Construct, plan: backup.IBackupPlan | undefined, resources: BackedUpResource[], withoutPlanReason: string,
): backup.BackupSelection | undefined {
  if (!plan) {
    for (const r of resources) if (r.nagRule) acknowledgeNagFinding(r.construct, r.nagRule, withoutPlanReason);
    return undefined;
  }
  const selection = new backup.BackupSelection(scope, 'BackupSelection', {
    backupPlan: plan,
    resources: resources.map((r) => r.backupResource),
    allowRestores: true,
  });
  acknowledgeNagFinding(selection.node.findChild('Role'), 'AwsSolutions-IAM4',
    'AWS Backup\'s service role policies are the documented, AWS-maintained permissions for backing up and restoring RDS and DynamoDB; the selection names only this construct\'s resources',
    ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores']);
  return selection;
}
