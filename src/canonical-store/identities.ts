/**
 * The four login users of the store, one Secrets Manager secret each, rotated by AWS's hosted
 * single-user rotation: each user changes its own password, so usernames (and with them object
 * ownership and grants) never change.
 */
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { AccessLevel } from './canonical-store-props';
import { acknowledgeNagFinding } from '../common/nag';

/** Usernames of the access levels (the migrator creates the three non-owner users). */
export const USERNAMES: { [level: string]: string } = {
  [AccessLevel.OWNER]: 'pipeline_admin',
  [AccessLevel.WRITER]: 'pipeline_writer',
  [AccessLevel.ANALYTICS_READER]: 'pipeline_analytics',
  [AccessLevel.RESTRICTED_READER]: 'pipeline_sql_reader',
};

/** Construct ids of the secrets. */
export const SECRET_IDS: { [level: string]: string } = {
  [AccessLevel.OWNER]: 'OwnerSecret',
  [AccessLevel.WRITER]: 'WriterSecret',
  [AccessLevel.ANALYTICS_READER]: 'AnalyticsSecret',
  [AccessLevel.RESTRICTED_READER]: 'SqlReaderSecret',
};

/** Characters left out of generated passwords (quotes, spaces, URL and shell specials), also on rotation. */
export const PASSWORD_EXCLUDE_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

/** A login user's secret, not yet attached to the database. */
export function createUserSecret(scope: Construct, level: AccessLevel, databaseName: string, encryptionKey?: kms.IKey): rds.DatabaseSecret {
  const secret = new rds.DatabaseSecret(scope, SECRET_IDS[level], {
    username: USERNAMES[level],
    dbname: databaseName,
    encryptionKey,
    excludeCharacters: PASSWORD_EXCLUDE_CHARACTERS,
  });
  if (!encryptionKey) {
    acknowledgeNagFinding(secret, 'HIPAA.Security-SecretsManagerUsingKMSKey',
      'Secrets Manager encrypts the secret with its AWS managed key by default; pass encryptionKey for a customer-managed KMS key');
  }
  return secret;
}

export interface RotationOptions {
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets: ec2.SubnetSelection;
  /** Shared by the rotation functions of the four secrets. */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly interval: Duration;
}

/** Hosted single-user rotation of an attached secret, by a rotation function in the store's VPC. */
export function addSingleUserRotation(secret: secretsmanager.ISecret, options: RotationOptions): secretsmanager.RotationSchedule {
  return secret.addRotationSchedule('RotationSchedule', {
    hostedRotation: secretsmanager.HostedRotation.postgreSqlSingleUser({
      vpc: options.vpc,
      vpcSubnets: options.vpcSubnets,
      securityGroups: [options.securityGroup],
      excludeCharacters: PASSWORD_EXCLUDE_CHARACTERS,
    }),
    automaticallyAfter: options.interval,
  });
}
