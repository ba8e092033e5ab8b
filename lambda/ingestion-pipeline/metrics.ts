/**
 * Embedded metrics (EMF) per file, in one namespace, with the dimension sets [service] and
 * [service, Source]; the construct's metric*() methods read the first.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { IngestionCounts } from '../shared/ingestion-contract';

/** Same namespace as the construct's metric*() methods (POWERTOOLS_METRICS_NAMESPACE, set by the construct). */
export const METRICS_NAMESPACE = 'ServerlessDataPipeline';

export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE });

export function recordRunMetrics(source: string, counts: IngestionCounts | null, outcome: 'succeeded' | 'rejected' | 'skipped' | 'failed', durationMs: number, latencyMs: number | null): void {
  metrics.addDimensions({});
  metrics.addDimensions({ Source: source });
  if (counts) {
    metrics.addMetric('RecordsReceived', MetricUnit.Count, counts.received);
    metrics.addMetric('RecordsLoaded', MetricUnit.Count, counts.inserted + counts.updated + counts.unchanged);
    metrics.addMetric('RecordsChanged', MetricUnit.Count, counts.inserted + counts.updated);
    metrics.addMetric('RecordsRejected', MetricUnit.Count, counts.rejected);
    metrics.addMetric('RecordsDuplicate', MetricUnit.Count, counts.duplicates);
  }
  metrics.addMetric('FilesProcessed', MetricUnit.Count, outcome === 'failed' ? 0 : 1);
  metrics.addMetric('FileFailures', MetricUnit.Count, outcome === 'rejected' || outcome === 'failed' ? 1 : 0);
  metrics.addMetric('ProcessingDuration', MetricUnit.Milliseconds, durationMs);
  if (latencyMs !== null) metrics.addMetric('IngestionLatency', MetricUnit.Milliseconds, latencyMs);
  metrics.publishStoredMetrics();
}
