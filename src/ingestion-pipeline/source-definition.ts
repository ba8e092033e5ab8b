/**
 * Source definitions: data, not code, so they work the same from every jsii language and are
 * written to the processor's sources.json at synth (versioned with the handler).
 */

/** How a source's files are laid out. */
export enum InputFormat {
  /** A JSON array of records: `[{...}, {...}]`. */
  JSON_ARRAY = 'json_array',
  /** A JSON object with the records array at `recordsPath`: `{"data": {"customers": [...]}}`. */
  JSON_OBJECT = 'json_object',
  /** One JSON record per line (NDJSON / JSON Lines). */
  NDJSON = 'ndjson',
  /** Comma-separated values with a header row; values are coerced to the schema's types. */
  CSV = 'csv',
}

/**
 * How a record's source id is normalised before it keys the entity (entity type, source system,
 * source id). Text ids only: a whole-number id becomes its decimal text either way.
 */
export enum IdNormalization {
  /** Leading and trailing white space removed; case kept (`" C00011 "` → `C00011`, and `c00011` is another entity). */
  TRIM = 'trim',
  /** Trimmed and lower-cased (`C00011` and `c00011` are one entity, keyed `c00011`). */
  TRIM_AND_LOWERCASE = 'trim_and_lowercase',
  /** Trimmed and upper-cased (`C00011` and `c00011` are one entity, keyed `C00011`). */
  TRIM_AND_UPPERCASE = 'trim_and_uppercase',
  /** Taken exactly as sent (`" C00011"` and `C00011` are two entities; an id of only white space is still refused). */
  NONE = 'none',
}

/** A declarative transform applied to a field's value, in order. */
export enum TransformType {
  /** Removes leading and trailing white space from text. */
  TRIM = 'trim',
  /** Lower-cases text. */
  LOWER = 'lower',
  /** Upper-cases text. */
  UPPER = 'upper',
  /** Text or number to a finite number; anything else rejects the record. */
  NUMBER = 'number',
  /** Like NUMBER, and it must be a whole number within ±2^53. */
  INTEGER = 'integer',
  /** true/false, yes/no, y/n, 1/0 to a boolean. */
  BOOLEAN = 'boolean',
  /** A number or boolean to text. */
  STRING = 'string',
  /** A date in `format` to `YYYY-MM-DD`. */
  DATE = 'date',
  /** A date-time in `format` to ISO 8601 UTC (`2024-01-31T10:00:00.000Z`). */
  DATETIME = 'datetime',
  /** `value` when the field is missing, null or empty. */
  DEFAULT = 'default',
}

/** One transform step of a field mapping. */
export interface FieldTransform {
  /** What the step does. */
  readonly type: TransformType;
  /**
   * For DATE and DATETIME: the input pattern made of `yyyy`, `MM`/`M`, `dd`/`d`, `HH`/`H`, `mm`,
   * `ss`, `SSS` and literal text (e.g. `dd/MM/yyyy`), or `iso`, `epoch_s`, `epoch_ms`.
   *
   * @default 'iso'
   */
  readonly format?: string;
  /**
   * For DEFAULT: the text used when the field is missing, null or empty. For a number or boolean
   * default, follow the DEFAULT step with a NUMBER, INTEGER or BOOLEAN step (e.g. `'0'` then
   * NUMBER).
   *
   * @default - none (required for DEFAULT)
   */
  readonly value?: string;
}

/** Maps one source field to one canonical attribute. */
export interface FieldMapping {
  /** Dot path of the field in the source record, e.g. `address.country` or `lines.0.sku`. */
  readonly source: string;
  /** Canonical attribute name, e.g. `email` (see the canonical attributes in the README). */
  readonly target: string;
  /**
   * Transforms applied in order.
   *
   * @default - the value is taken as it is
   */
  readonly transforms?: FieldTransform[];
}

/** A typed link from the record to another entity, by the target's source identifiers. */
export interface RelationshipMapping {
  /** Canonical attribute (of this source's mapping) holding the target's source id. */
  readonly attribute: string;
  /** Relationship type, e.g. `placed_by`, `contains`, `parent`. */
  readonly type: string;
  /** Entity type of the target, e.g. `customer`. */
  readonly targetEntityType: string;
  /** Source system of the target, e.g. `crm` (a child may arrive before its parent). */
  readonly targetSourceSystem: string;
}

