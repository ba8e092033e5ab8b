/**
 * Lambda: each Node.js function of the templates runs its asset from the cloud assembly (the same
 * bundle as deployed) in its own processes (../lambda-runtime.ts), with the template's environment
 * resolved to the local services; the Lambda Invoke API.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AwsError } from '../aws-api';
import type { FunctionSettings } from '../lambda-in-process';
import { InvokeResult, LambdaRuntime } from '../lambda-runtime';
import type { StackModel } from '../resolver';
import type { RdsService } from './rds';
import { plural, resourcesOfType, SandboxService, ServiceContext, TemplateResource } from './service';

/** Local endpoints every function's SDK clients are pointed at. */
export interface FunctionEndpoints {
  readonly services: string;
  readonly s3: string;
  readonly dynamodb: string;
  readonly bedrock: string;
}

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

/** A function's name, ARN, timeout and memory, as the template sets them (Lambda's defaults otherwise). */
export function functionSettings(model: StackModel, logicalId: string): FunctionSettings {
  const p = model.resources[logicalId].Properties ?? {};
  return {
    name: String(model.ref(logicalId)),
    arn: String(model.getAtt(logicalId, 'Arn')),
    timeoutSeconds: Number(model.resolve(p.Timeout ?? 3)),
    memoryMb: Number(model.resolve(p.MemorySize ?? 128)),
  };
}

export class LambdaService implements SandboxService {
  readonly name = 'lambda';
  readonly resourceTypes = ['AWS::Lambda::Function', 'AWS::Lambda::Permission', 'AWS::Lambda::Version', 'AWS::Lambda::Alias', 'AWS::Lambda::LayerVersion', 'AWS::Lambda::EventInvokeConfig'];
  readonly runtime: LambdaRuntime;
  /** Provider-framework functions (custom resources): invoked at start, never warmed. */
  readonly providerFunctions = new Set<string>();
  /** Functions behind a REST API (they get PUBLIC_BASE_URL). */
  readonly apiFunctions = new Set<string>();
  publicBaseUrl: string | undefined;
  private readonly logs = new Map<string, fs.WriteStream>();

  constructor(private readonly ctx: ServiceContext, private readonly rds: RdsService, endpoints: () => FunctionEndpoints, verbose: boolean) {
    this.runtime = new LambdaRuntime({
      region: ctx.region,
      nodePath: sdkNodePath(),
      logs: {
        line: (fn, text) => {
          let stream = this.logs.get(fn.name);
          if (!stream) {
            stream = fs.createWriteStream(path.join(ctx.logsDir, `${fn.name}.log`), { flags: 'a' });
            this.logs.set(fn.name, stream);
          }
          stream.write(`${text}\n`);
          if (verbose) ctx.print(`  [${fn.name}] ${text}`);
        },
      },
      defaults: (fn): Record<string, string> => (this.apiFunctions.has(fn.arn) && this.publicBaseUrl ? { PUBLIC_BASE_URL: this.publicBaseUrl } : {}),
      overrides: () => {
        const e = endpoints();
        return {
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_ENDPOINT_URL: e.services,
          AWS_ENDPOINT_URL_S3: e.s3,
          AWS_ENDPOINT_URL_DYNAMODB: e.dynamodb,
          AWS_ENDPOINT_URL_BEDROCK_RUNTIME: e.bedrock,
          ...Object.fromEntries(SERVICE_ENDPOINT_VARIABLES.map((s) => [`AWS_ENDPOINT_URL_${s}`, e.services])),
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
          S3_FORCE_PATH_STYLE: 'true',
          POWERTOOLS_TRACE_ENABLED: 'false',
          AWS_XRAY_SDK_ENABLED: 'false',
          AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
        };
      },
      onSpawn: (fn, pid) => ctx.recordProcess({ what: `function ${fn.name}`, pid }),
    });
    this.registerInvokeApi();
  }

