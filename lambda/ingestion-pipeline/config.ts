/**
 * Source definitions as the construct writes them to sources.json next to the handler
 * (versioned with the code; no runtime lookup). One source per raw-data prefix.
 */
import * as fs from 'fs';
import * as path from 'path';

export type InputFormat = 'json_array' | 'json_object' | 'ndjson' | 'csv';

export type TransformType = 'trim' | 'lower' | 'upper' | 'number' | 'integer' | 'boolean' | 'string' | 'date' | 'datetime' | 'default';

export interface TransformConfig {
  readonly type: TransformType;
  /** date/datetime: the input pattern (yyyy, MM, dd, HH, mm, ss, SSS, literals), `iso`, `epoch_s`, `epoch_ms`. */
  readonly format?: string;
  /** default: the value used when the field is missing, null or an empty string. */
  readonly value?: unknown;
}

export interface FieldConfig {
  /** Dot path in the source record (`address.city`, `items.0.sku`). */
  readonly source: string;
  /** Canonical attribute name. */
  readonly target: string;
  readonly transforms?: readonly TransformConfig[];
}

export interface RelationshipConfig {
  /** Canonical attribute holding the target's source id. */
  readonly attribute: string;
  readonly type: string;
  readonly targetEntityType: string;
  readonly targetSourceSystem: string;
}

export interface SourceConfig {
  readonly name: string;
  /** Raw-data key prefix, ending with `/`. */
  readonly prefix: string;
  readonly sourceSystem: string;
  readonly entityType: string;
  /** Omitted: chosen per object from its extension (.json, .ndjson/.jsonl, .csv). */
  readonly format?: InputFormat;
  /** json_object: dot path of the records array (e.g. `data.customers`). */
  readonly recordsPath?: string;
  /** Dot path of the source id in the source record. */
  readonly sourceIdField: string;
  /** Canonical attribute whose value is the canonical key (e.g. `email`). */
  readonly canonicalKeyField?: string;
  /** Dot path of the source's last-modified timestamp in the source record. */
  readonly sourceTimestampField?: string;
  readonly fields: readonly FieldConfig[];
  readonly relationships?: readonly RelationshipConfig[];
  readonly personalDataFields?: readonly string[];
  readonly loadToStore: boolean;
  /** JSON Schema for the source record (before mapping). */
  readonly schema?: Record<string, unknown>;
  readonly csvDelimiter?: string;
  /** Longest record (NDJSON line, CSV record) in characters. */
  readonly maxRecordLength?: number;
  readonly maxDepth?: number;
  /** Reject text cells that a spreadsheet would run as a formula (=, +, -, @ …). */
  readonly rejectFormulaCells?: boolean;
}

export interface PipelineConfig {
  readonly sources: readonly SourceConfig[];
}

export const DEFAULT_MAX_RECORD_LENGTH = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

const cache = new Map<string, PipelineConfig>();

/** Read once per execution environment (per file, so tests can switch files). */
export function loadConfig(file = process.env.SOURCES_CONFIG_PATH ?? path.join(__dirname, 'sources.json')): PipelineConfig {
  let config = cache.get(file);
  if (!config) {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as PipelineConfig;
    if (!Array.isArray(config.sources)) throw new Error(`${file}: "sources" must be an array`);
    cache.set(file, config);
  }
  return config;
}

/** The source whose prefix is the longest match for the key. */
export function sourceForKey(config: PipelineConfig, key: string): SourceConfig | undefined {
  return config.sources
    .filter((s) => key.startsWith(s.prefix))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
}

export function formatFor(source: SourceConfig, key: string): InputFormat | undefined {
  if (source.format) return source.format;
  // A gzip object is told by its extension once `.gz` is taken off (its bytes are decompressed whatever the name).
  const name = key.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson';
  if (name.endsWith('.json')) return source.recordsPath ? 'json_object' : 'json_array';
  return undefined;
}