/** One source system's files under one prefix of the raw-data bucket. */
export interface SourceDefinition {
  /**
   * Unique name of the source: letters, digits, `-` and `_`. It names the outputs
   * (`processed/<name>/…`, `rejected/<name>/…`, `manifests/<name>/…`) and the metrics dimension.
   */
  readonly name: string;
  /** Key prefix of the source's raw files, ending with `/`, e.g. `crm-data/`. */
  readonly prefix: string;
  /** Source system, e.g. `crm` (part of every entity's identity). */
  readonly sourceSystem: string;
  /** Canonical entity type, e.g. `customer`. */
  readonly entityType: string;
  /**
   * Layout of the files.
   *
   * @default - from each object's extension: `.json` (JSON_ARRAY, or JSON_OBJECT when `recordsPath` is set), `.ndjson`/`.jsonl`, `.csv`
   */
  readonly format?: InputFormat;
  /**
   * For JSON_OBJECT: dot path of the records array, e.g. `data.customers`.
   *
   * @default - none (required for JSON_OBJECT)
   */
  readonly recordsPath?: string;
  /** Dot path of the record's id in the source system. */
  readonly sourceIdField: string;
  /**
   * How the source id is normalised before it keys the entity.
   *
   * Relationships to this source's entities (from any source of the pipeline) use the same
   * normalisation for their target ids. Sources that share `sourceSystem` and `entityType` share
   * the ids, so they must agree. The store records the normalisation that keyed its entities: after
   * a change, files of the source are refused (`Ingestion Failed`, `id_normalization_changed`)
   * until `rekeyIdsFrom` declares the re-key. The processor also publishes it to an SSM parameter
   * that synth looks up in stacks with an account and region, where such a change is a synth error
   * (`idNormalizationSynthCheck`; docs/ingestion.md, "Source ids").
   *
   * @default IdNormalization.TRIM
   */
  readonly idNormalization?: IdNormalization;
  /**
   * Declares a re-key after a change of `idNormalization`: the normalisation the stored ids were
   * keyed with. The next run of the source re-keys the stored entities and relationships of its
   * entity type and source system in its own transaction (refused, with examples, when two stored
   * ids would become one), then loads with the new normalisation. Once the store records the new
   * normalisation it has no effect, and can be removed.
   *
   * @default - no re-key: files are refused while the store's ids were keyed differently
   */
  readonly rekeyIdsFrom?: IdNormalization;
  /**
   * Canonical attribute whose (transformed) value matches the same real entity across systems, e.g. `email`.
   *
   * @default - no canonical key
   */
  readonly canonicalKeyField?: string;
  /**
   * Dot path of the source's last-modified time (ISO 8601); an update older than the stored one is not applied.
   *
   * @default - no source timestamp: the latest file wins
   */
  readonly sourceTimestampField?: string;
  /** Source fields → canonical attributes. */
  readonly fields: FieldMapping[];
  /**
   * Links to other entities.
   *
   * @default - none
   */
  readonly relationships?: RelationshipMapping[];
  /**
   * Canonical attributes that hold personal data (the analyzer pseudonymizes them).
   *
   * @default - none
   */
  readonly personalDataFields?: string[];
  /**
   * Whether valid records are upserted into the canonical store; when false they are validated
   * and written to `processed/` only.
   *
   * @default true
   */
  readonly loadToStore?: boolean;
  /**
   * JSON Schema of a source record before mapping: required fields, types, formats (`email`,
   * `date`, `date-time`, …), plausibility ranges. Draft 2020-12 unless its `$schema` declares
   * draft-07 (`http://json-schema.org/draft-07/schema#`); compiled at synth by ajv in strict mode,
   * so an unknown keyword, a keyword of the other draft or an invalid value is a synth error naming
   * the source and the JSON path. Every field the mapping reads (`sourceIdField`,
   * `sourceTimestampField`, each `fields[].source`) must be defined by it (in `properties`,
   * `patternProperties`, an explicit `additionalProperties`, or `prefixItems`/`items` for array
   * positions).
   *
   * @default - no validation beyond the mapping
   */
  readonly schema?: { [key: string]: unknown };
  /**
   * CSV field delimiter (one character).
   *
   * @default ','
   */
  readonly csvDelimiter?: string;
  /**
   * Longest record (NDJSON line, CSV record), in characters; a longer NDJSON line is rejected,
   * a longer CSV record stops the file.
   *
   * @default 1048576
   */
  readonly maxRecordLength?: number;
  /**
   * Deepest nesting of objects and arrays in a record.
   *
   * @default 32
   */
  readonly maxDepth?: number;
  /**
   * Reject text that a spreadsheet would run as a formula (starting with `=`, `@`, `+`, `-`,
   * except plain numbers and phone numbers).
   *
   * @default true
   */
  readonly rejectFormulaCells?: boolean;
}
