/**
 * The AI analyzer's published contract: the `Analysis Complete` / `Analysis Failed` events, the
 * analysis document stored as JSON in S3 (`analyses/<source>/<yyyy>/<mm>/<dd>/<analysisId>.json`),
 * the item kept in the analysis table, and the structured output asked of the model. The report
 * notifier builds on these; change them only with a new schema version (additive fields keep the
 * major version, anything else bumps it). Documented in docs/ai-and-reports.md.
 */
import type { IngestionCounts } from './ingestion-contract';

/** EventBridge `source` and detail types of the analyzer events: defined once, with the constructs. */
export { ANALYSIS_COMPLETE, ANALYSIS_EVENT_SOURCE, ANALYSIS_FAILED } from '../../src/common/contracts';
/** `schemaVersion` of event details, analysis documents and table items (major.minor). */
export const ANALYSIS_SCHEMA_VERSION = '1.0';

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';
export const RISK_LEVELS: readonly RiskLevel[] = ['low', 'medium', 'high', 'critical'];

/**
 * What became of the model call: `ok` (valid output), `invalid_output` (not JSON matching the
 * schema, twice), `refused` (the model declined or a content filter stopped it, twice), `error`
 * (the call failed: access, quota, throttling beyond the retries), `skipped` (nothing to analyze).
 */
export type AiStatus = 'ok' | 'invalid_output' | 'refused' | 'error' | 'skipped';

/** `ingestion_event`: from an `Ingestion Succeeded` event; `on_demand`: a direct invocation. */
export type AnalysisTrigger = 'ingestion_event' | 'on_demand';

/**
 * below_min / above_max: outside a configured threshold; z_score: |value - mean| / stdDev above
 * the z-score threshold; iqr: outside [Q1 - k·IQR, Q3 + k·IQR].
 */
export type AnomalyKind = 'below_min' | 'above_max' | 'z_score' | 'iqr';
export const ANOMALY_KINDS: readonly AnomalyKind[] = ['below_min', 'above_max', 'z_score', 'iqr'];

/** Statistics of one numeric attribute over the analyzed records. */
export interface FieldStatistics {
  readonly field: string;
  /** Records with a finite numeric value. */
  readonly count: number;
  /** Records without one (missing, null or not a number). */
  readonly missing: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  /** Population standard deviation. */
  readonly stdDev: number | null;
  readonly q1: number | null;
  readonly median: number | null;
  readonly q3: number | null;
  /** False when the quartiles come from a uniform sample (more values than the analyzer keeps). */
  readonly quantilesExact: boolean;
}

/** One flagged value. */
export interface AnomalyExample {
  /** 1-based position of the record in the ingested file (ProcessedRecord.recordNumber). */
  readonly recordNumber: number;
  /** The record's source id (kept in the account; never sent to the model). */
  readonly sourceId: string;
  readonly field: string;
  readonly value: number;
  /** Every check the value failed. */
  readonly kinds: AnomalyKind[];
  /** The threshold it crossed (min or max), when it crossed one. */
  readonly limit: number | null;
  /** Its z-score, when the field had enough values for one. */
  readonly zScore: number | null;
  /** Pseudonym (or, with pseudonymization off, the value) of the record's personal-data fields. */
  readonly subject: Record<string, string>;
  /** The record's other numeric attributes (at most 12), for context. */
  readonly context: Record<string, number>;
}

/** The flags of one field. */
export interface FieldAnomalies {
  readonly field: string;
  /** The threshold's label, e.g. "Heart rate (bpm)". */
  readonly label: string | null;
  readonly threshold: { readonly min: number | null; readonly max: number | null } | null;
  /** Values flagged per check, and `flagged`: values flagged by at least one check. */
  readonly counts: Record<AnomalyKind, number> & { readonly flagged: number };
  /** Values outside these are z-score outliers; null when not computed. */
  readonly zScoreBounds: { readonly lower: number; readonly upper: number } | null;
  /** The IQR fences; null when not computed (too few values, or IQR 0). */
  readonly iqrFences: { readonly lower: number; readonly upper: number } | null;
  /** The worst values, threshold crossings first, then by distance. */
  readonly worstExamples: AnomalyExample[];
}

