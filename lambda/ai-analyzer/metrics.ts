/**
 * Embedded metrics (EMF) per analysis, with the dimension sets [service] and [service, Source];
 * the construct's metric*() methods read the first.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ANALYZER_METRICS as M, METRICS_NAMESPACE } from '../../src/common/contracts';
import type { AnalysisDocument } from '../shared/analysis-contract';

export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE });

export function recordAnalysisMetrics(doc: AnalysisDocument): void {
  metrics.addDimensions({});
  metrics.addDimensions({ Source: doc.source.name });
  metrics.addMetric(M.ANALYSES_COMPLETED, MetricUnit.Count, 1);
  metrics.addMetric(M.RECORDS_ANALYZED, MetricUnit.Count, doc.recordsAnalyzed);
  metrics.addMetric(M.ANOMALIES_FOUND, MetricUnit.Count, doc.anomalyCount);
  metrics.addMetric(M.MODEL_CALLS, MetricUnit.Count, doc.ai.attempts);
  metrics.addMetric(M.INPUT_TOKENS, MetricUnit.Count, doc.ai.usage.inputTokens);
  metrics.addMetric(M.OUTPUT_TOKENS, MetricUnit.Count, doc.ai.usage.outputTokens);
  metrics.addMetric(M.ESTIMATED_COST_USD, MetricUnit.NoUnit, doc.ai.estimatedCostUsd);
  metrics.addMetric(M.AI_INVALID_OUTPUT, MetricUnit.Count, doc.ai.status === 'invalid_output' ? 1 : 0);
  metrics.addMetric(M.AI_REFUSED, MetricUnit.Count, doc.ai.status === 'refused' ? 1 : 0);
  metrics.addMetric(M.AI_ERRORS, MetricUnit.Count, doc.ai.status === 'error' ? 1 : 0);
  metrics.addMetric(M.ANALYSIS_DURATION, MetricUnit.Milliseconds, doc.durationMs);
  metrics.publishStoredMetrics();
}

export function recordFailureMetric(sourceName: string | null): void {
  metrics.addDimensions({});
  if (sourceName) metrics.addDimensions({ Source: sourceName });
  metrics.addMetric(M.ANALYSES_FAILED, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
