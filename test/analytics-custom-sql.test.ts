/**
 * custom_complex_query under attack: every query below is refused by the parser-based guard (400)
 * or fails safely in the database (422 permission/read-only, 504 timeout), never 200 with an effect
 * and never 500; and a fingerprint of the whole database (data, roles, memberships, settings,
 * objects, large objects) is identical before and after.
 */
import * as fs from 'fs';
import { Harness, startHarness } from './fixtures/analytics/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { QUERY_TIMEOUT_MS: '1500' } });
});
afterAll(async () => h?.close());

const PWNED = '/tmp/cdp-analytics-pwned';

/** [attack, expected status(es)] — 400 refused by the guard, 422 rejected by PostgreSQL, 504 stopped by the timeout. */
const ATTACKS: Array<[string, number[]]> = [
  // DML and DDL
  ['DELETE FROM customers', [400]],
  ["UPDATE customers SET name = 'owned'", [400]],
  ["INSERT INTO customers (name) VALUES ('owned')", [400]],
  ['MERGE INTO canonical.entities e USING (SELECT 1 AS id) s ON e.id = s.id WHEN MATCHED THEN DELETE', [400]],
  ['DROP TABLE canonical.entities', [400]],
  ['TRUNCATE canonical.entities', [400]],
  ['CREATE TABLE evil (x int)', [400]],
  ['CREATE TEMP TABLE evil AS SELECT * FROM customers', [400]],
  ['SELECT * INTO evil FROM customers', [400]],
  ["CREATE FUNCTION canonical.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'", [400]],
  ['ALTER TABLE canonical.entities ADD COLUMN evil int', [400]],
  ['GRANT canonical_owner TO pipeline_sql_reader', [400]],
  ['ALTER ROLE pipeline_sql_reader SUPERUSER', [400]],
  ['VACUUM FULL canonical.entities', [400]],
  ['LOCK TABLE canonical.entities IN ACCESS EXCLUSIVE MODE', [400]],
  // chained statements and hidden writes
  ['SELECT 1; DROP TABLE canonical.entities', [400]],
  ['SELECT * FROM customers; DELETE FROM canonical.entities;', [400]],
  ['BEGIN; DELETE FROM canonical.entities; COMMIT', [400]],
  ['SELECT 1; COMMIT; SET default_transaction_read_only = off; DELETE FROM canonical.entities', [400]],
  ['/* innocent */ DELETE FROM customers -- select', [400]],
  ['WITH gone AS (DELETE FROM canonical.entities RETURNING *) SELECT count(*) FROM gone', [400]],
  ['WITH up AS (UPDATE canonical.entities SET version = 99 RETURNING id) SELECT * FROM up', [400]],
  ["WITH ins AS (INSERT INTO canonical.relationships VALUES ('x','a','b','c','d','e','f') RETURNING 1) SELECT * FROM ins", [400]],
  ['SELECT * FROM customers FOR UPDATE', [400]],
  ['SELECT * FROM orders FOR SHARE SKIP LOCKED', [400]],
  ['EXPLAIN ANALYZE DELETE FROM canonical.entities', [400]],
  ['PREPARE p AS DELETE FROM canonical.entities', [400]],
  ['EXECUTE p', [400]],
  ['DO $$ BEGIN DELETE FROM canonical.entities; END $$', [400]],
  ['CALL canonical.bump_data_generation()', [400]],
  // files and programs
  [`COPY (SELECT 1) TO PROGRAM 'touch ${PWNED}'`, [400]],
  [`COPY canonical.entities TO '${PWNED}'`, [400]],
  ["COPY canonical.entities FROM '/etc/passwd'", [400]],
  ["SELECT pg_read_file('/etc/passwd')", [400]],
  ["SELECT pg_read_binary_file('/etc/passwd')", [400]],
  ["SELECT * FROM pg_ls_dir('.')", [400]],
  ["SELECT pg_stat_file('postgresql.conf')", [400]],
  ["SELECT lo_import('/etc/passwd')", [400]],
  [`SELECT lo_export(1, '${PWNED}')`, [400]],
  ['SELECT lo_unlink(1)', [400]],
  ["SELECT * FROM (VALUES (1)) v WHERE EXISTS (SELECT lo_from_bytea(0, '\\x00'))", [400]],
  // roles and settings
  ['SET ROLE postgres', [400]],
  ['SET ROLE canonical_owner', [400]],
  ['RESET ROLE', [400]],
  ['SET SESSION AUTHORIZATION postgres', [400]],
  ["SELECT set_config('role', 'canonical_owner', false)", [400]],
  ["SELECT * FROM customers WHERE name = (SELECT set_config('statement_timeout', '0', false))", [400]],
  ["SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", [400]],
  ['SET statement_timeout = 0', [400]],
  // sleeping, locking, signalling
  ['SELECT pg_sleep(30)', [400]],
  ['SELECT pg_catalog.pg_sleep(30)', [400]],
  ['SELECT "pg_sleep"(30)', [400]],
  ["SELECT pg_sleep_for('30 seconds')", [400]],
  ['SELECT pg_advisory_lock(4207913120517)', [400]],
  ['SELECT pg_try_advisory_lock(1)', [400]],
  ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', [400]],
  ['SELECT pg_cancel_backend(1)', [400]],
  ['SELECT pg_reload_conf()', [400]],
  ["SELECT pg_notify('x', 'y')", [400]],
  ['SELECT txid_current()', [400]],
  ["SELECT nextval('canonical.entities_id_seq')", [400]],
  // other databases and SQL hidden in strings
  ["SELECT * FROM dblink('dbname=postgres', 'DELETE FROM canonical.entities') AS t(x int)", [400]],
  ["SELECT dblink_exec('dbname=postgres', 'DROP TABLE canonical.entities')", [400]],
  ["SELECT query_to_xml('DELETE FROM canonical.entities RETURNING 1', true, true, '')", [400]],
  ["SELECT ts_stat('DELETE FROM canonical.entities RETURNING ''a''::tsvector')", [400]],
  ["SELECT aws_s3.query_export_to_s3('SELECT * FROM customers', 'bucket', 'key')", [400]],
  // what the parser allows, the database refuses
  ['SELECT * FROM canonical.entities', [422]],
  ['SELECT * FROM canonical.relationships', [422]],
  ['SELECT rolpassword FROM pg_authid', [422]],
  ['SELECT * FROM canonical.ingestion_runs', [422]],
  ['SELECT canonical.bump_data_generation()', [422]],
  // runaway queries stop at the statement timeout
  ['SELECT count(*) FROM generate_series(1, 10000000000)', [504]],
  ['SELECT count(*) FROM customers a, customers b, customers c, customers d, customers e, generate_series(1, 100000)', [504]],
];

