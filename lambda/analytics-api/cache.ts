/**
 * The result cache in DynamoDB (CACHE_TABLE_NAME): keyed by operation + normalized parameters + the
 * store's data generation, so a result is never served after new data has landed. The handler
 * checks expiry itself (DynamoDB's TTL deletes lazily, up to days later). Payloads are gzip JSON;
 * one that is still above ~200 KB compressed is not cached inline. Large results are cached as their
 * S3 pointer, until the object expires.
 *
 * Item: { cacheKey (S, partition key), expiresAt (N, epoch seconds: the TTL attribute), operation (S),
 *         dataGeneration (N), createdAt (N), payload (B, gzip JSON) }
 */
import { createHash } from 'crypto';
import { gunzipSync, gzipSync } from 'zlib';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { LargeResultRef } from './large-results';
import type { Params } from './operations/types';
import { normalizedJson } from './validation';

/** Bump when the cached payload's shape changes, so old items are simply not found. */
const CACHE_FORMAT = 'v1';
export const MAX_CACHE_PAYLOAD_BYTES = 200 * 1024;

let ddb: DynamoDBClient | undefined;
function client(): DynamoDBClient {
  ddb ??= new DynamoDBClient({});
  return ddb;
}

export function cacheTableName(): string | undefined {
  return process.env.CACHE_TABLE_NAME || undefined;
}

export function cacheTtlSeconds(): number {
  return Number(process.env.CACHE_TTL_SECONDS ?? 3600);
}

export interface CachedPayload {
  /** JSON text of the result's `data` (absent for a large result). */
  readonly dataJson?: string;
  readonly rowCount: number;
  readonly truncated?: boolean;
  readonly columns?: unknown[];
  readonly largeResult?: LargeResultRef;
  /** When the result was computed (epoch ms). */
  readonly createdAt: number;
}

export function cacheKey(operation: string, parameters: Params, dataGeneration: number): string {
  return createHash('sha256').update(`${CACHE_FORMAT}\n${operation}\n${normalizedJson(parameters)}\n${dataGeneration}`).digest('base64url');
}

/** The unexpired cached payload for key, or undefined. */
export async function getCached(key: string, now = Date.now()): Promise<CachedPayload | undefined> {
  const table = cacheTableName();
  if (!table) return undefined;
  const { Item } = await client().send(new GetItemCommand({ TableName: table, Key: { cacheKey: { S: key } } }));
  if (!Item?.payload?.B || !Item.expiresAt?.N) return undefined;
  if (Number(Item.expiresAt.N) * 1000 <= now) return undefined;
  return JSON.parse(gunzipSync(Item.payload.B).toString('utf8')) as CachedPayload;
}

/** Stores a payload; returns false (not cached) when it is too large. */
export async function putCached(
  key: string, operation: string, dataGeneration: number, payload: CachedPayload, ttlSeconds = cacheTtlSeconds(),
): Promise<boolean> {
  const table = cacheTableName();
  if (!table || ttlSeconds <= 0) return false;
  const body = gzipSync(JSON.stringify(payload), { level: 6 });
  if (body.length > MAX_CACHE_PAYLOAD_BYTES) return false;
  let expiresAtMs = payload.createdAt + ttlSeconds * 1000;
  // A pointer to a large result must not outlive the object (a minute of margin for the download).
  if (payload.largeResult) expiresAtMs = Math.min(expiresAtMs, Date.parse(payload.largeResult.expiresAt) - 60_000);
  await client().send(new PutItemCommand({
    TableName: table,
    Item: {
      cacheKey: { S: key },
      expiresAt: { N: String(Math.floor(expiresAtMs / 1000)) },
      operation: { S: operation },
      dataGeneration: { N: String(dataGeneration) },
      createdAt: { N: String(payload.createdAt) },
      payload: { B: body },
    },
  }));
  return true;
}