/** The structured output asked of the model. */
export interface AiOutput {
  readonly insights: string[];
  readonly recommendations: string[];
  readonly executiveSummary: string;
  readonly riskLevel: RiskLevel;
}

/**
 * Prefix of every text the sandbox's local Bedrock stand-in writes (sandbox/src/bedrock.ts): its
 * answers are computed from the prompt's statistics, not written by a model, and cost nothing.
 */
export const LOCAL_STAND_IN_LABEL = '[local Bedrock stand-in, not a model]';

/** True when the AI texts were written by the local stand-in rather than a model. */
export function writtenByLocalStandIn(texts: ReadonlyArray<string | null | undefined>): boolean {
  return texts.some((t) => typeof t === 'string' && t.startsWith(LOCAL_STAND_IN_LABEL));
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
}

export interface AiResult {
  readonly status: AiStatus;
  /** Model id or inference profile id called. */
  readonly modelId: string;
  /** Converse calls made (a retry after invalid or refused output counts; SDK throttling retries do not). */
  readonly attempts: number;
  readonly output: AiOutput | null;
  /** Why status is not `ok` (error name and message, validation errors, stop reason). */
  readonly error: string | null;
  readonly stopReason: string | null;
  /** Summed over all attempts: every attempt is billed. */
  readonly usage: TokenUsage;
  readonly estimatedCostUsd: number;
  /** Size of the user prompt in characters, and how many anomaly examples it carried. */
  readonly promptCharacters: number;
  readonly anomaliesInPrompt: number;
}

export interface AnalysisSettings {
  readonly zScoreThreshold: number;
  readonly iqrMultiplier: number;
  readonly minSampleSize: number;
  readonly pseudonymized: boolean;
  readonly maxAnomaliesInPrompt: number;
}

/** The analysis document (S3 JSON). */
export interface AnalysisDocument {
  readonly schemaVersion: string;
  /** The ingestion run id for event-driven analyses; chosen by the caller (or a UUID) on demand. */
  readonly analysisId: string;
  readonly runId: string | null;
  readonly trigger: AnalysisTrigger;
  readonly source: { readonly name: string; readonly sourceSystem: string | null; readonly entityType: string | null };
  readonly input: {
    readonly bucket: string;
    readonly processedKey: string;
    readonly manifestKey: string | null;
    /** The ingestion counts from the event or manifest, when known. */
    readonly counts: IngestionCounts | null;
    readonly personalDataFields: string[];
  };
  /** When the analysis was requested (the event's time): part of the table key, stable across retries. */
  readonly requestedAt: string;
  readonly analyzedAt: string;
  readonly durationMs: number;
  readonly recordsAnalyzed: number;
  /** Lines of the processed file that were not valid JSON objects (skipped). */
  readonly unreadableLines: number;
  readonly recordsWithAnomalies: number;
  /** Flagged (record, field) values. */
  readonly anomalyCount: number;
  readonly statistics: FieldStatistics[];
  readonly anomalies: FieldAnomalies[];
  readonly settings: AnalysisSettings;
  readonly ai: AiResult;
  /** The model's risk level when its output is valid, else one derived from the findings (riskLevelSource `rules`). */
  readonly riskLevel: RiskLevel;
  readonly riskLevelSource: 'model' | 'rules';
  readonly output: { readonly bucket: string; readonly key: string; readonly table: string; readonly tableKey: AnalysisTableKey };
}

/** Key of an analysis in the table: partition `sourceName`, sort `sk` = `<requestedAt>#<analysisId>`. */
export interface AnalysisTableKey {
  readonly sourceName: string;
  readonly sk: string;
}

/** Name of the table's index by day: partition `day` (yyyy-mm-dd of requestedAt, UTC), sort `sk`. */
export const ANALYSIS_DAY_INDEX = 'byDay';

