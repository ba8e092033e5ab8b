/**
 * The operation runner: validation, cache, execution and large results, shared by the API handler
 * and (issue 5) the async job runner.
 *
 *   const prepared = await prepareOperation('customer_analysis', { metric: 'revenue' });   // 400s here
 *   const result = await executeOperation(prepared, { timeoutMs: 600_000, maxInlineBytes: 200_000 });
 *   // result.dataJson (inline) or result.largeResult (in S3), result.rowCount, result.dataGeneration…
 *
 * Errors are ApiError (see errors.ts): `status`, `code`, `retryable`.
 */
import Cursor from 'pg-cursor';
import { cacheKey, CachedPayload, cacheTableName, getCached, putCached } from './cache';
import { Generations, inReadOnlyTransaction, JSON_TYPES, readGenerations } from './database';
import { ApiError, ErrorCode, toApiError } from './errors';
import { LargeResultRef, ResultUpload } from './large-results';
import { getOperation, listOperations, loadUserOperations } from './operations';
import { OperationDefinition, Params } from './operations/types';
import { validateParameters } from './validation';

export type CacheStatus = 'hit' | 'miss' | 'bypass';

export interface Column {
  readonly name: string;
  /** PostgreSQL type OID. */
  readonly typeId: number;
}

export interface PreparedOperation {
  readonly operation: OperationDefinition;
  /** Validated parameters with defaults applied (and normalized by the operation's prepare step). */
  readonly parameters: Params;
}

export interface RunOptions {
  /** Read the cache (default true). Fresh results are written to the cache either way. */
  readonly useCache?: boolean;
  /** Time budget for the database work (default QUERY_TIMEOUT_MS or 25,000 ms). */
  readonly timeoutMs?: number;
  /** Results with more rows go to S3 (default LARGE_RESULT_MAX_ROWS or 10,000). */
  readonly maxInlineRows?: number;
  /** Results with more JSON bytes go to S3 (default LARGE_RESULT_MAX_BYTES or 2,000,000). */
  readonly maxInlineBytes?: number;
  /** Log sink for non-fatal problems (cache unavailable…). */
  readonly log?: (message: string, details: Record<string, unknown>) => void;
}

export interface OperationResult {
  readonly operation: string;
  readonly parameters: Params;
  /** JSON text of `data` (rows array or result object); undefined when the result is large (in S3). */
  readonly dataJson?: string;
  readonly largeResult?: LargeResultRef;
  readonly rowCount: number;
  /** The row limit cut the result short. */
  readonly truncated: boolean;
  readonly columns?: Column[];
  readonly cache: CacheStatus;
  /** The data generation the result reflects (the typed storage's, see database.ts readGenerations). */
  readonly dataGeneration: number;
  /**
   * True when a later generation is committed but the typed storage does not reflect it yet (its
   * refresh is pending or failing): the result is that of `dataGeneration`, not of `latestDataGeneration`.
   */
  readonly stale: boolean;
  readonly latestDataGeneration: number;
  /** Handler-side time of this call (ms). */
  readonly durationMs: number;
  /** When the result was computed (epoch ms; earlier than now for a cache hit). */
  readonly computedAt: number;
}

function envNumber(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function defaultTimeoutMs(): number {
  return envNumber('QUERY_TIMEOUT_MS', 25_000);
}

/** Resolves and validates an operation call; throws ApiError 400 before any SQL runs. */
export async function prepareOperation(name: unknown, rawParameters: unknown, options: { coerce?: boolean } = {}): Promise<PreparedOperation> {
  await loadUserOperations();
  if (typeof name !== 'string' || name === '') {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, "Missing 'operation': name the operation to run", [
      { path: 'operation', message: 'is required', operations: listOperations().map((o) => o.name) },
    ]);
  }
  const operation = getOperation(name);
  if (!operation) {
    throw new ApiError(ErrorCode.UNKNOWN_OPERATION, `Unknown operation '${name.length > 100 ? `${name.slice(0, 100)}…` : name}'`, [
      { path: 'operation', message: 'is not a known operation', operations: listOperations().map((o) => o.name) },
    ]);
  }
  const parameters = validateParameters(operation, rawParameters, options.coerce ?? false);
  await operation.prepare?.(parameters);
  return { operation, parameters };
}

function cacheable(operation: OperationDefinition): boolean {
  return operation.cacheable !== false && cacheTableName() !== undefined;
}

