/**
 * The sandbox: synthesizes an app, reads its templates, and runs them on this machine — no AWS
 * account, no Docker. One module per AWS service kind (./services/) with one lifecycle
 * (provision from the template, start, describe, stop); this module wires them in order and
 * owns the state folder. Everything is derived from the templates, so any app built with these
 * constructs (or plain CDK resources of the supported kinds) runs as it would in the cloud.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CloudAssembly, defaultAppCommand, readCloudAssembly, StackSelection, synthesize } from './assembly';
import { LocalAwsApi } from './aws-api';
import type { LocalEventBridge } from './eventbridge';
import type { LambdaRuntime } from './lambda-runtime';
import type { Outbox } from './messaging';
import { ProcessRecord, stopLeftovers } from './processes';
import { Printer, Progress } from './progress';
import type { LocalQueues } from './queues';
import { LocalEndpoints, stackModels } from './resolver';
import { ApiGatewayService } from './services/apigateway';
import { BedrockService } from './services/bedrock';
import { CloudFormationService } from './services/cloudformation';
import { DynamoDbService } from './services/dynamodb';
import { EventBridgeService } from './services/eventbridge';
import { LambdaService } from './services/lambda';
import { DatabaseTls, RdsService } from './services/rds';
import { S3Service } from './services/s3';
import { SecretsManagerService } from './services/secretsmanager';
import { plural, SandboxService, ServiceContext } from './services/service';
import { SnsService } from './services/sns';
import { SqsService } from './services/sqs';
import { SsmService } from './services/ssm';
import { StepFunctionsService } from './services/stepfunctions';
import { Targets } from './services/targets';
import type { LocalStepFunctions } from './step-functions';
import { ObjectProcessing, UploadTracker } from './uploads';

export type { ObjectProcessing } from './uploads';
export { localizeEnvironment } from './services/lambda';

export interface SandboxOptions {
  /** The project folder (where cdk.json or examples/app.ts is). @default process.cwd() */
  readonly cwd?: string;
  /** The app command, as in cdk.json's "app". @default cdk.json's app, else this repository's example */
  readonly app?: string;
  /** Run an already synthesized cloud assembly (a cdk.out folder) instead of synthesizing. */
  readonly cloudAssembly?: string;
  /** Which stacks run (`--stack`, `--stage`). @default the top-level stacks (the only stage's when there are none) */
  readonly selection?: StackSelection;
  /** Context values for the synthesis. */
  readonly context?: Record<string, unknown>;
  /** The sandbox's folder (outbox, logs, data). @default <cwd>/.sandbox */
  readonly stateDir?: string;
  /** Port of the (first) REST API; 0 for any free port. @default 3000 */
  readonly apiPort?: number;
  /** Port of the local S3 endpoint; 0 for any free port. @default 4569 */
  readonly s3Port?: number;
  /** Port of the local AWS API endpoint (Secrets Manager, EventBridge, Step Functions, SNS, SES, SQS, Lambda). @default any free port */
  readonly servicesPort?: number;
  readonly region?: string;
  /** Forward the analyzer's Bedrock calls to real Bedrock with this process's AWS credentials. @default false (the local stand-in) */
  readonly realBedrock?: boolean;
  /** TLS to the local PostgreSQL: `auto` uses TLS (DB_TLS=require) where openssl exists. @default 'auto' */
  readonly databaseTls?: DatabaseTls;
  /** Progress and event lines. @default console.log */
  readonly print?: Printer;
  /** Spinner while starting. @default process.stdout.isTTY */
  readonly tty?: boolean;
  /** Also print the functions' own log lines (they always go to <stateDir>/logs/). @default false */
  readonly verbose?: boolean;
}

export interface QueueInfo {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  /** ApproximateNumberOfMessages. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible. */
  readonly inFlight: number;
  readonly deadLetterQueue?: string;
  readonly movedToDeadLetterQueue?: number;
  /** For a dead-letter queue: the queues it serves. */
  readonly deadLetterQueueOf?: string[];
}

