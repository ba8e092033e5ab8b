/**
 * Test hooks: lets tests inject a crash at a precise point (e.g. after the first batch) to prove
 * that a retry leaves the store as one clean run would. Unused in production.
 */
import type { ClientBase } from 'pg';

export interface IngestHooks {
  /** Called after each batch is upserted, inside the run's transaction. */
  afterBatch?: (batchNumber: number, client: ClientBase) => void | Promise<void>;
  /** Called with the object key after the run row is completed, just before its transaction commits. */
  beforeCommit?: (objectKey: string, client: ClientBase) => void | Promise<void>;
  /** Called before each attempt at the typed storage's refresh (throw to fail it). */
  beforeRefresh?: (attempt: number, client: ClientBase) => void | Promise<void>;
}

export const hooks: IngestHooks = {};
