/**
 * custom_complex_query: a user's own SELECT. Parsed by the real PostgreSQL parser and refused unless
 * it is one read-only SELECT calling no denied function (sql-guard), then run as the restricted
 * reader (the typed views only) in a READ ONLY transaction with a statement timeout and a row limit.
 */
import { assertReadOnlySelect } from '../sql-guard';
import { AccessLevel, OperationDefinition, Params } from './types';

/** Most rows a custom query may return (CUSTOM_SQL_MAX_ROWS, default 100,000); larger results go to S3. */
export function customSqlMaxRows(): number {
  return Number(process.env.CUSTOM_SQL_MAX_ROWS ?? 100_000);
}

export const MAX_SQL_LENGTH = 20_000;

export const customComplexQuery: OperationDefinition = {
  name: 'custom_complex_query',
  description: 'Your own read-only SELECT over the typed views (customers, orders, products, health_readings), with a timeout and a row limit.',
  access: AccessLevel.RESTRICTED,
  longRunning: false,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['sql'],
    properties: {
      sql: { type: 'string', minLength: 1, maxLength: MAX_SQL_LENGTH, description: 'One SELECT (WITH … SELECT, VALUES and TABLE too).' },
      max_rows: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000, description: 'Rows beyond this are cut off (truncated: true).' },
    },
  },
  async prepare(params: Params) {
    await assertReadOnlySelect(params.sql as string);
    params.max_rows = Math.min(Number(params.max_rows), customSqlMaxRows());
  },
  plan: {
    kind: 'tabular',
    query: (params) => ({ text: params.sql as string, values: [] }),
    rowLimit: (params) => Number(params.max_rows),
  },
};
