/**
 * Parameter validation with ajv: every operation's parameters are checked against its JSON Schema
 * (defaults applied) before any SQL runs, and every problem is named in the 400 response.
 *
 * Query-string parameters (GET) arrive as strings and are coerced to the schema's types; JSON bodies
 * (POST) are validated strictly, so `"10"` is not an integer there.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ApiError, ErrorCode, ErrorDetail } from './errors';
import type { JsonSchema, OperationDefinition, Params } from './operations/types';

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    coerceTypes: coerce ? 'array' : false,
    // Users' schemas may carry annotations ajv does not know (e.g. "x-foo").
    strict: false,
  });
  addFormats(ajv, ['date', 'date-time', 'time', 'email', 'uuid', 'uri']);
  return ajv;
}

const strictAjv = makeAjv(false);
const coercingAjv = makeAjv(true);
const compiled = new WeakMap<JsonSchema, { strict: ValidateFunction; coercing: ValidateFunction }>();

function validators(schema: JsonSchema) {
  let v = compiled.get(schema);
  if (!v) {
    v = { strict: strictAjv.compile(schema), coercing: coercingAjv.compile(schema) };
    compiled.set(schema, v);
  }
  return v;
}

/** Compiles a schema now (cold start), so a broken user-defined schema fails early and clearly. */
export function compileSchema(schema: JsonSchema): void {
  validators(schema);
}

function pathOf(error: ErrorObject, root: string): string {
  const parts = error.instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required') parts.push(String((error.params as { missingProperty: string }).missingProperty));
  if (error.keyword === 'additionalProperties') parts.push(String((error.params as { additionalProperty: string }).additionalProperty));
  return [root, ...parts].join('.');
}

function describe(error: ErrorObject, path: string): string {
  const name = path.replace(/^parameters\./, '');
  switch (error.keyword) {
    case 'required':
      return `missing required parameter '${name}'`;
    case 'additionalProperties':
      return `unknown parameter '${name}'`;
    case 'enum':
      return `'${name}' must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `'${name}' must be ${(error.params as { type: string }).type}`;
    default:
      return `'${name}' ${error.message ?? 'is invalid'}`;
  }
}

/** Human-readable problems from ajv errors (deduplicated, at most 20). */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root = 'parameters'): ErrorDetail[] {
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const error of errors ?? []) {
    // Branch noise of oneOf/anyOf is summarised by the keyword itself.
    const path = pathOf(error, root);
    const message = describe(error, path);
    if (seen.has(message)) continue;
    seen.add(message);
    details.push({ path, message });
    if (details.length >= 20) break;
  }
  return details;
}

const MAX_DEPTH = 32;

/** How deeply a JSON value nests (iteratively, stopping past `limit`): deep input must not exhaust the stack. */
export function nestingDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    max = Math.max(max, depth + 1);
    if (max > limit) return max;
    for (const child of Object.values(v as object)) stack.push([child, depth + 1]);
  }
  return max;
}

/**
 * Validates (and copies, with defaults applied) an operation's parameters.
 * @param coerce true for query-string parameters (strings coerced to the schema's types)
 */
export function validateParameters(operation: OperationDefinition, parameters: unknown, coerce: boolean): Params {
  if (parameters === undefined || parameters === null) parameters = {};
  if (typeof parameters !== 'object' || Array.isArray(parameters)) {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, `'parameters' must be a JSON object for operation '${operation.name}'`, [
      { path: 'parameters', message: 'must be an object' },
    ]);
  }
  if (nestingDepth(parameters, MAX_DEPTH) > MAX_DEPTH) {
    throw new ApiError(ErrorCode.VALIDATION_FAILED, `'parameters' is nested more than ${MAX_DEPTH} levels deep`, [{ path: 'parameters', message: 'is nested too deeply' }]);
  }
  const copy = JSON.parse(JSON.stringify(parameters)) as Params;
  const v = validators(operation.parameterSchema);
  const validate = coerce ? v.coercing : v.strict;
  if (!validate(copy)) {
    const details = describeErrors(validate.errors);
    throw new ApiError(
      ErrorCode.VALIDATION_FAILED,
      `Invalid parameters for operation '${operation.name}': ${details.map((d) => d.message).join('; ')}`,
      details,
    );
  }
  return copy;
}

/** A JSON object with its keys sorted at every level: equal parameters give equal text (the cache key). */
export function normalizedJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}
