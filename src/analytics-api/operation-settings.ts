/**
 * The analytics operations' configuration, in one place for every function that runs them: the
 * API's function, and an async job workflow's job runner and jobs function (on a created or an
 * imported API). The handler reads it from its environment and, for user-defined operations, from
 * `user-operations.json` next to its bundle.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { UserDefinedOperation } from './analytics-api-props';
import { checkUserOperationsSql } from './user-operations-check';
import { assetPath, assetWithConfig } from '../common/assets';

/** Names of the built-in operations (kept in step with lambda/analytics-api/operations by a test). */
export const BUILT_IN_OPERATION_NAMES = [
  'simple_demo', 'database_info', 'customer_analysis', 'revenue_analysis', 'multi_dimensional_analytics',
  'relationship_analysis', 'data_integrity_analysis', 'custom_complex_query',
];

/** Where the results are stored in the bucket (the handler's RESULTS_PREFIX). */
export const RESULTS_PREFIX = 'results/';
const USER_OPERATIONS_FILE = 'user-operations.json';
const OPERATION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** What the operations need to know (the API's props of the same names). */
export interface OperationSettings {
  readonly cacheTableName: string;
  readonly resultsBucketName: string;
  readonly cacheTtl?: Duration;
  readonly resultExpiry?: Duration;
  readonly largeResultMaxRows?: number;
  readonly largeResultMaxBytes?: number;
  readonly customQueryMaxRows?: number;
  readonly queryTimeout?: Duration;
  readonly corsAllowOrigins?: string[];
  readonly userOperations?: UserDefinedOperation[];
}

/** The environment of a function running the operations (no connection settings, no secret values). */
export function operationEnvironment(settings: OperationSettings): { [key: string]: string } {
  return {
    CACHE_TABLE_NAME: settings.cacheTableName,
    CACHE_TTL_SECONDS: String((settings.cacheTtl ?? Duration.hours(1)).toSeconds()),
    RESULTS_BUCKET: settings.resultsBucketName,
    RESULTS_PREFIX,
    RESULT_EXPIRY_DAYS: String((settings.resultExpiry ?? Duration.days(7)).toDays()),
    LARGE_RESULT_MAX_ROWS: String(settings.largeResultMaxRows ?? 10_000),
    LARGE_RESULT_MAX_BYTES: String(settings.largeResultMaxBytes ?? 2_000_000),
    CUSTOM_SQL_MAX_ROWS: String(settings.customQueryMaxRows ?? 100_000),
    QUERY_TIMEOUT_MS: String((settings.queryTimeout ?? Duration.seconds(25)).toMilliseconds()),
    ...(settings.corsAllowOrigins?.length ? { CORS_ALLOW_ORIGINS: settings.corsAllowOrigins.join(',') } : {}),
    ...(settings.userOperations?.length ? { USER_OPERATIONS_FILE } : {}),
  };
}

/**
 * The code of handler bundle `assetName` with the user-defined operations: their
 * user-operations.json travels next to the handler.
 */
export function operationCode(assetName: string, userOperations: UserDefinedOperation[] | undefined): lambda.Code {
  return userOperations?.length
    ? assetWithConfig(assetName, USER_OPERATIONS_FILE, userOperations.map((op) => ({
      name: op.name, sql: op.sql, parameterSchema: op.parameterSchema, description: op.description, longRunning: op.longRunning ?? false,
    })))
    : lambda.Code.fromAsset(assetPath(assetName));
}

/** Synth-time checks of user-defined operations (names, SQL through the real PostgreSQL parser). */
export function validateUserOperations(operations: UserDefinedOperation[], prop = 'userOperations'): void {
  const seen = new Set<string>();
  operations.forEach((op, i) => {
    const where = `${prop}[${i}]`;
    if (typeof op.name !== 'string' || !OPERATION_NAME.test(op.name)) {
      throw new Error(`${where}.name must be lower-case letters, digits and _, starting with a letter (at most 63), got ${JSON.stringify(op.name)}`);
    }
    if (BUILT_IN_OPERATION_NAMES.includes(op.name)) throw new Error(`${where}.name '${op.name}' is the name of a built-in operation`);
    if (seen.has(op.name)) throw new Error(`${where}.name '${op.name}' is used twice`);
    seen.add(op.name);
    if (typeof op.sql !== 'string' || op.sql.trim() === '') throw new Error(`${where}.sql is empty`);
    if (op.sql.includes('\u0000')) throw new Error(`${where}.sql contains a NUL character`);
    if (op.parameterSchema !== undefined && (typeof op.parameterSchema !== 'object' || op.parameterSchema === null || op.parameterSchema.type !== 'object')) {
      throw new Error(`${where}.parameterSchema must be a JSON Schema of type "object"`);
    }
  });
  checkUserOperationsSql(operations, BUILT_IN_OPERATION_NAMES);
}

/** Range checks of the numeric operation settings (skipped for tokens). */
export function checkNumber(name: string, value: number | undefined, min: number, max: number, integer = true): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if ((integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${value}`);
  }
}
