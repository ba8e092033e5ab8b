/**
 * An operation's own statements, run directly with psql (as the analytics reader, values inlined):
 * timed, or for their rows; and the comparison of rows from psql with the handler's.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import type { Params, QueryRunner } from '../../lambda/analytics-api/operations/types';
import type { Build } from '../support/build';

export interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** The statements the build's operation runs for `parameters` (a composite one's answered by a real connection). */
export async function statementsOf(build: Pick<Build, 'getOperation' | 'validateParameters'>, operation: string, parameters: Params, url: string): Promise<Statement[]> {
  const op = build.getOperation(operation);
  if (!op) throw new Error(`the build has no operation ${operation}`);
  const params = build.validateParameters(op, parameters, false);
  await op.prepare?.(params);
  if (op.plan.kind === 'tabular') return [op.plan.query(params)];
  const recorded: Statement[] = [];
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL statement_timeout = 0");
    const db: QueryRunner = {
      async rows<R>(text: string, values: readonly unknown[] = []) {
        recorded.push({ text, values });
        return (await client.query({ text, values: values as unknown[] })).rows as R[];
      },
    };
    await op.plan.run(db, params);
  } finally {
    await client.end();
  }
  return recorded;
}

/** Inlines bind values as literals (for psql). */
function inline(text: string, values: readonly unknown[]): string {
  const literal = (v: unknown): string => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    const s = Array.isArray(v) ? `{${v.map((x) => `"${String(x).replace(/(["\\])/g, '\\$1')}"`).join(',')}}` : String(v);
    return `'${s.replace(/'/g, "''")}'`;
  };
  return text.replace(/\$(\d+)\b/g, (_, n) => literal(values[Number(n) - 1]));
}

function psql(url: string, body: string[], flags: string[]): string {
  const script = [
    '\\set ON_ERROR_STOP on',
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0; SET LOCAL TimeZone = 'UTC';",
    ...body,
    'ROLLBACK;',
  ].join('\n');
  const file = path.join(os.tmpdir(), `cdp-bench-${process.pid}.sql`);
  fs.writeFileSync(file, script);
  try {
    return execFileSync('psql', ['-X', '-q', ...flags, '-f', file, url], { encoding: 'utf8', maxBuffer: 1024 ** 3 });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Milliseconds psql reports for the statements (output discarded). */
export function psqlMs(url: string, statements: Statement[]): number {
  const out = psql(url, ['\\o /dev/null', '\\timing on', ...statements.map((s) => `${inline(s.text, s.values).trim()};`), '\\timing off'], []);
  return [...out.matchAll(/Time: ([0-9.]+) ms/g)].reduce((a, m) => a + Number(m[1]), 0);
}

/** The rows of a single-statement (tabular) operation, from psql, as JSON objects. */
export function psqlRows(url: string, statements: Statement[]): Array<Record<string, unknown>> {
  if (statements.length !== 1) throw new Error(`expected one statement, got ${statements.length}`);
  const sql = inline(statements[0].text, statements[0].values).trim().replace(/;$/, '');
  const out = psql(url, [`SELECT coalesce(json_agg(t), '[]'::json) FROM (${sql}) t;`], ['-A', '-t']);
  return JSON.parse(out.trim());
}

/** Numbers in text as numbers, instants as ISO UTC text: psql's JSON and the handler's spell them differently. */
function normalized(v: unknown): unknown {
  if (typeof v === 'string') {
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return Number(v);
    if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v) && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  }
  return v;
}

function sameValue(a: unknown, b: unknown): boolean {
  const [x, y] = [normalized(a), normalized(b)];
  if (typeof x === 'number' && typeof y === 'number') return x === y || Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
  return JSON.stringify(x) === JSON.stringify(y);
}

/**
 * Why two row sets differ (undefined when they are the same): compared as sets (sorted by their
 * non-numeric values, then their numbers), numbers to 1e-9 relative.
 */
export function rowDifference(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>): string | undefined {
  if (actual.length !== expected.length) return `${actual.length} rows instead of ${expected.length}`;
  const key = (row: Record<string, unknown>) => {
    const values = Object.keys(row).sort().map((k) => normalized(row[k]));
    return JSON.stringify([values.filter((v) => typeof v !== 'number'), values.map((v) => (typeof v === 'number' ? Number(v.toPrecision(8)) : 0))]);
  };
  const sort = (rows: Array<Record<string, unknown>>) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const [a, e] = [sort(actual), sort(expected)];
  for (let i = 0; i < a.length; i++) {
    const columns = new Set([...Object.keys(a[i]), ...Object.keys(e[i])]);
    for (const c of columns) {
      if (!sameValue(a[i][c], e[i][c])) return `row ${JSON.stringify(a[i])} instead of ${JSON.stringify(e[i])} (column ${c})`;
    }
  }
  return undefined;
}
