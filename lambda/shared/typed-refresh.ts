/**
 * Runs canonical.refresh_typed_storage() (migration 0004): derives the typed storage of everything
 * written since the last refresh. One refresh at a time (a session advisory lock, taken before the
 * transaction starts so that its snapshot includes every commit made before the lock was granted),
 * in a REPEATABLE READ transaction, so the refresh reflects exactly the data generation it records.
 * Call it with a connection that is not in a transaction.
 */
import type { ClientBase } from 'pg';

/** The advisory lock key of the refresh (distinct from the migration runner's). */
export const TYPED_REFRESH_LOCK = 7_461_022_018;

export interface TypedRefreshResult {
  /** The data generation the typed storage now reflects. */
  readonly generation: number;
  /** Entities whose typed rows were derived. */
  readonly entities: number;
}

export async function refreshTypedStorage(client: ClientBase): Promise<TypedRefreshResult> {
  await client.query('SELECT pg_advisory_lock($1)', [TYPED_REFRESH_LOCK]);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      const { rows } = await client.query('SELECT canonical.refresh_typed_storage() AS result');
      await client.query('COMMIT');
      return { generation: Number(rows[0].result.generation), entities: Number(rows[0].result.entities) };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [TYPED_REFRESH_LOCK]).catch(() => undefined);
  }
}
