/**
 * ReportNotifier handler. Invoked by EventBridge rules and EventBridge Scheduler:
 * - `Analysis Complete` → the report of that analysis (statistics from the run's manifest,
 *   findings and AI output from the analysis document), e-mailed through SES once;
 * - `Analysis Failed`, and `Ingestion Failed` on its last attempt → the operations topic (and,
 *   optionally, an e-mail);
 * - `{ "kind": "digest", "lookbackHours"?: n }` (the schedule, or on demand) → a digest of the
 *   analyses and the processing statistics of the period.
 * Errors are thrown: the rule target / async invocation retries, then the dead-letter queue.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { loadConfig, NotifierConfig } from './config';
import {
  getAnalysisDocument, getManifest, manifestsBetween, markReportSent, recentAnalyses, reportAlreadySent,
} from './data';
import { analysisFailureNotice, ingestionFailureNotice, routeFailure } from './failures';
import { renderReport } from './render';
import { analysisReport, digestReport } from './report';
import { sendReport } from './ses';
import {
  ANALYSIS_COMPLETE, ANALYSIS_EVENT_SOURCE, ANALYSIS_FAILED, AnalysisCompleteDetail, AnalysisFailedDetail,
} from '../shared/analysis-contract';
import { INGESTION_EVENT_SOURCE, INGESTION_FAILED, IngestionFailedDetail } from '../shared/ingestion-contract';

const logger = new Logger();

export interface DigestRequest {
  readonly kind: 'digest';
  /** Hours before now that the digest covers (default DIGEST_LOOKBACK_HOURS, 24). */
  readonly lookbackHours?: number;
}

export type NotifierResult =
  | { readonly status: 'sent'; readonly messageId: string | undefined; readonly subject: string }
  | { readonly status: 'already_sent' | 'ignored'; readonly reason: string }
  | { readonly status: 'routed'; readonly published: boolean; readonly emailed: boolean };

function underPrefix(key: unknown, prefix: string): key is string {
  return typeof key === 'string' && key.startsWith(prefix) && !key.includes('..');
}

async function reportAnalysis(config: NotifierConfig, detail: AnalysisCompleteDetail): Promise<NotifierResult> {
  if (detail.analysisBucket !== config.analysisBucket || !underPrefix(detail.analysisKey, config.analysisPrefix)) {
    return { status: 'ignored', reason: `analysis s3://${detail.analysisBucket}/${detail.analysisKey} is not under s3://${config.analysisBucket}/${config.analysisPrefix}` };
  }
  if (await reportAlreadySent(config.analysisTable, detail.tableKey)) {
    return { status: 'already_sent', reason: `the report of analysis ${detail.analysisId} was sent before` };
  }
  const doc = await getAnalysisDocument(config.analysisBucket, detail.analysisKey);
  const manifestKey = doc.input.manifestKey;
  const manifest = manifestKey && doc.input.bucket === config.dataBucket && underPrefix(manifestKey, config.manifestPrefix)
    ? await getManifest(config.dataBucket, manifestKey)
    : null;
  const report = renderReport(analysisReport(doc, manifest, new Date()), config.subjectPrefix);
  const messageId = await sendReport(config, report, 'analysis');
  await markReportSent(config.analysisTable, detail.tableKey, new Date().toISOString());
  logger.info('Analysis report sent', { analysisId: detail.analysisId, messageId, recipients: config.toAddresses.length });
  return { status: 'sent', messageId, subject: report.subject };
}

async function digest(config: NotifierConfig, request: DigestRequest): Promise<NotifierResult> {
  const hours = request.lookbackHours ?? config.digestLookbackHours;
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 31) throw new Error(`lookbackHours must be between 0 and 744, got ${hours}`);
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600_000);
  const items = await recentAnalyses(config.analysisTable, from, to, config.maxAnalyses);
  const manifests = await manifestsBetween(config.dataBucket, config.manifestPrefix, from, to, config.maxManifests, items.map((i) => i.sourceName));
  const report = renderReport(digestReport(items, manifests, from, to), config.subjectPrefix);
  const messageId = await sendReport(config, report, 'digest');
  logger.info('Digest sent', { messageId, analyses: items.length, manifests: manifests.length });
  return { status: 'sent', messageId, subject: report.subject };
}

type AnyEvent = EventBridgeEvent<string, unknown>;

function isEvent(value: unknown): value is AnyEvent {
  const e = value as AnyEvent;
  return !!e && typeof e.source === 'string' && typeof e['detail-type'] === 'string' && typeof e.detail === 'object';
}

export async function handler(event: AnyEvent | DigestRequest, context?: Context): Promise<NotifierResult> {
  if (context) logger.addContext(context);
  const config = loadConfig();
  if (isEvent(event)) {
    const type = `${event.source}/${event['detail-type']}`;
    switch (type) {
      case `${ANALYSIS_EVENT_SOURCE}/${ANALYSIS_COMPLETE}`:
        return reportAnalysis(config, event.detail as AnalysisCompleteDetail);
      case `${ANALYSIS_EVENT_SOURCE}/${ANALYSIS_FAILED}`:
        return { status: 'routed', ...(await routeFailure(config, analysisFailureNotice(event.detail as AnalysisFailedDetail))) };
      case `${INGESTION_EVENT_SOURCE}/${INGESTION_FAILED}`: {
        const detail = event.detail as IngestionFailedDetail;
        if (detail.final !== true) return { status: 'ignored', reason: 'not the last attempt: the queue retries the file' };
        return { status: 'routed', ...(await routeFailure(config, ingestionFailureNotice(detail))) };
      }
      default:
        logger.warn('Unsupported event ignored', { source: event.source, detailType: event['detail-type'] });
        return { status: 'ignored', reason: `unsupported event ${type}` };
    }
  }
  if ((event as DigestRequest)?.kind === 'digest') return digest(config, event as DigestRequest);
  throw new Error('Unsupported invocation: expected an EventBridge event or { "kind": "digest" }');
}
