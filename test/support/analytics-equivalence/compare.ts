/**
 * How two answers of an analytics operation are compared. Each function returns the differences it
 * found as readable lines (empty: equal).
 * - numeric and bigint values arrive from pg as strings and are compared as strings, exactly;
 * - numbers of a tabular result are double precision (or small integers): equal within 1e-9 relative;
 * - numbers inside JSON results (json_build_object of numeric and counts) are compared exactly;
 * - tabular results are compared as row multisets (both sides sorted by all columns), columns in order;
 * - JSON objects by their keys, in any order.
 */

const MAX_REPORTED = 12;

export type Row = Record<string, unknown>;

function closeEnough(a: number, b: number): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

/** Differences between two values, `approx` for double-precision numbers. */
export function valueDiffs(actual: unknown, expected: unknown, path = '$', approx = false, out: string[] = []): string[] {
  if (out.length >= MAX_REPORTED) return out;
  if (typeof actual === 'number' && typeof expected === 'number') {
    if (!(approx ? closeEnough(actual, expected) : Object.is(actual, expected))) out.push(`${path}: ${actual} ≠ reference ${expected}`);
    return out;
  }
  if (Array.isArray(actual) && Array.isArray(expected)) {
    if (actual.length !== expected.length) out.push(`${path}: ${actual.length} elements ≠ reference ${expected.length}`);
    for (let i = 0; i < Math.min(actual.length, expected.length); i++) valueDiffs(actual[i], expected[i], `${path}[${i}]`, approx, out);
    return out;
  }
  if (isObject(actual) && isObject(expected)) {
    const keys = Object.keys(actual).sort();
    const expectedKeys = Object.keys(expected).sort();
    if (keys.join(',') !== expectedKeys.join(',')) out.push(`${path}: keys [${keys}] ≠ reference [${expectedKeys}]`);
    for (const key of expectedKeys) if (key in actual) valueDiffs(actual[key], expected[key], `${path}.${key}`, approx, out);
    return out;
  }
  if (actual !== expected) out.push(`${path}: ${JSON.stringify(actual)} ≠ reference ${JSON.stringify(expected)}`);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = typeof a === 'string' ? a : JSON.stringify(a);
  const y = typeof b === 'string' ? b : JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The rows in a total order: by every column, in the column order of the first row. */
export function sortedRows(rows: readonly Row[]): Row[] {
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  return [...rows].sort((a, b) => {
    for (const c of columns) {
      const d = compareValues(a[c], b[c]);
      if (d !== 0) return d;
    }
    return 0;
  });
}

/** Tabular results: the same columns in the same order, and the same rows (as multisets). */
export function tabularDiffs(actual: readonly Row[], expected: readonly Row[]): string[] {
  const columns = (rows: readonly Row[]) => (rows.length > 0 ? Object.keys(rows[0]).join(', ') : '');
  const out = actual.length > 0 && expected.length > 0 && columns(actual) !== columns(expected)
    ? [`columns (${columns(actual)}) ≠ reference (${columns(expected)})`] : [];
  return valueDiffs(sortedRows(actual), sortedRows(expected), 'rows', true, out);
}

/** JSON with object keys sorted: the identity of an element in a set. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

export interface FirstFound {
  /** The new answer's list. */
  readonly actual: readonly unknown[];
  /** The reference's list with the same limit. */
  readonly expected: readonly unknown[];
  /** The reference's list with the limit at its maximum. */
  readonly full: readonly unknown[];
  /** That maximum: a full list this long may not be the whole candidate set. */
  readonly fullLimit: number;
  /** For lists that are ordered by a key that may tie: the key of each element (compared in order). */
  readonly key?: (element: unknown) => unknown;
}

/**
 * A "first found" list (LIMIT without a total order): the same length as the reference's, no
 * element twice, every element in the reference's full candidate set, and, when ordered by a key,
 * the same sequence of keys.
 */
export function firstFoundDiffs(path: string, f: FirstFound): string[] {
  const out: string[] = [];
  if (f.full.length >= f.fullLimit) out.push(`${path}: the reference's full candidate set reached its limit ${f.fullLimit}; make the data set smaller`);
  if (f.actual.length !== f.expected.length) out.push(`${path}: ${f.actual.length} elements ≠ reference ${f.expected.length}`);
  const candidates = new Set(f.full.map(canonicalJson));
  const seen = new Set<string>();
  f.actual.forEach((element, i) => {
    const id = canonicalJson(element);
    if (!candidates.has(id) && out.length < MAX_REPORTED) out.push(`${path}[${i}]: not in the reference's candidate set: ${id}`);
    if (seen.has(id)) out.push(`${path}[${i}]: repeated: ${id}`);
    seen.add(id);
  });
  if (f.key) valueDiffs(f.actual.map(f.key), f.expected.map(f.key), `${path} (sort keys)`, false, out);
  return out;
}