export interface SandboxInfo {
  readonly pid: number;
  readonly startedAt: string;
  readonly startupMs: number;
  /** The stacks that run (`Stage/Stack` paths) and those of the app that do not. */
  readonly stacks: Array<{ id: string; stackName: string; stage?: string }>;
  readonly notSelected: Array<{ id: string; reason: string }>;
  /** Resources the sandbox does not run, by type (count). */
  readonly skipped: Record<string, number>;
  readonly apis: Array<{ name: string; url: string; stage: string; apiKeys: Array<{ name: string; value: string }> }>;
  readonly s3: { endpoint: string; buckets: Record<string, string>; versionedBuckets: string[]; notifiedBuckets: string[]; notifications: Array<{ bucket: string; prefix: string; suffix: string; target: string }>; accessKeyId: string; secretAccessKey: string; forcePathStyle: true; checksums: 'WHEN_REQUIRED' };
  readonly dynamodb: { endpoint: string; tables: string[] };
  /** Queues with their depths (live in `cdp-sandbox info`; at start in sandbox.json). */
  readonly sqs: QueueInfo[];
  readonly services: string;
  readonly bedrock: { endpoint: string; mode: 'stand-in' | 'real' };
  readonly database?: { host: string; port: number; databases: string[]; adminUrl: string; tls: boolean; server: string; dataDir: string };
  readonly stateMachines: string[];
  /** Scheduled rules and schedules (run on demand: `cdp-sandbox trigger <id>`). */
  readonly schedules: Array<{ id: string; expression: string }>;
  readonly outbox: string;
  readonly logs: string;
  readonly functions: string[];
  readonly warnings: string[];
}

export interface Sandbox {
  /** The sandbox at start (`describe()` for the live state). */
  readonly info: SandboxInfo;
  readonly outbox: Outbox;
  readonly events: LocalEventBridge;
  readonly stepFunctions: LocalStepFunctions;
  readonly lambdas: LambdaRuntime;
  readonly queues: LocalQueues;
  /** The first REST API's URL (http://localhost:3000). */
  readonly apiUrl?: string;
  /** The first API key of the first REST API. */
  readonly apiKey?: string;
  /** The bucket with event notifications (the raw-data bucket), if any. */
  readonly rawBucket?: string;
  /** The running sandbox, now (queue depths move). */
  describe(): SandboxInfo;
  /** Processing of an uploaded object, by `bucket/key`. */
  processing(bucket: string, key: string): ObjectProcessing | undefined;
  /** Waits until an uploaded object was processed (or failed). */
  waitForObject(bucket: string, key: string, timeoutMs?: number): Promise<ObjectProcessing>;
  /** A superuser connection URL of a local database. */
  databaseUrl(database?: string): string;
  stop(): Promise<void>;
}

/** Resource types with nothing to run locally (permissions and policies, networking, encryption, monitoring). */
const NOT_NEEDED_LOCALLY = /^AWS::(IAM|KMS|EC2|Logs|CloudWatch|CDK|ApplicationAutoScaling)::|Policy$|^AWS::SecretsManager::RotationSchedule$|^AWS::RDS::DB(SubnetGroup|ParameterGroup|ClusterParameterGroup)$/;

/** The services, in the order they are provisioned (stopped in reverse). */
interface Services {
  readonly secrets: SecretsManagerService;
  readonly ssm: SsmService;
  readonly rds: RdsService;
  readonly s3: S3Service;
  readonly dynamodb: DynamoDbService;
  readonly bedrock: BedrockService;
  readonly sqs: SqsService;
  readonly sns: SnsService;
  readonly events: EventBridgeService;
  readonly lambda: LambdaService;
  readonly stepFunctions: StepFunctionsService;
  readonly cloudFormation: CloudFormationService;
  readonly apiGateway: ApiGatewayService;
}

