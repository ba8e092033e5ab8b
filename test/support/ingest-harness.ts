/**
 * Runs the ingest handler as deployed, locally: real PostgreSQL (writer login via a local Secrets
 * Manager), s3rver, a local EventBridge, sources.json rendered from the construct's definitions.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { CanonicalTestDatabase, createCanonicalDatabase, LOGIN_USERS } from './canonical-db';
import { LocalEventBridge, startLocalEventBridge } from './local-eventbridge';
import { LocalS3, s3Notification, startLocalS3 } from './local-s3';
import { fakeAwsEnvironment, LocalSecretsManager, startLocalSecretsManager } from './local-secrets-manager';
import { GroupRole } from '../../lambda/canonical-store/runner';
import { renderSourcesConfig } from '../../src/ingestion-pipeline/source-config';
import type { SourceDefinition } from '../../src/ingestion-pipeline/source-definition';

export const BUCKET = 'raw-data';
export const EVENT_BUS = 'pipeline-bus';

/**
 * stream-json 3 is ESM-only and Jest (on Node 20) cannot require ESM: substitute a CommonJS
 * build of the one module that loads it, made by esbuild on the fly (the Lambda bundle is built
 * by esbuild as well). Call before the handler is required.
 */
export function useCommonJsStreamJson(): void {
  const wrapper = path.join(__dirname, '..', '..', 'lambda', 'ingestion-pipeline', 'readers', 'stream-json.ts');
  jest.doMock(wrapper, () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = esbuild.buildSync({ entryPoints: [wrapper], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
    const mod = { exports: {} as Record<string, unknown> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, require);
    return mod.exports;
  });
}

export interface IngestHarness {
  readonly db: CanonicalTestDatabase;
  readonly s3: S3Client;
  readonly localS3: LocalS3;
  readonly eventBridge: LocalEventBridge;
  readonly handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  readonly hooks: typeof import('../../lambda/ingestion-pipeline/hooks').hooks;
  put(key: string, body: string | Buffer, metadata?: Record<string, string>): Promise<void>;
  /**
   * Delivers the S3 notification of the key through an SQS event; returns the batch response. Then,
   * as the pipeline's rule does, invokes the handler with each `Ingestion Succeeded` event of a run
   * that loaded the store (the typed storage's refresh), unless `refresh: false`.
   */
  deliver(key: string, options?: { receiveCount?: number; messageId?: string; eventTime?: string; refresh?: boolean }): Promise<SQSBatchResponse>;
  /** Invokes the handler as the typed storage refresh rule does. */
  refresh(): Promise<void>;
  getText(key: string): Promise<string>;
  getJsonLines(key: string): Promise<any[]>;
  list(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

export function sqsEvent(messages: Array<{ body: unknown; receiveCount?: number; messageId?: string }>): SQSEvent {
  return {
    Records: messages.map((m, i) => ({
      messageId: m.messageId ?? `msg-${i}-${Math.random().toString(36).slice(2)}`,
      receiptHandle: 'rh',
      body: JSON.stringify(m.body),
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount ?? 1), SentTimestamp: String(Date.now()), SenderId: 's3', ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:raw-data-events',
      awsRegion: 'us-east-1',
    })),
  };
}

export function lambdaContext(remainingMs = 900_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'ingest',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:ingest',
    memoryLimitInMB: '1024',
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    logGroupName: '/aws/lambda/ingestion-pipeline',
    logStreamName: 's',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export async function startIngestHarness(sources: SourceDefinition[], extraEnv: Record<string, string> = {}): Promise<IngestHarness> {
  const savedEnv = { ...process.env };
  const db = await createCanonicalDatabase();
  const sm: LocalSecretsManager = await startLocalSecretsManager();
  const localS3 = await startLocalS3([BUCKET]);
  const eventBridge = await startLocalEventBridge();
  const writer = LOGIN_USERS.find((u) => u.group === GroupRole.WRITER)!;
  const secretArn = sm.put('writer', { username: writer.username, password: writer.password });
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-ingest-config-'));
  const configPath = path.join(configDir, 'sources.json');
  fs.writeFileSync(configPath, JSON.stringify(renderSourcesConfig(sources)));
  const url = new URL(db.url);
  Object.assign(process.env, fakeAwsEnvironment(), localS3.environment(), {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
    DB_HOST: url.hostname,
    DB_PORT: url.port,
    DB_NAME: db.name,
    DB_SECRET_ARN: secretArn,
    DB_TLS: 'disable',
    EVENT_BUS_NAME: EVENT_BUS,
    SOURCES_CONFIG_PATH: configPath,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    MAX_RECEIVE_COUNT: '3',
    ...extraEnv,
  });
  useCommonJsStreamJson();
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { handler } = require('../../lambda/ingestion-pipeline/index');
  const { hooks } = require('../../lambda/ingestion-pipeline/hooks');
  const { closeAllPools } = require('../../lambda/shared/pool-registry');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const s3 = localS3.client();

  const refreshWith = async (detail: unknown) => {
    await (handler as unknown as (event: unknown, context: Context) => Promise<void>)(
      { 'version': '0', 'id': 'refresh', 'source': 'cdk-serverless-data-pipeline.ingestion', 'detail-type': 'Ingestion Succeeded', detail }, lambdaContext());
  };
  const getText = async (key: string) => {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return out.Body!.transformToString('utf8');
  };
  return {
    db,
    s3,
    localS3,
    eventBridge,
    handler,
    hooks,
    async put(key, body, metadata) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: metadata }));
    },
    async deliver(key, options = {}) {
      const body = s3Notification(BUCKET, key, { eventTime: options.eventTime });
      const event = sqsEvent([{ body, receiveCount: options.receiveCount, messageId: options.messageId }]);
      const sent = eventBridge.events.length;
      const response = await handler(event, lambdaContext());
      const loaded = eventBridge.events.slice(sent).filter((e) => e.detailType === 'Ingestion Succeeded' && e.detail.loadToStore);
      if (options.refresh !== false) for (const e of loaded) await refreshWith(e.detail);
      return response;
    },
    refresh: () => refreshWith({}),
    getText,
    async getJsonLines(key) {
      return (await getText(key)).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((c) => c.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async close() {
      await closeAllPools();
      await Promise.all([sm.close(), localS3.close(), eventBridge.close()]);
      await db.drop();
      fs.rmSync(configDir, { recursive: true, force: true });
      process.env = savedEnv;
    },
  };
}

/** A hash of the canonical tables without timestamps or run ids: equal when two loads ended the same. */
export async function storeFingerprint(db: CanonicalTestDatabase): Promise<string> {
  const { rows } = await db.pool.query(`
    SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) AS h FROM (
      SELECT concat_ws(',', entity_type, source_system, source_id, canonical_key, attributes::text, content_hash, version, source_updated_at) AS x FROM canonical.entities
      UNION ALL SELECT concat_ws(',', 'v', e.source_id, v.version, v.content_hash) FROM canonical.entity_versions v JOIN canonical.entities e ON e.id = v.entity_id
      UNION ALL SELECT concat_ws(',', 'r', rel_type, from_entity_type, from_source_system, from_source_id, to_entity_type, to_source_system, to_source_id) FROM canonical.relationships
    ) t`);
  return rows[0].h;
}
