/**
 * The guard in front of users' SQL (custom_complex_query) and of user-defined operations: the text is
 * parsed by the real PostgreSQL parser (libpg-query, WebAssembly) and refused unless it is exactly one
 * plain SELECT (VALUES, TABLE and read-only WITH included) that writes nothing, locks nothing, creates
 * nothing and calls no function on the deny-list.
 *
 * The guard is one of several layers, not the only one: the query then runs as the restricted reader
 * (typed views only, read-only login), in a READ ONLY transaction, with a statement timeout and a row
 * limit.
 */
import { ApiError, ErrorCode } from './errors';

/* eslint-disable @typescript-eslint/no-require-imports */
type LibPgQuery = {
  loadModule(): Promise<void>;
  parseSync(query: string): { stmts?: Array<{ stmt?: Record<string, unknown>; stmt_len?: number; stmt_location?: number }> };
  scanSync(query: string): { tokens: Array<{ start: number; end: number; text: string; tokenName: string }> };
};

let parser: Promise<LibPgQuery> | undefined;

/** Loads the WebAssembly parser once per execution environment (lazily: only operations that need it pay). */
export function loadParser(): Promise<LibPgQuery> {
  parser ??= (async () => {
    const lib = require('libpg-query') as LibPgQuery;
    await lib.loadModule();
    return lib;
  })();
  parser.catch(() => (parser = undefined));
  return parser;
}

/** Exact function names (compared lower-case, schema ignored) that users' SQL may not call. */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  // settings, sessions and the server
  'set_config', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote', 'pg_terminate_backend', 'pg_cancel_backend',
  'pg_switch_wal', 'pg_create_restore_point', 'pg_start_backup', 'pg_stop_backup', 'pg_backup_start', 'pg_backup_stop',
  'pg_export_snapshot', 'pg_log_backend_memory_contexts', 'pg_import_system_collations', 'pg_notify',
  'pg_drop_replication_slot', 'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_stat_statements_reset',
  // files on the server
  'pg_read_file', 'pg_read_binary_file', 'pg_stat_file',
  // large objects (server-side files and writes)
  'loread', 'lowrite',
  // waiting: the statement timeout would stop it, but a sleeping query only holds a connection
  'pg_sleep', 'pg_sleep_for', 'pg_sleep_until',
  // writes and transaction ids
  'nextval', 'setval', 'txid_current', 'pg_current_xact_id',
  // functions that run SQL given as text (they would bypass this guard)
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
  'ts_stat', 'ts_rewrite',
  // extensions that reach outside the database (RDS aws_s3 / aws_lambda, pgsql-http)
  'query_export_to_s3', 'table_import_from_s3', 'invoke', 'http',
]);

/** Function name prefixes that users' SQL may not call. */
export const DENIED_FUNCTION_PREFIXES: readonly string[] = [
  'lo_', 'dblink', 'pg_ls_', 'pg_file', 'pg_advisory', 'pg_try_advisory', 'pg_logical_', 'pg_replication_',
  'pg_create_', 'pg_copy_', 'pg_stat_reset', 'pg_background', 'http_',
];

/** Schemas whose functions users' SQL may not call at all. */
export const DENIED_SCHEMAS: ReadonlySet<string> = new Set(['aws_s3', 'aws_lambda', 'aws_commons', 'dblink', 'pg_background', 'http']);

export function isDeniedFunction(name: string, schema?: string): boolean {
  const n = name.toLowerCase();
  if (schema && DENIED_SCHEMAS.has(schema.toLowerCase())) return true;
  return DENIED_FUNCTIONS.has(n) || DENIED_FUNCTION_PREFIXES.some((p) => n.startsWith(p));
}

function refuse(message: string, reason: string, extra: Record<string, unknown> = {}): never {
  throw new ApiError(ErrorCode.QUERY_REFUSED, message, { reason, ...extra });
}

function funcName(node: Record<string, unknown>): { name: string; schema?: string } {
  const parts = ((node.funcname as Array<{ String?: { sval?: string } }>) ?? []).map((p) => p.String?.sval ?? '');
  return { name: parts[parts.length - 1] ?? '', schema: parts.length > 1 ? parts[parts.length - 2] : undefined };
}

/** Node types allowed to appear anywhere in an accepted query that end in "Stmt". */
const ALLOWED_STATEMENTS = new Set(['SelectStmt']);

/**
 * Checks that `sql` is one read-only SELECT; throws ApiError(QUERY_REFUSED, 400) naming the problem.
 * @param what how to name the text in messages ("query", "user-defined operation x")
 */
