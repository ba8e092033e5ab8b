/**
 * One connection pool per database login (per secret ARN) and Lambda execution environment.
 *
 * `db.ts` gives a function one pool for its own DB_SECRET_ARN; a function that works at two access
 * levels (the analytics API: the analytics reader for built-in operations, the restricted reader for
 * users' SQL) needs one pool per login instead: each pool logs in as its own user, so no connection
 * ever changes identity (no SET ROLE on a shared connection).
 */
import { Pool, PoolClient, PoolConfig } from 'pg';
import { connectionConfig, isAuthFailure } from './db';

export interface RegisteredPool {
  readonly pool: Pool;
  /** Forces the next connection to re-read the secret (after a rotation). */
  refresh(): void;
}

export interface PoolOptions {
  /** Maximum connections of this pool (default DB_POOL_MAX or 2). */
  readonly max?: number;
  /** Extra pg settings (e.g. `types`), merged over the connection settings. */
  readonly extra?: Partial<PoolConfig>;
}

const pools = new Map<string, Promise<RegisteredPool>>();

/** The pool that logs in with the credentials of `secretArn`, created on first use. */
export function poolForSecret(secretArn: string, options: PoolOptions = {}): Promise<RegisteredPool> {
  let entry = pools.get(secretArn);
  if (!entry) {
    entry = connectionConfig(secretArn).then((config) => {
      const pool = new Pool({
        ...config,
        max: options.max ?? Number(process.env.DB_POOL_MAX ?? 2),
        idleTimeoutMillis: 60_000,
        ...options.extra,
      });
      // An idle connection dropped by the server must not crash the process.
      pool.on('error', () => undefined);
      return { pool, refresh: config.refresh };
    });
    // A failed start (secret unreadable) is not cached: the next request tries again.
    entry.catch(() => pools.delete(secretArn));
    pools.set(secretArn, entry);
  }
  return entry;
}

/** A pooled connection; `broken` is set when its socket failed while checked out. */
export interface CheckedOutClient {
  readonly client: PoolClient;
  readonly broken: () => boolean;
  /** Returns the connection to the pool, or discards it when it broke or `discard` is given. */
  release(discard?: boolean): void;
}

/**
 * Checks a connection out of the secret's pool (default: the function's own DB_SECRET_ARN). A login
 * refused after a rotation is retried once with a fresh secret. pg-pool stops listening for a client's
 * 'error' while it is checked out, so a connection lost mid-query (failover, reset) would otherwise be
 * an uncaught exception that kills the Lambda runtime: it is recorded, and the connection discarded.
 */
export async function checkoutClient(secretArn = process.env.DB_SECRET_ARN ?? '', options?: PoolOptions): Promise<CheckedOutClient> {
  if (!secretArn) throw new Error('Environment variable DB_SECRET_ARN is not set');
  const { pool, refresh } = await poolForSecret(secretArn, options);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    if (!isAuthFailure(error)) throw error;
    refresh();
    client = await pool.connect();
  }
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  return {
    client,
    broken: () => broken !== undefined,
    release(discard?: boolean) {
      client.off('error', onError);
      client.release(broken ?? (discard ? true : undefined));
    },
  };
}

/** Runs fn on a client of the secret's pool (see checkoutClient). */
export async function withSecretClient<T>(secretArn: string, fn: (client: PoolClient) => Promise<T>, options?: PoolOptions): Promise<T> {
  const checkout = await checkoutClient(secretArn, options);
  let discard = false;
  try {
    return await fn(checkout.client);
  } catch (error) {
    // A connection that failed mid-transaction (timeout, reset) is discarded rather than reused.
    discard = isConnectionLevelFailure(error);
    throw error;
  } finally {
    checkout.release(discard);
  }
}

/** Closes every pool (tests, benchmarks). */
export async function closeAllPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.pool.end()));
}

/** A failure after which the connection must not be reused (protocol or connection errors, server shutdown). */
export function isConnectionLevelFailure(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  return code.startsWith('08') || code.startsWith('57P') || /Connection terminated|ECONNRESET|EPIPE/.test(String((error as Error)?.message));
}