async function fingerprint(): Promise<Record<string, string>> {
  const q = async (sql: string) => JSON.stringify((await h.db.pool.query(sql)).rows);
  return {
    entities: await q('SELECT md5(string_agg(e::text, \'|\' ORDER BY id)) FROM canonical.entities e'),
    versions: await q('SELECT md5(coalesce(string_agg(v::text, \'|\' ORDER BY entity_id, version), \'\')) FROM canonical.entity_versions v'),
    relationships: await q('SELECT md5(string_agg(r::text, \'|\' ORDER BY r::text)) FROM canonical.relationships r'),
    runs: await q('SELECT count(*) FROM canonical.ingestion_runs'),
    generation: await q('SELECT generation FROM canonical.data_generation'),
    roles: await q('SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls FROM pg_roles ORDER BY rolname'),
    memberships: await q('SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2'),
    roleSettings: await q('SELECT setrole::regrole::text, setconfig FROM pg_db_role_setting ORDER BY 1'),
    objects: await q(`SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1, 2`),
    functions: await q(`SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`),
    largeObjects: await q('SELECT count(*) FROM pg_largeobject_metadata'),
    grants: await q(`SELECT table_schema, table_name, grantee, privilege_type FROM information_schema.role_table_grants
                     WHERE table_schema = 'canonical' ORDER BY 1, 2, 3, 4`),
  };
}

