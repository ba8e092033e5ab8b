import { Client } from 'pg';
import { LOGIN_USERS } from './support/canonical-db';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { LIBRARY_MIGRATIONS } from '../lambda/canonical-store/migrations';
import { checksum, migrate, MigrationError, MigrationSet } from '../lambda/canonical-store/runner';

const library: MigrationSet = { namespace: 'library', migrations: LIBRARY_MIGRATIONS };

/**
 * The checksums of the migrations a store may have applied: the runner refuses a store whose applied
 * migration changed, so their text never changes (a fix is a new migration). A migration is added
 * here once it is on main.
 */
const APPLIED_CHECKSUMS: Record<string, string> = {
  '0001_canonical_schema': 'b6d5b215dbf7403340585062ba5c107e5d8ac6460e87f5a815e812ab7204d2a5',
  '0002_ingestion_runs_idempotency': 'a9b580b11d01c499877d48a8c5051c240705e235558f816323259168184729a6',
  '0003_source_id_normalization': 'fd6d56970eeb617b5c98546c727c3d6a8a890b32006f089058e46815af422f22',
  '0004_typed_storage': '4f4ead13a30be976ec0ed8c6bc215b590210cec56ec486170a408013bcc3e005',
  '0005_hierarchy_links_and_customer_days': 'bca09807a7f75b58cf030e857e073b246a04b53cbe1f58ae51683acb9a0acdfd',
};

test('the migrations a store may have applied keep their text (checksum)', () => {
  const current = Object.fromEntries(LIBRARY_MIGRATIONS.map((m) => [m.id, checksum(m.sql)]));
  for (const [id, sum] of Object.entries(APPLIED_CHECKSUMS)) expect({ id, checksum: current[id] }).toEqual({ id, checksum: sum });
});