async function cacheHit(
  prepared: PreparedOperation, generations: Generations, started: number, options: RunOptions,
): Promise<OperationResult | undefined> {
  let payload: CachedPayload | undefined;
  try {
    payload = await getCached(cacheKey(prepared.operation.name, prepared.parameters, generations.typed));
  } catch (error) {
    options.log?.('Cache read failed; running the operation', { error: (error as Error).message });
    return undefined;
  }
  if (!payload) return undefined;
  return {
    operation: prepared.operation.name,
    parameters: prepared.parameters,
    dataJson: payload.dataJson,
    largeResult: payload.largeResult,
    rowCount: payload.rowCount,
    truncated: payload.truncated ?? false,
    columns: payload.columns as Column[] | undefined,
    cache: 'hit',
    ...freshness(generations),
    durationMs: Date.now() - started,
    computedAt: payload.createdAt,
  };
}

/** Runs a prepared call: cache lookup, the operation's SQL, large results to S3, cache write. */
export async function executeOperation(prepared: PreparedOperation, options: RunOptions = {}): Promise<OperationResult> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? defaultTimeoutMs());
  const { operation, parameters } = prepared;
  try {
    // Read the generations before the data: a result is never labelled or cached under a generation
    // newer than its data.
    const generations = await readGenerations();
    const dataGeneration = generations.typed;
    const useCache = cacheable(operation);
    if (useCache && options.useCache !== false) {
      const hit = await cacheHit(prepared, generations, started, options);
      if (hit) return hit;
    }
    const limits = {
      deadline,
      maxRows: options.maxInlineRows ?? envNumber('LARGE_RESULT_MAX_ROWS', 10_000),
      maxBytes: options.maxInlineBytes ?? envNumber('LARGE_RESULT_MAX_BYTES', 2_000_000),
      dataGeneration,
    };
    const computed = operation.plan.kind === 'tabular'
      ? await runTabular(operation, parameters, limits)
      : await runComposite(operation, parameters, limits);
    const computedAt = Date.now();
    if (useCache) {
      try {
        await putCached(cacheKey(operation.name, parameters, dataGeneration), operation.name, dataGeneration, { ...computed, createdAt: computedAt });
      } catch (error) {
        options.log?.('Cache write failed', { error: (error as Error).message });
      }
    }
    return {
      operation: operation.name,
      parameters,
      ...computed,
      cache: useCache && options.useCache !== false ? 'miss' : 'bypass',
      ...freshness(generations),
      durationMs: Date.now() - started,
      computedAt,
    };
  } catch (error) {
    throw toApiError(error);
  }
}

function freshness(generations: Generations): Pick<OperationResult, 'dataGeneration' | 'stale' | 'latestDataGeneration'> {
  return { dataGeneration: generations.typed, stale: generations.typed < generations.latest, latestDataGeneration: generations.latest };
}

/** prepareOperation + executeOperation in one call. */
export async function runOperation(name: unknown, rawParameters: unknown, options: RunOptions & { coerce?: boolean } = {}): Promise<OperationResult> {
  return executeOperation(await prepareOperation(name, rawParameters, { coerce: options.coerce }), options);
}

interface Limits {
  readonly deadline: number;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly dataGeneration: number;
}

interface Computed {
  readonly dataJson?: string;
  readonly largeResult?: LargeResultRef;
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly columns?: Column[];
}

function header(operation: string, limits: Limits, columns?: Column[]): string {
  const head: Record<string, unknown> = { operation, dataGeneration: limits.dataGeneration, generatedAt: new Date().toISOString() };
  if (columns) head.columns = columns;
  return JSON.stringify(head).slice(0, -1);
}

type Fields = Array<{ name: string; dataTypeID: number }>;

function readCursor(cursor: Cursor, n: number): Promise<{ rows: Record<string, unknown>[]; fields: Fields }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (error, rows, result) => (error ? reject(error) : resolve({ rows, fields: (result?.fields ?? []) as Fields })));
  });
}

/**
 * Streams one query's rows through a cursor: kept in memory while under the inline limits, and
 * switched to a streaming S3 upload (the rows so far first) the moment a limit is passed.
 */
