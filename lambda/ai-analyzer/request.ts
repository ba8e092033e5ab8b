/**
 * What to analyze: from an `Ingestion Succeeded` event (delivered through the queue), or from a
 * direct invocation (on demand). Everything is checked against the configuration: the analyzer
 * reads only the data bucket's processed/ and manifests/ prefixes.
 */
import { randomUUID } from 'crypto';
import type { EventBridgeEvent } from 'aws-lambda';
import type { AnalyzerConfig } from './config';
import { PermanentAnalysisError } from './errors';
import { readJson } from './s3';
import type { AnalysisTrigger } from '../shared/analysis-contract';
import {
  INGESTION_EVENT_SOURCE, INGESTION_SUCCEEDED, IngestionCounts, IngestionManifest, IngestionSucceededDetail,
} from '../shared/ingestion-contract';

export interface AnalysisRequest {
  readonly analysisId: string;
  readonly runId: string | null;
  readonly trigger: AnalysisTrigger;
  readonly sourceName: string;
  readonly sourceSystem: string | null;
  readonly entityType: string | null;
  readonly bucket: string;
  readonly processedKey: string;
  readonly manifestKey: string | null;
  readonly counts: IngestionCounts | null;
  readonly personalDataFields: string[];
  /** The event's time (stable across redeliveries), or the time of the on-demand call. */
  readonly requestedAt: string;
}

/**
 * The payload of an on-demand invocation. Either `manifestKey` (everything else is read from
 * the manifest), or `sourceName` + `processedKey`.
 */
export interface OnDemandPayload {
  readonly manifestKey?: string;
  readonly sourceName?: string;
  readonly processedKey?: string;
  readonly sourceSystem?: string;
  readonly entityType?: string;
  readonly personalDataFields?: string[];
  /** Idempotency key: a second call with the same id returns the first result. Default: a new UUID. */
  readonly analysisId?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function invalid(message: string): PermanentAnalysisError {
  return new PermanentAnalysisError('invalid_request', message);
}

function checkKey(key: unknown, prefix: string, what: string): string {
  if (typeof key !== 'string' || !key.startsWith(prefix) || key.includes('..') || key.length > 1024) {
    throw invalid(`${what} must be a key under ${prefix}, got ${JSON.stringify(key)}`);
  }
  return key;
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw invalid(`${what} must match ${NAME}, got ${JSON.stringify(name)}`);
  return name;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${what} must be an array of strings`);
  return value as string[];
}

function isoNow(): string {
  return new Date().toISOString();
}

export function isIngestionEvent(value: unknown): value is EventBridgeEvent<string, IngestionSucceededDetail> {
  const e = value as { 'source'?: unknown; 'detail-type'?: unknown; 'detail'?: unknown };
  return !!e && e.source === INGESTION_EVENT_SOURCE && typeof e['detail-type'] === 'string' && typeof e.detail === 'object';
}

/** Null when the event carries nothing to analyze (no valid records). */
export function requestFromEvent(event: EventBridgeEvent<string, IngestionSucceededDetail>, config: AnalyzerConfig): AnalysisRequest | null {
  if (event['detail-type'] !== INGESTION_SUCCEEDED) throw invalid(`unexpected event ${event['detail-type']}`);
  const d = event.detail;
  if (d.bucket !== config.dataBucket) throw invalid(`event for bucket ${d.bucket}; the analyzer reads ${config.dataBucket}`);
  if (d.processedKey === null || d.processedKey === undefined) return null;
  if (typeof d.runId !== 'string' || !ID.test(d.runId)) throw invalid('the event has no valid runId');
  return {
    analysisId: d.runId,
    runId: d.runId,
    trigger: 'ingestion_event',
    sourceName: checkName(d.sourceName, 'detail.sourceName'),
    sourceSystem: d.sourceSystem ?? null,
    entityType: d.entityType ?? null,
    bucket: d.bucket,
    processedKey: checkKey(d.processedKey, config.processedPrefix, 'detail.processedKey'),
    manifestKey: d.manifestKey ? checkKey(d.manifestKey, config.manifestPrefix, 'detail.manifestKey') : null,
    counts: d.counts ?? null,
    personalDataFields: stringList(d.personalDataFields, 'detail.personalDataFields'),
    requestedAt: new Date(event.time ?? Date.now()).toISOString(),
  };
}

export async function requestFromPayload(payload: OnDemandPayload, config: AnalyzerConfig): Promise<AnalysisRequest> {
  if (!payload || typeof payload !== 'object') throw invalid('the payload must be an object');
  if (payload.analysisId !== undefined && (typeof payload.analysisId !== 'string' || !ID.test(payload.analysisId))) {
    throw invalid(`analysisId must match ${ID}`);
  }
  const analysisId = payload.analysisId ?? randomUUID();
  if (payload.manifestKey !== undefined) {
    const manifestKey = checkKey(payload.manifestKey, config.manifestPrefix, 'manifestKey');
    const manifest = await readJson<IngestionManifest>(config.dataBucket, manifestKey);
    if (!manifest.outputs?.processedKey) throw invalid(`run ${manifest.runId} has no processed records to analyze`);
    return {
      analysisId,
      runId: manifest.runId ?? null,
      trigger: 'on_demand',
      sourceName: checkName(manifest.source?.name, 'manifest source.name'),
      sourceSystem: manifest.source?.sourceSystem ?? null,
      entityType: manifest.source?.entityType ?? null,
      bucket: config.dataBucket,
      processedKey: checkKey(manifest.outputs.processedKey, config.processedPrefix, 'manifest outputs.processedKey'),
      manifestKey,
      counts: manifest.counts ?? null,
      personalDataFields: stringList(manifest.source?.personalDataFields, 'manifest source.personalDataFields'),
      requestedAt: isoNow(),
    };
  }
  return {
    analysisId,
    runId: null,
    trigger: 'on_demand',
    sourceName: checkName(payload.sourceName, 'sourceName'),
    sourceSystem: payload.sourceSystem ?? null,
    entityType: payload.entityType ?? null,
    bucket: config.dataBucket,
    processedKey: checkKey(payload.processedKey, config.processedPrefix, 'processedKey'),
    manifestKey: null,
    counts: null,
    personalDataFields: stringList(payload.personalDataFields, 'personalDataFields'),
    requestedAt: isoNow(),
  };
}