/** The table item: the summary, without statistics and examples (those are in the S3 document). */
export interface AnalysisItem extends AnalysisTableKey {
  readonly schemaVersion: string;
  readonly day: string;
  readonly analysisId: string;
  readonly runId: string | null;
  readonly trigger: AnalysisTrigger;
  readonly sourceSystem: string | null;
  readonly entityType: string | null;
  readonly requestedAt: string;
  readonly analyzedAt: string;
  readonly recordsAnalyzed: number;
  readonly recordsWithAnomalies: number;
  readonly anomalyCount: number;
  readonly anomaliesByField: Record<string, number>;
  readonly riskLevel: RiskLevel;
  readonly riskLevelSource: 'model' | 'rules';
  readonly aiStatus: AiStatus;
  readonly modelId: string;
  readonly executiveSummary: string | null;
  readonly insights: string[];
  readonly recommendations: string[];
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly estimatedCostUsd: number;
  readonly analysisBucket: string;
  readonly analysisKey: string;
  readonly dataBucket: string;
  readonly processedKey: string;
  readonly manifestKey: string | null;
  /** Epoch seconds after which DynamoDB TTL deletes the item; absent when no retention is set. */
  readonly expiresAt?: number;
  /** Set by the report notifier once the report of this analysis was sent. */
  readonly reportSentAt?: string;
}

/** `Analysis Complete` detail, version 1. */
export interface AnalysisCompleteDetail {
  readonly schemaVersion: string;
  readonly analysisId: string;
  readonly runId: string | null;
  readonly trigger: AnalysisTrigger;
  readonly sourceName: string;
  readonly sourceSystem: string | null;
  readonly entityType: string | null;
  readonly requestedAt: string;
  readonly analyzedAt: string;
  readonly recordsAnalyzed: number;
  readonly recordsWithAnomalies: number;
  readonly anomalyCount: number;
  readonly anomaliesByField: Record<string, number>;
  readonly riskLevel: RiskLevel;
  readonly riskLevelSource: 'model' | 'rules';
  readonly aiStatus: AiStatus;
  readonly modelId: string;
  readonly usage: TokenUsage;
  readonly estimatedCostUsd: number;
  readonly analysisBucket: string;
  readonly analysisKey: string;
  readonly analysisTable: string;
  readonly tableKey: AnalysisTableKey;
  readonly dataBucket: string;
  readonly processedKey: string;
  readonly manifestKey: string | null;
}

/** Analysis failure codes (analysis_id_conflict: an analysisId reused with another request). */
export type AnalysisErrorCode = 'invalid_request' | 'object_not_found' | 'access_denied' | 'analysis_id_conflict' | 'processing_error';

/** `Analysis Failed` detail, version 1. */
export interface AnalysisFailedDetail {
  readonly schemaVersion: string;
  readonly analysisId: string | null;
  readonly runId: string | null;
  readonly trigger: AnalysisTrigger;
  readonly sourceName: string | null;
  readonly dataBucket: string | null;
  readonly processedKey: string | null;
  readonly manifestKey: string | null;
  readonly error: { readonly code: AnalysisErrorCode; readonly message: string };
  /** Always true: sent only when no retry follows (a permanent error, or the last attempt). */
  readonly final: boolean;
}

/** JSON Schema of the model's output (ajv). Extra properties are tolerated and dropped. */
export const AI_OUTPUT_SCHEMA = {
  type: 'object',
  required: ['insights', 'recommendations', 'executiveSummary', 'riskLevel'],
  properties: {
    insights: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'string', minLength: 1, maxLength: 1000 } },
    recommendations: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'string', minLength: 1, maxLength: 1000 } },
    executiveSummary: { type: 'string', minLength: 1, maxLength: 3000 },
    riskLevel: { enum: [...RISK_LEVELS] },
  },
} as const;

const NULLABLE_STRING = { type: ['string', 'null'] } as const;
const USAGE_SCHEMA = {
  type: 'object',
  required: ['inputTokens', 'outputTokens', 'totalTokens'],
  properties: {
    inputTokens: { type: 'integer', minimum: 0 },
    outputTokens: { type: 'integer', minimum: 0 },
    totalTokens: { type: 'integer', minimum: 0 },
  },
} as const;

