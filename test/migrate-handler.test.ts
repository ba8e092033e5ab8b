/**
 * The migrate custom resource handler as deployed: credentials from Secrets Manager (a local
 * stand-in speaking the real protocol to the real SDK), a real PostgreSQL, the real migrations.
 */
import { Client } from 'pg';
import { lambdaContext } from './support/ingest-harness';
import { startLocalSecretsManager, fakeAwsEnvironment, LocalSecretsManager } from './support/local-secrets-manager';
import { captureLogLines, expectLambdaContext } from './support/log-capture';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { LIBRARY_MIGRATIONS } from '../lambda/canonical-store/migrations';

describe('migrate handler (custom resource onEvent)', () => {
  let db: TestDatabase;
  let sm: LocalSecretsManager;
  let handler: typeof import('../lambda/canonical-store/index').handler;
  const arns: Record<string, string> = {};
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    db = await createTestDatabase('migrate_handler');
    sm = await startLocalSecretsManager();
    const url = new URL(db.url);
    // The owner secret is the admin login; the others are created by the handler. Roles are
    // cluster-wide, so these names are this file's own (other files create pipeline_* users).
    arns.owner = sm.put('owner', { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), engine: 'postgres' });
    arns.writer = sm.put('writer', { username: 'mh_writer', password: 'w-secret-1' });
    arns.analytics = sm.put('analytics', { username: 'mh_analytics', password: 'a-secret-1' });
    arns.reader = sm.put('reader', { username: 'mh_sql_reader', password: 'r-secret-1' });
    Object.assign(process.env, fakeAwsEnvironment(), {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      DB_HOST: url.hostname,
      DB_PORT: url.port,
      DB_NAME: db.name,
      DB_SECRET_ARN: arns.owner,
      DB_TLS: 'disable',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    // Loaded after the environment is set, as the Lambda runtime would.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../lambda/canonical-store/index').handler;
  });
  afterAll(async () => {
    process.env = savedEnv;
    await sm.close();
    await db.drop();
  });

  const event = (requestType: 'Create' | 'Update' | 'Delete', userMigrations: Array<{ id: string; sql: string }> = []) => ({
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/s/1',
    RequestId: 'r1',
    LogicalResourceId: 'Migrations',
    PhysicalResourceId: 'canonical-store-migrations',
    ResourceType: 'Custom::CanonicalStoreMigrations',
    ResourceProperties: {
      ServiceToken: 'x',
      WriterSecretArn: arns.writer,
      AnalyticsSecretArn: arns.analytics,
      SqlReaderSecretArn: arns.reader,
      UserMigrations: userMigrations,
    },
  }) as any;

  test('Create applies library and user migrations and creates the login users', async () => {
    const context = lambdaContext();
    const { result, lines } = await captureLogLines(() => handler(
      event('Create', [{ id: '0001_vip', sql: "CREATE VIEW canonical.vip AS SELECT * FROM canonical.customers WHERE segment = 'vip'" }]), context));
    expectLambdaContext(lines.find((l) => l.message === 'Migrations complete'), context.awsRequestId);
    expect(result!.PhysicalResourceId).toBe('canonical-store-migrations');
    expect((result as any).Data.AppliedMigrations).toBe([...LIBRARY_MIGRATIONS.map((m) => `library/${m.id}`), 'user/0001_vip'].join(','));
    expect(sm.reads).toEqual(expect.arrayContaining([arns.owner, arns.writer, arns.analytics, arns.reader]));

    const writer = new Client({ connectionString: db.urlFor('mh_writer', 'w-secret-1') });
    await writer.connect();
    await writer.query('SELECT count(*) FROM canonical.entities');
    await writer.end();
  });

  test('Update with nothing new is a no-op', async () => {
    const result = await handler(event('Update', [{ id: '0001_vip', sql: "CREATE VIEW canonical.vip AS SELECT * FROM canonical.customers WHERE segment = 'vip'" }]));
    expect((result as any).Data.AppliedMigrations).toBe('');
  });

  test('a failing user migration fails the deployment with the migration named', async () => {
    await expect(handler(event('Update', [
      { id: '0001_vip', sql: "CREATE VIEW canonical.vip AS SELECT * FROM canonical.customers WHERE segment = 'vip'" },
      { id: '0002_typo', sql: 'CREATE TABLEE canonical.oops (id int)' },
    ]))).rejects.toThrow(/user\/0002_typo failed and was rolled back: syntax error/);
  });

  test('Delete leaves the database alone', async () => {
    const result = await handler(event('Delete'));
    expect(result).toEqual({ PhysicalResourceId: 'canonical-store-migrations' });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM canonical.schema_migrations');
    expect(rows[0].n).toBe(LIBRARY_MIGRATIONS.length + 1);
  });
});
