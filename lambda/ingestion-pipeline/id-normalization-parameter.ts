/**
 * Publishes which id normalisation keyed the stored ids of an identity space (entity type, source
 * system) to its SSM parameter (sources.json `idNormalizationParameter`), where synth looks it up
 * (src/ingestion-pipeline/id-normalization-parameters.ts). Called after a run committed: the store
 * then holds the source's normalisation (id-keys.ts set it, or re-keyed to it, in the run's
 * transaction). Written only when it differs from the parameter's value (the first committed run,
 * a re-key); the value is read once per execution environment and what was written is remembered,
 * so a run pays no SSM call once the parameter is current. Best effort: a failure is logged and
 * counted (IdNormalizationPublishFailures), never fails the run, and the next run tries again.
 * docs/ingestion.md, "Source ids".
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ParameterNotFoundError } from '@aws-lambda-powertools/parameters/errors';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SourceConfig } from './config';
import { logger } from './logger';
import { metrics } from './metrics';
import { INGESTION_METRICS as M } from '../../src/common/contracts';


/** Short timeouts and one retry: a best-effort write must not hold up a run that already committed. */
const provider = new SSMProvider({
  awsSdkV3Client: new SSMClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 2000, requestTimeout: 5000 } }),
});

/** The parameter's value as last read or written in this execution environment, by name. */
const known = new Map<string, string>();

/** Makes the source's parameter say the source's normalisation (what the store holds after a committed run). */
export async function publishIdNormalization(source: SourceConfig): Promise<void> {
  const name = source.idNormalizationParameter;
  if (!name || !source.loadToStore) return;
  const value = source.idNormalization;
  if (known.get(name) === value) return;
  try {
    if (!known.has(name)) {
      const current = await currentValue(name);
      if (current !== undefined) known.set(name, current);
      if (current === value) return;
    }
    await provider.set(name, { value, overwrite: true });
    known.set(name, value);
    logger.info('Stored id normalization published', { parameter: name, idNormalization: value, source: source.name });
  } catch (error) {
    logger.warn('Could not publish the stored id normalization (synth checks of this source see the previous value until a later run publishes it)', {
      parameter: name, idNormalization: value, source: source.name, error: error as Error,
    });
    metrics.addDimensions({});
    metrics.addMetric(M.ID_NORMALIZATION_PUBLISH_FAILURES, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  }
}

/** The parameter's value; undefined when it does not exist (e.g. deleted: the put creates it again). */
async function currentValue(name: string): Promise<string | undefined> {
  try {
    return await provider.get(name, { forceFetch: true, throwOnMissing: true });
  } catch (error) {
    if (error instanceof ParameterNotFoundError) return undefined;
    throw error;
  }
}

/** Forgets what was read and written (tests: a new execution environment). */
export function forgetPublishedIdNormalizations(): void {
  known.clear();
}