/** JSON Schema of the `Analysis Complete` detail, version 1. */
export const ANALYSIS_COMPLETE_SCHEMA = {
  $id: 'https://cdk-serverless-data-pipeline/schemas/analysis-complete-1.json',
  type: 'object',
  required: ['schemaVersion', 'analysisId', 'runId', 'trigger', 'sourceName', 'sourceSystem', 'entityType', 'requestedAt', 'analyzedAt',
    'recordsAnalyzed', 'recordsWithAnomalies', 'anomalyCount', 'anomaliesByField', 'riskLevel', 'riskLevelSource', 'aiStatus', 'modelId',
    'usage', 'estimatedCostUsd', 'analysisBucket', 'analysisKey', 'analysisTable', 'tableKey', 'dataBucket', 'processedKey', 'manifestKey'],
  properties: {
    schemaVersion: { type: 'string', pattern: '^1\\.[0-9]+$' },
    analysisId: { type: 'string', minLength: 1 },
    runId: NULLABLE_STRING,
    trigger: { enum: ['ingestion_event', 'on_demand'] },
    sourceName: { type: 'string' },
    sourceSystem: NULLABLE_STRING,
    entityType: NULLABLE_STRING,
    requestedAt: { type: 'string', format: 'date-time' },
    analyzedAt: { type: 'string', format: 'date-time' },
    recordsAnalyzed: { type: 'integer', minimum: 0 },
    recordsWithAnomalies: { type: 'integer', minimum: 0 },
    anomalyCount: { type: 'integer', minimum: 0 },
    anomaliesByField: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
    riskLevel: { enum: [...RISK_LEVELS] },
    riskLevelSource: { enum: ['model', 'rules'] },
    aiStatus: { enum: ['ok', 'invalid_output', 'refused', 'error', 'skipped'] },
    modelId: { type: 'string' },
    usage: USAGE_SCHEMA,
    estimatedCostUsd: { type: 'number', minimum: 0 },
    analysisBucket: { type: 'string' },
    analysisKey: { type: 'string' },
    analysisTable: { type: 'string' },
    tableKey: { type: 'object', required: ['sourceName', 'sk'], properties: { sourceName: { type: 'string' }, sk: { type: 'string' } } },
    dataBucket: { type: 'string' },
    processedKey: { type: 'string' },
    manifestKey: NULLABLE_STRING,
  },
} as const;

/** JSON Schema of the `Analysis Failed` detail, version 1. */
export const ANALYSIS_FAILED_SCHEMA = {
  $id: 'https://cdk-serverless-data-pipeline/schemas/analysis-failed-1.json',
  type: 'object',
  required: ['schemaVersion', 'analysisId', 'runId', 'trigger', 'sourceName', 'dataBucket', 'processedKey', 'manifestKey', 'error', 'final'],
  properties: {
    schemaVersion: { type: 'string', pattern: '^1\\.[0-9]+$' },
    analysisId: NULLABLE_STRING,
    runId: NULLABLE_STRING,
    trigger: { enum: ['ingestion_event', 'on_demand'] },
    sourceName: NULLABLE_STRING,
    dataBucket: NULLABLE_STRING,
    processedKey: NULLABLE_STRING,
    manifestKey: NULLABLE_STRING,
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { enum: ['invalid_request', 'object_not_found', 'access_denied', 'analysis_id_conflict', 'processing_error'] }, message: { type: 'string' } },
    },
    final: { type: 'boolean' },
  },
} as const;

/** Key of the analysis document: `<prefix><source>/<yyyy>/<mm>/<dd>/<analysisId>.json` (day of requestedAt, UTC). */
export function analysisKeyFor(prefix: string, sourceName: string, requestedAt: string, analysisId: string): string {
  return `${prefix}${sourceName}/${requestedAt.slice(0, 10).replace(/-/g, '/')}/${analysisId}.json`;
}

/** Sort key of the analysis in the table. */
export function analysisSortKey(requestedAt: string, analysisId: string): string {
  return `${requestedAt}#${analysisId}`;
}
