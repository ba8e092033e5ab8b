/**
 * The typed storage's refresh after a committed run (canonical.refresh_typed_storage, migration
 * 0004): what the analytics read reflects the run once this returns. A refresh that fails is
 * retried here, then left to the next run's refresh (which derives everything still queued); the
 * run itself stays committed and successful. Meanwhile the analytics label their answers
 * `stale: true` with the generation they reflect, and the TypedStorageRefreshFailures metric (with
 * its alarm) says so.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ClientBase } from 'pg';
import { hooks } from './hooks';
import { metrics } from './metrics';
import { INGESTION_METRICS as M } from '../../src/common/contracts';
import { refreshTypedStorage } from '../shared/typed-refresh';

const logger = new Logger();
const ATTEMPTS = 3;
/** Wait before attempt n+1: n × this (1 s, 2 s). */
const BACKOFF_MS = 1000;

/** Refreshes the typed storage; true when it reflects everything committed before the call. */
export async function refreshAfterCommit(client: ClientBase): Promise<boolean> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await hooks.beforeRefresh?.(attempt, client);
      const result = await refreshTypedStorage(client);
      metrics.addMetric(M.TYPED_STORAGE_REFRESH_DURATION, MetricUnit.Milliseconds, Date.now() - started);
      metrics.addMetric(M.TYPED_STORAGE_REFRESH_FAILURES, MetricUnit.Count, 0);
      metrics.publishStoredMetrics();
      logger.info('Typed storage refreshed', { ...result, attempt, durationMs: Date.now() - started });
      return true;
    } catch (error) {
      if (attempt >= ATTEMPTS) {
        logger.error('Typed storage refresh failed: analytics answers are labelled stale until a later refresh succeeds', { attempt, error: error as Error });
        metrics.addMetric(M.TYPED_STORAGE_REFRESH_FAILURES, MetricUnit.Count, 1);
        metrics.publishStoredMetrics();
        return false;
      }
      logger.warn('Typed storage refresh failed; retrying', { attempt, error: error as Error });
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS * attempt));
    }
  }
}
