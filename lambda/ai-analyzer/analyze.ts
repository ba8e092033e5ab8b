/**
 * One analysis, end to end: deterministic findings first (streamed from S3), then the model on
 * a bounded, pseudonymized prompt, then the document to S3, the summary to the table and the
 * `Analysis Complete` event. A retry after the findings were stored (e.g. the event could not be
 * sent) finds the stored item and only sends the event again: the model is never billed twice.
 */
import { detectAnomalies, DetectionResult } from './anomalies';
import { askModel } from './bedrock';
import type { AnalyzerConfig } from './config';
import { publishComplete } from './events';
import { recordAnalysisMetrics } from './metrics';
import { buildPrompt } from './prompt';
import { loadPseudonymKey, subjectFunction } from './pseudonymize';
import type { AnalysisRequest } from './request';
import { objectLines, putJson } from './s3';
import { getItem, itemFor, putItem } from './store';
import {
  ANALYSIS_SCHEMA_VERSION, AiResult, AnalysisCompleteDetail, AnalysisDocument, AnalysisItem, analysisKeyFor, analysisSortKey, RiskLevel,
} from '../shared/analysis-contract';

export interface AttemptInfo {
  /** No further delivery follows this one: record transient model errors instead of retrying. */
  readonly finalAttempt: boolean;
}

/**
 * The risk level from the findings alone (used when the model gave no valid answer): by the share
 * of values that crossed a configured threshold, then by the share of records with any flag.
 */
export function rulesRiskLevel(detection: Pick<DetectionResult, 'recordsAnalyzed' | 'recordsWithAnomalies' | 'anomalies'>): RiskLevel {
  const n = detection.recordsAnalyzed;
  if (n === 0) return 'low';
  const crossings = detection.anomalies.reduce((sum, a) => sum + a.counts.below_min + a.counts.above_max, 0);
  const thresholdShare = crossings / n;
  const anomalyShare = detection.recordsWithAnomalies / n;
  if (thresholdShare >= 0.2) return 'critical';
  if (thresholdShare >= 0.05) return 'high';
  if (crossings > 0 || anomalyShare >= 0.05) return 'medium';
  return 'low';
}

export function completeDetail(item: AnalysisItem, table: string): AnalysisCompleteDetail {
  return {
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    analysisId: item.analysisId,
    runId: item.runId,
    trigger: item.trigger,
    sourceName: item.sourceName,
    sourceSystem: item.sourceSystem,
    entityType: item.entityType,
    requestedAt: item.requestedAt,
    analyzedAt: item.analyzedAt,
    recordsAnalyzed: item.recordsAnalyzed,
    recordsWithAnomalies: item.recordsWithAnomalies,
    anomalyCount: item.anomalyCount,
    anomaliesByField: item.anomaliesByField,
    riskLevel: item.riskLevel,
    riskLevelSource: item.riskLevelSource,
    aiStatus: item.aiStatus,
    modelId: item.modelId,
    usage: { inputTokens: item.inputTokens, outputTokens: item.outputTokens, totalTokens: item.inputTokens + item.outputTokens },
    estimatedCostUsd: item.estimatedCostUsd,
    analysisBucket: item.analysisBucket,
    analysisKey: item.analysisKey,
    analysisTable: table,
    tableKey: { sourceName: item.sourceName, sk: item.sk },
    dataBucket: item.dataBucket,
    processedKey: item.processedKey,
    manifestKey: item.manifestKey,
  };
}

function skippedAi(config: AnalyzerConfig): AiResult {
  return {
    status: 'skipped',
    modelId: config.modelId,
    attempts: 0,
    output: null,
    error: 'no records to analyze',
    stopReason: null,
    usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
    estimatedCostUsd: 0,
    promptCharacters: 0,
    anomaliesInPrompt: 0,
  };
}

