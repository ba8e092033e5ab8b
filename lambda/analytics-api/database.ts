/**
 * The analytics function's two database logins, each with its own pool (one per execution
 * environment): the analytics reader (DB_SECRET_ARN) for built-in and user-defined operations, and
 * the restricted reader (SQL_READER_SECRET_ARN) for users' SQL. Every operation runs in a READ ONLY
 * transaction with a statement timeout derived from the request's deadline.
 */
import { CustomTypesConfig, PoolClient, types as pgTypes } from 'pg';
import { ApiError, ErrorCode } from './errors';
import { isConnectionLevelFailure, withSecretClient } from '../shared/pool-registry';
import { AccessLevel, QueryRunner } from './operations/types';

const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const BYTEA = 17;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function parseInt8(value: string): number | string {
  const big = BigInt(value);
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : value;
}

function parseNumeric(value: string): number | string {
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  // Keep the exact text when a double would lose digits (more than 15 significant digits).
  const significant = value.replace(/^[-+]/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return significant.length <= 15 ? Number(value) : value;
}

/**
 * JSON-friendly type parsing: bigint and numeric as numbers when exact enough (else their text),
 * date as 'YYYY-MM-DD' text (not a local-midnight Date).
 */
export const JSON_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format !== 'binary') {
      if (oid === INT8) return parseInt8;
      if (oid === NUMERIC) return parseNumeric;
      // dates as 'YYYY-MM-DD' and bytea as its '\\x…' hex text: both JSON-friendly as they are
      if (oid === DATE || oid === BYTEA) return (v: string) => v;
    }
    return (pgTypes.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as CustomTypesConfig['getTypeParser'],
};

function secretArnFor(access: AccessLevel): string {
  const name = access === AccessLevel.RESTRICTED ? 'SQL_READER_SECRET_ARN' : 'DB_SECRET_ARN';
  const arn = process.env[name];
  if (!arn) throw new ApiError(ErrorCode.INTERNAL_ERROR, `The function is not configured for ${access} queries (${name} is not set)`);
  return arn;
}

/** A client of the access level's pool for the duration of fn. */
export function withDatabase<T>(access: AccessLevel, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withSecretClient(secretArnFor(access), fn, { extra: { types: JSON_TYPES } });
}

/** The time left before `deadline` as a statement timeout, or a timeout error when none is left. */
export function remainingMs(deadline: number): number {
  const left = Math.floor(deadline - Date.now());
  if (left < 50) throw new ApiError(ErrorCode.QUERY_TIMEOUT, 'The operation ran out of time before its query could run');
  return left;
}

export interface TransactionOptions {
  readonly access: AccessLevel;
  /** Epoch ms by which every statement must have finished. */
  readonly deadline: number;
  /** REPEATABLE READ (one snapshot for several statements) instead of READ COMMITTED. */
  readonly snapshot?: boolean;
}

/**
 * Runs fn in a READ ONLY transaction (statement timeout from the deadline, UTC time zone); always
 * rolled back at the end (nothing to commit), so nothing leaks into the pooled session.
 */
export async function inReadOnlyTransaction<T>(options: TransactionOptions, fn: (client: PoolClient, db: QueryRunner) => Promise<T>): Promise<T> {
  return withDatabase(options.access, async (client) => {
    await client.query(`BEGIN ISOLATION LEVEL ${options.snapshot ? 'REPEATABLE READ' : 'READ COMMITTED'} READ ONLY`);
    try {
      let lastTimeout = remainingMs(options.deadline);
      await client.query(`SET LOCAL statement_timeout = ${lastTimeout}; SET LOCAL TimeZone = 'UTC'`);
      const db: QueryRunner = {
        async rows<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
          const left = remainingMs(options.deadline);
          // Tighten the timeout as the deadline approaches (a round trip only when it matters).
          if (left < lastTimeout - 1000) {
            lastTimeout = left;
            await client.query(`SET LOCAL statement_timeout = ${left}`);
          }
          const result = await client.query({ text, values: values as unknown[], types: JSON_TYPES });
          return result.rows as R[];
        },
      };
      const result = await fn(client, db);
      await client.query('ROLLBACK');
      return result;
    } catch (error) {
      // After a protocol or connection failure the connection is discarded (see pool-registry), not rolled back.
      if (!isConnectionLevelFailure(error)) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

export interface Generations {
  /** The latest committed data generation. */
  readonly latest: number;
  /** The generation the typed storage (fact tables, aggregates, the public views) reflects: `latest` once refreshed. */
  readonly typed: number;
}

/** The latest data generation and the one the typed storage reflects, read together. */
export async function readGenerations(): Promise<Generations> {
  return withDatabase(AccessLevel.ANALYTICS, async (client) => {
    const { rows } = await client.query({
      text: `SELECT d.generation AS latest, least(d.generation, coalesce(t.generation, d.generation)) AS typed
             FROM canonical.data_generation d LEFT JOIN canonical.typed_storage_state t ON true`,
      types: JSON_TYPES,
    });
    return { latest: Number(rows[0]?.latest ?? 0), typed: Number(rows[0]?.typed ?? 0) };
  });
}
