/**
 * Embedded metrics (EMF) per file, in one namespace, with the dimension sets [service] and
 * [service, Source]; the construct's metric*() methods read the first.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { INGESTION_METRICS as M, METRICS_NAMESPACE } from '../../src/common/contracts';
import type { IngestionCounts } from '../shared/ingestion-contract';

export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE });

export function recordRunMetrics(source: string, counts: IngestionCounts | null, outcome: 'succeeded' | 'rejected' | 'skipped' | 'failed', durationMs: number, latencyMs: number | null): void {
  metrics.addDimensions({});
  metrics.addDimensions({ Source: source });
  if (counts) {
    metrics.addMetric(M.RECORDS_RECEIVED, MetricUnit.Count, counts.received);
    metrics.addMetric(M.RECORDS_LOADED, MetricUnit.Count, counts.inserted + counts.updated + counts.unchanged);
    metrics.addMetric(M.RECORDS_CHANGED, MetricUnit.Count, counts.inserted + counts.updated);
    metrics.addMetric(M.RECORDS_REJECTED, MetricUnit.Count, counts.rejected);
    metrics.addMetric(M.RECORDS_DUPLICATE, MetricUnit.Count, counts.duplicates);
  }
  metrics.addMetric(M.FILES_PROCESSED, MetricUnit.Count, outcome === 'failed' ? 0 : 1);
  metrics.addMetric(M.FILE_FAILURES, MetricUnit.Count, outcome === 'rejected' || outcome === 'failed' ? 1 : 0);
  metrics.addMetric(M.PROCESSING_DURATION, MetricUnit.Milliseconds, durationMs);
  if (latencyMs !== null) metrics.addMetric(M.INGESTION_LATENCY, MetricUnit.Milliseconds, latencyMs);
  metrics.publishStoredMetrics();
}
