/**
 * Validation of source definitions at synth (errors name the prop) and their rendering into
 * the processor's sources.json (the contract in sources-file.ts).
 */
import { Token } from 'aws-cdk-lib';
import { IdNormalization, FieldTransform, InputFormat, SourceDefinition, TransformType } from './source-definition';
import { IdNormalizationValue, SourcesFile } from './sources-file';
import { schemaDefinesPath, schemaProblems } from '../common/json-schema';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ATTRIBUTE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const FORBIDDEN_ATTRIBUTES = new Set(['__proto__', 'constructor', 'prototype']);
const DATE_FORMAT = /^(iso|epoch_s|epoch_ms|[^\n]*(yyyy)[^\n]*)$/;
/** Prefixes the pipeline writes to: sources must not read there (their events would loop). */
export const OUTPUT_PREFIXES = ['processed/', 'rejected/', 'manifests/', 'staging/'];
/** Where a run's outputs wait until its transaction commits (lambda/ingestion-pipeline/outputs.ts STAGING_PREFIX). */
export const STAGING_PREFIX = 'staging/';

function fail(prop: string, message: string): never {
  throw new Error(`${prop} ${message}`);
}

function literal(prop: string, value: unknown): void {
  if (typeof value === 'string' && Token.isUnresolved(value)) fail(prop, 'must be a literal string (tokens cannot be written to sources.json)');
}

function checkTransform(prop: string, t: FieldTransform): void {
  if (!Object.values(TransformType).includes(t.type)) fail(`${prop}.type`, `must be a TransformType, got ${JSON.stringify(t.type)}`);
  if ((t.type === TransformType.DATE || t.type === TransformType.DATETIME) && t.format !== undefined && !DATE_FORMAT.test(t.format)) {
    fail(`${prop}.format`, `must be iso, epoch_s, epoch_ms or a pattern with yyyy (e.g. dd/MM/yyyy), got ${JSON.stringify(t.format)}`);
  }
  if (t.type === TransformType.DEFAULT && t.value === undefined) fail(`${prop}.value`, 'is required for a DEFAULT transform');
  if (t.value !== undefined && typeof t.value !== 'string') {
    fail(`${prop}.value`, `must be text (for a number or boolean, follow DEFAULT with NUMBER, INTEGER or BOOLEAN), got ${JSON.stringify(t.value)}`);
  }
}

