/**
 * The sandbox: synthesizes an app, reads its templates, and runs them on this machine — no AWS
 * account, no Docker. Everything is derived from the template, so any app built with these
 * constructs (or plain CDK resources of the supported kinds) runs as it would in the cloud.
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Client, Pool } from 'pg';
import { ApiMethod, ApiResourceNode, LocalRestApi, RestApiSpec } from './api-gateway';
import { CloudAssembly, defaultAppCommand, readCloudAssembly, synthesize } from './assembly';
import { AwsError, LocalAwsApi } from './aws-api';
import { LocalBedrock, startLocalBedrock } from './bedrock';
import { LocalDynamoDb, startLocalDynamoDb } from './dynamodb';
import { LocalEventBridge, LocalRule, RuleTarget } from './eventbridge';
import { FunctionSpec, InvokeResult, LambdaRuntime } from './lambda-runtime';
import { LocalPostgres, startLocalPostgres, stopStaleServer } from './local-postgres';
import { LocalSes, LocalSns, Outbox, Subscription } from './messaging';
import { Printer, Progress, seconds } from './progress';
import { LocalQueues } from './queues';
import { StackModel, stackModels } from './resolver';
import { LocalS3, S3ObjectEvent, s3NotificationRecord, startLocalS3 } from './s3';
import { generateSecretString, LocalSecrets } from './secrets';
import { LocalStepFunctions } from './step-functions';

export interface SandboxOptions {
  /** The project folder (where cdk.json or examples/app.ts is). @default process.cwd() */
  readonly cwd?: string;
  /** The app command, as in cdk.json's "app". @default cdk.json's app, else this repository's example */
  readonly app?: string;
  /** Run an already synthesized cloud assembly (a cdk.out folder) instead of synthesizing. */
  readonly cloudAssembly?: string;
  /** Context values for the synthesis. */
  readonly context?: Record<string, unknown>;
  /** The sandbox's folder (outbox, logs, data). @default <cwd>/.sandbox */
  readonly stateDir?: string;
  /** Port of the (first) REST API; 0 for any free port. @default 3000 */
  readonly apiPort?: number;
  /** Port of the local S3 endpoint; 0 for any free port. @default 4569 */
  readonly s3Port?: number;
  /** Port of the local AWS API endpoint (Secrets Manager, EventBridge, Step Functions, SNS, SES, Lambda). @default any free port */
  readonly servicesPort?: number;
  readonly region?: string;
  /** Forward the analyzer's Bedrock calls to real Bedrock with this process's AWS credentials. @default false (the local stand-in) */
  readonly realBedrock?: boolean;
  /** TLS to the local PostgreSQL: `auto` uses TLS (DB_TLS=require) where openssl exists. @default 'auto' */
  readonly databaseTls?: 'auto' | 'require' | 'disable';
  /** Progress and event lines. @default console.log */
  readonly print?: Printer;
  /** Spinner while starting. @default process.stdout.isTTY */
  readonly tty?: boolean;
  /** Also print the functions' own log lines (they always go to <stateDir>/logs/). @default false */
  readonly verbose?: boolean;
}

export interface ObjectProcessing {
  readonly bucket: string;
  readonly key: string;
  readonly status: 'pending' | 'processed' | 'failed';
  /** From the S3 event to the function's success (upload → rows in the store). */
  readonly ms?: number;
  readonly functionName?: string;
  readonly error?: string;
  /** The store's ingestion run for the object, when there is one. */
  readonly run?: Record<string, unknown>;
}

export interface SandboxInfo {
  readonly pid: number;
  readonly startedAt: string;
  readonly startupMs: number;
  readonly apis: Array<{ name: string; url: string; stage: string; apiKeys: Array<{ name: string; value: string }> }>;
  readonly s3: { endpoint: string; buckets: Record<string, string>; notifiedBuckets: string[]; notifications: Array<{ bucket: string; prefix: string; suffix: string; target: string }>; accessKeyId: string; secretAccessKey: string; forcePathStyle: true; checksums: 'WHEN_REQUIRED' };
  readonly dynamodb: { endpoint: string; tables: string[] };
  readonly services: string;
  readonly bedrock: { endpoint: string; mode: 'stand-in' | 'real' };
  readonly database?: { host: string; port: number; databases: string[]; adminUrl: string; tls: boolean; server: string };
  readonly stateMachines: string[];
  /** Scheduled rules and schedules (run on demand: `cdp-sandbox trigger <id>`). */
  readonly schedules: Array<{ id: string; expression: string }>;
  readonly outbox: string;
  readonly logs: string;
  readonly functions: string[];
  readonly warnings: string[];
}

export interface Sandbox {
  readonly info: SandboxInfo;
  readonly outbox: Outbox;
  readonly events: LocalEventBridge;
  readonly stepFunctions: LocalStepFunctions;
  readonly lambdas: LambdaRuntime;
  /** The first REST API's URL (http://localhost:3000). */
  readonly apiUrl?: string;
  /** The first API key of the first REST API. */
  readonly apiKey?: string;
  /** The bucket with event notifications (the raw-data bucket), if any. */
  readonly rawBucket?: string;
  /** Processing of an uploaded object, by `bucket/key`. */
  processing(bucket: string, key: string): ObjectProcessing | undefined;
  /** Waits until an uploaded object was processed (or failed). */
  waitForObject(bucket: string, key: string, timeoutMs?: number): Promise<ObjectProcessing>;
  /** A superuser connection URL of a local database. */
  databaseUrl(database?: string): string;
  stop(): Promise<void>;
}

interface NotificationRule {
  readonly bucket: string;
  readonly id: string;
  readonly events: string[];
  readonly prefix: string;
  readonly suffix: string;
  readonly kind: 'queue' | 'lambda' | 'topic' | 'eventbridge';
  readonly arn: string;
}

const SKIPPED_CUSTOM_RESOURCES = new Set([
  'Custom::LogRetention', 'Custom::S3BucketNotifications', 'Custom::S3AutoDeleteObjects', 'Custom::VpcRestrictDefaultSG',
  'Custom::CDKBucketDeployment', 'Custom::AWS', 'Custom::CrossRegionExportWriter', 'Custom::CrossRegionExportReader',
  'Custom::DeleteExistingRecordSet', 'Custom::AWSCDKOpenIdConnectProvider', 'Custom::AWSCDK-EKS-Cluster',
]);

const SERVICE_ENDPOINT_VARIABLES = ['SECRETS_MANAGER', 'EVENTBRIDGE', 'SFN', 'SNS', 'SESV2', 'SES', 'LAMBDA', 'SQS', 'STS', 'CLOUDWATCH', 'CLOUDWATCH_LOGS', 'SSM', 'KMS', 'XRAY'];

