/**
 * The bundled ingestion handler of a build, run for one S3 object in a process of its own (so its
 * peak RSS is its own and its module-level pools end with it), against local AWS services.
 */
import { spawn } from 'child_process';
import type { LocalEventBridge } from '../../test/support/local-eventbridge';
import type { LocalS3 } from '../../test/support/local-s3';
import { s3Notification } from '../../test/support/local-s3';
import type { LocalSecretsManager } from '../../test/support/local-secrets-manager';
import { fakeAwsEnvironment } from '../../test/support/local-secrets-manager';

export interface Invocation {
  /** Wall time of the handler call (module loading excluded). */
  readonly wallMs: number;
  readonly maxRssMb: number;
  readonly response: unknown;
}

// The bundled handler, once, in its own process: wall time of the invocation and the process's peak RSS.
const CHILD = `
const [asset, eventJson] = process.argv.slice(1);
const { handler } = require(asset);
const event = JSON.parse(eventJson);
const context = { getRemainingTimeInMillis: () => 900000, functionName: 'bench', awsRequestId: 'bench' };
const started = process.hrtime.bigint();
handler(event, context).then((response) => {
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ wallMs, maxRssMb: process.resourceUsage().maxRSS / 1024, response }) + '\\n');
  process.exit(0);
}, (error) => { console.error(error); process.exit(1); });
`;

export interface IngestionEnvironmentOptions {
  readonly db: URL;
  readonly writer: { readonly username: string; readonly password: string };
  readonly s3: LocalS3;
  readonly secretsManager: LocalSecretsManager;
  readonly eventBridge: LocalEventBridge;
  /** The sources config file (renderSourcesConfig of the build). */
  readonly sourcesConfigPath: string;
  readonly extra?: Record<string, string>;
}

/** The handler's environment, as the construct sets it, pointed at the local services. */
export function ingestionEnvironment(o: IngestionEnvironmentOptions): Record<string, string> {
  return {
    ...fakeAwsEnvironment(),
    ...o.s3.environment(),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: o.secretsManager.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: o.eventBridge.endpoint,
    DB_HOST: o.db.hostname,
    DB_PORT: o.db.port,
    DB_NAME: o.db.pathname.slice(1) || 'postgres',
    DB_TLS: 'disable',
    DB_SECRET_ARN: o.secretsManager.put('writer', { username: o.writer.username, password: o.writer.password }),
    EVENT_BUS_NAME: 'bench',
    SOURCES_CONFIG_PATH: o.sourcesConfigPath,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    NODE_OPTIONS: '--enable-source-maps',
    NODE_NO_WARNINGS: '1',
    ...o.extra,
  };
}

/**
 * One SQS message with the S3 notification of `bucket/key`, given to the bundle `asset`.
 * BENCH_NODE_ARGS: extra node flags for the handler process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export function invokeIngestion(asset: string, env: Record<string, string>, bucket: string, key: string, receiveCount = 1): Promise<Invocation> {
  const event = {
    Records: [{
      messageId: `bench-${key}-${Date.now()}`,
      receiptHandle: 'r',
      body: JSON.stringify(s3Notification(bucket, key)),
      attributes: { ApproximateReceiveCount: String(receiveCount) },
      messageAttributes: {},
      eventSource: 'aws:sqs',
    }],
  };
  return runChild(asset, env, event);
}

/**
 * The typed storage's refresh, as the pipeline's rule invokes it after a run that loaded the store
 * (builds with typed storage: see hasTypedStorage).
 */
export function invokeTypedRefresh(asset: string, env: Record<string, string>): Promise<Invocation> {
  return runChild(asset, env, { 'version': '0', 'id': 'bench', 'source': 'cdk-serverless-data-pipeline.ingestion', 'detail-type': 'Ingestion Succeeded', 'detail': { loadToStore: true } });
}

/** True when the store has typed storage to refresh (migration 0004 and later). */
export async function hasTypedStorage(db: { query(text: string): Promise<{ rows: any[] }> }): Promise<boolean> {
  const { rows } = await db.query("SELECT to_regprocedure('canonical.refresh_typed_storage()') IS NOT NULL AS typed");
  return rows[0].typed === true;
}

function runChild(asset: string, env: Record<string, string>, event: unknown): Promise<Invocation> {
  return new Promise((resolve, reject) => {
    const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [];
    const child = spawn(process.execPath, [...nodeArgs, '-e', CHILD, asset, JSON.stringify(event)], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`handler exited with ${code}`))));
  });
}

/** The run's success event (the handler publishes one per file), or a loud failure. */
export function successEventOf(eventBridge: LocalEventBridge, key: string, invocation: Invocation): { counts: Record<string, number> } {
  const event = eventBridge.events.filter((e) => e.detail.objectKey === key).pop();
  if (!event || event.detailType !== 'Ingestion Succeeded') {
    throw new Error(`${key}: no success event (${event?.detailType ?? 'no event'}; handler response ${JSON.stringify(invocation.response)})`);
  }
  return { counts: event.detail.counts };
}