/** Throws a clear error naming the prop (e.g. `sources[2].fields[0].target`) for the first problem found. */
export function validateSources(sources: SourceDefinition[], propName = 'sources'): void {
  if (!Array.isArray(sources) || sources.length === 0) fail(propName, 'must list at least one source');
  const names = new Set<string>();
  sources.forEach((s, i) => {
    const p = `${propName}[${i}]`;
    for (const key of ['name', 'prefix', 'sourceSystem', 'entityType', 'sourceIdField'] as const) {
      if (typeof s[key] !== 'string' || s[key].trim() === '') fail(`${p}.${key}`, 'is required');
      literal(`${p}.${key}`, s[key]);
    }
    if (!NAME.test(s.name)) fail(`${p}.name`, `must be 1-64 letters, digits, - or _, got ${JSON.stringify(s.name)}`);
    if (names.has(s.name)) fail(`${p}.name`, `"${s.name}" is used by another source`);
    names.add(s.name);
    if (!s.prefix.endsWith('/') || s.prefix.startsWith('/')) fail(`${p}.prefix`, `must be a key prefix ending with "/" (no leading "/"), got ${JSON.stringify(s.prefix)}`);
    const output = OUTPUT_PREFIXES.find((o) => s.prefix.startsWith(o) || o.startsWith(s.prefix));
    if (output) fail(`${p}.prefix`, `must not overlap the pipeline's output prefix "${output}"`);
    sources.slice(0, i).forEach((other, j) => {
      if (s.prefix.startsWith(other.prefix) || other.prefix.startsWith(s.prefix)) {
        fail(`${p}.prefix`, `"${s.prefix}" overlaps ${propName}[${j}].prefix "${other.prefix}" (S3 notifications cannot overlap)`);
      }
    });
    if (s.format !== undefined && !Object.values(InputFormat).includes(s.format)) fail(`${p}.format`, `must be an InputFormat, got ${JSON.stringify(s.format)}`);
    if (s.format === InputFormat.JSON_OBJECT && !s.recordsPath) fail(`${p}.recordsPath`, 'is required when format is JSON_OBJECT');
    if (!Array.isArray(s.fields) || s.fields.length === 0) fail(`${p}.fields`, 'must map at least one field');
    const targets = new Set<string>();
    s.fields.forEach((f, k) => {
      const fp = `${p}.fields[${k}]`;
      if (typeof f.source !== 'string' || f.source === '') fail(`${fp}.source`, 'is required');
      literal(`${fp}.source`, f.source);
      if (!ATTRIBUTE.test(f.target ?? '') || FORBIDDEN_ATTRIBUTES.has(f.target)) fail(`${fp}.target`, `must be an attribute name (letters, digits, _), got ${JSON.stringify(f.target)}`);
      if (targets.has(f.target)) fail(`${fp}.target`, `"${f.target}" is mapped twice`);
      targets.add(f.target);
      (f.transforms ?? []).forEach((t, m) => checkTransform(`${fp}.transforms[${m}]`, t));
    });
    const attribute = (prop: string, value: string) => {
      if (!targets.has(value)) fail(prop, `must be one of the mapped attributes (${[...targets].join(', ')}), got ${JSON.stringify(value)}`);
    };
    if (s.canonicalKeyField !== undefined) attribute(`${p}.canonicalKeyField`, s.canonicalKeyField);
    (s.relationships ?? []).forEach((r, k) => {
      attribute(`${p}.relationships[${k}].attribute`, r.attribute);
      for (const key of ['type', 'targetEntityType', 'targetSourceSystem'] as const) {
        if (typeof r[key] !== 'string' || r[key] === '') fail(`${p}.relationships[${k}].${key}`, 'is required');
      }
    });
    (s.personalDataFields ?? []).forEach((f, k) => attribute(`${p}.personalDataFields[${k}]`, f));
    if (s.schema !== undefined) {
      if (s.schema === null || typeof s.schema !== 'object' || Array.isArray(s.schema)) fail(`${p}.schema`, 'must be a JSON Schema object');
      let text: string;
      try {
        text = JSON.stringify(s.schema);
      } catch (e) {
        fail(`${p}.schema`, `must be plain JSON: ${(e as Error).message}`);
      }
      if (Token.isUnresolved(text)) fail(`${p}.schema`, 'must not contain tokens');
      if (s.schema.type !== undefined && s.schema.type !== 'object') fail(`${p}.schema.type`, 'must be "object" (a schema for one record)');
      checkSchema(`${p}.schema (source "${s.name}")`, s.schema);
      checkMappedFields(p, s);
    }
    if (s.idNormalization !== undefined && !Object.values(IdNormalization).includes(s.idNormalization)) {
      fail(`${p}.idNormalization`, `must be an IdNormalization, got ${JSON.stringify(s.idNormalization)}`);
    }
    if (s.rekeyIdsFrom !== undefined && !Object.values(IdNormalization).includes(s.rekeyIdsFrom)) {
      fail(`${p}.rekeyIdsFrom`, `must be an IdNormalization, got ${JSON.stringify(s.rekeyIdsFrom)}`);
    }
    if (s.rekeyIdsFrom !== undefined && s.rekeyIdsFrom === idNormalizationOf(s)) {
      fail(`${p}.rekeyIdsFrom`, `(${s.rekeyIdsFrom}) equals idNormalization: there is nothing to re-key; remove it`);
    }
    const sameIds = sources.slice(0, i).findIndex((o) => o.sourceSystem === s.sourceSystem && o.entityType === s.entityType);
    if (sameIds >= 0 && idNormalizationOf(sources[sameIds]) !== idNormalizationOf(s)) {
      fail(`${p}.idNormalization`, `(${idNormalizationOf(s)}) differs from ${propName}[${sameIds}].idNormalization (${idNormalizationOf(sources[sameIds])}): both key ${s.entityType} entities of ${s.sourceSystem}, so they must normalise ids the same way`);
    }
    if (sameIds >= 0 && sources[sameIds].rekeyIdsFrom !== s.rekeyIdsFrom) {
      fail(`${p}.rekeyIdsFrom`, `(${s.rekeyIdsFrom ?? 'none declared'}) differs from ${propName}[${sameIds}].rekeyIdsFrom (${sources[sameIds].rekeyIdsFrom ?? 'none declared'}): both key ${s.entityType} entities of ${s.sourceSystem}`);
    }
    if (s.csvDelimiter !== undefined && s.csvDelimiter.length !== 1) fail(`${p}.csvDelimiter`, `must be one character, got ${JSON.stringify(s.csvDelimiter)}`);
    if (s.maxRecordLength !== undefined && (!Number.isInteger(s.maxRecordLength) || s.maxRecordLength < 1024)) {
      fail(`${p}.maxRecordLength`, `must be an integer of at least 1024, got ${s.maxRecordLength}`);
    }
    if (s.maxDepth !== undefined && (!Number.isInteger(s.maxDepth) || s.maxDepth < 1 || s.maxDepth > 1000)) {
      fail(`${p}.maxDepth`, `must be an integer between 1 and 1000, got ${s.maxDepth}`);
    }
  });
}

