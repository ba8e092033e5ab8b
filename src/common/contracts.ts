/**
 * The names that cross from the constructs (src/) to their handlers (lambda/): EventBridge sources
 * and detail types, the CloudWatch namespace and the metric names. Defined once, here: the
 * handlers import this file (esbuild bundles it), the constructs use it for their event patterns
 * and metric*() methods, and test/contracts.test.ts fails when a side writes its own copy.
 * Internal to the library (not exported from the package's index).
 */

/** EventBridge `source` of the ingestion pipeline's events. */
export const INGESTION_EVENT_SOURCE = 'cdk-serverless-data-pipeline.ingestion';
export const INGESTION_SUCCEEDED = 'Ingestion Succeeded';
export const INGESTION_FAILED = 'Ingestion Failed';

/**
 * Root of the SSM parameters that publish which id normalization keyed the stored ids of each
 * (source system, entity type): `<root>/<stack>/<construct path>/id-normalization/<source system>/<entity type>`
 * (src/ingestion-pipeline/id-normalization-parameters.ts names them; sources.json gives each source's).
 */
export const ID_NORMALIZATION_PARAMETER_ROOT = '/cdk-serverless-data-pipeline';
/**
 * The parameter's value while no run of its identity space has committed (the value the construct
 * deploys). Not `none`: that is an id normalization (IdNormalization.NONE).
 */
export const NO_STORED_RUNS = 'no-stored-runs';

/** EventBridge `source` of the AI analyzer's events. */
export const ANALYSIS_EVENT_SOURCE = 'cdk-serverless-data-pipeline.ai-analyzer';
export const ANALYSIS_COMPLETE = 'Analysis Complete';
export const ANALYSIS_FAILED = 'Analysis Failed';

/** CloudWatch namespace of every metric the handlers emit (POWERTOOLS_METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = 'ServerlessDataPipeline';

/** Metrics the ingestion processor emits (dimension `service`, and `service` + `Source`). */
export const INGESTION_METRICS = {
  RECORDS_RECEIVED: 'RecordsReceived',
  RECORDS_LOADED: 'RecordsLoaded',
  RECORDS_CHANGED: 'RecordsChanged',
  RECORDS_REJECTED: 'RecordsRejected',
  RECORDS_DUPLICATE: 'RecordsDuplicate',
  FILES_PROCESSED: 'FilesProcessed',
  FILE_FAILURES: 'FileFailures',
  PROCESSING_DURATION: 'ProcessingDuration',
  INGESTION_LATENCY: 'IngestionLatency',
  /** Refreshes of the typed storage that failed after their retries (analytics answers are labelled stale meanwhile). */
  TYPED_STORAGE_REFRESH_FAILURES: 'TypedStorageRefreshFailures',
  TYPED_STORAGE_REFRESH_DURATION: 'TypedStorageRefreshDuration',
  /** Writes of a stored id normalization to its SSM parameter that failed (best effort: the run is not affected; synth checks miss the change). */
  ID_NORMALIZATION_PUBLISH_FAILURES: 'IdNormalizationPublishFailures',
} as const;

/** Metrics the AI analyzer emits. */
export const ANALYZER_METRICS = {
  ANALYSES_COMPLETED: 'AnalysesCompleted',
  ANALYSES_FAILED: 'AnalysesFailed',
  RECORDS_ANALYZED: 'RecordsAnalyzed',
  ANOMALIES_FOUND: 'AnomaliesFound',
  MODEL_CALLS: 'ModelCalls',
  INPUT_TOKENS: 'InputTokens',
  OUTPUT_TOKENS: 'OutputTokens',
  ESTIMATED_COST_USD: 'EstimatedCostUsd',
  AI_INVALID_OUTPUT: 'AiInvalidOutput',
  AI_REFUSED: 'AiRefused',
  AI_ERRORS: 'AiErrors',
  ANALYSIS_DURATION: 'AnalysisDuration',
} as const;

/** Metrics the analytics API emits. */
export const ANALYTICS_METRICS = {
  CACHE_HIT: 'CacheHit',
  CACHE_MISS: 'CacheMiss',
  OPERATION_DURATION: 'OperationDuration',
  LARGE_RESULT: 'LargeResult',
  QUERY_TIMEOUT: 'QueryTimeout',
  DATABASE_UNAVAILABLE: 'DatabaseUnavailable',
  INTERNAL_ERROR: 'InternalError',
  /** Long-running operations whose synchronous attempt passed its budget and became a job (202). */
  HANDED_TO_JOB: 'HandedToJob',
} as const;