test(`at least 30 attack queries (${ATTACKS.length})`, () => {
  expect(ATTACKS.length).toBeGreaterThanOrEqual(30);
});

test('every attack is refused or fails safely, and nothing in the database changed', async () => {
  fs.rmSync(PWNED, { force: true });
  const before = await fingerprint();
  const outcomes: Array<{ sql: string; status: number; code: string }> = [];
  const unexpected: Array<{ sql: string; status: number; body: string }> = [];
  for (const [sql, allowed] of ATTACKS) {
    const r = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: { sql }, cache: false } });
    outcomes.push({ sql, status: r.statusCode, code: r.json?.error?.code });
    const codeOk = /^(QUERY_REFUSED|QUERY_REJECTED|QUERY_TIMEOUT)$/.test(r.json?.error?.code ?? '');
    if (!allowed.includes(r.statusCode) || !codeOk) unexpected.push({ sql, status: r.statusCode, body: r.body.slice(0, 300) });
  }
  expect(unexpected).toEqual([]);
  expect(await fingerprint()).toEqual(before);
  expect(fs.existsSync(PWNED)).toBe(false);
  expect(outcomes.filter((o) => o.status === 400).length).toBeGreaterThanOrEqual(60);
});

test('the restricted reader’s pooled session is unchanged afterwards (no SET leaked)', async () => {
  const r = await h.call({
    method: 'POST',
    path: '/analytics',
    body: {
      operation: 'custom_complex_query',
      cache: false,
      parameters: { sql: "SELECT current_user AS usr, session_user AS sess, current_setting('default_transaction_read_only') AS ro, current_setting('search_path') AS sp" },
    },
  });
  expect(r.statusCode).toBe(200);
  expect(r.json.data[0]).toEqual({ usr: 'pipeline_sql_reader', sess: 'pipeline_sql_reader', ro: 'on', sp: 'canonical' });
});

test('refusals say why', async () => {
  const cases: Array<[string, RegExp, string]> = [
    ['SELECT 1; SELECT 2', /single statement; found 2/, 'multiple_statements'],
    ['WITH d AS (DELETE FROM x RETURNING *) SELECT * FROM d', /contains DELETE/, 'not_read_only'],
    ['SELECT pg_sleep(1)', /pg_sleep\(\) is not allowed/, 'denied_function'],
    ['SELEC 1', /not valid SQL: syntax error at or near "SELEC"/, 'syntax_error'],
    ['COPY x TO STDOUT', /Only SELECT queries are allowed, not COPY/, 'not_select'],
  ];
  for (const [sql, message, reason] of cases) {
    const r = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: { sql } } });
    expect(r.statusCode).toBe(400);
    expect(r.json.error.message).toMatch(message);
    expect(r.json.error.details.reason).toBe(reason);
  }
});

test('legitimate read-only SQL is accepted: CTEs, window functions, set operations, VALUES, TABLE', async () => {
  for (const sql of [
    'WITH t AS (SELECT country, sum(lifetime_value) AS v FROM customers GROUP BY country) SELECT country, v, rank() OVER (ORDER BY v DESC NULLS LAST) FROM t',
    'SELECT source_id FROM customers UNION ALL SELECT source_id FROM orders ORDER BY 1 LIMIT 5',
    'VALUES (1, 2), (3, 4)',
    'TABLE products',
    'SELECT o.source_id, c.name FROM orders o LEFT JOIN customers c ON c.source_id = o.customer_id WHERE o.amount > 100 ORDER BY 1',
    'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n',
  ]) {
    const r = await h.call({ method: 'POST', path: '/analytics', body: { operation: 'custom_complex_query', parameters: { sql }, cache: false } });
    expect({ sql, status: r.statusCode, body: r.statusCode === 200 ? '' : r.body }).toEqual({ sql, status: 200, body: '' });
  }
});
