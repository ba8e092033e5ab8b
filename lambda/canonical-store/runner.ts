/**
 * Applies versioned SQL migrations: in order, each in its own transaction, recorded in
 * canonical.schema_migrations, under an advisory lock, and a no-op when nothing is new.
 *
 * The library's migrations and the user's live in two namespaces (library first), so a library
 * upgrade adds its new migrations without reordering the user's. DDL runs as the non-login role
 * canonical_owner, so object ownership survives password rotation of any login user.
 */
import { createHash } from 'crypto';
import type { ClientBase } from 'pg';
import type { Migration } from './migrations';
import { scramSha256Verifier } from './scram';

export const SCHEMA = 'canonical';
export const OWNER_ROLE = 'canonical_owner';

/** Group roles (NOLOGIN) that carry the privileges of each access level. */
export enum GroupRole {
  WRITER = 'canonical_writer',
  ANALYTICS = 'canonical_analytics',
  SQL_READER = 'canonical_sql_reader',
}

/**
 * Session settings applied to each login user of a group (ALTER ROLE … SET). The readers run without
 * JIT compilation: over the typed storage their queries take well under a second, and the planner's
 * cost estimates (recursive CTEs above all) start a compilation that costs more than the query
 * (the hierarchy overview at 1M customers: 0.9 s of compilation in 1.3 s).
 */
export const LOGIN_SETTINGS: Record<GroupRole, Record<string, string>> = {
  [GroupRole.WRITER]: { idle_in_transaction_session_timeout: '300s' },
  [GroupRole.ANALYTICS]: { default_transaction_read_only: 'on', statement_timeout: '25s', idle_in_transaction_session_timeout: '60s', jit: 'off' },
  [GroupRole.SQL_READER]: {
    default_transaction_read_only: 'on',
    statement_timeout: '20s',
    idle_in_transaction_session_timeout: '30s',
    search_path: SCHEMA,
    jit: 'off',
  },
};

// One lock per database for every migrator of this library (pg_advisory_lock takes a bigint).
const LOCK_KEY = '4207913120517';

export type Namespace = 'library' | 'user';

export interface MigrationSet {
  readonly namespace: Namespace;
  readonly migrations: readonly Migration[];
}

export interface LoginUser {
  readonly username: string;
  readonly password: string;
  readonly group: GroupRole;
}

export interface MigrateOptions {
  readonly sets: readonly MigrationSet[];
  readonly loginUsers?: readonly LoginUser[];
  readonly log?: (message: string, details?: Record<string, unknown>) => void;
}

export interface MigrateResult {
  /** `namespace/id` of each migration applied by this run, in order. */
  readonly applied: string[];
  /** How many were already applied. */
  readonly alreadyApplied: number;
}

export class MigrationError extends Error {
  constructor(readonly namespace: Namespace, readonly migrationId: string, readonly cause: unknown) {
    super(`Migration ${namespace}/${migrationId} failed and was rolled back: ${(cause as Error)?.message ?? cause}`);
    this.name = 'MigrationError';
  }
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

const MIGRATION_ID = /^[A-Za-z0-9_.-]+$/;

function validate(sets: readonly MigrationSet[]): void {
  for (const set of sets) {
    const seen = new Set<string>();
    for (const m of set.migrations) {
      if (!MIGRATION_ID.test(m.id ?? '')) throw new Error(`Invalid ${set.namespace} migration id "${m.id}": use letters, digits, _ . -`);
      if (seen.has(m.id)) throw new Error(`Duplicate ${set.namespace} migration id "${m.id}"`);
      if (typeof m.sql !== 'string' || m.sql.trim() === '') throw new Error(`${set.namespace} migration "${m.id}" has no SQL`);
      seen.add(m.id);
    }
  }
}

/** Creates a role unless it exists; tolerates another database's migrator racing us (roles are cluster-wide). */
async function ensureRole(client: ClientBase, role: string, options: string): Promise<boolean> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount) return false;
  try {
    await client.query(`CREATE ROLE ${client.escapeIdentifier(role)} ${options}`);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42710' || code === '23505') return false; // duplicate_object / unique_violation
    throw error;
  }
}

async function bootstrap(client: ClientBase): Promise<void> {
  await ensureRole(client, OWNER_ROLE, 'NOLOGIN');
  for (const role of Object.values(GroupRole)) await ensureRole(client, role, 'NOLOGIN');
  await client.query(`GRANT ${OWNER_ROLE} TO CURRENT_USER`);
  await client.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA} AUTHORIZATION ${OWNER_ROLE}`);
  await client.query(`SET ROLE ${OWNER_ROLE}`);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_migrations (
      namespace    text NOT NULL,
      id           text NOT NULL,
      checksum     text NOT NULL,
      applied_at   timestamptz NOT NULL DEFAULT now(),
      applied_by   text NOT NULL DEFAULT session_user,
      execution_ms integer NOT NULL,
      PRIMARY KEY (namespace, id))`);
  } finally {
    await client.query('RESET ROLE');
  }
}

/** Login users: created with their secret's password (as a SCRAM verifier), then left to rotation. */
async function ensureLoginUsers(client: ClientBase, users: readonly LoginUser[]): Promise<void> {
  for (const user of users) {
    const name = client.escapeIdentifier(user.username);
    await ensureRole(client, user.username, `LOGIN PASSWORD ${client.escapeLiteral(scramSha256Verifier(user.password))}`);
    await client.query(`GRANT ${user.group} TO ${name}`);
    for (const [setting, value] of Object.entries(LOGIN_SETTINGS[user.group])) {
      await client.query(`ALTER ROLE ${name} SET ${setting} = ${client.escapeLiteral(value)}`);
    }
  }
}

async function appliedChecksums(client: ClientBase): Promise<Map<string, string>> {
  const { rows } = await client.query(`SELECT namespace, id, checksum FROM ${SCHEMA}.schema_migrations`);
  return new Map(rows.map((r) => [`${r.namespace}/${r.id}`, r.checksum as string]));
}

async function applyOne(client: ClientBase, namespace: Namespace, migration: Migration): Promise<void> {
  const started = Date.now();
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL ROLE ${OWNER_ROLE}`);
    await client.query(`SET LOCAL search_path = ${SCHEMA}, public`);
    await client.query(migration.sql);
    await client.query(
      `INSERT INTO ${SCHEMA}.schema_migrations (namespace, id, checksum, execution_ms) VALUES ($1, $2, $3, $4)`,
      [namespace, migration.id, checksum(migration.sql), Date.now() - started],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new MigrationError(namespace, migration.id, error);
  }
}

export async function migrate(client: ClientBase, options: MigrateOptions): Promise<MigrateResult> {
  validate(options.sets);
  const log = options.log ?? (() => undefined);
  await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
  try {
    await bootstrap(client);
    await ensureLoginUsers(client, options.loginUsers ?? []);
    const done = await appliedChecksums(client);
    const applied: string[] = [];
    let alreadyApplied = 0;
    for (const set of options.sets) {
      for (const migration of set.migrations) {
        const key = `${set.namespace}/${migration.id}`;
        const previous = done.get(key);
        if (previous !== undefined) {
          if (previous !== checksum(migration.sql)) {
            throw new Error(`Migration ${key} was changed after it was applied; add a new migration instead of editing it`);
          }
          alreadyApplied++;
          continue;
        }
        log('Applying migration', { migration: key });
        await applyOne(client, set.namespace, migration);
        applied.push(key);
      }
    }
    return { applied, alreadyApplied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
  }
}
