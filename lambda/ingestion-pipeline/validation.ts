/**
 * JSON Schema validation of source records with ajv: compiled once per source, in the dialect
 * its `$schema` declares and as strictly as the construct checked it at synth (the same
 * src/common/json-schema.ts makes the ajv instance on both sides), all errors reported, formats
 * from ajv-formats; CSV values are text, so they are coerced to the schema's types (in place)
 * before mapping.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { SourceConfig } from './config';
import { ajvFor } from '../../src/common/json-schema';
import type { RejectionReason } from '../shared/ingestion-contract';

const compiled = new Map<string, ValidateFunction>();

export type Validator = (record: unknown) => RejectionReason[];

function dotPath(instancePath: string): string {
  return instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

/** One reason per ajv error, worded for people and free of the offending value (it is in `original`). */
export function describe(error: ErrorObject): RejectionReason {
  const at = dotPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const join = (child: unknown) => (at ? `${at}.${child}` : String(child));
  switch (error.keyword) {
    case 'required':
      return { code: 'schema', message: `${join(params.missingProperty)} is required`, field: join(params.missingProperty) };
    case 'additionalProperties':
      return { code: 'schema', message: `${join(params.additionalProperty)} is not an expected field`, field: join(params.additionalProperty) };
    case 'type':
      return { code: 'schema', message: `${at || 'record'} must be of type ${params.type}`, field: at };
    case 'format':
      return { code: 'schema', message: `${at} must be a valid ${params.format}`, field: at };
    case 'enum':
      return { code: 'schema', message: `${at} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, field: at };
    default:
      return { code: 'schema', message: `${at || 'record'} ${error.message ?? `fails ${error.keyword}`}`, field: at || undefined };
  }
}

export function validatorFor(source: SourceConfig, coerce: boolean): Validator {
  if (!source.schema) return () => [];
  const cacheKey = `${source.name}|${coerce}`;
  let validate = compiled.get(cacheKey);
  if (!validate) {
    validate = ajvFor(source.schema, { coerceTypes: coerce }).compile(source.schema);
    compiled.set(cacheKey, validate);
  }
  const fn = validate;
  return (record) => (fn(record) ? [] : (fn.errors ?? []).map(describe));
}
