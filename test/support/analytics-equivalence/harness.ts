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
    let value: unknown;
    if (op.plan.kind === 'tabular') {
      const query = op.plan.query(params);
      value = await db.rows(query.text, query.values);
    } else {
      value = await op.plan.run(db, params);
    }
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
  /** Rows compared as a multiset (tabular); otherwise the answer object, section by section. */
  readonly tabular?: boolean;
  /** The sections that must stay the same (default: all). */
  readonly sections?: readonly string[];
  /**
   * A "first found" list of the answer: the reference run with `limitParameter` at `fullLimit`
   * gives its full candidate set; `key` when the list is ordered by a key that may tie.
   */
  readonly firstFound?: {
    readonly list: string;
    readonly limitParameter: string;
    readonly fullLimit: number;
    readonly key?: (element: unknown) => unknown;
  };
}

type Answer = Record<string, unknown>;
const pick = (value: unknown, keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, (value as Answer)[k]]));
const omit = (value: unknown, key: string) => Object.fromEntries(Object.entries(value as Answer).filter(([k]) => k !== key));
const list = (value: unknown, key: string) => (value as Record<string, unknown[]>)[key];

const COMPARISONS: Record<string, Comparison> = {
  simple_demo: {},
  // Relations and indexes describe the physical layout, which issue 18 changes; the rest must stay.
  database_info: { sections: ['data_generation', 'entity_counts', 'latest_ingestion_runs'] },
  customer_analysis: { tabular: true },
  revenue_analysis: { tabular: true },
  // The summary is ordered by (grouped dimensions, revenue) only: ties may come in any order and its LIMIT may cut through them.
  multi_dimensional_analytics: {
    firstFound: {
      list: 'summary',
      limitParameter: 'limit',
      fullLimit: 5000,
      key: (s) => [(s as { dimensions: unknown[] }).dimensions.length, (s as { revenue: unknown }).revenue],
    },
  },
  relationship_analysis: {},
  // Fuzzy duplicates: the first pairs found (a LIMIT without ORDER BY in the reference).
  data_integrity_analysis: { firstFound: { list: 'fuzzy_duplicates', limitParameter: 'max_duplicate_pairs', fullLimit: 1000 } },
};

function diffsOf(comparison: Comparison, actual: unknown, expected: unknown, full: unknown): string[] {
  if (comparison.tabular) return tabularDiffs(actual as Row[], expected as Row[]);
  const [a, e] = comparison.sections ? [pick(actual, comparison.sections), pick(expected, comparison.sections)] : [actual, expected];
  const f = comparison.firstFound;
  if (!f) return valueDiffs(a, e);
  return [
    ...valueDiffs(omit(a, f.list), omit(e, f.list)),
    ...firstFoundDiffs(f.list, { actual: list(a, f.list), expected: list(e, f.list), full: list(full, f.list), fullLimit: f.fullLimit, key: f.key }),
  ];
}

export const COMPARED_OPERATIONS = Object.keys(COMPARISONS);

export interface CaseResult {
  readonly current: Outcome;
  readonly reference: Outcome;
  readonly diffs: string[];
  /** Whether the reference's "first found" list was cut by its limit (less than the full candidate set). */
  readonly cut?: boolean;
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
  const f = comparison.firstFound;
  const full = f ? (await runOperation(pool, reference, { ...parameters, [f.limitParameter]: f.fullLimit }, toPinned)).value : undefined;
  return {
    current,
    reference: expected,
    diffs: diffsOf(comparison, current.value, expected.value, full),
    cut: f ? list(full, f.list).length > list(expected.value, f.list).length : undefined,
  };
}
