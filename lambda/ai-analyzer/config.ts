/**
 * The analyzer's configuration, from the environment the construct sets (read on each call, so
 * tests can change it; cheap).
 */

/** A threshold on one numeric attribute (clinical or business range). */
export interface ThresholdConfig {
  readonly field: string;
  readonly min?: number;
  readonly max?: number;
  readonly label?: string;
  /** Only for this source; all sources when absent. */
  readonly sourceName?: string;
}

export interface AnalyzerConfig {
  readonly dataBucket: string;
  readonly processedPrefix: string;
  readonly manifestPrefix: string;
  readonly analysisBucket: string;
  readonly analysisPrefix: string;
  readonly analysisTable: string;
  readonly idempotencyTable: string | null;
  readonly ttlDays: number | null;
  readonly eventBusName: string;
  readonly modelId: string;
  readonly thresholds: ThresholdConfig[];
  /** Attributes to analyze statistically; empty: every numeric attribute. */
  readonly fields: string[];
  readonly zScoreThreshold: number;
  readonly iqrMultiplier: number;
  readonly minSampleSize: number;
  readonly statisticalOutliers: boolean;
  readonly pseudonymize: boolean;
  readonly pseudonymSecretArn: string | null;
  /** Added to the personal-data fields each event declares. */
  readonly extraPersonalDataFields: string[];
  readonly maxAnomaliesInPrompt: number;
  readonly maxPromptCharacters: number;
  readonly maxExamplesPerField: number;
  readonly maxOutputTokens: number;
  readonly temperature: number;
  readonly inputPricePerMillion: number;
  readonly outputPricePerMillion: number;
}

function env(name: string, fallback?: string): string {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new Error(`Environment variable ${name} is not set`);
}

function num(name: string, fallback: number, min = -Infinity): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`Environment variable ${name} must be a number >= ${min}, got "${raw}"`);
  return value;
}

function jsonArray<T>(name: string): T[] {
  const raw = process.env[name];
  if (!raw) return [];
  const value = JSON.parse(raw);
  if (!Array.isArray(value)) throw new Error(`Environment variable ${name} must be a JSON array`);
  return value as T[];
}

export function loadConfig(): AnalyzerConfig {
  const dataBucket = env('DATA_BUCKET');
  return {
    dataBucket,
    processedPrefix: env('PROCESSED_PREFIX', 'processed/'),
    manifestPrefix: env('MANIFEST_PREFIX', 'manifests/'),
    analysisBucket: env('ANALYSIS_BUCKET', dataBucket),
    analysisPrefix: env('ANALYSIS_PREFIX', 'analyses/'),
    analysisTable: env('ANALYSIS_TABLE_NAME'),
    idempotencyTable: process.env.IDEMPOTENCY_TABLE_NAME || null,
    ttlDays: process.env.ANALYSIS_TTL_DAYS ? num('ANALYSIS_TTL_DAYS', 0, 1) : null,
    eventBusName: env('EVENT_BUS_NAME', 'default'),
    modelId: env('MODEL_ID', 'us.amazon.nova-lite-v1:0'),
    thresholds: jsonArray<ThresholdConfig>('THRESHOLDS'),
    fields: jsonArray<string>('FIELDS'),
    zScoreThreshold: num('Z_SCORE_THRESHOLD', 3, 0),
    iqrMultiplier: num('IQR_MULTIPLIER', 1.5, 0),
    minSampleSize: num('MIN_SAMPLE_SIZE', 10, 2),
    statisticalOutliers: (process.env.STATISTICAL_OUTLIERS ?? 'true') !== 'false',
    pseudonymize: (process.env.PSEUDONYMIZE ?? 'true') !== 'false',
    pseudonymSecretArn: process.env.PSEUDONYM_SECRET_ARN || null,
    extraPersonalDataFields: jsonArray<string>('PERSONAL_DATA_FIELDS'),
    maxAnomaliesInPrompt: num('MAX_ANOMALIES_IN_PROMPT', 40, 0),
    maxPromptCharacters: num('MAX_PROMPT_CHARACTERS', 24_000, 1000),
    maxExamplesPerField: num('MAX_EXAMPLES_PER_FIELD', 5, 1),
    maxOutputTokens: num('MAX_OUTPUT_TOKENS', 1500, 100),
    temperature: num('TEMPERATURE', 0.2, 0),
    inputPricePerMillion: num('PRICE_INPUT_PER_MILLION_TOKENS', 0.06, 0),
    outputPricePerMillion: num('PRICE_OUTPUT_PER_MILLION_TOKENS', 0.24, 0),
  };
}
