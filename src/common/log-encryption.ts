/**
 * Log groups encrypted with the user's KMS key (`logEncryptionKey` of every construct): CloudWatch
 * Logs itself encrypts and decrypts, so the key policy must allow it (a log group's
 * `encryptionKey` grants nothing).
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeNagFinding } from './nag';

/** Child of a key whose policy already has the statement: constructs sharing a key add it once. */
const MARKER_ID = 'CloudWatchLogsKeyPolicy';

/**
 * Lets CloudWatch Logs of the region use `key` for the account's log groups (the statement AWS
 * documents, scoped by the encryption context), when `key` is a `kms.Key` in the stack of `scope`.
 * An imported key, or one of another stack, is left alone: its policy is not ours to change.
 */
export function allowCloudWatchLogsToUseKey(scope: Construct, key: kms.IKey | undefined): void {
  const stack = Stack.of(scope);
  if (!key || Stack.of(key) !== stack || key.node.tryFindChild(MARKER_ID)) return;
  // addToResourcePolicy does nothing for an imported key.
  const { statementAdded } = key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
      },
    },
  }));
  if (statementAdded) new Construct(key, MARKER_ID);
}

/**
 * A log group created without the user's key is encrypted by CloudWatch Logs with its own key:
 * acknowledges HIPAA Security's customer-managed-key rule, pointing at `logEncryptionKey`.
 */
export function acknowledgeDefaultLogEncryption(logGroup: logs.LogGroup, key: object | undefined): void {
  if (key) return;
  acknowledgeNagFinding(logGroup, 'HIPAA.Security-CloudWatchLogGroupEncrypted',
    'CloudWatch Logs encrypts the log group with its own key by default; pass logEncryptionKey for a customer-managed KMS key');
}
