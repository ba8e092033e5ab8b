/**
 * User-defined operations, declared in the construct's props as {name, sql, parameterSchema}:
 * parameterized SQL with `:name` placeholders bound from the validated parameters, run as the
 * analytics reader with the same READ ONLY transaction, timeout and limits as the built-in ones.
 *
 * They reach the function as JSON in USER_OPERATIONS, or in the file named by USER_OPERATIONS_FILE
 * (a layer, when they would not fit in the 4 KB of environment variables).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ApiError, ErrorCode } from '../errors';
import { assertReadOnlySelect, compileNamedParameters } from '../sql-guard';
import { compileSchema } from '../validation';
import { AccessLevel, JsonSchema, OperationDefinition } from './types';

export interface UserOperationSpec {
  readonly name: string;
  readonly sql: string;
  readonly parameterSchema?: JsonSchema;
  readonly description?: string;
  readonly longRunning?: boolean;
}

export const OPERATION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Reads the declared user operations from the environment (none when unset). */
export function readUserOperationSpecs(env: NodeJS.ProcessEnv = process.env): UserOperationSpec[] {
  // A relative file name is in the function's code folder (LAMBDA_TASK_ROOT).
  const file = env.USER_OPERATIONS_FILE ? path.resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), env.USER_OPERATIONS_FILE) : undefined;
  const text = file ? fs.readFileSync(file, 'utf8') : env.USER_OPERATIONS;
  if (!text) return [];
  const specs = JSON.parse(text);
  if (!Array.isArray(specs)) throw new Error('USER_OPERATIONS must be a JSON array');
  return specs as UserOperationSpec[];
}

/** Turns a declaration into an operation (parsing and checking its SQL); throws with the reason. */
export async function buildUserOperation(spec: UserOperationSpec, reservedNames: ReadonlySet<string>): Promise<OperationDefinition> {
  if (typeof spec?.name !== 'string' || !OPERATION_NAME.test(spec.name)) {
    throw new Error(`invalid name ${JSON.stringify(spec?.name)} (lower-case letters, digits and _; starting with a letter)`);
  }
  if (reservedNames.has(spec.name)) throw new Error(`the name '${spec.name}' is taken by a built-in operation`);
  if (typeof spec.sql !== 'string' || spec.sql.trim() === '') throw new Error('no SQL');
  const schema: JsonSchema = spec.parameterSchema ?? { type: 'object', additionalProperties: false, properties: {} };
  if (schema.type !== 'object') throw new Error('parameterSchema must be a JSON Schema of type "object"');
  compileSchema(schema);
  const { text, names } = await compileNamedParameters(spec.sql);
  await assertReadOnlySelect(text.replace(/\$[0-9]+/g, 'NULL'), `user-defined operation '${spec.name}'`);
  const declared = Object.keys((schema.properties as Record<string, unknown>) ?? {});
  const undeclared = names.filter((n) => !declared.includes(n));
  if (undeclared.length > 0) throw new Error(`the SQL uses :${undeclared.join(', :')} but parameterSchema does not declare ${undeclared.length > 1 ? 'them' : 'it'}`);
  return {
    name: spec.name,
    description: spec.description ?? `User-defined operation ${spec.name}`,
    access: AccessLevel.ANALYTICS,
    longRunning: spec.longRunning ?? false,
    parameterSchema: schema,
    plan: {
      kind: 'tabular',
      query: (params) => ({ text, values: names.map((n) => params[n] ?? null) }),
    },
  };
}

/** An operation whose declaration is broken: calling it says why (a deployment error, so 500). */
export function brokenOperation(name: string, reason: string): OperationDefinition {
  return {
    name,
    description: `Misconfigured user-defined operation: ${reason}`,
    access: AccessLevel.ANALYTICS,
    longRunning: false,
    parameterSchema: { type: 'object' },
    prepare() {
      throw new ApiError(ErrorCode.INTERNAL_ERROR, `The user-defined operation '${name}' is misconfigured: ${reason}`);
    },
    plan: { kind: 'tabular', query: () => ({ text: 'SELECT 1', values: [] }) },
  };
}