export async function runAnalysis(request: AnalysisRequest, config: AnalyzerConfig, attempt: AttemptInfo): Promise<AnalysisCompleteDetail> {
  const started = Date.now();
  const tableKey = { sourceName: request.sourceName, sk: analysisSortKey(request.requestedAt, request.analysisId) };

  const stored = await getItem(config.analysisTable, tableKey);
  if (stored) {
    const detail = completeDetail(stored, config.analysisTable);
    await publishComplete(config.eventBusName, detail);
    return detail;
  }

  const personalDataFields = Array.from(new Set([...request.personalDataFields, ...config.extraPersonalDataFields]));
  let key: string | null = null;
  if (config.pseudonymize) {
    if (!config.pseudonymSecretArn) throw new Error('PSEUDONYMIZE is on but PSEUDONYM_SECRET_ARN is not set');
    key = await loadPseudonymKey(config.pseudonymSecretArn);
  }

  const detection = await detectAnomalies(() => objectLines(request.bucket, request.processedKey), {
    thresholds: config.thresholds.filter((t) => !t.sourceName || t.sourceName === request.sourceName),
    fields: config.fields,
    zScoreThreshold: config.zScoreThreshold,
    iqrMultiplier: config.iqrMultiplier,
    minSampleSize: config.minSampleSize,
    statisticalOutliers: config.statisticalOutliers,
    maxExamplesPerField: config.maxExamplesPerField,
    personalDataFields,
    subjectOf: subjectFunction(personalDataFields, key),
    seed: request.analysisId,
  });

  let ai: AiResult;
  if (detection.recordsAnalyzed === 0) {
    ai = skippedAi(config);
  } else {
    const prompt = buildPrompt({
      sourceName: request.sourceName,
      sourceSystem: request.sourceSystem,
      entityType: request.entityType,
      counts: request.counts,
      recordsAnalyzed: detection.recordsAnalyzed,
      recordsWithAnomalies: detection.recordsWithAnomalies,
      anomalyCount: detection.anomalyCount,
      statistics: detection.statistics,
      anomalies: detection.anomalies,
      zScoreThreshold: config.zScoreThreshold,
      iqrMultiplier: config.iqrMultiplier,
      pseudonymized: key !== null,
    }, config.maxAnomaliesInPrompt, config.maxPromptCharacters);
    ai = await askModel(prompt, {
      modelId: config.modelId,
      maxOutputTokens: config.maxOutputTokens,
      temperature: config.temperature,
      inputPricePerMillion: config.inputPricePerMillion,
      outputPricePerMillion: config.outputPricePerMillion,
    }, attempt.finalAttempt);
  }

  const analysisKey = analysisKeyFor(config.analysisPrefix, request.sourceName, request.requestedAt, request.analysisId);
  const modelRisk = ai.status === 'ok' && ai.output ? ai.output.riskLevel : null;
  const doc: AnalysisDocument = {
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    analysisId: request.analysisId,
    runId: request.runId,
    trigger: request.trigger,
    source: { name: request.sourceName, sourceSystem: request.sourceSystem, entityType: request.entityType },
    input: {
      bucket: request.bucket,
      processedKey: request.processedKey,
      manifestKey: request.manifestKey,
      counts: request.counts,
      personalDataFields,
    },
    requestedAt: request.requestedAt,
    analyzedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    recordsAnalyzed: detection.recordsAnalyzed,
    unreadableLines: detection.unreadableLines,
    recordsWithAnomalies: detection.recordsWithAnomalies,
    anomalyCount: detection.anomalyCount,
    statistics: detection.statistics,
    anomalies: detection.anomalies,
    settings: {
      zScoreThreshold: config.zScoreThreshold,
      iqrMultiplier: config.iqrMultiplier,
      minSampleSize: config.minSampleSize,
      pseudonymized: key !== null,
      maxAnomaliesInPrompt: config.maxAnomaliesInPrompt,
    },
    ai,
    riskLevel: modelRisk ?? rulesRiskLevel(detection),
    riskLevelSource: modelRisk ? 'model' : 'rules',
    output: { bucket: config.analysisBucket, key: analysisKey, table: config.analysisTable, tableKey },
  };

  // The document first, then the item that points at it: an item always has its document.
  await putJson(config.analysisBucket, analysisKey, doc);
  const item = itemFor(doc, config.ttlDays);
  await putItem(config.analysisTable, item);
  recordAnalysisMetrics(doc);
  const detail = completeDetail(item, config.analysisTable);
  await publishComplete(config.eventBusName, detail);
  return detail;
}
