/**
 * The ingestion pipeline's published contract: EventBridge events, per-file manifests and the
 * NDJSON lines of the processed/ and rejected/ outputs. The analyzer, the notifier and the
 * analytics cache build on these; change them only with a new schema version (additive fields
 * keep the major version, anything else bumps it). Documented in docs/ingestion.md.
 */

/** EventBridge `source` and detail types of the ingestion events: defined once, with the constructs. */
export { INGESTION_EVENT_SOURCE, INGESTION_FAILED, INGESTION_SUCCEEDED } from '../../src/common/contracts';
/** `schemaVersion` of event details, manifests and output lines (major.minor). */
export const INGESTION_SCHEMA_VERSION = '1.0';

/**
 * received = inserted + updated + unchanged + stale + notLoaded + rejected + duplicates, always.
 * stale: changed content older (by the source timestamp) than the stored version, not applied.
 * notLoaded: valid records of a source with loadToStore false (written to processed/ only).
 */
export interface IngestionCounts {
  readonly received: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly stale: number;
  readonly notLoaded: number;
  readonly rejected: number;
  readonly duplicates: number;
}

export type RunStatus = 'succeeded' | 'rejected' | 'skipped';

/**
 * File-level failure codes. A file set aside: not_utf8, invalid_encoding (a UTF-16/32 BOM on
 * invalid text), decompression_limit (gzip past the size or ratio bound), invalid_format, truncated,
 * unknown_source, object_not_found, id_normalization_changed (see docs/ingestion.md "Source ids"). A last attempt that failed (the message goes to the dead-letter queue):
 * configuration_error, object_unreadable, secret_unavailable, database_unavailable,
 * aws_service_error, processing_error (anything else: a parser or a bug).
 */
export type FileErrorCode =
  | 'not_utf8' | 'invalid_encoding' | 'decompression_limit' | 'invalid_format' | 'truncated' | 'unknown_source' | 'object_not_found'
  | 'configuration_error' | 'object_unreadable' | 'secret_unavailable' | 'database_unavailable' | 'aws_service_error' | 'processing_error'
  | 'id_normalization_changed';

/** Record-level rejection codes; rejectionReasons in the manifest is keyed by `code: message`. */
export type RejectionCode =
  | 'invalid_json' | 'not_an_object' | 'line_too_long' | 'too_deep' | 'forbidden_key' | 'non_finite_number'
  | 'unsafe_integer' | 'csv_column_count' | 'csv_malformed' | 'truncated' | 'formula_injection' | 'schema' | 'transform'
  | 'missing_source_id' | 'not_storable' | 'duplicate_in_file';

export interface RejectionReason {
  readonly code: RejectionCode;
  /** A sentence a person understands, e.g. "heart_rate must be <= 300". */
  readonly message: string;
  /** Source field (dot path) or canonical attribute concerned, when there is one. */
  readonly field?: string;
}

export interface FileError {
  readonly code: FileErrorCode;
  readonly message: string;
  /** Line (CSV/NDJSON) or record number near which reading stopped, when known. */
  readonly line?: number;
}

export interface ObjectInfo {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly etag: string | null;
  readonly size: number | null;
  readonly lastModified: string | null;
  /** SHA-256 (hex) of the object's bytes; null when the object could not be read to the end. */
  readonly sha256: string | null;
}

export interface SourceInfo {
  /** The source definition's name (the `<source>` in output keys). */
  readonly name: string;
  readonly sourceSystem: string;
  readonly entityType: string;
  readonly format: string;
  readonly loadToStore: boolean;
  /** Canonical attributes that hold personal data (pseudonymize before they leave the account). */
  readonly personalDataFields: string[];
}

