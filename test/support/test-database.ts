/**
 * The one helper every test that needs PostgreSQL uses: a fresh database per call on the
 * server that the Jest global setup started (or DATABASE_URL).
 */
import { randomBytes } from 'crypto';
import { Client, Pool } from 'pg';

export interface TestDatabase {
  /** Superuser URL of the new database. */
  readonly url: string;
  readonly name: string;
  /** A superuser pool on the new database. */
  readonly pool: Pool;
  /** URL of the same database for another login. */
  urlFor(user: string, password: string): string;
  drop(): Promise<void>;
}

export function adminUrl(): string {
  const url = process.env.CDP_TEST_PG_ADMIN_URL;
  if (!url) throw new Error('No test PostgreSQL: run through Jest (global setup starts one) or set DATABASE_URL.');
  return url;
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const withDb = (u: URL) => {
    u.pathname = `/${name}`;
    return u.toString();
  };
  const url = withDb(new URL(adminUrl()));
  const pool = new Pool({ connectionString: url, max: 10 });
  // An idle connection ended by the server (database dropped, server stopping) must not fail a test.
  pool.on('error', () => undefined);
  return {
    url,
    name,
    pool,
    urlFor(user: string, password: string) {
      const u = new URL(url);
      u.username = encodeURIComponent(user);
      u.password = encodeURIComponent(password);
      return u.toString();
    },
    async drop() {
      await pool.end();
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
