/** Builds the report models: one analysis (from its S3 document) or a digest (from the table). */
import { ManifestCounts, processingStats } from './data';
import type { ReportAnalysis, ReportModel } from './render';
import type { AnalysisDocument, AnalysisItem } from '../shared/analysis-contract';
import type { IngestionManifest } from '../shared/ingestion-contract';

/** Worst values listed per field in a report. */
export const EXAMPLES_PER_FIELD = 3;

export function analysisFromDocument(doc: AnalysisDocument): ReportAnalysis {
  return {
    analysisId: doc.analysisId,
    sourceName: doc.source.name,
    entityType: doc.source.entityType,
    analyzedAt: doc.analyzedAt,
    riskLevel: doc.riskLevel,
    riskLevelSource: doc.riskLevelSource,
    aiStatus: doc.ai.status,
    aiError: doc.ai.error,
    recordsAnalyzed: doc.recordsAnalyzed,
    recordsWithAnomalies: doc.recordsWithAnomalies,
    anomalyCount: doc.anomalyCount,
    fields: doc.anomalies
      .filter((a) => a.counts.flagged > 0 || a.threshold)
      .map((a) => ({
        field: a.field, label: a.label, threshold: a.threshold, counts: a.counts, worstExamples: a.worstExamples.slice(0, EXAMPLES_PER_FIELD),
      })),
    executiveSummary: doc.ai.output?.executiveSummary ?? null,
    insights: doc.ai.output?.insights ?? [],
    recommendations: doc.ai.output?.recommendations ?? [],
    modelId: doc.ai.modelId,
    inputTokens: doc.ai.usage.inputTokens,
    outputTokens: doc.ai.usage.outputTokens,
    estimatedCostUsd: doc.ai.estimatedCostUsd,
    analysisKey: doc.output.key,
  };
}

export function analysisFromItem(item: AnalysisItem): ReportAnalysis {
  return {
    analysisId: item.analysisId,
    sourceName: item.sourceName,
    entityType: item.entityType,
    analyzedAt: item.analyzedAt,
    riskLevel: item.riskLevel,
    riskLevelSource: item.riskLevelSource,
    aiStatus: item.aiStatus,
    aiError: null,
    recordsAnalyzed: item.recordsAnalyzed,
    recordsWithAnomalies: item.recordsWithAnomalies,
    anomalyCount: item.anomalyCount,
    fields: Object.entries(item.anomaliesByField ?? {})
      .filter(([, n]) => n > 0)
      .map(([field, flagged]) => ({ field, label: null, threshold: null, counts: { flagged }, worstExamples: [] })),
    executiveSummary: item.executiveSummary,
    insights: item.insights ?? [],
    recommendations: item.recommendations ?? [],
    modelId: item.modelId,
    inputTokens: item.inputTokens,
    outputTokens: item.outputTokens,
    estimatedCostUsd: item.estimatedCostUsd,
    analysisKey: item.analysisKey,
  };
}

export function analysisReport(doc: AnalysisDocument, manifest: IngestionManifest | null, now: Date): ReportModel {
  // Without the manifest, the counts the analysis recorded (no rejection reasons then).
  const counts = doc.input.counts;
  const runs: ManifestCounts[] = manifest ? [manifest] : counts ? [{ status: 'succeeded', counts, rejectionReasons: {}, error: null }] : [];
  return {
    kind: 'analysis',
    title: `Data analysis report: ${doc.source.name}`,
    period: null,
    generatedAt: now.toISOString(),
    processing: runs.length > 0 ? processingStats(runs) : null,
    analyses: [analysisFromDocument(doc)],
  };
}

export function digestReport(items: readonly AnalysisItem[], manifests: readonly IngestionManifest[], from: Date, to: Date): ReportModel {
  return {
    kind: 'digest',
    title: 'Data pipeline digest',
    period: { from: from.toISOString(), to: to.toISOString() },
    generatedAt: to.toISOString(),
    processing: processingStats(manifests),
    analyses: items.map(analysisFromItem),
  };
}
