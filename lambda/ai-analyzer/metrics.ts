/**
 * Embedded metrics (EMF) per analysis, with the dimension sets [service] and [service, Source];
 * the construct's metric*() methods read the first.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AnalysisDocument } from '../shared/analysis-contract';

export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ServerlessDataPipeline' });

export function recordAnalysisMetrics(doc: AnalysisDocument): void {
  metrics.addDimensions({});
  metrics.addDimensions({ Source: doc.source.name });
  metrics.addMetric('AnalysesCompleted', MetricUnit.Count, 1);
  metrics.addMetric('RecordsAnalyzed', MetricUnit.Count, doc.recordsAnalyzed);
  metrics.addMetric('AnomaliesFound', MetricUnit.Count, doc.anomalyCount);
  metrics.addMetric('ModelCalls', MetricUnit.Count, doc.ai.attempts);
  metrics.addMetric('InputTokens', MetricUnit.Count, doc.ai.usage.inputTokens);
  metrics.addMetric('OutputTokens', MetricUnit.Count, doc.ai.usage.outputTokens);
  metrics.addMetric('EstimatedCostUsd', MetricUnit.NoUnit, doc.ai.estimatedCostUsd);
  metrics.addMetric('AiInvalidOutput', MetricUnit.Count, doc.ai.status === 'invalid_output' ? 1 : 0);
  metrics.addMetric('AiRefused', MetricUnit.Count, doc.ai.status === 'refused' ? 1 : 0);
  metrics.addMetric('AiErrors', MetricUnit.Count, doc.ai.status === 'error' ? 1 : 0);
  metrics.addMetric('AnalysisDuration', MetricUnit.Milliseconds, doc.durationMs);
  metrics.publishStoredMetrics();
}

export function recordFailureMetric(sourceName: string | null): void {
  metrics.addDimensions({});
  if (sourceName) metrics.addDimensions({ Source: sourceName });
  metrics.addMetric('AnalysesFailed', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
