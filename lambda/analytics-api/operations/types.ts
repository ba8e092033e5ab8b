/**
 * What an analytics operation is: a name, a JSON Schema for its parameters (validated before any
 * SQL runs), the database login it runs as, and either one tabular query (streamed; a large result
 * goes to S3) or a few bounded queries assembled into sections (composite).
 */

/** The database login an operation runs as. */
export enum AccessLevel {
  /** The analytics reader: every canonical table and view, read-only. */
  ANALYTICS = 'analytics',
  /** The restricted reader: the typed views only (users' own SQL). */
  RESTRICTED = 'restricted',
}

/** A JSON Schema (draft-07 subset that ajv understands). */
export type JsonSchema = Record<string, unknown>;

export type Params = Record<string, unknown>;

export interface SqlQuery {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** Runs bounded queries inside the operation's read-only transaction, within its time budget. */
export interface QueryRunner {
  rows<T = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<T[]>;
}

export interface TabularPlan {
  readonly kind: 'tabular';
  /**
   * The parameters bound the row count (a `limit` of at most a few thousand rows): the query runs
   * in one go, where PostgreSQL may use parallel workers, and the rows are buffered. Unbounded
   * queries (users' SQL) are read through a cursor instead: streamed, and stopped at the row limit,
   * but PostgreSQL never plans a portal read in batches for parallel execution.
   */
  readonly bounded?: boolean;
  /** The query whose rows are the result. */
  query(params: Params): SqlQuery;
  /** Rows beyond this are not returned (the result says `truncated: true`). */
  rowLimit?(params: Params): number;
}

export interface CompositePlan {
  readonly kind: 'composite';
  /** Runs the operation's bounded queries and assembles its result object. */
  run(db: QueryRunner, params: Params): Promise<Record<string, unknown>>;
}

export interface OperationDefinition {
  readonly name: string;
  readonly description: string;
  readonly parameterSchema: JsonSchema;
  readonly access: AccessLevel;
  /**
   * Expected to take long at production sizes: the async job workflow (when deployed) runs it as a
   * job instead of synchronously.
   */
  readonly longRunning: boolean;
  /** Whether results may be cached (default true). */
  readonly cacheable?: boolean;
  readonly plan: TabularPlan | CompositePlan;
  /** Checks beyond the schema, before any SQL runs (e.g. parsing users' SQL); throws ApiError. */
  prepare?(params: Params): Promise<void> | void;
}