/** Where the AWS SDK v3 packages are, for the functions' NODE_PATH (the Lambda runtime provides the SDK). */
function sdkNodePath(): string[] {
  const dirs = new Set<string>();
  for (const pkg of ['@aws-sdk/client-s3/package.json', '@aws-sdk/client-dynamodb/package.json']) {
    try {
      dirs.add(path.resolve(require.resolve(pkg), '..', '..', '..'));
    } catch {
      // not installed: the function's bundle must carry its own SDK
    }
  }
  return [...dirs];
}

function isPostgres(model: StackModel, id: string): boolean {
  const engine = String(model.resolve(model.resources[id].Properties?.Engine ?? 'postgres'));
  return engine.includes('postgres');
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const started = Date.now();
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const stateDir = path.resolve(cwd, options.stateDir ?? '.sandbox');
  const print: Printer = options.print ?? ((l) => console.log(l));
  const progress = new Progress(print, options.tty ?? Boolean(process.stdout.isTTY));
  const region = options.region ?? 'us-east-1';
  const accountId = '000000000000';
  const warnings: string[] = [];
  const stoppers: Array<() => Promise<void>> = [];
  const stateFile = path.join(stateDir, 'sandbox.json');
  const runDir = path.join(stateDir, 'run');
  const logsDir = path.join(stateDir, 'logs');

  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        print(`  (while stopping: ${(error as Error).message})`);
      }
    }
  };

  try {
    // ----- a previous sandbox in the same folder --------------------------------------------------
    fs.mkdirSync(stateDir, { recursive: true });
    if (fs.existsSync(stateFile)) {
      const previous = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      if (previous.pid && previous.pid !== process.pid && isAlive(previous.pid)) {
        throw new Error(`A sandbox is already running from ${stateDir} (pid ${previous.pid}): stop it with Ctrl-C, or use another --state-dir`);
      }
      if (previous.database?.dataDir && stopStaleServer(previous.database.dataDir)) print('  stopped the PostgreSQL server a previous sandbox left running');
      fs.rmSync(stateFile, { force: true });
    }
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(logsDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true });
    fs.mkdirSync(logsDir, { recursive: true });

    // ----- the app ---------------------------------------------------------------------------------
    const assembly: CloudAssembly = options.cloudAssembly
      ? readCloudAssembly(path.resolve(cwd, options.cloudAssembly))
      : await progress.step('Synthesizing the app', () => synthesize({
        appCommand: options.app ?? defaultAppCommand(cwd),
        outdir: path.join(stateDir, 'cdk.out'),
        cwd,
        context: options.context,
      }), (a) => `${a.stacks.length} stack${a.stacks.length === 1 ? '' : 's'} (${a.stacks.map((s) => s.stackName).join(', ')})`);
    const endpoints: { database?: { host: string; port: number }; services?: string } = {};
    const models = stackModels(assembly.stacks, { region, accountId }, endpoints);
    const all = <T>(fn: (m: StackModel) => T[]) => models.flatMap(fn);
    const ofType = (type: string) => all((m) => m.ofType(type).map(([id]) => ({ model: m, id })));

    // ----- local AWS API, secrets, messaging, events ------------------------------------------------
    const api = new LocalAwsApi();
    endpoints.services = await api.listen(options.servicesPort ?? 0);
    stoppers.push(() => api.close());
    const secrets = new LocalSecrets();
    secrets.register(api);
    for (const m of models) m.resolveDynamicReferencesWith((service, ref) => service === 'secretsmanager' ? secrets.dynamicReference(ref) : undefined);
    const outbox = new Outbox(path.join(stateDir, 'outbox'));
    for (const f of fs.readdirSync(outbox.directory)) fs.rmSync(path.join(outbox.directory, f), { force: true });
    const queues = new LocalQueues();
    stoppers.push(() => queues.stop());
    let lambdas!: LambdaRuntime;
    const invokeAsync = (fn: string, event: unknown, what: string): Promise<void> => lambdas.invoke(fn, event).then((r) => {
      if (r.error) throw new Error(`${what}: ${r.error.errorType}: ${r.error.errorMessage}`);
    });
    const sns = new LocalSns(outbox, async (sub, notification, message) => {
      if (sub.protocol === 'lambda') {
        await invokeAsync(sub.endpoint, { Records: [{ EventSource: 'aws:sns', EventVersion: '1.0', EventSubscriptionArn: `${sub.topicArn}:local`, Sns: notification }] }, `SNS → ${sub.endpoint}`);
      } else if (sub.protocol === 'sqs') {
        queues.byArn(sub.endpoint)?.send(sub.rawMessageDelivery ? message : JSON.stringify(notification));
      }
    }, region);
    sns.register(api);
    new LocalSes(outbox).register(api);
    let stepFunctions!: LocalStepFunctions;
    const eventsLog = fs.createWriteStream(path.join(logsDir, 'events.log'), { flags: 'a' });
    stoppers.push(() => new Promise((r) => eventsLog.end(() => r())));
    const events = new LocalEventBridge(region, accountId, async (target, input, rule) => {
      const arn = target.Arn;
      if (arn.includes(':lambda:')) return invokeAsync(arn, input, `rule ${rule.name} → ${arn.split(':').pop()}`);
      if (arn.includes(':sqs:')) {
        queues.byArn(arn)?.send(JSON.stringify(input));
        return;
      }
      if (arn.includes(':sns:')) {
        sns.publish(arn, typeof input === 'string' ? input : JSON.stringify(input));
        return;
      }
      if (arn.includes(':states:')) {
        stepFunctions.start(arn, JSON.stringify(input));
        return;
      }
      if (arn.includes(':events:') && arn.includes(':event-bus/')) {
        const e = input as any;
        events.put(arn, { source: e.source, detailType: e['detail-type'], detail: e.detail, resources: e.resources });
        return;
      }
      if (arn.includes(':logs:')) {
        eventsLog.write(`${new Date().toISOString()} ${rule.name} → ${arn}: ${JSON.stringify(input)}\n`);
        return;
      }
      throw new Error(`The sandbox cannot deliver to target ${arn}`);
    }, (rule, target, error) => print(`  ✘ rule ${rule.name} → ${target.Arn.split(':').pop()}: ${error.message}`));
    events.register(api);
    events.onEvent((e) => eventsLog.write(`${e.event.time} bus=${e.bus} ${e.event.source} "${e.event['detail-type']}" rules=[${e.rules.join(',')}] ${JSON.stringify(e.event.detail).slice(0, 2000)}\n`));

    // ----- secrets from the template ---------------------------------------------------------------
    for (const { model, id } of ofType('AWS::SecretsManager::Secret')) {
      const p = model.properties(id);
      const arn = String(model.ref(id));
      const name = arn.split(':secret:')[1].replace(/-[A-Za-z0-9]{6}$/, '');
      secrets.put(name, arn, p.SecretString ?? generateSecretString(p.GenerateSecretString));
    }

    // ----- PostgreSQL ------------------------------------------------------------------------------
    const dbResources = [...ofType('AWS::RDS::DBInstance'), ...ofType('AWS::RDS::DBCluster')]
      .filter(({ model, id }) => isPostgres(model, id) && !(model.resources[id].Type === 'AWS::RDS::DBInstance' && model.resources[id].Properties?.DBClusterIdentifier));
    let postgres: LocalPostgres | undefined;
    const databases: string[] = [];
    const adminPools = new Map<string, Pool>();
    if (dbResources.length > 0) {
      const tls = options.databaseTls ?? 'auto';
      postgres = await progress.step('Starting PostgreSQL', () => startLocalPostgres({
        fast: true, baseDir: runDir, tls: tls === 'auto' ? 'auto' : tls === 'require',
      }), (pg) => `${pg.description.replace(/ in .*/, '')} on ${pg.host}:${pg.port}, TLS ${pg.tls ? 'required (DB_TLS=require)' : 'off (DB_TLS=disable)'}`);
      const pg = postgres;
      stoppers.push(() => pg.stop());
      endpoints.database = { host: pg.host, port: pg.port };
      await progress.step('Creating the databases and master users', async () => {
        const admin = new Client({ connectionString: pg.adminUrl, ssl: pg.tls ? { rejectUnauthorized: false } : false });
        await admin.connect();
        try {
          for (const { model, id } of dbResources) {
            const p = model.properties(id);
            const dbName = String(p.DBName ?? p.DatabaseName ?? 'postgres');
            let username = p.MasterUsername ? String(p.MasterUsername) : 'postgres_admin';
            let password = p.MasterUserPassword ? String(p.MasterUserPassword) : undefined;
            if (p.ManageMasterUserPassword) {
              const arn = String(model.getAtt(id, 'MasterUserSecret.SecretArn'));
              password = generateSecretString({ PasswordLength: 30, ExcludeCharacters: '"@/\\ \'' });
              secrets.put(arn.split(':secret:')[1], arn, JSON.stringify({ username, password }));
            }
            if (!password) {
              warnings.push(`${model.stackName}/${id}: no master password in the template; using a generated one`);
              password = randomUUID();
            }
            username = username || 'postgres_admin';
            // Like the RDS master user: creates roles and databases, owns its database, not a superuser.
            const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
            const verb = exists.rowCount ? 'ALTER' : 'CREATE';
            await admin.query(`${verb} ROLE ${admin.escapeIdentifier(username)} LOGIN CREATEROLE CREATEDB PASSWORD ${admin.escapeLiteral(password)}`);
            if (!(await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount) {
              await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)} OWNER ${admin.escapeIdentifier(username)}`);
            }
            databases.push(dbName);
          }
        } finally {
          await admin.end();
        }
      }, () => databases.join(', '));
      // Attached secrets get the connection fields RDS adds.
      for (const { model, id } of ofType('AWS::SecretsManager::SecretTargetAttachment')) {
        const p = model.properties(id);
        const target = String(p.TargetId);
        const kind = String(p.TargetType ?? '');
        secrets.merge(String(p.SecretId), {
          engine: 'postgres',
          host: pg.host,
          port: pg.port,
          ...(kind.includes('Cluster') ? { dbClusterIdentifier: target } : { dbInstanceIdentifier: target }),
        });
      }
    }
    const declaredDbPorts = new Set(dbResources.map(({ model, id }) => String(model.resolve(model.resources[id].Properties?.Port ?? '5432'))));

    // ----- S3 and DynamoDB -------------------------------------------------------------------------
    const buckets: Record<string, string> = {};
    for (const { model, id } of ofType('AWS::S3::Bucket')) buckets[`${model.stackName}/${id}`] = String(model.ref(id));
    const s3: LocalS3 = await progress.step('Starting S3 (s3rver)', () => startLocalS3({
      directory: path.join(runDir, 's3'), buckets: Object.values(buckets), port: options.s3Port ?? 4569,
    }).catch((e: Error) => {
      throw /EADDRINUSE|could not listen/.test(e.message) ? new Error(`${e.message}: stop what uses the port, or start the sandbox with --s3-port <another>`) : e;
    }), (x) => `${x.endpoint}, ${Object.keys(buckets).length} bucket${Object.keys(buckets).length === 1 ? '' : 's'}`);
    stoppers.push(() => s3.stop());
    const tables: string[] = [];
    const dynamo: LocalDynamoDb = await progress.step('Starting DynamoDB (dynalite)', async () => {
      const d = await startLocalDynamoDb();
      for (const { model, id } of [...ofType('AWS::DynamoDB::Table'), ...ofType('AWS::DynamoDB::GlobalTable')]) {
        const name = String(model.ref(id));
        await d.createTable(name, model.properties(id));
        tables.push(name);
      }
      return d;
    }, (d) => `${d.endpoint}, ${tables.length} table${tables.length === 1 ? '' : 's'}`);
    stoppers.push(() => dynamo.stop());
    const bedrock: LocalBedrock = await startLocalBedrock({ real: options.realBedrock, region });
    stoppers.push(() => bedrock.stop());

    // ----- Lambda ----------------------------------------------------------------------------------
    const functionLogs = new Map<string, fs.WriteStream>();
    stoppers.push(async () => {
      for (const s of functionLogs.values()) s.end();
    });
    const apiFunctions = new Set<string>();
    let firstApiUrl: string | undefined;
    lambdas = new LambdaRuntime({
      region,
      nodePath: sdkNodePath(),
      logs: {
        line(fn, text) {
          let stream = functionLogs.get(fn.name);
          if (!stream) {
            stream = fs.createWriteStream(path.join(logsDir, `${fn.name}.log`), { flags: 'a' });
            functionLogs.set(fn.name, stream);
          }
          stream.write(`${text}\n`);
          if (options.verbose) print(`  [${fn.name}] ${text}`);
        },
      },
      defaults: (fn): Record<string, string> => (apiFunctions.has(fn.arn) && firstApiUrl ? { PUBLIC_BASE_URL: firstApiUrl } : {}),
      overrides: () => ({
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_ENDPOINT_URL: endpoints.services!,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
        ...Object.fromEntries(SERVICE_ENDPOINT_VARIABLES.map((s) => [`AWS_ENDPOINT_URL_${s}`, endpoints.services!])),
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        S3_FORCE_PATH_STYLE: 'true',
        POWERTOOLS_TRACE_ENABLED: 'false',
        AWS_XRAY_SDK_ENABLED: 'false',
        AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
      }),
    });
    stoppers.push(() => lambdas.stop());
    const providerFunctions = new Set<string>();
    let nodeFunctions = 0;
    for (const { model, id } of ofType('AWS::Lambda::Function')) {
      const r = model.resources[id];
      const runtime = String(model.resolve(r.Properties?.Runtime ?? 'nodejs22.x'));
      const p = r.Properties ?? {};
      const name = String(model.ref(id));
      const arn = String(model.getAtt(id, 'Arn'));
      let codeDirectory: string | undefined;
      if (p.Code?.ZipFile !== undefined) {
        if (!runtime.startsWith('nodejs')) continue;
        codeDirectory = path.join(runDir, 'inline', `${model.stackName}-${id}`);
        fs.mkdirSync(codeDirectory, { recursive: true });
        fs.writeFileSync(path.join(codeDirectory, 'index.js'), String(model.resolve(p.Code.ZipFile)));
      } else if (p.Code?.S3Key !== undefined) {
        const key = String(model.resolve(p.Code.S3Key));
        codeDirectory = assembly.assetDirectory(path.basename(key).replace(/\.zip$/, ''));
      }
      if (!codeDirectory) {
        warnings.push(`${model.stackName}/${id}: no local code for ${name} (container image or missing asset); not runnable`);
        continue;
      }
      if (!runtime.startsWith('nodejs')) {
        warnings.push(`${model.stackName}/${id}: runtime ${runtime} is not run by the sandbox (Node.js only)`);
        continue;
      }
      const envTemplate = p.Environment?.Variables;
      if (envTemplate?.USER_ON_EVENT_FUNCTION_ARN) providerFunctions.add(arn);
      nodeFunctions++;
      lambdas.add({
        id: `${model.stackName}/${id}`,
        name,
        arn,
        codeDirectory,
        handler: String(model.resolve(p.Handler ?? 'index.handler')),
        runtime,
        timeoutSeconds: Number(model.resolve(p.Timeout ?? 3)),
        memoryMb: Number(model.resolve(p.MemorySize ?? 128)),
        maxConcurrency: Math.max(1, Math.min(Number(model.resolve(p.ReservedConcurrentExecutions ?? 4)), 4)),
        environment: () => localizeEnvironment(model.resolve(envTemplate ?? {}), {
          dbHost: postgres?.host, dbPort: postgres?.port, dbTls: postgres?.tls ? 'require' : 'disable', declaredDbPorts,
        }),
      });
    }
    print(`  ${nodeFunctions} function${nodeFunctions === 1 ? '' : 's'} from the cloud assembly's assets`);

    // ----- Step Functions --------------------------------------------------------------------------
    stepFunctions = new LocalStepFunctions({
      region,
      account: accountId,
      invokeLambda: (fn, payload) => lambdas.invoke(fn, payload),
      sns,
      events,
      queues,
      endpointFor: (service) => service === 'dynamodb' ? dynamo.endpoint : service === 's3' ? s3.endpoint : endpoints.services!,
    });
    stepFunctions.register(api);
    const machines: string[] = [];
    for (const { model, id } of ofType('AWS::StepFunctions::StateMachine')) {
      const p = model.properties(id);
      let text = typeof p.DefinitionString === 'string' ? p.DefinitionString : JSON.stringify(p.Definition ?? {});
      for (const [k, v] of Object.entries(p.DefinitionSubstitutions ?? {})) text = text.split(`\${${k}}`).join(String(v));
      const arn = String(model.ref(id));
      const name = String(model.getAtt(id, 'Name'));
      stepFunctions.addMachine(arn, name, JSON.parse(text), String(p.StateMachineType ?? 'STANDARD'));
      machines.push(name);
    }
    stepFunctions.onStatus((e) => {
      if (e.status !== 'RUNNING') print(`  ⇢ execution ${e.name}: ${e.status}${e.error ? ` (${e.error})` : ''} in ${seconds((e.stopDate ?? Date.now()) - e.startDate)}`);
    });

    // ----- Lambda Invoke API and the sandbox's admin API --------------------------------------------
    registerLambdaApi(api, lambdas);
    const cfnResponses = new Map<string, (body: any) => void>();
    api.route('PUT', /^\/_sandbox\/cfn-response\/([^/]+)$/, (request, m) => {
      cfnResponses.get(m[1])?.(JSON.parse(request.body.toString('utf8') || '{}'));
      return { status: 200 };
    });

    // ----- queues, event source mappings, subscriptions, rules, schedules ---------------------------
    for (const { model, id } of ofType('AWS::SQS::Queue')) {
      const p = model.properties(id);
      queues.add({
        arn: String(model.getAtt(id, 'Arn')),
        name: String(model.getAtt(id, 'QueueName')),
        url: String(model.ref(id)),
        visibilityTimeoutSeconds: Number(p.VisibilityTimeout ?? 30),
        deadLetter: p.RedrivePolicy
          ? { arn: String(p.RedrivePolicy.deadLetterTargetArn), maxReceiveCount: Number(p.RedrivePolicy.maxReceiveCount) }
          : undefined,
      });
    }
    for (const { model, id } of ofType('AWS::SNS::Topic')) {
      const arn = String(model.ref(id));
      sns.addTopic(arn, String(model.getAtt(id, 'TopicName')));
      for (const s of model.properties(id).Subscription ?? []) sns.subscribe({ topicArn: arn, protocol: s.Protocol, endpoint: s.Endpoint });
    }
    for (const { model, id } of ofType('AWS::SNS::Subscription')) {
      const p = model.properties(id);
      const sub: Subscription = { topicArn: String(p.TopicArn), protocol: String(p.Protocol), endpoint: String(p.Endpoint), filterPolicy: p.FilterPolicy, rawMessageDelivery: p.RawMessageDelivery === true || p.RawMessageDelivery === 'true' };
      sns.subscribe(sub);
    }
    const mappings: Array<Parameters<LocalQueues['startMapping']>[0]> = [];
    for (const { model, id } of ofType('AWS::Lambda::EventSourceMapping')) {
      const p = model.properties(id);
      const source = String(p.EventSourceArn ?? '');
      if (!source.includes(':sqs:')) {
        warnings.push(`${model.stackName}/${id}: event source ${source} is not run by the sandbox (SQS only)`);
        continue;
      }
      mappings.push({
        id,
        queueArn: source,
        functionName: String(p.FunctionName),
        batchSize: Number(p.BatchSize ?? 10),
        batchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
        maximumConcurrency: Number(p.ScalingConfig?.MaximumConcurrency ?? 2),
        reportBatchItemFailures: (p.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
        enabled: p.Enabled !== false && p.Enabled !== 'false',
      });
    }
    for (const { model, id } of ofType('AWS::Events::Rule')) {
      const p = model.properties(id);
      const bus = String(p.EventBusName ?? 'default');
      const rule: LocalRule = {
        id: `${model.stackName}/${id}`,
        name: String(model.ref(id)).split('|').pop()!,
        bus: bus.startsWith('arn:') ? bus.split('/').pop()! : bus,
        pattern: typeof p.EventPattern === 'string' ? JSON.parse(p.EventPattern) : p.EventPattern,
        schedule: p.ScheduleExpression,
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
        targets: (p.Targets ?? []) as RuleTarget[],
      };
      events.addRule(rule);
    }
    for (const { model, id } of ofType('AWS::Scheduler::Schedule')) {
      const p = model.properties(id);
      events.addRule({
        id: `${model.stackName}/${id}`,
        name: String(model.ref(id)),
        bus: '(scheduler)',
        schedule: p.ScheduleExpression,
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
        targets: [{ Id: 'target', Arn: String(p.Target?.Arn), Input: p.Target?.Input }],
      });
    }
    api.route('POST', /^\/_sandbox\/trigger\/(.+)$/, (_r, m) => {
      try {
        const rule = events.trigger(decodeURIComponent(m[1]));
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ triggered: rule.id, targets: rule.targets.map((t) => t.Arn) }) };
      } catch (error) {
        throw new AwsError('ResourceNotFoundException', (error as Error).message, 404);
      }
    });

    // ----- S3 event notifications -------------------------------------------------------------------
    const notifications = collectNotifications(models, warnings);
    const processing = new Map<string, ObjectProcessing & { at: number }>();
    const waiters = new Map<string, Array<(p: ObjectProcessing) => void>>();
    const settle = (key: string, p: ObjectProcessing) => {
      processing.set(key, { ...p, at: processing.get(key)?.at ?? Date.now() });
      if (p.status !== 'pending') for (const w of waiters.get(key)?.splice(0) ?? []) w(p);
    };
    const storeRun = async (bucket: string, key: string): Promise<Record<string, unknown> | undefined> => {
      if (!postgres) return undefined;
      for (const db of databases) {
        let pool = adminPools.get(db);
        if (!pool) {
          const u = new URL(postgres.adminUrl);
          u.pathname = `/${db}`;
          pool = new Pool({ connectionString: u.toString(), ssl: postgres.tls ? { rejectUnauthorized: false } : false, max: 2 });
          pool.on('error', () => undefined);
          adminPools.set(db, pool);
        }
        try {
          const { rows } = await pool.query(
            `SELECT status, source_system, entity_type, received, inserted, updated, unchanged, not_loaded, rejected, duplicates
               FROM canonical.ingestion_runs WHERE bucket = $1 AND object_key = $2 ORDER BY started_at DESC LIMIT 1`, [bucket, key]);
          if (rows[0]) return rows[0];
        } catch {
          // no such table in this app: nothing to report
        }
      }
      return undefined;
    };
    stoppers.push(async () => {
      for (const p of adminPools.values()) await p.end().catch(() => undefined);
    });
    const finishObject = async (origin: string, ms: number, functionName: string, error?: string) => {
      const slash = origin.indexOf('/');
      const bucket = origin.slice(0, slash);
      const key = origin.slice(slash + 1);
      if (error) {
        settle(origin, { bucket, key, status: 'failed', ms, functionName, error });
        print(`  ✘ s3://${origin} → ${functionName}: ${error} (will be retried as the queue redelivers it)`);
        return;
      }
      const run = await storeRun(bucket, key);
      settle(origin, { bucket, key, status: 'processed', ms, functionName, run });
      const counts = run
        ? `${run.status}: ${run.received} received, ${run.inserted} inserted, ${run.updated} updated, ${run.unchanged} unchanged, ${run.not_loaded} not loaded, ${run.rejected} rejected`
        : 'processed';
      print(`  ⇢ s3://${origin} → ${functionName}: ${counts}; upload → rows in the store ${seconds(ms)}`);
    };
    queues.onBatch((o) => {
      for (const origin of o.origins) {
        const p = processing.get(origin);
        if (!p || p.status === 'processed') continue;
        void finishObject(origin, Date.now() - p.at, o.functionName, o.failed > 0 ? o.error ?? 'the function reported the record as failed' : undefined);
      }
    });
    s3.onEvent((e: S3ObjectEvent) => {
      const matching = notifications.filter((n) => n.bucket === e.bucket && n.events.some((ev) => eventMatches(ev, e.eventName))
        && e.key.startsWith(n.prefix) && e.key.endsWith(n.suffix));
      if (matching.length === 0) return;
      const origin = `${e.bucket}/${e.key}`;
      if (e.eventName.startsWith('ObjectCreated')) {
        processing.set(origin, { bucket: e.bucket, key: e.key, status: 'pending', at: e.at });
      }
      for (const n of matching) {
        const record = s3NotificationRecord(e, region, n.id);
        if (n.kind === 'queue') {
          queues.byArn(n.arn)?.send(JSON.stringify({ Records: [record] }), origin);
        } else if (n.kind === 'lambda') {
          const t0 = e.at;
          void lambdas.invoke(n.arn, { Records: [record] }).then((r) => finishObject(origin, Date.now() - t0, n.arn.split(':').pop()!, r.error ? `${r.error.errorType}: ${r.error.errorMessage}` : undefined));
        } else if (n.kind === 'topic') {
          sns.publish(n.arn, JSON.stringify({ Records: [record] }), 'Amazon S3 Notification');
        } else {
          events.put('default', {
            source: 'aws.s3',
            detailType: e.eventName.startsWith('ObjectCreated') ? 'Object Created' : 'Object Deleted',
            resources: [`arn:aws:s3:::${e.bucket}`],
            detail: { 'version': '0', 'bucket': { name: e.bucket }, 'object': { key: e.key, size: e.size, etag: e.eTag, sequencer: e.at.toString(16) }, 'request-id': 'SANDBOX', 'requester': accountId, 'source-ip-address': '127.0.0.1', 'reason': 'PutObject' },
          });
        }
      }
    });

    // ----- custom resources (e.g. the schema migrations), as a deployment runs them ------------------
    const customResources = all((m) => m.ofType((t) => t.startsWith('Custom::') || t === 'AWS::CloudFormation::CustomResource').map(([id]) => ({ model: m, id })));
    for (const { model, id } of customResources) {
      const type = model.resources[id].Type;
      if (SKIPPED_CUSTOM_RESOURCES.has(type)) continue;
      const props = model.properties(id);
      const token = String(props.ServiceToken ?? '');
      const fn = lambdas.find(token);
      if (!fn) {
        warnings.push(`${model.stackName}/${id} (${type}): its provider ${token} does not run locally; skipped`);
        continue;
      }
      await progress.step(`Custom resource ${id} (${type})`, async () => {
        const event: Record<string, unknown> = {
          RequestType: 'Create',
          ServiceToken: token,
          ResponseURL: `${endpoints.services}/_sandbox/cfn-response/${randomUUID()}`,
          StackId: `arn:aws:cloudformation:${region}:${accountId}:stack/${model.stackName}/sandbox`,
          RequestId: randomUUID(),
          LogicalResourceId: id,
          ResourceType: type,
          ResourceProperties: props,
        };
        const data = await runCustomResource(lambdas, fn, event, providerFunctions.has(fn.arn), cfnResponses);
        model.setAttributes(id, data.Data ?? {}, data.PhysicalResourceId);
        return data;
      }, (d) => d.PhysicalResourceId ? String(d.PhysicalResourceId) : '');
    }

    // ----- REST APIs --------------------------------------------------------------------------------
    const restApis: LocalRestApi[] = [];
    const apiSpecs = ofType('AWS::ApiGateway::RestApi').map(({ model, id }) => buildRestApi(model, id, warnings));
    let port = options.apiPort ?? 3000;
    for (const spec of apiSpecs) {
      for (const node of spec.resources) {
        for (const m of Object.values(node.methods)) if (m.integration.functionArn) apiFunctions.add(m.integration.functionArn);
      }
      const rest = new LocalRestApi(spec, (fn, event) => lambdas.invoke(fn, event), accountId, print);
      const url = await rest.listen(port);
      stoppers.push(() => rest.close());
      firstApiUrl ??= url;
      restApis.push(rest);
      if (port !== 0) port++;
    }
    for (const { model, id } of ofType('AWS::ApiGatewayV2::Api')) warnings.push(`${model.stackName}/${id}: HTTP/WebSocket APIs (API Gateway v2) are not run by the sandbox`);
    for (const { model, id } of ofType('AWS::WAFv2::WebACLAssociation')) warnings.push(`${model.stackName}/${id}: the AWS WAF web ACL's rules are not applied locally`);

    // ----- start polling, warm the functions ---------------------------------------------------------
    for (const mapping of mappings) queues.startMapping(mapping, (fn, event) => lambdas.invoke(fn, event));
    for (const fn of lambdas.functions()) if (!providerFunctions.has(fn.arn)) lambdas.warm(fn.arn);

    for (const m of models) warnings.push(...m.warnings);
    const startupMs = Date.now() - started;
    const info: SandboxInfo = {
      pid: process.pid,
      startedAt: new Date(started).toISOString(),
      startupMs,
      apis: restApis.map((r) => ({
        name: r.spec.name, url: r.url, stage: r.spec.stage, apiKeys: r.spec.apiKeys.map((k) => ({ name: k.name, value: k.value })),
      })),
      s3: {
        endpoint: s3.endpoint.replace('127.0.0.1', 'localhost'),
        buckets,
        notifiedBuckets: [...new Set(notifications.map((n) => n.bucket))],
        notifications: notifications.map((n) => {
          const short = (name: string) => name.split(':').pop()!.replace(/^[^-]+-/, '').replace(/-[0-9A-F]{12}$/, '');
          const consumer = n.kind === 'queue' ? mappings.find((m) => m.queueArn === n.arn)?.functionName : undefined;
          const target = n.kind === 'eventbridge' ? 'EventBridge' : `${n.kind} ${short(n.arn)}${consumer ? ` → ${short(consumer)}` : ''}`;
          return { bucket: n.bucket, prefix: n.prefix, suffix: n.suffix, target };
        }),
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        forcePathStyle: true,
        checksums: 'WHEN_REQUIRED',
      },
      dynamodb: { endpoint: dynamo.endpoint, tables },
      services: endpoints.services!,
      bedrock: { endpoint: bedrock.endpoint, mode: options.realBedrock ? 'real' : 'stand-in' },
      database: postgres ? { host: postgres.host, port: postgres.port, databases, adminUrl: postgres.adminUrl, tls: postgres.tls, server: postgres.description, dataDir: postgres.dataDir } as SandboxInfo['database'] : undefined,
      stateMachines: machines,
      schedules: events.rules.filter((r) => r.schedule).map((r) => ({ id: r.id.split('/').pop()!, expression: String(r.schedule) })),
      outbox: outbox.directory,
      logs: logsDir,
      functions: lambdas.functions().map((f) => f.name),
      warnings,
    };
    api.route('GET', /^\/_sandbox\/info$/, () => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(info) }));
    api.route('GET', /^\/_sandbox\/objects$/, (request) => {
      const bucket = request.query.get('bucket') ?? '';
      const key = request.query.get('key') ?? '';
      const p = processing.get(`${bucket}/${key}`);
      return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(p ?? { bucket, key, status: 'unknown' }) };
    });
    fs.writeFileSync(stateFile, JSON.stringify(info, null, 2));
    stoppers.unshift(async () => fs.rmSync(stateFile, { force: true }));
    outbox.onEntry((e) => print(`  ✉ ${e.kind === 'email' ? `e-mail to ${e.to.join(', ') || '(no recipient)'}` : 'SNS message'}: ${e.subject} → ${path.relative(cwd, e.file)}`));

    const rawBucket = info.s3.notifiedBuckets[0];
    let stopped = false;
    return {
      info,
      outbox,
      events,
      stepFunctions,
      lambdas,
      apiUrl: restApis[0]?.url,
      apiKey: restApis[0]?.spec.apiKeys[0]?.value,
      rawBucket,
      processing: (bucket, key) => processing.get(`${bucket}/${key}`),
      waitForObject(bucket, key, timeoutMs = 60_000) {
        const k = `${bucket}/${key}`;
        const now = processing.get(k);
        if (now && now.status !== 'pending') return Promise.resolve(now);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`s3://${k} was not processed within ${timeoutMs} ms (status: ${processing.get(k)?.status ?? 'no event'})`)), timeoutMs);
          const list = waiters.get(k) ?? [];
          list.push((p) => {
            clearTimeout(timer);
            resolve(p);
          });
          waiters.set(k, list);
        });
      },
      databaseUrl(database = databases[0]) {
        if (!postgres) throw new Error('The app has no PostgreSQL database');
        const u = new URL(postgres.adminUrl);
        u.pathname = `/${database}`;
        return u.toString();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The template's environment, adjusted where the local services differ from the cloud. */
export function localizeEnvironment(
  env: Record<string, unknown>, local: { dbHost?: string; dbPort?: number; dbTls: string; declaredDbPorts: Set<string> },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  if ('DB_TLS' in out) out.DB_TLS = local.dbTls;
  // A port written into the template as a number (not Endpoint.Port) still means the database's.
  const pointsAtDb = local.dbHost !== undefined && Object.values(out).includes(local.dbHost);
  if (pointsAtDb && local.dbPort !== undefined) {
    for (const [k, v] of Object.entries(out)) if (/PORT/i.test(k) && local.declaredDbPorts.has(v)) out[k] = String(local.dbPort);
  }
  return out;
}

function eventMatches(pattern: string, eventName: string): boolean {
  const p = pattern.replace(/^s3:/, '');
  return p.endsWith('*') ? eventName.startsWith(p.slice(0, -1)) : p === eventName;
}

/** Bucket notifications from the CDK custom resource or the bucket's own NotificationConfiguration. */
function collectNotifications(models: StackModel[], warnings: string[]): NotificationRule[] {
  const rules: NotificationRule[] = [];
  const filterOf = (f: any) => {
    const list: any[] = f?.Key?.FilterRules ?? f?.S3Key?.Rules ?? [];
    const get = (name: string) => String(list.find((r) => String(r.Name).toLowerCase() === name)?.Value ?? '');
    return { prefix: get('prefix'), suffix: get('suffix') };
  };
  for (const model of models) {
    for (const [id, r] of Object.entries(model.resources)) {
      let bucket: string | undefined;
      let config: any;
      if (r.Type === 'Custom::S3BucketNotifications') {
        const p = model.properties(id);
        bucket = String(p.BucketName);
        config = p.NotificationConfiguration ?? {};
        for (const q of config.QueueConfigurations ?? []) rules.push({ bucket, id: q.Id ?? id, events: q.Events, ...filterOf(q.Filter), kind: 'queue', arn: q.QueueArn });
        for (const l of config.LambdaFunctionConfigurations ?? []) rules.push({ bucket, id: l.Id ?? id, events: l.Events, ...filterOf(l.Filter), kind: 'lambda', arn: l.LambdaFunctionArn });
        for (const t of config.TopicConfigurations ?? []) rules.push({ bucket, id: t.Id ?? id, events: t.Events, ...filterOf(t.Filter), kind: 'topic', arn: t.TopicArn });
        if (config.EventBridgeConfiguration) rules.push({ bucket, id: 'eventbridge', events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'], prefix: '', suffix: '', kind: 'eventbridge', arn: '' });
      } else if (r.Type === 'AWS::S3::Bucket' && r.Properties?.NotificationConfiguration) {
        bucket = String(model.ref(id));
        config = model.resolve(r.Properties.NotificationConfiguration);
        for (const q of config.QueueConfigurations ?? []) rules.push({ bucket, id, events: [q.Event], ...filterOf(q.Filter), kind: 'queue', arn: q.Queue });
        for (const l of config.LambdaConfigurations ?? []) rules.push({ bucket, id, events: [l.Event], ...filterOf(l.Filter), kind: 'lambda', arn: l.Function });
        for (const t of config.TopicConfigurations ?? []) rules.push({ bucket, id, events: [t.Event], ...filterOf(t.Filter), kind: 'topic', arn: t.Topic });
        if (config.EventBridgeConfiguration?.EventBridgeEnabled) rules.push({ bucket, id: 'eventbridge', events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'], prefix: '', suffix: '', kind: 'eventbridge', arn: '' });
      }
    }
  }
  if (rules.some((r) => !r.arn && r.kind !== 'eventbridge')) warnings.push('a bucket notification has no target ARN');
  return rules;
}

/** Runs a custom resource's Create through its provider: a CDK provider framework or a plain function. */
async function runCustomResource(
  lambdas: LambdaRuntime, fn: FunctionSpec, event: Record<string, unknown>, isProviderFramework: boolean,
  cfnResponses: Map<string, (body: any) => void>,
): Promise<{ PhysicalResourceId?: string; Data?: Record<string, unknown> }> {
  if (isProviderFramework) {
    // The provider framework calls the user's onEvent (and isComplete) function: do the same, directly.
    const env = fn.environment();
    const onEvent = String(env.USER_ON_EVENT_FUNCTION_ARN);
    const result = await lambdas.invoke(onEvent, event);
    if (result.error) throw new Error(`${onEvent.split(':').pop()} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
    let out = (result.payload ?? {}) as { PhysicalResourceId?: string; Data?: Record<string, unknown> };
    const isComplete = env.USER_IS_COMPLETE_FUNCTION_ARN;
    if (isComplete) {
      for (let i = 0; i < 600; i++) {
        const r = await lambdas.invoke(String(isComplete), { ...event, ...out });
        if (r.error) throw new Error(`isComplete failed: ${r.error.errorType}: ${r.error.errorMessage}`);
        const c = r.payload as { IsComplete?: boolean; Data?: Record<string, unknown> };
        if (c?.IsComplete) {
          out = { ...out, Data: { ...(out.Data ?? {}), ...(c.Data ?? {}) } };
          break;
        }
        await new Promise((res) => setTimeout(res, 1000));
      }
    }
    return out;
  }
  // A plain function answers through the ResponseURL (cfn-response): catch that PUT locally.
  const id = String(event.ResponseURL).split('/').pop()!;
  const response = new Promise<any>((resolve) => cfnResponses.set(id, resolve));
  const result = await lambdas.invoke(fn.arn, event);
  if (result.error) throw new Error(`${fn.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
  const body = await Promise.race([response, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
  cfnResponses.delete(id);
  if (body?.Status === 'FAILED') throw new Error(`${fn.name} failed: ${body.Reason}`);
  return body ?? (result.payload as any) ?? {};
}

function registerLambdaApi(api: LocalAwsApi, lambdas: LambdaRuntime): void {
  api.route('POST', /^\/2015-03-31\/functions\/([^/]+)\/invocations$/, async (request, m) => {
    const name = decodeURIComponent(m[1]);
    if (!lambdas.find(name)) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
    const payload = request.body.length ? JSON.parse(request.body.toString('utf8')) : {};
    const type = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type === 'Event') {
      void lambdas.invoke(name, payload);
      return { status: 202 };
    }
    if (type === 'DryRun') return { status: 204 };
    const r: InvokeResult = await lambdas.invoke(name, payload);
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST', ...(r.error ? { 'x-amz-function-error': 'Unhandled' } : {}) },
      body: JSON.stringify(r.error ?? r.payload ?? null),
    };
  });
}

/** A REST API of the template, as the local gateway serves it. */
function buildRestApi(model: StackModel, apiId: string, warnings: string[]): RestApiSpec {
  const apiRef = String(model.ref(apiId));
  const p = model.properties(apiId);
  const forApi = (type: string) => model.ofType(type).filter(([id]) => String(model.resolve(model.resources[id].Properties?.RestApiId)) === apiRef);
  // Resource tree → paths.
  const root = String(model.getAtt(apiId, 'RootResourceId'));
  const parents = new Map<string, { parent: string; part: string }>();
  for (const [id] of forApi('AWS::ApiGateway::Resource')) {
    const r = model.properties(id);
    parents.set(String(model.ref(id)), { parent: String(r.ParentId), part: String(r.PathPart) });
  }
  const pathOf = (resourceId: string): string => {
    if (resourceId === root) return '/';
    const r = parents.get(resourceId);
    if (!r) return `/${resourceId}`;
    const parent = pathOf(r.parent);
    return `${parent === '/' ? '' : parent}/${r.part}`;
  };
  const validators = new Map<string, { body: boolean; parameters: boolean }>();
  for (const [id] of forApi('AWS::ApiGateway::RequestValidator')) {
    const v = model.properties(id);
    validators.set(String(model.ref(id)), { body: v.ValidateRequestBody === true || v.ValidateRequestBody === 'true', parameters: v.ValidateRequestParameters === true || v.ValidateRequestParameters === 'true' });
  }
  const models = new Map<string, unknown>();
  for (const [id] of forApi('AWS::ApiGateway::Model')) models.set(String(model.ref(id)), model.properties(id).Schema);
  const authorizers = new Map<string, ApiMethod['authorizer']>();
  for (const [id] of forApi('AWS::ApiGateway::Authorizer')) {
    const a = model.properties(id);
    const fn = /functions\/(.+)\/invocations$/.exec(String(a.AuthorizerUri ?? ''))?.[1];
    authorizers.set(String(model.ref(id)), { type: String(a.Type), functionArn: fn, identitySource: a.IdentitySource });
  }
  const nodes = new Map<string, ApiResourceNode>();
  const node = (resourcePath: string) => {
    let n = nodes.get(resourcePath);
    if (!n) {
      n = { path: resourcePath, methods: {} };
      nodes.set(resourcePath, n);
    }
    return n;
  };
  node('/');
  for (const id of parents.keys()) node(pathOf(id));
  for (const [id] of forApi('AWS::ApiGateway::Method')) {
    const m = model.properties(id);
    const integration = m.Integration ?? {};
    const uri = String(integration.Uri ?? '');
    const requestModels: Record<string, unknown> = {};
    for (const [ct, name] of Object.entries(m.RequestModels ?? {})) {
      const schema = models.get(String(name));
      if (schema !== undefined) requestModels[ct.toLowerCase()] = typeof schema === 'string' ? JSON.parse(schema) : schema;
    }
    const method: ApiMethod = {
      httpMethod: String(m.HttpMethod).toUpperCase(),
      authorizationType: String(m.AuthorizationType ?? 'NONE'),
      apiKeyRequired: m.ApiKeyRequired === true || m.ApiKeyRequired === 'true',
      validator: m.RequestValidatorId ? validators.get(String(m.RequestValidatorId)) : undefined,
      requestParameters: Object.fromEntries(Object.entries(m.RequestParameters ?? {}).map(([k, v]) => [k, v === true || v === 'true'])),
      requestModels,
      integration: {
        type: String(integration.Type ?? 'MOCK'),
        functionArn: /functions\/(.+)\/invocations$/.exec(uri)?.[1],
        timeoutMs: Number(integration.TimeoutInMillis ?? 29_000),
        integrationResponses: integration.IntegrationResponses,
      },
      authorizer: m.AuthorizerId ? authorizers.get(String(m.AuthorizerId)) : undefined,
    };
    if (method.authorizationType === 'AWS_IAM') {
      warnings.push(`${model.stackName}: ${method.httpMethod} ${pathOf(String(m.ResourceId))} uses IAM authorization, which the sandbox does not check`);
    }
    node(pathOf(String(m.ResourceId))).methods[method.httpMethod] = method;
  }
  const gatewayResponses: RestApiSpec['gatewayResponses'] = {};
  for (const [id] of forApi('AWS::ApiGateway::GatewayResponse')) {
    const g = model.properties(id);
    gatewayResponses[String(g.ResponseType)] = {
      statusCode: g.StatusCode, responseParameters: g.ResponseParameters, responseTemplates: g.ResponseTemplates,
    };
  }
  // Stage and throttling.
  const stages = forApi('AWS::ApiGateway::Stage').map(([id]) => ({ id, p: model.properties(id) }));
  const deployment = forApi('AWS::ApiGateway::Deployment').map(([id]) => model.properties(id))[0];
  const stage = String(stages[0]?.p.StageName ?? deployment?.StageName ?? 'prod');
  const all = (stages[0]?.p.MethodSettings ?? []).find((s: any) => s.HttpMethod === '*' && (s.ResourcePath === '/*' || s.ResourcePath === '*'));
  const stageThrottle = all?.ThrottlingRateLimit !== undefined
    ? { rateLimit: Number(all.ThrottlingRateLimit), burstLimit: Number(all.ThrottlingBurstLimit ?? all.ThrottlingRateLimit) }
    : undefined;
  // API keys that unlock this API: through a usage plan on this API, or the key's stage keys.
  const plans = new Map<string, { throttle?: { rateLimit?: number; burstLimit?: number } }>();
  for (const [id] of model.ofType('AWS::ApiGateway::UsagePlan')) {
    const u = model.properties(id);
    if ((u.ApiStages ?? []).some((s: any) => String(s.ApiId) === apiRef)) {
      plans.set(String(model.ref(id)), { throttle: u.Throttle ? { rateLimit: u.Throttle.RateLimit, burstLimit: u.Throttle.BurstLimit } : undefined });
    }
  }
  const keyPlans = new Map<string, string>();
  for (const [id] of model.ofType('AWS::ApiGateway::UsagePlanKey')) {
    const k = model.properties(id);
    if (plans.has(String(k.UsagePlanId))) keyPlans.set(String(k.KeyId), String(k.UsagePlanId));
  }
  const apiKeys: RestApiSpec['apiKeys'] = [];
  const keyResources = model.ofType('AWS::ApiGateway::ApiKey');
  for (const [id] of keyResources) {
    const k = model.properties(id);
    if (k.Enabled === false || k.Enabled === 'false') continue;
    const keyId = String(model.ref(id));
    const viaStage = (k.StageKeys ?? []).some((s: any) => String(s.RestApiId) === apiRef);
    const plan = keyPlans.get(keyId);
    if (!plan && !viaStage && keyPlans.size + plans.size > 0) continue;
    apiKeys.push({
      id: keyId,
      name: String(k.Name ?? id),
      // The template's value when it sets one; else a stable generated one (printed at start).
      value: String(k.Value ?? `sandbox-${createHash('sha256').update(`${model.stackName}/${id}`).digest('hex').slice(0, 32)}`),
      throttle: plan ? plans.get(plan)?.throttle : undefined,
    });
  }
  return {
    id: apiRef,
    logicalId: apiId,
    name: String(p.Name ?? apiId),
    stage,
    resources: [...nodes.values()],
    gatewayResponses,
    binaryMediaTypes: (p.BinaryMediaTypes ?? []).map(String),
    apiKeys,
    stageThrottle,
  };
}
