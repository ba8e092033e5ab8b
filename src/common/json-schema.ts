/**
 * JSON Schema dialects of users' schemas, and the ajv instance that compiles a schema in its
 * dialect. One module for both sides: the constructs check source schemas with it at synth, and
 * the ingestion handler (lambda/ingestion-pipeline/validation.ts, bundled by esbuild) compiles
 * them with it at run time, so a schema accepted at synth means the same thing when files arrive.
 *
 * - No `$schema`, or `https://json-schema.org/draft/2020-12/schema`: draft 2020-12 (ajv's Ajv2020).
 * - `http://json-schema.org/draft-07/schema#`: draft-07 (ajv's default class).
 * - Anything else is refused (ajv would throw "no schema with key or ref" when the file arrives).
 *
 * Strict (ajv `strict: true`): unknown keywords (typos such as `requird`), keywords of the other
 * dialect, keywords without the type they apply to (`properties` without `type: "object"`) and
 * `required` names that `properties` does not define are errors. Union types
 * (`type: ["string", "null"]`) are allowed; tuples follow the specification (`prefixItems`
 * without `items: false` leaves later items open).
 */
import Ajv, { ErrorObject, Options } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** A JSON Schema dialect the library supports. */
export type SchemaDialect = '2020-12' | 'draft-07';

const DIALECT_URIS: Record<string, SchemaDialect> = {
  'https://json-schema.org/draft/2020-12/schema': '2020-12',
  'http://json-schema.org/draft-07/schema': 'draft-07',
  'https://json-schema.org/draft-07/schema': 'draft-07',
};

const DIALECT_NAMES: Record<SchemaDialect, string> = { '2020-12': 'draft 2020-12', 'draft-07': 'draft-07' };

