/**
 * What a report is made of: analyses (the S3 document for one, the table's items for a digest)
 * and the processing statistics from the ingestion manifests.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ANALYSIS_DAY_INDEX, AnalysisDocument, AnalysisItem, AnalysisTableKey } from '../shared/analysis-contract';
import type { IngestionManifest } from '../shared/ingestion-contract';

const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

/** Processing statistics over one or more manifests. */
export interface ProcessingStats {
  readonly files: number;
  /** Files set aside as a whole (unreadable, wrong format): status `rejected`. */
  readonly failedFiles: number;
  /** Files skipped because the same content was processed before. */
  readonly skippedFiles: number;
  readonly received: number;
  /** inserted + updated + unchanged: in the store. */
  readonly loaded: number;
  readonly changed: number;
  /** Valid records of sources that do not load into the store. */
  readonly validatedOnly: number;
  readonly rejected: number;
  readonly duplicates: number;
  readonly stale: number;
  readonly topRejectionReasons: Array<{ readonly reason: string; readonly count: number }>;
  /** Reasons beyond the top ones: how many, and their records (a record with several reasons counts under each). */
  readonly moreRejectionReasons: { readonly reasons: number; readonly count: number };
}

export async function getJson<T>(bucket: string, key: string): Promise<T> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await response.Body!.transformToString('utf-8')) as T;
}

/** The manifest, or null when it does not exist (the report is sent without it). */
export async function getManifest(bucket: string, key: string): Promise<IngestionManifest | null> {
  try {
    return await getJson<IngestionManifest>(bucket, key);
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return null;
    throw error;
  }
}

/** The parts of a manifest the statistics use. */
export type ManifestCounts = Pick<IngestionManifest, 'status' | 'counts' | 'rejectionReasons' | 'error'>;

export function processingStats(manifests: readonly ManifestCounts[], topN = 5): ProcessingStats {
  const t = { received: 0, loaded: 0, changed: 0, validatedOnly: 0, rejected: 0, duplicates: 0, stale: 0, failedFiles: 0, skippedFiles: 0 };
  const reasons = new Map<string, number>();
  for (const m of manifests) {
    if (m.status === 'rejected') t.failedFiles++;
    if (m.status === 'skipped') t.skippedFiles++;
    const c = m.counts;
    if (c) {
      t.received += c.received;
      t.loaded += c.inserted + c.updated + c.unchanged;
      t.changed += c.inserted + c.updated;
      t.validatedOnly += c.notLoaded;
      t.rejected += c.rejected;
      t.duplicates += c.duplicates;
      t.stale += c.stale;
    }
    for (const [reason, count] of Object.entries(m.rejectionReasons ?? {})) reasons.set(reason, (reasons.get(reason) ?? 0) + count);
    if (m.error) {
      const reason = `${m.error.code}: ${m.error.message}`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  const ranked = [...reasons.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const topRejectionReasons = ranked.slice(0, topN).map(([reason, count]) => ({ reason, count }));
  const rest = ranked.slice(topN);
  const moreRejectionReasons = { reasons: rest.length, count: rest.reduce((n, [, count]) => n + count, 0) };
  return { files: manifests.length, ...t, topRejectionReasons, moreRejectionReasons };
}

/** yyyy-mm-dd of each UTC day that overlaps [from, to]. */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()));
  while (d.getTime() <= to.getTime()) {
    days.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return days;
}

/** Analyses requested in [from, to], newest first, at most `max`. */
export async function recentAnalyses(table: string, from: Date, to: Date, max: number): Promise<AnalysisItem[]> {
  const items: AnalysisItem[] = [];
  for (const day of daysBetween(from, to).reverse()) {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(new QueryCommand({
        TableName: table,
        IndexName: ANALYSIS_DAY_INDEX,
        KeyConditionExpression: '#day = :day AND sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#day': 'day' },
        ExpressionAttributeValues: { ':day': day, ':from': from.toISOString(), ':to': `${to.toISOString()}~` },
        ScanIndexForward: false,
        ExclusiveStartKey: startKey,
      }));
      items.push(...((page.Items ?? []) as AnalysisItem[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey && items.length < max);
    if (items.length >= max) break;
  }
  return items.slice(0, max);
}

async function listKeys(bucket: string, prefix: string, delimiter?: string): Promise<{ keys: string[]; prefixes: string[] }> {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!).filter(Boolean));
    prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { keys, prefixes };
}

/**
 * The manifests of runs that started in [from, to]: listed per source and day
 * (`manifests/<source>/<yyyy>/<mm>/<dd>/`), newest days first, at most `max`.
 */
export async function manifestsBetween(
  bucket: string, manifestPrefix: string, from: Date, to: Date, max: number, knownSources: readonly string[] = [],
): Promise<IngestionManifest[]> {
  const listed = (await listKeys(bucket, manifestPrefix, '/')).prefixes;
  // Plus the sources known from the period's analyses (S3 lists them all; some emulators do not).
  const sources = Array.from(new Set([...listed, ...knownSources.map((s) => `${manifestPrefix}${s}/`)])).sort();
  const keys: string[] = [];
  for (const day of daysBetween(from, to).reverse()) {
    for (const source of sources) {
      keys.push(...(await listKeys(bucket, `${source}${day.replace(/-/g, '/')}/`)).keys.filter((k) => k.endsWith('.json')));
    }
    if (keys.length >= max) break;
  }
  const manifests: IngestionManifest[] = [];
  for (const key of keys.slice(0, max)) {
    const m = await getManifest(bucket, key);
    const started = m ? Date.parse(m.timings?.startedAt ?? '') : NaN;
    if (m && (Number.isNaN(started) || (started >= from.getTime() && started <= to.getTime()))) manifests.push(m);
  }
  return manifests;
}

export async function getAnalysisDocument(bucket: string, key: string): Promise<AnalysisDocument> {
  return getJson<AnalysisDocument>(bucket, key);
}

/** Whether the report of this analysis was already sent (a redelivered event sends nothing). */
export async function reportAlreadySent(table: string, key: AnalysisTableKey): Promise<boolean> {
  const result = await documents.send(new GetCommand({ TableName: table, Key: { sourceName: key.sourceName, sk: key.sk }, ConsistentRead: true }));
  return Boolean(result.Item?.reportSentAt);
}

export async function markReportSent(table: string, key: AnalysisTableKey, at: string): Promise<void> {
  await documents.send(new UpdateCommand({
    TableName: table,
    Key: { sourceName: key.sourceName, sk: key.sk },
    UpdateExpression: 'SET reportSentAt = :at',
    ConditionExpression: 'attribute_exists(sk)',
    ExpressionAttributeValues: { ':at': at },
  }));
}