/** `manifests/<source>/<yyyy>/<mm>/<dd>/<runId>.json` (date of the run's start, UTC). */
export interface IngestionManifest {
  readonly schemaVersion: string;
  readonly runId: string;
  readonly status: RunStatus;
  readonly forced: boolean;
  readonly source: SourceInfo;
  readonly object: ObjectInfo;
  /**
   * How the object's bytes became text (null when they were not read): gzip decompressed (by
   * Content-Encoding or magic bytes) within the limits given, the text encoding told by the
   * byte-order mark (UTF-8 without one).
   */
  readonly decoding: {
    readonly compression: 'none' | 'gzip';
    readonly textEncoding: 'utf-8' | 'utf-16le' | 'utf-16be' | 'utf-32le' | 'utf-32be';
    readonly byteOrderMark: boolean;
    readonly decompressedBytes: number | null;
    readonly limits: { readonly maxDecompressedBytes: number; readonly maxRatio: number } | null;
  } | null;
  readonly counts: IngestionCounts;
  /** Records per reason (`code: message`); a record with several reasons counts under each. */
  readonly rejectionReasons: Record<string, number>;
  readonly outputs: {
    /** NDJSON of ProcessedRecord lines; null when nothing was valid or the file was set aside. */
    readonly processedKey: string | null;
    /** NDJSON of RejectedRecord lines; null when nothing was set aside. */
    readonly rejectedKey: string | null;
    readonly compression: 'none' | 'gzip';
  };
  /** The store's data generation after this run (moves only when stored rows changed). */
  readonly dataGeneration: number | null;
  /** For a skipped run: the run that already processed the same content. */
  readonly duplicateOf: string | null;
  readonly error: FileError | null;
  readonly timings: {
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly durationMs: number;
    /** From the S3 event to the end of the run. */
    readonly latencyMs: number | null;
  };
}

interface EventIdentifiers {
  readonly schemaVersion: string;
  readonly runId: string | null;
  readonly sourceName: string | null;
  readonly sourceSystem: string | null;
  readonly entityType: string | null;
  readonly bucket: string;
  readonly objectKey: string;
  readonly objectVersionId: string | null;
  readonly manifestKey: string | null;
}

export interface IngestionSucceededDetail extends EventIdentifiers {
  readonly runId: string;
  readonly sourceName: string;
  readonly sourceSystem: string;
  readonly entityType: string;
  readonly manifestKey: string;
  readonly processedKey: string | null;
  readonly rejectedKey: string | null;
  readonly sha256: string;
  readonly forced: boolean;
  readonly loadToStore: boolean;
  readonly counts: IngestionCounts;
  readonly dataGeneration: number | null;
  readonly personalDataFields: string[];
}

export interface IngestionFailedDetail extends EventIdentifiers {
  readonly error: FileError;
  /** Counts up to the failure (all set aside), when the file was read at all. */
  readonly counts: IngestionCounts | null;
  /** False when the queue will retry the file; true for a file set aside or a last attempt. */
  readonly final: boolean;
}

/** One line of processed/<source>/…ndjson: a valid record, mapped to the canonical shape. */
export interface ProcessedRecord {
  readonly entityType: string;
  readonly sourceSystem: string;
  readonly sourceId: string;
  readonly canonicalKey: string | null;
  readonly attributes: Record<string, unknown>;
  readonly relationships: Array<{ type: string; targetEntityType: string; targetSourceSystem: string; targetSourceId: string }>;
  readonly sourceUpdatedAt: string | null;
  /** 1-based position of the record in the file. */
  readonly recordNumber: number;
}

/** One line of rejected/<source>/…ndjson: a record set aside, with every reason. */
export interface RejectedRecord {
  readonly recordNumber: number | null;
  /** 1-based line of the record's start in the file (NDJSON, CSV); null for JSON documents. */
  readonly line: number | null;
  readonly disposition: 'rejected' | 'duplicate' | 'file_error';
  /**
   * For the damaged rest of a file (cut off, trailing garbage, broken quoting): the byte offset in
   * the (decompressed) file where the damage starts; the complete records before it were processed.
   */
  readonly byteOffset?: number;
  /** Every reason (a `file_error` line carries the file-level error instead). */
  readonly reasons: Array<RejectionReason | FileError>;
  /** The record as it was in the file (JSON re-serialized for JSON documents), cut at 64 KiB. */
  readonly original: string;
  readonly originalTruncated: boolean;
}

const COUNTS_SCHEMA = {
  type: 'object',
  required: ['received', 'inserted', 'updated', 'unchanged', 'stale', 'notLoaded', 'rejected', 'duplicates'],
  properties: Object.fromEntries(['received', 'inserted', 'updated', 'unchanged', 'stale', 'notLoaded', 'rejected', 'duplicates']
    .map((k) => [k, { type: 'integer', minimum: 0 }])),
  additionalProperties: true,
} as const;

const NULLABLE_STRING = { type: ['string', 'null'] } as const;
const IDENTIFIERS = {
  schemaVersion: { type: 'string', pattern: '^1\\.[0-9]+$' },
  runId: { type: ['string', 'null'], format: 'uuid' },
  sourceName: NULLABLE_STRING,
  sourceSystem: NULLABLE_STRING,
  entityType: NULLABLE_STRING,
  bucket: { type: 'string' },
  objectKey: { type: 'string' },
  objectVersionId: NULLABLE_STRING,
  manifestKey: NULLABLE_STRING,
} as const;