describe('migration runner on real PostgreSQL', () => {
  let db: TestDatabase;
  const clients: Client[] = [];

  async function connect(): Promise<Client> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    clients.push(client);
    return client;
  }

  async function appliedRows() {
    const { rows } = await db.pool.query('SELECT namespace, id FROM canonical.schema_migrations ORDER BY applied_at, namespace, id');
    return rows.map((r) => `${r.namespace}/${r.id}`);
  }

  beforeEach(async () => {
    db = await createTestDatabase('migrations');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
    await db.drop();
  });

  test('creates the canonical schema, and applying twice is a no-op', async () => {
    const client = await connect();
    const first = await migrate(client, { sets: [library] });
    expect(first.applied).toEqual(LIBRARY_MIGRATIONS.map((m) => `library/${m.id}`));

    const { rows: tables } = await db.pool.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'canonical' ORDER BY table_name");
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining([
      'customers', 'data_generation', 'entities', 'entity_versions', 'health_readings', 'ingestion_runs',
      'orders', 'products', 'relationships', 'schema_migrations',
    ]));
    const { rows: owners } = await db.pool.query(
      "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'canonical'");
    expect(owners.map((o) => o.tableowner)).toEqual(['canonical_owner']);

    const before = await db.pool.query('SELECT namespace, id, applied_at FROM canonical.schema_migrations ORDER BY id');
    const second = await migrate(client, { sets: [library] });
    expect(second).toEqual({ applied: [], alreadyApplied: LIBRARY_MIGRATIONS.length });
    const after = await db.pool.query('SELECT namespace, id, applied_at FROM canonical.schema_migrations ORDER BY id');
    expect(after.rows).toEqual(before.rows);
  });

  test('two concurrent runs apply each migration exactly once', async () => {
    const slowUser: MigrationSet = {
      namespace: 'user',
      migrations: [
        { id: '0001_slow', sql: 'SELECT pg_sleep(0.3); CREATE TABLE canonical.slow_marker (id int)' },
        { id: '0002_counter', sql: 'CREATE TABLE canonical.run_counter (n int); INSERT INTO canonical.run_counter VALUES (1)' },
      ],
    };
    const [a, b] = await Promise.all([
      connect().then((c) => migrate(c, { sets: [library, slowUser] })),
      connect().then((c) => migrate(c, { sets: [library, slowUser] })),
    ]);
    const total = LIBRARY_MIGRATIONS.length + 2;
    expect(a.applied.length + b.applied.length).toBe(total);
    expect([a.applied.length, b.applied.length].sort()).toEqual([0, total]);
    expect(await appliedRows()).toHaveLength(total);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM canonical.run_counter');
    expect(rows[0].n).toBe(1);
  });

  test('a failing migration rolls back completely, is reported, and later ones do not run', async () => {
    const client = await connect();
    const user: MigrationSet = {
      namespace: 'user',
      migrations: [
        { id: '0001_ok', sql: 'CREATE TABLE canonical.ok_table (id int)' },
        { id: '0002_broken', sql: 'CREATE TABLE canonical.half_done (id int); INSERT INTO canonical.half_done VALUES (1); SELECT 1 / 0' },
        { id: '0003_after', sql: 'CREATE TABLE canonical.after_table (id int)' },
      ],
    };
    const error = await migrate(client, { sets: [library, user] }).catch((e) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error.migrationId).toBe('0002_broken');
    expect(error.message).toMatch(/user\/0002_broken failed and was rolled back: division by zero/);

    const exists = async (t: string) =>
      (await db.pool.query('SELECT to_regclass($1) IS NOT NULL AS e', [`canonical.${t}`])).rows[0].e;
    expect(await exists('ok_table')).toBe(true);
    expect(await exists('half_done')).toBe(false);
    expect(await exists('after_table')).toBe(false);
    expect(await appliedRows()).not.toContain('user/0002_broken');

    // Fixed and re-run: it continues where it stopped.
    const fixed: MigrationSet = {
      namespace: 'user',
      migrations: [user.migrations[0], { id: '0002_broken', sql: 'CREATE TABLE canonical.half_done (id int)' }, user.migrations[2]],
    };
    const rerun = await migrate(client, { sets: [library, fixed] });
    expect(rerun.applied).toEqual(['user/0002_broken', 'user/0003_after']);
  });

  test('library and user migrations both apply, library first, each namespace in its own order', async () => {
    const client = await connect();
    const user: MigrationSet = {
      namespace: 'user',
      migrations: [
        { id: '2024-01-01_view', sql: "CREATE VIEW canonical.vip_customers AS SELECT * FROM canonical.customers WHERE segment = 'vip'" },
        { id: '2024-02-01_grant', sql: 'GRANT SELECT ON canonical.vip_customers TO canonical_sql_reader' },
      ],
    };
    const result = await migrate(client, { sets: [library, user] });
    expect(result.applied).toEqual([
      ...LIBRARY_MIGRATIONS.map((m) => `library/${m.id}`),
      'user/2024-01-01_view',
      'user/2024-02-01_grant',
    ]);
    expect(await appliedRows()).toEqual(result.applied);

    // A library upgrade that adds a migration later applies only that one, without touching the user's.
    const upgraded: MigrationSet = {
      namespace: 'library',
      migrations: [...LIBRARY_MIGRATIONS, { id: '9999_future', sql: 'CREATE TABLE canonical.future (id int)' }],
    };
    const upgrade = await migrate(client, { sets: [upgraded, user] });
    expect(upgrade.applied).toEqual(['library/9999_future']);
  });

  test('an applied migration that was edited is refused', async () => {
    const client = await connect();
    await migrate(client, { sets: [library, { namespace: 'user', migrations: [{ id: 'a', sql: 'CREATE TABLE canonical.a (id int)' }] }] });
    await expect(migrate(client, {
      sets: [library, { namespace: 'user', migrations: [{ id: 'a', sql: 'CREATE TABLE canonical.a (id bigint)' }] }],
    })).rejects.toThrow(/user\/a was changed after it was applied/);
  });

  test('invalid migration sets are refused before anything runs', async () => {
    const client = await connect();
    await expect(migrate(client, { sets: [{ namespace: 'user', migrations: [{ id: 'x', sql: 'SELECT 1' }, { id: 'x', sql: 'SELECT 2' }] }] }))
      .rejects.toThrow(/Duplicate user migration id "x"/);
    await expect(migrate(client, { sets: [{ namespace: 'user', migrations: [{ id: 'bad id', sql: 'SELECT 1' }] }] }))
      .rejects.toThrow(/Invalid user migration id "bad id"/);
    expect((await db.pool.query("SELECT to_regclass('canonical.schema_migrations') AS t")).rows[0].t).toBeNull();
  });

  test('login users are created with their secret password, as SCRAM verifiers, with their settings', async () => {
    const client = await connect();
    await migrate(client, { sets: [library], loginUsers: LOGIN_USERS });
    const { rows } = await db.pool.query(
      "SELECT a.rolpassword LIKE 'SCRAM-SHA-256$%' AS scram, r.rolconfig FROM pg_authid a JOIN pg_roles r USING (oid) WHERE a.rolname = 'pipeline_sql_reader'");
    expect(rows[0].scram).toBe(true);
    expect(rows[0].rolconfig).toEqual(expect.arrayContaining(['default_transaction_read_only=on', 'statement_timeout=20s', 'jit=off']));
    const reader = LOGIN_USERS[2];
    const login = new Client({ connectionString: db.urlFor(reader.username, reader.password) });
    await login.connect();
    clients.push(login);
    expect((await login.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('20s');
    // A second run keeps the password (rotation owns it from now on).
    await migrate(client, { sets: [library], loginUsers: [{ ...reader, password: 'something-else' }] });
    const again = new Client({ connectionString: db.urlFor(reader.username, reader.password) });
    await again.connect();
    clients.push(again);
  });
});
