/**
 * Source record → canonical entity: dot-path field map, declarative transforms, source id,
 * canonical key, relationships and source timestamp. Reads own properties only, so a
 * `__proto__` or `constructor` in the data can never reach a prototype.
 */
import type { FieldConfig, IdNormalization, SourceConfig, TransformConfig } from './config';
import { parseDate } from './dates';
import type { CanonicalEntity, EntityRelationship } from '../shared/canonical-upsert';
import type { RejectionReason } from '../shared/ingestion-contract';

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

const splitPaths = new Map<string, string[]>();

export function getPath(record: unknown, path: string): unknown {
  let segments = splitPaths.get(path);
  if (!segments) {
    segments = path.split('.');
    splitPaths.set(path, segments);
  }
  let current: unknown = record;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

class TransformError extends Error {}

function applyTransform(value: unknown, t: TransformConfig, target: string): unknown {
  if (t.type === 'default') return value === undefined || value === null || value === '' ? t.value : value;
  if (value === undefined || value === null) return value;
  switch (t.type) {
    case 'trim':
      return typeof value === 'string' ? value.trim() : value;
    case 'lower':
      return typeof value === 'string' ? value.toLowerCase() : value;
    case 'upper':
      return typeof value === 'string' ? value.toUpperCase() : value;
    case 'string':
      if (typeof value === 'object') throw new TransformError(`${target} must be text, not an object or array`);
      return String(value);
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && NUMBER.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(n)) throw new TransformError(`${target} is not a number`);
      if (t.type === 'integer' && !Number.isSafeInteger(n)) throw new TransformError(`${target} is not a whole number within ±2^53`);
      return n;
    }
    case 'boolean': {
      const text = String(value).trim().toLowerCase();
      if (['true', '1', 'yes', 'y'].includes(text)) return true;
      if (['false', '0', 'no', 'n'].includes(text)) return false;
      throw new TransformError(`${target} is not a yes/no value`);
    }
    case 'date':
    case 'datetime': {
      const format = t.format ?? 'iso';
      const date = parseDate(value, format);
      if (!date) throw new TransformError(`${target} is not a valid date in the format ${format}`);
      return t.type === 'date' ? date.toISOString().slice(0, 10) : date.toISOString();
    }
    default:
      throw new TransformError(`unknown transform ${(t as TransformConfig).type}`);
  }
}

function mapField(record: unknown, field: FieldConfig): unknown {
  let value = getPath(record, field.source);
  for (const t of field.transforms ?? []) value = applyTransform(value, t, field.target);
  return value;
}

/** A source id as the entity is keyed (docs/ingestion.md "Source ids"); undefined when there is none. */
export function normalizeId(raw: unknown, normalization: IdNormalization): string | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? String(raw) : undefined;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  switch (normalization) {
    case 'none': return raw;
    case 'trim_and_lowercase': return raw.trim().toLowerCase();
    case 'trim_and_uppercase': return raw.trim().toUpperCase();
    default: return raw.trim();
  }
}

export type MapResult = { entity: CanonicalEntity } | { reasons: RejectionReason[] };

export function mapRecord(record: unknown, source: SourceConfig): MapResult {
  const reasons: RejectionReason[] = [];
  const attributes: Record<string, unknown> = {};
  for (const field of source.fields) {
    try {
      const value = mapField(record, field);
      if (value !== undefined) attributes[field.target] = value;
    } catch (error) {
      if (!(error instanceof TransformError)) throw error;
      reasons.push({ code: 'transform', message: error.message, field: field.target });
    }
  }
  const sourceId = normalizeId(getPath(record, source.sourceIdField), source.idNormalization ?? 'trim');
  if (sourceId === undefined) reasons.push({ code: 'missing_source_id', message: `${source.sourceIdField} (the source id) is missing or not text/a whole number`, field: source.sourceIdField });

  let sourceUpdatedAt: string | null = null;
  if (source.sourceTimestampField) {
    const raw = getPath(record, source.sourceTimestampField);
    if (raw !== undefined && raw !== null && raw !== '') {
      const date = parseDate(raw, 'iso');
      if (date) sourceUpdatedAt = date.toISOString();
      else reasons.push({ code: 'transform', message: `${source.sourceTimestampField} (the source timestamp) is not an ISO 8601 date-time`, field: source.sourceTimestampField });
    }
  }
  if (reasons.length > 0) return { reasons };

  const relationships: EntityRelationship[] = [];
  for (const rel of source.relationships ?? []) {
    const target = attributes[rel.attribute];
    if (target === undefined || target === null || target === '') continue;
    relationships.push({
      type: rel.type,
      targetEntityType: rel.targetEntityType,
      targetSourceSystem: rel.targetSourceSystem,
      targetSourceId: normalizeId(String(target), rel.targetIdNormalization ?? 'none') ?? String(target),
    });
  }
  const key = source.canonicalKeyField ? attributes[source.canonicalKeyField] : undefined;
  return {
    entity: {
      entityType: source.entityType,
      sourceSystem: source.sourceSystem,
      sourceId: sourceId!,
      canonicalKey: key === undefined || key === null || key === '' ? null : String(key),
      attributes,
      sourceUpdatedAt,
      relationships,
    },
  };
}
