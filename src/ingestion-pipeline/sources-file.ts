/**
 * The contract between the construct and its processor: `sources.json`, written at synth next to
 * the handler (renderSourcesConfig in source-config.ts) and read by the handler
 * (lambda/ingestion-pipeline/config.ts imports these types; esbuild erases them). Defined once,
 * here; test/sources-file-contract.test.ts fails when the two sides drift.
 *
 * Enumerated values are the string values of the public enums, so a new enum member is a new
 * allowed value on both sides.
 */
import type { IdNormalization, InputFormat, TransformType } from './source-definition';

export const SOURCES_FILE_NAME = 'sources.json';

export type InputFormatValue = `${InputFormat}`;
export type TransformTypeValue = `${TransformType}`;
export type IdNormalizationValue = `${IdNormalization}`;

export interface TransformConfig {
  readonly type: TransformTypeValue;
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
  readonly transforms: readonly TransformConfig[];
}

export interface RelationshipConfig {
  /** Canonical attribute holding the target's source id. */
  readonly attribute: string;
  readonly type: string;
  readonly targetEntityType: string;
  readonly targetSourceSystem: string;
  /** How the target's ids are normalised: the target source's setting when the pipeline loads it, else `none`. */
  readonly targetIdNormalization: IdNormalizationValue;
}

export interface SourceConfig {
  readonly name: string;
  /** Raw-data key prefix, ending with `/`. */
  readonly prefix: string;
  readonly sourceSystem: string;
  readonly entityType: string;
  /** Omitted: chosen per object from its extension (.json, .ndjson/.jsonl, .csv). */
  readonly format?: InputFormatValue;
  /** json_object: dot path of the records array (e.g. `data.customers`). */
  readonly recordsPath?: string;
  /** Dot path of the source id in the source record. */
  readonly sourceIdField: string;
  /** How source ids are normalised before they key the entity. */
  readonly idNormalization: IdNormalizationValue;
  /** A declared re-key: the normalisation the stored ids were keyed with (re-keyed by the next run). */
  readonly rekeyIdsFrom?: IdNormalizationValue;
  /**
   * SSM parameter (String) the handler writes the stored normalisation to after a committed run,
   * for the synth-time check (src/ingestion-pipeline/id-normalization-parameters.ts). Omitted: not published.
   */
  readonly idNormalizationParameter?: string;
  /** Canonical attribute whose value is the canonical key (e.g. `email`). */
  readonly canonicalKeyField?: string;
  /** Dot path of the source's last-modified timestamp in the source record. */
  readonly sourceTimestampField?: string;
  readonly fields: readonly FieldConfig[];
  readonly relationships: readonly RelationshipConfig[];
  readonly personalDataFields: readonly string[];
  readonly loadToStore: boolean;
  /** JSON Schema for the source record (before mapping), in the dialect its `$schema` declares. */
  readonly schema?: Record<string, unknown>;
  readonly csvDelimiter?: string;
  /** Longest record (NDJSON line, CSV record) in characters. */
  readonly maxRecordLength?: number;
  readonly maxDepth?: number;
  /** Reject text cells that a spreadsheet would run as a formula (=, +, -, @ …). */
  readonly rejectFormulaCells?: boolean;
}

export interface SourcesFile {
  readonly sources: readonly SourceConfig[];
}

/**
 * Every key of the contract, listed once per object type. The mapped types make the compiler
 * refuse a list that misses a key or names one the interfaces lack; the drift test checks that a
 * rendered file uses exactly these keys.
 */
type KeysOf<T> = { readonly [K in keyof Required<T>]: true };
export const CONTRACT_KEYS: {
  readonly file: KeysOf<SourcesFile>;
  readonly source: KeysOf<SourceConfig>;
  readonly field: KeysOf<FieldConfig>;
  readonly transform: KeysOf<TransformConfig>;
  readonly relationship: KeysOf<RelationshipConfig>;
} = {
  file: { sources: true },
  source: {
    name: true,
    prefix: true,
    sourceSystem: true,
    entityType: true,
    format: true,
    recordsPath: true,
    sourceIdField: true,
    idNormalization: true,
    rekeyIdsFrom: true,
    idNormalizationParameter: true,
    canonicalKeyField: true,
    sourceTimestampField: true,
    fields: true,
    relationships: true,
    personalDataFields: true,
    loadToStore: true,
    schema: true,
    csvDelimiter: true,
    maxRecordLength: true,
    maxDepth: true,
    rejectFormulaCells: true,
  },
  field: { source: true, target: true, transforms: true },
  transform: { type: true, format: true, value: true },
  relationship: { attribute: true, type: true, targetEntityType: true, targetSourceSystem: true, targetIdNormalization: true },
};