export async function assertReadOnlySelect(sql: string, what = 'query'): Promise<void> {
  // PostgreSQL query text is a C string: a NUL would cut it short (and break the wire protocol).
  if (sql.includes('\u0000')) refuse(`The ${what} contains a NUL character`, 'nul_character');
  const lib = await loadParser();
  let tree: ReturnType<LibPgQuery['parseSync']>;
  try {
    tree = lib.parseSync(sql);
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    refuse(`The ${what} is not valid SQL: ${(error as Error).message}`, 'syntax_error',
      details?.cursorPosition !== undefined ? { position: details.cursorPosition + 1 } : {});
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length === 0) refuse(`The ${what} is empty`, 'empty');
  if (stmts.length > 1) refuse(`The ${what} must be a single statement; found ${stmts.length}`, 'multiple_statements');
  const stmt = stmts[0].stmt ?? {};
  const kind = Object.keys(stmt)[0];
  if (kind !== 'SelectStmt') refuse(`Only SELECT queries are allowed, not ${statementName(kind)}`, 'not_select', { statement: kind });

  // Walk the whole tree iteratively (deeply nested input must not exhaust the stack).
  const stack: unknown[] = [stmt];
  let visited = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    if (++visited > 200_000) refuse(`The ${what} is too complex`, 'too_complex');
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
      continue;
    }
    if (!node || typeof node !== 'object') continue;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key.endsWith('Stmt') && !ALLOWED_STATEMENTS.has(key)) {
        refuse(`Only read-only SELECT queries are allowed; the ${what} contains ${statementName(key)}`, 'not_read_only', { statement: key });
      }
      if (key === 'intoClause' && value) refuse('SELECT … INTO creates a table and is not allowed', 'select_into');
      if (key === 'lockingClause' && value) refuse('Row locks (FOR UPDATE / FOR SHARE) are not allowed', 'locking_clause');
      if (key === 'ParamRef') refuse(`The ${what} must not contain bind parameters ($1…): write the values into the SQL`, 'bind_parameter');
      if (key === 'FuncCall' && value && typeof value === 'object') {
        const { name, schema } = funcName(value as Record<string, unknown>);
        if (isDeniedFunction(name, schema)) {
          refuse(`The function ${schema ? `${schema}.` : ''}${name}() is not allowed in ${what === 'query' ? 'queries' : what}`, 'denied_function', { function: name });
        }
      }
      if (value && typeof value === 'object') stack.push(value);
    }
  }
}

function statementName(kind: string | undefined): string {
  if (!kind) return 'statement of unknown kind';
  const words: Record<string, string> = {
    InsertStmt: 'INSERT',
    UpdateStmt: 'UPDATE',
    DeleteStmt: 'DELETE',
    MergeStmt: 'MERGE',
    CopyStmt: 'COPY',
    VariableSetStmt: 'SET',
    VariableShowStmt: 'SHOW',
    DoStmt: 'DO block',
    CallStmt: 'CALL',
    ExplainStmt: 'EXPLAIN',
    TransactionStmt: 'transaction command',
    CreateStmt: 'CREATE TABLE',
    DropStmt: 'DROP',
    TruncateStmt: 'TRUNCATE',
    GrantStmt: 'GRANT',
    GrantRoleStmt: 'GRANT role',
    AlterRoleStmt: 'ALTER ROLE',
    CreateTableAsStmt: 'CREATE TABLE AS',
    PrepareStmt: 'PREPARE',
    ExecuteStmt: 'EXECUTE',
    LockStmt: 'LOCK',
    ListenStmt: 'LISTEN',
    NotifyStmt: 'NOTIFY',
    VacuumStmt: 'VACUUM',
    CreateFunctionStmt: 'CREATE FUNCTION',
    IndexStmt: 'CREATE INDEX',
    ViewStmt: 'CREATE VIEW',
  };
  return words[kind] ?? kind.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase() + ' statement';
}

/**
 * Rewrites `:name` placeholders of a user-defined operation's SQL into `$n`, using the PostgreSQL
 * scanner (so `::casts`, string literals, comments and dollar-quoted text are left alone).
 */
export async function compileNamedParameters(sql: string): Promise<{ text: string; names: string[] }> {
  const lib = await loadParser();
  const tokens = lib.scanSync(sql).tokens;
  const names: string[] = [];
  let text = '';
  let cursor = 0;
  for (let i = 0; i < tokens.length - 1; i++) {
    const colon = tokens[i];
    const ident = tokens[i + 1];
    if (colon.text !== ':' || ident.start !== colon.end) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(ident.text)) continue;
    // Array slices (a[1:n]) are the only other use of a lone colon: skip when inside brackets.
    if (insideBrackets(tokens, i)) continue;
    let index = names.indexOf(ident.text);
    if (index < 0) index = names.push(ident.text) - 1;
    text += sql.slice(cursor, colon.start) + `$${index + 1}`;
    cursor = ident.end;
    i++;
  }
  return { text: text + sql.slice(cursor), names };
}

function insideBrackets(tokens: Array<{ text: string }>, index: number): boolean {
  let depth = 0;
  for (let i = index - 1; i >= 0; i--) {
    if (tokens[i].text === ']') depth++;
    if (tokens[i].text === '[') {
      if (depth === 0) return true;
      depth--;
    }
  }
  return false;
}