  async provision(): Promise<void> {
    let count = 0;
    for (const resource of resourcesOfType(this.ctx.models, 'AWS::Lambda::Function')) if (this.addFunction(resource)) count++;
    this.ctx.print(`  ${plural(count, 'function')} from the cloud assembly's assets`);
  }

  /** The function's code folder: its asset in the cloud assembly, or its inline code written out. */
  private codeDirectory({ model, id }: TemplateResource, runtime: string): string | undefined {
    const code = model.resources[id].Properties?.Code ?? {};
    if (code.ZipFile !== undefined) {
      if (!runtime.startsWith('nodejs')) return undefined;
      const dir = path.join(this.ctx.runDir, 'inline', `${model.stackName}-${id}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'index.js'), String(model.resolve(code.ZipFile)));
      return dir;
    }
    if (code.S3Key === undefined) return undefined;
    return this.ctx.assembly.assetDirectory(path.basename(String(model.resolve(code.S3Key))).replace(/\.zip$/, ''));
  }

  private addFunction(resource: TemplateResource): boolean {
    const { model, id } = resource;
    const p = model.resources[id].Properties ?? {};
    const runtime = String(model.resolve(p.Runtime ?? 'nodejs22.x'));
    const settings = functionSettings(model, id);
    const { name, arn } = settings;
    const codeDirectory = this.codeDirectory(resource, runtime);
    if (!codeDirectory) {
      if (p.Code?.ZipFile === undefined) this.ctx.warnings.push(`${model.stackName}/${id}: no local code for ${name} (container image or missing asset); not runnable`);
      return false;
    }
    if (!runtime.startsWith('nodejs')) {
      this.ctx.warnings.push(`${model.stackName}/${id}: runtime ${runtime} is not run by the sandbox (Node.js only)`);
      return false;
    }
    const envTemplate = p.Environment?.Variables;
    if (envTemplate?.USER_ON_EVENT_FUNCTION_ARN) this.providerFunctions.add(arn);
    this.runtime.add({
      id: `${model.stackName}/${id}`,
      ...settings,
      codeDirectory,
      handler: String(model.resolve(p.Handler ?? 'index.handler')),
      runtime,
      maxConcurrency: Math.max(1, Math.min(Number(model.resolve(p.ReservedConcurrentExecutions ?? 4)), 4)),
      environment: () => {
        const pg = this.rds.postgres;
        return localizeEnvironment(model.resolve(envTemplate ?? {}), {
          dbHost: pg?.host, dbPort: pg?.port, dbTls: pg?.tls ? 'require' : 'disable', declaredDbPorts: this.rds.declaredPorts,
        });
      },
    });
    return true;
  }

  private registerInvokeApi(): void {
    this.ctx.api.route('POST', /^\/2015-03-31\/functions\/([^/]+)\/invocations$/, async (request, m) => {
      const name = decodeURIComponent(m[1]);
      if (!this.runtime.find(name)) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
      const payload = request.body.length ? JSON.parse(request.body.toString('utf8')) : {};
      const type = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type === 'Event') {
        void this.runtime.invoke(name, payload);
        return { status: 202 };
      }
      if (type === 'DryRun') return { status: 204 };
      const r: InvokeResult = await this.runtime.invoke(name, payload);
      return {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST', ...(r.error ? { 'x-amz-function-error': 'Unhandled' } : {}) },
        body: JSON.stringify(r.error ?? r.payload ?? null),
      };
    });
  }

  /** Warms one execution environment per function (not the custom resources' providers). */
  start(): void {
    for (const fn of this.runtime.functions()) if (!this.providerFunctions.has(fn.arn)) this.runtime.warm(fn.arn);
  }

  describe(): unknown {
    return this.runtime.functions().map((f) => f.name);
  }

  async stop(): Promise<void> {
    await this.runtime.stop();
    for (const s of this.logs.values()) s.end();
  }
}
