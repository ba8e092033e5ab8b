import { startLocalPostgres } from './local-postgres';

/**
 * One PostgreSQL server per test run (test files each get their own database).
 * DATABASE_URL, when set, points the tests at another server instead.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.CDP_TEST_PG_ADMIN_URL = process.env.DATABASE_URL;
    return;
  }
  const server = await startLocalPostgres({ fast: true, forceEmbedded: process.env.CDP_TEST_PG === 'embedded' });
  (globalThis as any).__CDP_TEST_PG__ = server;
  process.env.CDP_TEST_PG_ADMIN_URL = server.adminUrl;
}
