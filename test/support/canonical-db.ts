/** A fresh database with the canonical schema migrated and the three login users created. */
import { Client, Pool } from 'pg';
import { createTestDatabase, TestDatabase } from './test-database';
import { LIBRARY_MIGRATIONS } from '../../lambda/canonical-store/migrations';
import { GroupRole, migrate } from '../../lambda/canonical-store/runner';

export const LOGIN_USERS = [
  { username: 'pipeline_writer', password: 'writer-Pa55-word', group: GroupRole.WRITER },
  { username: 'pipeline_analytics', password: 'analytics-Pa55-word', group: GroupRole.ANALYTICS },
  { username: 'pipeline_sql_reader', password: 'reader-Pa55-word', group: GroupRole.SQL_READER },
];

export interface CanonicalTestDatabase extends TestDatabase {
  /** A pool logged in as the login user of a group, with its password. */
  poolFor(group: GroupRole): Pool;
}

export async function createCanonicalDatabase(): Promise<CanonicalTestDatabase> {
  const db = await createTestDatabase('canonical');
  const client = new Client({ connectionString: db.url });
  await client.connect();
  try {
    await migrate(client, { sets: [{ namespace: 'library', migrations: LIBRARY_MIGRATIONS }], loginUsers: LOGIN_USERS });
  } finally {
    await client.end();
  }
  const pools: Pool[] = [];
  return {
    ...db,
    poolFor(group: GroupRole) {
      const user = LOGIN_USERS.find((u) => u.group === group)!;
      const pool = new Pool({ connectionString: db.urlFor(user.username, user.password), max: 4 });
      // An idle connection ended by the server (database dropped, server stopping) must not fail a test.
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((p) => p.end()));
      await db.drop();
    },
  };
}