/** JSON Schema (draft 2020-12 subset, ajv) of the `Ingestion Succeeded` detail, version 1. */
export const INGESTION_SUCCEEDED_SCHEMA = {
  $id: 'https://cdk-serverless-data-pipeline/schemas/ingestion-succeeded-1.json',
  type: 'object',
  required: ['schemaVersion', 'runId', 'sourceName', 'sourceSystem', 'entityType', 'bucket', 'objectKey', 'objectVersionId',
    'manifestKey', 'processedKey', 'rejectedKey', 'sha256', 'forced', 'loadToStore', 'counts', 'dataGeneration', 'personalDataFields'],
  properties: {
    ...IDENTIFIERS,
    runId: { type: 'string', format: 'uuid' },
    sourceName: { type: 'string' },
    sourceSystem: { type: 'string' },
    entityType: { type: 'string' },
    manifestKey: { type: 'string' },
    processedKey: NULLABLE_STRING,
    rejectedKey: NULLABLE_STRING,
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    forced: { type: 'boolean' },
    loadToStore: { type: 'boolean' },
    counts: COUNTS_SCHEMA,
    dataGeneration: { type: ['integer', 'null'] },
    personalDataFields: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** JSON Schema of the `Ingestion Failed` detail, version 1. */
export const INGESTION_FAILED_SCHEMA = {
  $id: 'https://cdk-serverless-data-pipeline/schemas/ingestion-failed-1.json',
  type: 'object',
  required: ['schemaVersion', 'runId', 'sourceName', 'sourceSystem', 'entityType', 'bucket', 'objectKey', 'objectVersionId',
    'manifestKey', 'error', 'counts', 'final'],
  properties: {
    ...IDENTIFIERS,
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, line: { type: 'integer' } },
    },
    counts: { anyOf: [COUNTS_SCHEMA, { type: 'null' }] },
    final: { type: 'boolean' },
  },
} as const;

/** JSON Schema of a manifest, version 1. */
export const INGESTION_MANIFEST_SCHEMA = {
  $id: 'https://cdk-serverless-data-pipeline/schemas/ingestion-manifest-1.json',
  type: 'object',
  required: ['schemaVersion', 'runId', 'status', 'forced', 'source', 'object', 'counts', 'rejectionReasons', 'outputs',
    'dataGeneration', 'duplicateOf', 'error', 'timings'],
  properties: {
    schemaVersion: { type: 'string', pattern: '^1\\.[0-9]+$' },
    runId: { type: 'string', format: 'uuid' },
    status: { enum: ['succeeded', 'rejected', 'skipped'] },
    forced: { type: 'boolean' },
    source: {
      type: 'object',
      required: ['name', 'sourceSystem', 'entityType', 'format', 'loadToStore', 'personalDataFields'],
    },
    object: {
      type: 'object',
      required: ['bucket', 'key', 'versionId', 'etag', 'size', 'lastModified', 'sha256'],
      properties: { sha256: { type: ['string', 'null'], pattern: '^[0-9a-f]{64}$' } },
    },
    counts: COUNTS_SCHEMA,
    rejectionReasons: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 } },
    outputs: {
      type: 'object',
      required: ['processedKey', 'rejectedKey', 'compression'],
      properties: { processedKey: NULLABLE_STRING, rejectedKey: NULLABLE_STRING, compression: { enum: ['none', 'gzip'] } },
    },
    dataGeneration: { type: ['integer', 'null'] },
    duplicateOf: { type: ['string', 'null'] },
    error: { anyOf: [{ type: 'null' }, { type: 'object', required: ['code', 'message'] }] },
    timings: {
      type: 'object',
      required: ['startedAt', 'finishedAt', 'durationMs', 'latencyMs'],
      properties: {
        startedAt: { type: 'string', format: 'date-time' },
        finishedAt: { type: 'string', format: 'date-time' },
        durationMs: { type: 'number', minimum: 0 },
        latencyMs: { type: ['number', 'null'] },
      },
    },
  },
} as const;

/** The identity every count must satisfy; returns the difference (0 when the counts add up). */
export function countsImbalance(c: IngestionCounts): number {
  return c.received - (c.inserted + c.updated + c.unchanged + c.stale + c.notLoaded + c.rejected + c.duplicates);
}