/** Creates every service and wires the ones that call each other. */
function createServices(ctx: ServiceContext, options: SandboxOptions, uploads: UploadTracker): Services {
  const targets = new Targets();
  const secrets = new SecretsManagerService(ctx);
  const ssm = new SsmService(ctx);
  const rds = new RdsService(ctx, secrets, options.databaseTls ?? 'auto');
  const s3 = new S3Service(ctx, options.s3Port ?? 4569, uploads);
  const dynamodb = new DynamoDbService(ctx);
  const bedrock = new BedrockService(ctx, options.realBedrock ?? false);
  const sqs = new SqsService(ctx, uploads);
  const sns = new SnsService(ctx, targets);
  const events = new EventBridgeService(ctx, targets);
  const endpoints = () => ({ services: ctx.endpoints.services!, s3: s3.endpoint, dynamodb: dynamodb.endpoint, bedrock: bedrock.endpoint });
  const lambda = new LambdaService(ctx, rds, endpoints, options.verbose ?? false);
  const stepFunctions = new StepFunctionsService(ctx, {
    region: ctx.region,
    account: ctx.accountId,
    invokeLambda: (fn, payload) => lambda.runtime.invoke(fn, payload),
    sns: sns.sns,
    events: events.events,
    queues: sqs.queues,
    endpointFor: (service) => service === 'dynamodb' ? dynamodb.endpoint : service === 's3' ? s3.endpoint : ctx.endpoints.services!,
  });
  const cloudFormation = new CloudFormationService(ctx, lambda);
  const apiGateway = new ApiGatewayService(ctx, lambda, options.apiPort ?? 3000);
  targets.bind({
    lambdas: lambda.runtime,
    queues: sqs.queues,
    sns: sns.sns,
    stepFunctions: stepFunctions.stepFunctions,
    events: events.events,
    logLine: (line) => events.logLine(line),
  });
  s3.bindTargets({ queues: sqs.queues, lambdas: lambda.runtime, sns: sns.sns, events: events.events });
  sqs.bindFunctions(lambda.runtime);
  events.events.onEvent((e) => uploads.onBusEvent(e));
  return { secrets, ssm, rds, s3, dynamodb, bedrock, sqs, sns, events, lambda, stepFunctions, cloudFormation, apiGateway };
}

/** Resources of the selected stacks that no service runs, by type: [skipped, not needed locally]. */
function unrunResources(ctx: ServiceContext, services: SandboxService[]): Record<string, number> {
  const run = new Set(services.flatMap((s) => s.resourceTypes));
  const skipped: Record<string, number> = {};
  for (const model of ctx.models) {
    for (const r of Object.values(model.resources)) {
      if (run.has(r.Type) || CloudFormationService.isCustomResource(r.Type) || NOT_NEEDED_LOCALLY.test(r.Type)) continue;
      skipped[r.Type] = (skipped[r.Type] ?? 0) + 1;
    }
  }
  return skipped;
}

/** The state folder, and what a previous sandbox in it left running. */
async function prepareStateDir(stateDir: string, print: Printer): Promise<{ runDir: string; logsDir: string; processes: ProcessRecord }> {
  fs.mkdirSync(stateDir, { recursive: true });
  const left = await stopLeftovers(path.join(stateDir, 'processes.json'));
  if (left.length) print(`  stopped what a previous sandbox left running: ${left.join(', ')}`);
  fs.rmSync(path.join(stateDir, 'sandbox.json'), { force: true });
  const runDir = path.join(stateDir, 'run');
  const logsDir = path.join(stateDir, 'logs');
  for (const dir of [runDir, logsDir]) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
  }
  return { runDir, logsDir, processes: new ProcessRecord(path.join(stateDir, 'processes.json')) };
}

async function loadAssembly(options: SandboxOptions, cwd: string, stateDir: string, progress: Progress): Promise<CloudAssembly> {
  if (options.cloudAssembly) return readCloudAssembly(path.resolve(cwd, options.cloudAssembly), options.selection);
  return progress.step('Synthesizing the app', () => synthesize({
    appCommand: options.app ?? defaultAppCommand(cwd),
    outdir: path.join(stateDir, 'cdk.out'),
    cwd,
    context: options.context,
    selection: options.selection,
  }), (a) => `${plural(a.stacks.length, 'stack')} (${a.stacks.map((s) => s.id).join(', ')})`);
}