/** The dialect a schema declares in `$schema` (2020-12 when it declares none); throws for others. */
export function schemaDialect(schema: Record<string, unknown>): SchemaDialect {
  const declared = schema.$schema;
  if (declared === undefined) return '2020-12';
  const dialect = typeof declared === 'string' ? DIALECT_URIS[declared.replace(/#$/, '')] : undefined;
  if (!dialect) {
    throw new Error(`$schema ${JSON.stringify(declared)} is not supported: omit it or use "https://json-schema.org/draft/2020-12/schema" (draft 2020-12), or "http://json-schema.org/draft-07/schema#" (draft-07)`);
  }
  return dialect;
}

/** Options beyond the strict defaults (the handler coerces CSV text to the schema's types). */
export interface SchemaCompilerOptions {
  readonly coerceTypes?: boolean;
}

function newAjv(dialect: SchemaDialect, options: SchemaCompilerOptions = {}): Ajv {
  const settings: Options = {
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    strictTuples: false,
    coerceTypes: options.coerceTypes ?? false,
  };
  const ajv = dialect === '2020-12' ? new Ajv2020(settings) : new Ajv(settings);
  return addFormats(ajv);
}

/**
 * A new ajv instance for the dialect `schema` declares (one per schema: two sources' schemas may
 * carry the same `$id`). Throws for an unsupported `$schema`.
 */
export function ajvFor(schema: Record<string, unknown>, options: SchemaCompilerOptions = {}): Ajv {
  return newAjv(schemaDialect(schema), options);
}

/** Keywords that hold one schema, an array of schemas, or a map of schemas (both dialects). */
const ONE_SCHEMA = ['additionalItems', 'items', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else',
  'unevaluatedItems', 'unevaluatedProperties', 'contentSchema'];
const SCHEMA_ARRAY = ['items', 'prefixItems', 'allOf', 'anyOf', 'oneOf'];
const SCHEMA_MAP = ['$defs', 'definitions', 'properties', 'patternProperties', 'dependentSchemas', 'dependencies'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pointerPart(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Every object subschema of `schema` (itself included) with its JSON pointer (`#/properties/a`). */
export function subschemas(schema: Record<string, unknown>, pointer = '#'): Array<[string, Record<string, unknown>]> {
  const found: Array<[string, Record<string, unknown>]> = [[pointer, schema]];
  const visit = (value: unknown, at: string) => {
    if (isObject(value)) found.push(...subschemas(value, at));
  };
  for (const [key, value] of Object.entries(schema)) {
    const at = `${pointer}/${pointerPart(key)}`;
    if (ONE_SCHEMA.includes(key)) visit(value, at);
    if (SCHEMA_ARRAY.includes(key) && Array.isArray(value)) value.forEach((v, i) => visit(v, `${at}/${i}`));
    if (SCHEMA_MAP.includes(key) && isObject(value)) for (const [k, v] of Object.entries(value)) visit(v, `${at}/${pointerPart(k)}`);
  }
  return found;
}

/** Draft 2020-12 equivalents of draft-07 keywords Ajv2020 does not know. */
const REPLACEMENTS_2020: Record<string, string> = {
  additionalItems: 'in draft 2020-12 "items" (next to "prefixItems") says what later items must be',
};

function metaSchemaProblem(errors: ErrorObject[], dialect: SchemaDialect): string {
  const first = errors[0];
  const at = `#${first.instancePath}`;
  let hint = '';
  if (dialect === '2020-12' && /\/items$/.test(first.instancePath) && first.keyword === 'type') {
    hint = ' (an array of schemas in "items" is a draft-07 tuple: in draft 2020-12 write "prefixItems", or declare "$schema": "http://json-schema.org/draft-07/schema#")';
  }
  return `${at} ${first.message}${hint}`;
}

/**
 * What is wrong with `schema` as a strict schema of its dialect, each problem with its JSON path
 * (empty when it compiles). Meta-schema errors first, then unknown keywords, then ajv's strict checks.
 */
export function schemaProblems(schema: Record<string, unknown>): string[] {
  let dialect: SchemaDialect;
  try {
    dialect = schemaDialect(schema);
  } catch (error) {
    return [(error as Error).message];
  }
  const name = DIALECT_NAMES[dialect];
  const ajv = newAjv(dialect);
  if (!ajv.validateSchema(schema)) return [`is not a valid ${name} schema: ${metaSchemaProblem(ajv.errors ?? [], dialect)}`];
  const other = newAjv(dialect === '2020-12' ? 'draft-07' : '2020-12');
  const problems: string[] = [];
  for (const [pointer, sub] of subschemas(schema)) {
    for (const key of Object.keys(sub)) {
      if (ajv.RULES.keywords[key]) continue;
      const hint = other.RULES.keywords[key]
        ? dialect === '2020-12'
          ? ` ("${key}" is a draft-07 keyword: ${REPLACEMENTS_2020[key] ?? 'use its draft 2020-12 replacement'}, or declare "$schema": "http://json-schema.org/draft-07/schema#")`
          : ` ("${key}" is a draft 2020-12 keyword: remove "$schema" to use draft 2020-12)`
        : '';
      problems.push(`has an unknown ${name} keyword "${key}" at ${pointer}${hint}`);
    }
  }
  if (problems.length > 0) return problems;
  try {
    ajv.compile(schema);
  } catch (error) {
    return [`is refused by ajv (${name}, strict): ${(error as Error).message.replace(/^strict mode: /, '')}`];
  }
  return [];
}

/** A `$ref` the schema cannot resolve locally (another document): nothing can be said below it. */
const UNKNOWN = Symbol('unknown');
type Node = unknown;

function resolvePointer(root: Record<string, unknown>, ref: string): Node {
  if (!ref.startsWith('#')) return UNKNOWN;
  let node: unknown = root;
  for (const part of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
  }
  return node === undefined ? UNKNOWN : node;
}

/** The schema and every branch that also applies to the same value (allOf/anyOf/oneOf/then/else, local $ref). */
function branches(node: Node, root: Record<string, unknown>, seen = new Set<unknown>()): Node[] {
  if (!isObject(node) || seen.has(node)) return [node];
  seen.add(node);
  const found: Node[] = [node];
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const list = node[key];
    if (Array.isArray(list)) for (const b of list) found.push(...branches(b, root, seen));
  }
  for (const key of ['then', 'else']) if (node[key] !== undefined) found.push(...branches(node[key], root, seen));
  if (typeof node.$ref === 'string') found.push(...branches(resolvePointer(root, node.$ref), root, seen));
  return found;
}

/** Subschemas that `node` declares for the member `segment` (a property name or an array index). */
function members(node: Node, segment: string): Node[] {
  if (node === UNKNOWN) return [UNKNOWN];
  if (!isObject(node)) return [];
  const found: Node[] = [];
  const declared = (value: unknown) => isObject(value) || value === true;
  const properties = node.properties;
  if (isObject(properties) && Object.prototype.hasOwnProperty.call(properties, segment)) found.push(properties[segment]);
  if (isObject(node.patternProperties)) {
    for (const [pattern, sub] of Object.entries(node.patternProperties)) if (new RegExp(pattern, 'u').test(segment)) found.push(sub);
  }
  if (declared(node.additionalProperties)) found.push(node.additionalProperties);
  if (/^(0|[1-9][0-9]*)$/.test(segment)) {
    const index = Number(segment);
    const tuple = Array.isArray(node.prefixItems) ? node.prefixItems : Array.isArray(node.items) ? node.items : undefined;
    if (tuple && index < tuple.length) found.push(tuple[index]);
    else if (Array.isArray(node.items) && declared(node.additionalItems)) found.push(node.additionalItems);
    else if (!Array.isArray(node.items) && declared(node.items)) found.push(node.items);
  }
  return found;
}

/**
 * Whether the schema defines the dot path (`address.city`, `lines.0.sku`): each step is named in
 * `properties`, matches a `patternProperties` pattern, falls under an explicit
 * `additionalProperties` (a schema or `true`), or is an array position under `prefixItems`/`items`,
 * in the schema or any branch that applies with it (allOf/anyOf/oneOf/then/else, local `$ref`).
 * A `$ref` to another document counts as defining everything below it.
 */
export function schemaDefinesPath(schema: Record<string, unknown>, dotPath: string): boolean {
  let current: Node[] = [schema];
  for (const segment of dotPath.split('.')) {
    current = current.flatMap((node) => branches(node, schema)).flatMap((node) => members(node, segment));
    if (current.length === 0) return false;
  }
  return true;
}
