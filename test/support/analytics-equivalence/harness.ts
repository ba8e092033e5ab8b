/**
 * Runs an operation the way the analytics handler does (parameters validated against its schema,
 * prepare, then its query or its composite run) in a read-only transaction as the analytics login
 * user with the time zone UTC, and compares the shipped operation with the reference.
 */
import type { CustomTypesConfig, Pool } from 'pg';
import { types as pgTypes } from 'pg';
import { ApiError } from '../../../lambda/analytics-api/errors';
import { getOperation } from '../../../lambda/analytics-api/operations';
import type { OperationDefinition, Params, QueryRunner } from '../../../lambda/analytics-api/operations/types';
import { validateParameters } from '../../../lambda/analytics-api/validation';
import { REFERENCE_OPERATIONS, toPinned } from '../reference-analytics';
import { firstFoundDiffs, Row, tabularDiffs, valueDiffs } from './compare';

const DATE = 1082;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

/** pg's default parsing (numeric and bigint as text), but dates and timestamps as their exact text. */
const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format !== 'binary' && (oid === DATE || oid === TIMESTAMP || oid === TIMESTAMPTZ)) return (v: string) => v;
    return (pgTypes.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as CustomTypesConfig['getTypeParser'],
};

/** An operation's answer: its rows (tabular) or its result object (composite), or the API error code it answered. */
export interface Outcome {
  readonly value?: unknown;
  readonly error?: string;
}

/** Runs one operation on the analytics pool; `rewrite` maps each SQL text before it is sent. */
export async function runOperation(
  pool: Pool, op: OperationDefinition, parameters: Params, rewrite: (sql: string) => string = (s) => s,
): Promise<Outcome> {
  const client = await pool.connect();
  try {
    const params = validateParameters(op, structuredClone(parameters), false);
    await op.prepare?.(params);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query("SET LOCAL TimeZone = 'UTC'; SET LOCAL statement_timeout = '60s'");
    const db: QueryRunner = {
      async rows<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
        return (await client.query({ text: rewrite(text), values: values as unknown[], types: TYPES })).rows as R[];
      },
    };
    const value = op.plan.kind === 'tabular'
      ? await db.rows(op.plan.query(params).text, op.plan.query(params).values)
      : await op.plan.run(db, params);
    return { value };
  } catch (error) {
    if (error instanceof ApiError) return { error: error.code };
    throw error;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/** How the answers of one operation are compared. */
interface Comparison {
  /** The parameters of a reference run whose "first found" lists are the full candidate sets. */
  readonly fullParameters?: (p: Params) => Params;
  diffs(actual: unknown, expected: unknown, full: unknown): string[];
}

const pick = (value: unknown, keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, (value as Record<string, unknown>)[k]]));
const omit = (value: unknown, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([k]) => !keys.includes(k)));
const list = (value: unknown, key: string) => (value as Record<string, unknown[]>)[key];

export const MAX_SUMMARY_ROWS = 5000;
export const MAX_DUPLICATE_PAIRS = 1000;

const COMPARISONS: Record<string, Comparison> = {
  simple_demo: { diffs: (a, e) => valueDiffs(a, e) },
  // Relations and indexes describe the physical layout, which issue 18 changes; the rest must stay.
  database_info: {
    diffs: (a, e) => valueDiffs(pick(a, ['data_generation', 'entity_counts', 'latest_ingestion_runs']), pick(e, ['data_generation', 'entity_counts', 'latest_ingestion_runs'])),
  },
  customer_analysis: { diffs: (a, e) => tabularDiffs(a as Row[], e as Row[]) },
  revenue_analysis: { diffs: (a, e) => tabularDiffs(a as Row[], e as Row[]) },
  // The summary is ordered by (grouped dimensions, revenue) only: ties may come in any order and a LIMIT may cut through them.
  multi_dimensional_analytics: {
    fullParameters: (p) => ({ ...p, limit: MAX_SUMMARY_ROWS }),
    diffs: (a, e, full) => [
      ...valueDiffs(omit(a, ['summary']), omit(e, ['summary'])),
      ...firstFoundDiffs('summary', {
        actual: list(a, 'summary'),
        expected: list(e, 'summary'),
        full: list(full, 'summary'),
        fullLimit: MAX_SUMMARY_ROWS,
        key: (s) => [(s as { dimensions: unknown[] }).dimensions.length, (s as { revenue: unknown }).revenue],
      }),
    ],
  },
  relationship_analysis: { diffs: (a, e) => valueDiffs(a, e) },
  // Fuzzy duplicates: the first pairs found (LIMIT without ORDER BY in the reference).
  data_integrity_analysis: {
    fullParameters: (p) => ({ ...p, max_duplicate_pairs: MAX_DUPLICATE_PAIRS }),
    diffs: (a, e, full) => [
      ...valueDiffs(omit(a, ['fuzzy_duplicates']), omit(e, ['fuzzy_duplicates'])),
      ...firstFoundDiffs('fuzzy_duplicates', {
        actual: list(a, 'fuzzy_duplicates'),
        expected: list(e, 'fuzzy_duplicates'),
        full: list(full, 'fuzzy_duplicates'),
        fullLimit: MAX_DUPLICATE_PAIRS,
      }),
    ],
  },
};

export const COMPARED_OPERATIONS = Object.keys(COMPARISONS);

export interface CaseResult {
  readonly current: Outcome;
  readonly reference: Outcome;
  readonly diffs: string[];
}

/** Runs the shipped operation and the reference on the same database and compares their answers. */
export async function compareOperation(
  pool: Pool, operation: string, parameters: Params, reference: OperationDefinition = REFERENCE_OPERATIONS.get(operation)!,
): Promise<CaseResult> {
  const comparison = COMPARISONS[operation];
  const current = await runOperation(pool, getOperation(operation)!, parameters);
  const expected = await runOperation(pool, reference, parameters, toPinned);
  if (current.error !== undefined || expected.error !== undefined) {
    return { current, reference: expected, diffs: current.error === expected.error ? [] : [`error ${current.error} ≠ reference ${expected.error}`] };
  }
  const full = comparison.fullParameters ? await runOperation(pool, reference, comparison.fullParameters(parameters), toPinned) : undefined;
  return { current, reference: expected, diffs: comparison.diffs(current.value, expected.value, full?.value) };
}