/** The schema compiled as the handler will compile it (strict, in its dialect): the first problem is a synth error. */
function checkSchema(prop: string, schema: Record<string, unknown>): void {
  const problems = schemaProblems(schema);
  if (problems.length > 0) fail(prop, problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more: ${problems.slice(1).join('; ')})`);
}

/** Every field the mapping reads must be one the schema defines (a typo would read nothing). */
function checkMappedFields(p: string, s: SourceDefinition): void {
  const read: Array<[string, string]> = [
    [`${p}.sourceIdField`, s.sourceIdField],
    ...(s.sourceTimestampField !== undefined ? [[`${p}.sourceTimestampField`, s.sourceTimestampField] as [string, string]] : []),
    ...s.fields.map((f, k): [string, string] => [`${p}.fields[${k}].source`, f.source]),
  ];
  for (const [prop, field] of read) {
    if (!schemaDefinesPath(s.schema!, field)) {
      fail(`${prop} (source "${s.name}")`, `reads "${field}", which the source's schema does not define: declare it in the schema's properties (or correct the field name)`);
    }
  }
}

function idNormalizationOf(s: SourceDefinition): IdNormalizationValue {
  return s.idNormalization ?? IdNormalization.TRIM;
}

/**
 * The processor's sources.json content.
 *
 * @param idNormalizationParameter the SSM parameter of a source's identity space (IdNormalizationParameters.nameFor); none: not published
 */
export function renderSourcesConfig(sources: SourceDefinition[], idNormalizationParameter?: (s: SourceDefinition) => string): SourcesFile {
  /** Relationship targets loaded by this pipeline are keyed with their source's normalisation. */
  const targetNormalization = (entityType: string, sourceSystem: string): IdNormalizationValue => {
    const target = sources.find((t) => t.entityType === entityType && t.sourceSystem === sourceSystem);
    return target ? idNormalizationOf(target) : IdNormalization.NONE;
  };
  return {
    sources: sources.map((s) => ({
      name: s.name,
      prefix: s.prefix,
      sourceSystem: s.sourceSystem,
      entityType: s.entityType,
      format: s.format,
      recordsPath: s.recordsPath,
      sourceIdField: s.sourceIdField,
      idNormalization: idNormalizationOf(s),
      rekeyIdsFrom: s.rekeyIdsFrom,
      idNormalizationParameter: idNormalizationParameter?.(s),
      canonicalKeyField: s.canonicalKeyField,
      sourceTimestampField: s.sourceTimestampField,
      fields: s.fields.map((f) => ({
        source: f.source,
        target: f.target,
        transforms: (f.transforms ?? []).map((t) => ({ type: t.type, format: t.format, value: t.value })),
      })),
      relationships: (s.relationships ?? []).map((r) => ({
        attribute: r.attribute,
        type: r.type,
        targetEntityType: r.targetEntityType,
        targetSourceSystem: r.targetSourceSystem,
        targetIdNormalization: targetNormalization(r.targetEntityType, r.targetSourceSystem),
      })),
      personalDataFields: s.personalDataFields ?? [],
      loadToStore: s.loadToStore ?? true,
      schema: s.schema,
      csvDelimiter: s.csvDelimiter,
      maxRecordLength: s.maxRecordLength,
      maxDepth: s.maxDepth,
      rejectFormulaCells: s.rejectFormulaCells,
    })),
  };
}
