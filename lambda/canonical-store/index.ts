/**
 * CloudFormation custom resource (onEvent of a cdk Provider): applies the canonical store's
 * migrations on every deploy that changes them. Connects as the owner (master) user.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { LIBRARY_MIGRATIONS, Migration } from './migrations';
import { GroupRole, LoginUser, migrate } from './runner';
import { connectClient, readDbSecret } from '../shared/db';

const logger = new Logger();
const PHYSICAL_ID = 'canonical-store-migrations';

interface MigrationProperties {
  readonly UserMigrations?: Migration[];
  readonly WriterSecretArn: string;
  readonly AnalyticsSecretArn: string;
  readonly SqlReaderSecretArn: string;
}

async function loginUsers(props: MigrationProperties): Promise<LoginUser[]> {
  const levels: Array<[string, GroupRole]> = [
    [props.WriterSecretArn, GroupRole.WRITER],
    [props.AnalyticsSecretArn, GroupRole.ANALYTICS],
    [props.SqlReaderSecretArn, GroupRole.SQL_READER],
  ];
  return Promise.all(levels.map(async ([arn, group]) => ({ ...(await readDbSecret(arn, true)), group })));
}

export async function handler(event: CloudFormationCustomResourceEvent, context?: Context) {
  if (context) logger.addContext(context);
  if (event.RequestType === 'Delete') {
    // Data and schema are retained: the store's removal policy decides what happens to the database.
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const props = event.ResourceProperties as unknown as MigrationProperties;
  const client = await connectClient();
  try {
    const result = await migrate(client, {
      sets: [
        { namespace: 'library', migrations: LIBRARY_MIGRATIONS },
        { namespace: 'user', migrations: props.UserMigrations ?? [] },
      ],
      loginUsers: await loginUsers(props),
      log: (message, details) => logger.info(message, details ?? {}),
    });
    logger.info('Migrations complete', { applied: result.applied, alreadyApplied: result.alreadyApplied });
    return { PhysicalResourceId: PHYSICAL_ID, Data: { AppliedMigrations: result.applied.join(',') } };
  } finally {
    await client.end();
  }
}
