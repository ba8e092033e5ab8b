/**
 * The typed storage's refresh (canonical.refresh_typed_storage, migration 0004), run by the
 * processor when the pipeline's rule invokes it with the `Ingestion Succeeded` event of a run that
 * loaded the store: off the ingestion's own path, so a run's throughput does not pay for it. One
 * refresh derives everything queued by then, whichever runs wrote it. Retried here (3 attempts),
 * then the invocation fails and Lambda retries it; the TypedStorageRefreshFailures metric (and its
 * alarm) reports each failed invocation. Meanwhile the analytics label their answers `stale: true`
 * with the generation they reflect.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { hooks } from './hooks';
import { logger } from './logger';
import { metrics } from './metrics';
import { INGESTION_METRICS as M } from '../../src/common/contracts';
import { checkoutClient } from '../shared/pool-registry';
import { refreshTypedStorage } from '../shared/typed-refresh';

const ATTEMPTS = 3;
/** Wait before attempt n+1: n × this (1 s, 2 s). */
const BACKOFF_MS = 1000;

export async function refreshTypedStorageOnce(): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await refreshOnce(attempt);
      metrics.addMetric(M.TYPED_STORAGE_REFRESH_DURATION, MetricUnit.Milliseconds, Date.now() - started);
      metrics.addMetric(M.TYPED_STORAGE_REFRESH_FAILURES, MetricUnit.Count, 0);
      metrics.publishStoredMetrics();
      logger.info('Typed storage refreshed', { ...result, attempt, durationMs: Date.now() - started });
      return;
    } catch (error) {
      if (attempt >= ATTEMPTS) {
        logger.error('Typed storage refresh failed: analytics answers are labelled stale until a later refresh succeeds', { attempt, error: error as Error });
        metrics.addMetric(M.TYPED_STORAGE_REFRESH_FAILURES, MetricUnit.Count, 1);
        metrics.publishStoredMetrics();
        throw error;
      }
      logger.warn('Typed storage refresh failed; retrying', { attempt, error: error as Error });
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS * attempt));
    }
  }
}

async function refreshOnce(attempt: number): ReturnType<typeof refreshTypedStorage> {
  const checkout = await checkoutClient();
  let failed = false;
  try {
    await hooks.beforeRefresh?.(attempt, checkout.client);
    return await refreshTypedStorage(checkout.client);
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // A connection whose refresh failed may hold the session lock or a broken state: not reused.
    checkout.release(failed);
  }
}