function describeSandbox(ctx: ServiceContext, s: Services, started: number, startupMs: number, skipped: Record<string, number>): SandboxInfo {
  return {
    pid: process.pid,
    startedAt: new Date(started).toISOString(),
    startupMs,
    stacks: ctx.assembly.stacks.map((st) => ({ id: st.id, stackName: st.stackName, ...(st.stage ? { stage: st.stage } : {}) })),
    notSelected: ctx.assembly.notSelected,
    skipped,
    apis: s.apiGateway.describe(),
    s3: s.s3.describe((arn) => s.sqs.consumerOf(arn)) as SandboxInfo['s3'],
    dynamodb: s.dynamodb.describe() as SandboxInfo['dynamodb'],
    sqs: s.sqs.describe() as QueueInfo[],
    services: ctx.endpoints.services!,
    bedrock: s.bedrock.describe() as SandboxInfo['bedrock'],
    database: s.rds.describe() as SandboxInfo['database'],
    stateMachines: s.stepFunctions.machines,
    schedules: s.events.schedules(),
    outbox: s.sns.outbox.directory,
    logs: ctx.logsDir,
    functions: s.lambda.describe() as string[],
    warnings: ctx.warnings,
  };
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const started = Date.now();
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const stateDir = path.resolve(cwd, options.stateDir ?? '.sandbox');
  const print: Printer = options.print ?? ((l) => console.log(l));
  const progress = new Progress(print, options.tty ?? Boolean(process.stdout.isTTY));
  const { runDir, logsDir, processes } = await prepareStateDir(stateDir, print);
  const api = new LocalAwsApi();
  const running: SandboxService[] = [];
  const stopAll = async () => {
    for (const service of running.splice(0).reverse()) {
      try {
        await service.stop();
      } catch (error) {
        print(`  (while stopping ${service.name}: ${(error as Error).message})`);
      }
    }
    await api.close();
    fs.rmSync(path.join(stateDir, 'sandbox.json'), { force: true });
    processes.remove();
  };
  try {
    const assembly = await loadAssembly(options, cwd, stateDir, progress);
    const endpoints: LocalEndpoints = {};
    const region = options.region ?? 'us-east-1';
    const accountId = '000000000000';
    const models = stackModels(assembly.stacks, { region, accountId }, endpoints);
    endpoints.services = await api.listen(options.servicesPort ?? 0);
    const ctx: ServiceContext = {
      region,
      accountId,
      cwd,
      stateDir,
      runDir,
      logsDir,
      assembly,
      models,
      api,
      endpoints,
      print,
      progress,
      warnings: [],
      recordProcess: (entry) => processes.add(entry),
    };
    const uploads = new UploadTracker(print);
    const services = createServices(ctx, options, uploads);
    for (const service of Object.values(services) as SandboxService[]) {
      running.push(service);
      await service.provision();
    }
    for (const service of running) service.start?.();
    for (const m of models) ctx.warnings.push(...m.warnings);
    const skipped = unrunResources(ctx, running);
    const info = describeSandbox(ctx, services, started, Date.now() - started, skipped);
    const describe = () => describeSandbox(ctx, services, started, info.startupMs, skipped);
    api.route('GET', /^\/_sandbox\/info$/, () => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(describe()) }));
    api.route('GET', /^\/_sandbox\/objects$/, (request) => {
      const bucket = request.query.get('bucket') ?? '';
      const key = request.query.get('key') ?? '';
      return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(uploads.get(bucket, key) ?? { bucket, key, status: 'unknown' }) };
    });
    fs.writeFileSync(path.join(stateDir, 'sandbox.json'), JSON.stringify(info, null, 2));
    let stopped = false;
    return {
      info,
      outbox: services.sns.outbox,
      events: services.events.events,
      stepFunctions: services.stepFunctions.stepFunctions,
      lambdas: services.lambda.runtime,
      queues: services.sqs.queues,
      apiUrl: info.apis[0]?.url,
      apiKey: info.apis[0]?.apiKeys[0]?.value,
      rawBucket: info.s3.notifiedBuckets[0],
      describe,
      processing: (bucket, key) => uploads.get(bucket, key),
      waitForObject: (bucket, key, timeoutMs) => uploads.wait(bucket, key, timeoutMs),
      databaseUrl: (database) => services.rds.databaseUrl(database),
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
