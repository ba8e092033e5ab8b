import type { LocalPostgres } from './local-postgres';

export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as any).__CDP_TEST_PG__ as LocalPostgres | undefined;
  await server?.stop();
}
