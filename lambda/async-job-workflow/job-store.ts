/**
 * The job table (JOB_TABLE_NAME): one item per job, keyed by jobId. The submit handler writes the
 * SUBMITTED item (conditional put); the state machine updates it through direct DynamoDB
 * integrations (RUNNING, SUCCEEDED with the result, FAILED with the error); the status handler reads it.
 *
 * Item: { jobId (S, partition key), status (S), operation (S), parameters (S, JSON), useCache (BOOL),
 *         source (S: api | long-running), submittedAt, startedAt?, finishedAt?, updatedAt (S, ISO 8601),
 *         expiresAt (N, epoch seconds: the TTL attribute), executionArn (S),
 *         resultKind? (S: INLINE | LARGE), resultData? (B: gzip JSON of the data or of the large-result pointer),
 *         rowCount?, dataGeneration?, latestDataGeneration?, durationMs? (N), truncated? (S: 'true' | 'false'), cacheStatus? (S),
 *         errorName?, errorCause? (S) }
 */
import { gunzipSync, gzipSync } from 'zlib';
import {
  AttributeValue, ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { jobRetentionDays, jobTableName, JobStatus, ResultKind } from './config';
import { ApiError, ErrorCode } from '../analytics-api/errors';

let ddb: DynamoDBClient | undefined;
function client(): DynamoDBClient {
  ddb ??= new DynamoDBClient({});
  return ddb;
}

function table(): string {
  const name = jobTableName();
  if (!name) throw new ApiError(ErrorCode.INTERNAL_ERROR, 'The function is not configured for jobs (JOB_TABLE_NAME is not set)');
  return name;
}

export interface NewJob {
  readonly jobId: string;
  readonly operation: string;
  readonly parameters: Record<string, unknown>;
  readonly useCache: boolean;
  readonly source: 'api' | 'long-running';
  readonly executionArn: string;
  /** Epoch ms. */
  readonly submittedAt: number;
}

export interface JobRecord {
  readonly jobId: string;
  readonly status: JobStatus;
  readonly operation: string;
  readonly parameters: Record<string, unknown>;
  readonly source?: string;
  readonly submittedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly updatedAt?: string;
  /** Epoch seconds. */
  readonly expiresAt?: number;
  readonly executionArn?: string;
  readonly resultKind?: ResultKind;
  /** Decompressed result data (JSON text) or large-result pointer (JSON text). */
  readonly resultJson?: string;
  readonly rowCount?: number;
  readonly dataGeneration?: number;
  /** The latest committed generation when the job ran (above dataGeneration: a stale result). */
  readonly latestDataGeneration?: number;
  readonly durationMs?: number;
  readonly truncated?: boolean;
  readonly cacheStatus?: string;
  readonly errorName?: string;
  readonly errorCause?: string;
}

/** Writes the SUBMITTED job; fails (ApiError 500) when the id exists, which a random UUID never does. */
export async function putSubmittedJob(job: NewJob): Promise<void> {
  const submittedAt = new Date(job.submittedAt).toISOString();
  try {
    await client().send(new PutItemCommand({
      TableName: table(),
      Item: {
        jobId: { S: job.jobId },
        status: { S: JobStatus.SUBMITTED },
        operation: { S: job.operation },
        parameters: { S: JSON.stringify(job.parameters) },
        useCache: { BOOL: job.useCache },
        source: { S: job.source },
        submittedAt: { S: submittedAt },
        updatedAt: { S: submittedAt },
        expiresAt: { N: String(Math.floor(job.submittedAt / 1000) + jobRetentionDays() * 86_400) },
        executionArn: { S: job.executionArn },
      },
      ConditionExpression: 'attribute_not_exists(jobId)',
    }));
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      throw new ApiError(ErrorCode.INTERNAL_ERROR, 'Internal error', undefined, { cause: new Error(`Job ${job.jobId} exists already`) });
    }
    throw error;
  }
}

const s = (v: AttributeValue | undefined): string | undefined => v?.S;
const n = (v: AttributeValue | undefined): number | undefined => (v?.N === undefined ? undefined : Number(v.N));

export function decodeResultData(data: Uint8Array | undefined): string | undefined {
  return data ? gunzipSync(data).toString('utf8') : undefined;
}

/** gzip + base64: how the runner hands a result (or pointer) to the state machine for the B attribute. */
export function encodeResultData(json: string): string {
  return gzipSync(json, { level: 6 }).toString('base64');
}

function parseParameters(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function recordFromItem(item: Record<string, AttributeValue>): JobRecord {
  return {
    jobId: s(item.jobId)!,
    status: s(item.status) as JobStatus,
    operation: s(item.operation) ?? '',
    parameters: parseParameters(s(item.parameters)),
    source: s(item.source),
    submittedAt: s(item.submittedAt) ?? '',
    startedAt: s(item.startedAt),
    finishedAt: s(item.finishedAt),
    updatedAt: s(item.updatedAt),
    expiresAt: n(item.expiresAt),
    executionArn: s(item.executionArn),
    resultKind: s(item.resultKind) as ResultKind | undefined,
    resultJson: decodeResultData(item.resultData?.B),
    rowCount: n(item.rowCount),
    dataGeneration: n(item.dataGeneration),
    latestDataGeneration: n(item.latestDataGeneration),
    durationMs: n(item.durationMs),
    // Written by the state machine as text ('true' | 'false').
    truncated: item.truncated?.BOOL ?? (item.truncated?.S === undefined ? undefined : item.truncated.S === 'true'),
    cacheStatus: s(item.cacheStatus),
    errorName: s(item.errorName),
    errorCause: s(item.errorCause),
  };
}

export async function getJob(jobId: string): Promise<JobRecord | undefined> {
  const { Item } = await client().send(new GetItemCommand({ TableName: table(), Key: { jobId: { S: jobId } }, ConsistentRead: true }));
  return Item ? recordFromItem(Item) : undefined;
}

/**
 * Marks a job FAILED if its status is one of `onlyFrom` (never overwriting a finished job);
 * returns whether it did.
 */
export async function markJobFailed(jobId: string, errorName: string, errorCause: string, onlyFrom: JobStatus[]): Promise<boolean> {
  const now = new Date().toISOString();
  const values: Record<string, AttributeValue> = {
    ':failed': { S: JobStatus.FAILED },
    ':now': { S: now },
    ':name': { S: errorName },
    ':cause': { S: errorCause },
  };
  onlyFrom.forEach((status, i) => (values[`:from${i}`] = { S: status }));
  try {
    await client().send(new UpdateItemCommand({
      TableName: table(),
      Key: { jobId: { S: jobId } },
      UpdateExpression: 'SET #status = :failed, finishedAt = :now, updatedAt = :now, errorName = :name, errorCause = :cause',
      ConditionExpression: `attribute_exists(jobId) AND #status IN (${onlyFrom.map((_, i) => `:from${i}`).join(', ')})`,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: values,
    }));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
