/**
 * The last attempt at a file failed, whatever failed (configuration, secret, S3, database,
 * parser, a bug): one `Ingestion Failed` event with `final: true`, sent from the one place every
 * attempt passes through (the queue message handler), before the message goes to the dead-letter queue.
 */
import type { SourceConfig } from './config';
import { publishFailed } from './events';
import { recordRunMetrics } from './metrics';
import type { ObjectEvent } from './run';
import { FileErrorCode, INGESTION_SCHEMA_VERSION } from '../shared/ingestion-contract';
import { isConnectionLevelFailure } from '../shared/pool-registry';

/** What an attempt had learnt about its run when it failed (filled in as it goes). */
export interface AttemptTrace {
  stage: 'configuration' | 'object' | 'database' | 'processing';
  source?: SourceConfig;
  runId?: string;
  versionId?: string | null;
  startedAt?: number;
}

export function newTrace(): AttemptTrace {
  return { stage: 'configuration', startedAt: Date.now() };
}

const SECRET_ERRORS = /^(GetParameterError|ResourceNotFoundException|DecryptionFailure|AccessDeniedException)$/;

/** The event's error code: what failed, as far as can be told. */
export function failureCode(error: unknown, stage: AttemptTrace['stage']): FileErrorCode {
  const e = error as { name?: string; message?: string; $metadata?: unknown; code?: string };
  if (stage === 'configuration') return 'configuration_error';
  if (stage === 'object') return 'object_unreadable';
  if (SECRET_ERRORS.test(e?.name ?? '') || /^Secret .* has no username\/password$/.test(e?.message ?? '')) return 'secret_unavailable';
  if (stage === 'database' || isConnectionLevelFailure(error) || /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|timeout expired/.test(String(e?.message))
    || e?.code === 'ECONNREFUSED') {
    return 'database_unavailable';
  }
  // An AWS SDK error (it carries $metadata) met while processing: S3 (reading the object, writing outputs) or EventBridge.
  if (e?.$metadata !== undefined) return 'aws_service_error';
  return 'processing_error';
}

export interface FinalFailure {
  readonly object: ObjectEvent;
  readonly trace: AttemptTrace;
  readonly error: unknown;
  readonly receiveCount: number;
}

/** Sends the final `Ingestion Failed` event; throws when EventBridge refuses it (the caller logs it). */
export async function announceFinalFailure({ object, trace, error, receiveCount }: FinalFailure): Promise<void> {
  const source = trace.source;
  if (source) recordRunMetrics(source.name, null, 'failed', Date.now() - (trace.startedAt ?? Date.now()), null);
  const cause = (error as Error)?.message ?? String(error);
  await publishFailed({
    schemaVersion: INGESTION_SCHEMA_VERSION,
    runId: trace.runId ?? null,
    sourceName: source?.name ?? null,
    sourceSystem: source?.sourceSystem ?? null,
    entityType: source?.entityType ?? null,
    bucket: object.bucket,
    objectKey: object.key,
    objectVersionId: trace.versionId ?? object.versionId ?? null,
    manifestKey: null,
    counts: null,
    final: true,
    error: {
      code: failureCode(error, trace.stage),
      message: `Attempt ${receiveCount} failed and was the last one; the message goes to the dead-letter queue: ${cause}`,
    },
  });
}