async function runTabular(operation: OperationDefinition, params: Params, limits: Limits): Promise<Computed> {
  if (operation.plan.kind !== 'tabular') throw new Error('not tabular');
  const plan = operation.plan;
  const query = plan.query(params);
  const rowLimit = plan.rowLimit?.(params) ?? Number.MAX_SAFE_INTEGER;
  if (plan.bounded) return runBounded(operation, query, rowLimit, limits);
  return inReadOnlyTransaction({ access: operation.access, deadline: limits.deadline }, async (client) => {
    const cursor = client.query(new Cursor(query.text, query.values as unknown[], { types: JSON_TYPES }));
    const parts: string[] = [];
    let bytes = 2;
    let rowCount = 0;
    let truncated = false;
    let columns: Column[] | undefined;
    let upload: ResultUpload | undefined;
    try {
      let batch = 500;
      for (;;) {
        const { rows, fields } = await readCursor(cursor, Math.min(batch, rowLimit - rowCount + 1));
        columns ??= fields.map((f) => ({ name: f.name, typeId: f.dataTypeID }));
        for (const row of rows) {
          if (rowCount >= rowLimit) {
            truncated = true;
            break;
          }
          const json = JSON.stringify(row);
          rowCount++;
          bytes += json.length + 1;
          if (upload) {
            await upload.write(rowCount === 1 ? json : `,${json}`);
          } else {
            parts.push(json);
            if (rowCount > limits.maxRows || bytes > limits.maxBytes) {
              upload = new ResultUpload(operation.name);
              await upload.write(`${header(operation.name, limits, columns)},"data":[${parts.join(',')}`);
              parts.length = 0;
            }
          }
        }
        if (truncated || rows.length < Math.min(batch, rowLimit - rowCount + 1) || rows.length === 0) break;
        batch = Math.min(batch * 4, 5000);
      }
      await new Promise<void>((resolve) => cursor.close(() => resolve()));
      if (upload) {
        await upload.write(`],"rowCount":${rowCount},"truncated":${truncated}}`);
        const largeResult = await upload.finish(rowCount);
        return { largeResult, rowCount, truncated, columns };
      }
      return { dataJson: `[${parts.join(',')}]`, rowCount, truncated, columns };
    } catch (error) {
      await upload?.abort();
      throw error;
    }
  });
}

/** A query whose row count its parameters bound: one execution (parallel plans allowed), rows buffered. */
async function runBounded(
  operation: OperationDefinition, query: { text: string; values: readonly unknown[] }, rowLimit: number, limits: Limits,
): Promise<Computed> {
  const { rows, fields } = await inReadOnlyTransaction({ access: operation.access, deadline: limits.deadline }, (client) =>
    client.query({ text: query.text, values: query.values as unknown[], types: JSON_TYPES }));
  const columns = (fields as Fields).map((f) => ({ name: f.name, typeId: f.dataTypeID }));
  const truncated = rows.length > rowLimit;
  const kept = truncated ? rows.slice(0, rowLimit) : rows;
  const dataJson = JSON.stringify(kept);
  if (kept.length <= limits.maxRows && Buffer.byteLength(dataJson) <= limits.maxBytes) return { dataJson, rowCount: kept.length, truncated, columns };
  const upload = new ResultUpload(operation.name);
  try {
    await upload.write(`${header(operation.name, limits, columns)},"data":${dataJson},"rowCount":${kept.length},"truncated":${truncated}}`);
    return { largeResult: await upload.finish(kept.length), rowCount: kept.length, truncated, columns };
  } catch (error) {
    await upload.abort();
    throw error;
  }
}

/** Rows of a composite result: the elements of its array-valued sections (one level deep). */
export function countRows(data: unknown): number {
  if (Array.isArray(data)) return data.length;
  if (!data || typeof data !== 'object') return 0;
  let n = 0;
  for (const value of Object.values(data)) {
    if (Array.isArray(value)) n += value.length;
    else if (value && typeof value === 'object') for (const inner of Object.values(value)) if (Array.isArray(inner)) n += inner.length;
  }
  return n;
}

async function runComposite(operation: OperationDefinition, params: Params, limits: Limits): Promise<Computed> {
  if (operation.plan.kind !== 'composite') throw new Error('not composite');
  const plan = operation.plan;
  const transaction = { access: operation.access, deadline: limits.deadline, snapshot: true };
  const data = await inReadOnlyTransaction(transaction, (_client, db) => plan.run(db, params));
  const dataJson = JSON.stringify(data);
  const rowCount = countRows(data);
  if (Buffer.byteLength(dataJson) <= limits.maxBytes) return { dataJson, rowCount, truncated: false };
  const upload = new ResultUpload(operation.name);
  try {
    await upload.write(`${header(operation.name, limits)},"data":${dataJson},"rowCount":${rowCount},"truncated":false}`);
    return { largeResult: await upload.finish(rowCount), rowCount, truncated: false };
  } catch (error) {
    await upload.abort();
    throw error;
  }
}
