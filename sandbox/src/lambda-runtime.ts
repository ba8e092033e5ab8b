/**
 * Lambda, locally: each function of the template runs its bundled asset (from cdk.out) in its own
 * Node.js processes ("execution environments"), one invocation at a time per process as in the
 * cloud, with the environment the template gives it plus the sandbox's endpoints. Processes
 * start on first use, are reused, and a timed-out one is killed like the real runtime does.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export interface FunctionSpec {
  /** Stack/logical id, for messages. */
  readonly id: string;
  readonly name: string;
  readonly arn: string;
  /** The asset folder (LAMBDA_TASK_ROOT). */
  readonly codeDirectory: string;
  /** `file.export`, e.g. `index.handler`. */
  readonly handler: string;
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Environment from the template, resolved (computed when the first process starts). */
  readonly environment: () => Record<string, string>;
  /** At most this many processes (reserved concurrency, else a small default). */
  readonly maxConcurrency: number;
}

export interface InvokeResult {
  /** The handler's return value (JSON-serializable), when it succeeded. */
  readonly payload?: unknown;
  /** The error as Lambda reports it (errorType, errorMessage, trace), when it failed. */
  readonly error?: { errorType: string; errorMessage: string; trace?: string[] };
  readonly durationMs: number;
  readonly requestId: string;
}

export interface LambdaLogSink {
  /** A line the function wrote (stdout or stderr). */
  line(fn: FunctionSpec, text: string): void;
}

/** The code each execution environment runs: loads the handler, answers invocations over IPC. */
const WORKER = String.raw`
const path = require('path');
const { pathToFileURL } = require('url');
const [taskRoot, handlerSpec] = [process.env.LAMBDA_TASK_ROOT, process.env._HANDLER];
let loaded;
async function load() {
  if (loaded) return loaded;
  const dot = handlerSpec.lastIndexOf('.');
  const base = path.join(taskRoot, handlerSpec.slice(0, dot));
  const name = handlerSpec.slice(dot + 1);
  const fs = require('fs');
  const file = ['.js', '.cjs', '.mjs'].map((e) => base + e).find((f) => fs.existsSync(f));
  if (!file) throw Object.assign(new Error('Cannot find module ' + base), { name: 'Runtime.ImportModuleError' });
  const mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== 'function') throw Object.assign(new Error(handlerSpec + ' is undefined or not exported'), { name: 'Runtime.HandlerNotFound' });
  loaded = fn;
  return fn;
}
function toError(e) {
  if (e instanceof Error) return { errorType: e.name || 'Error', errorMessage: e.message, trace: String(e.stack || '').split('\n') };
  return { errorType: 'Error', errorMessage: typeof e === 'string' ? e : JSON.stringify(e), trace: [] };
}
process.on('disconnect', () => process.exit(0));
// Exit with the sandbox, however it ended (its IPC channel closes, or this process is re-parented).
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
process.on('unhandledRejection', (e) => { console.error('Unhandled rejection', e); });
process.on('message', async (msg) => {
  if (msg.type !== 'invoke') return;
  const deadline = msg.deadline;
  const context = {
    awsRequestId: msg.requestId, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST',
    invokedFunctionArn: msg.functionArn, memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME, logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const fn = await load();
    const result = await new Promise((resolve, reject) => {
      const callback = (err, value) => (err ? reject(err) : resolve(value));
      context.done = callback; context.succeed = (v) => resolve(v); context.fail = (e) => reject(e);
      try {
        const r = fn(msg.event, context, callback);
        if (r && typeof r.then === 'function') r.then(resolve, reject);
        else if (fn.length < 3) resolve(r);
      } catch (e) { reject(e); }
    });
    process.send({ type: 'result', id: msg.id, ok: true, payload: result === undefined ? null : JSON.stringify(result) });
  } catch (e) {
    process.send({ type: 'result', id: msg.id, ok: false, error: toError(e) });
  }
});
process.send({ type: 'ready' });
`;

interface Pending {
  readonly id: string;
  readonly resolve: (r: InvokeResult) => void;
  readonly started: number;
  readonly timer: NodeJS.Timeout;
}

class ExecutionEnvironment {
  readonly child: ChildProcess;
  busy: Pending | undefined;
  readonly ready: Promise<void>;
  dead = false;

  constructor(readonly fn: FunctionSpec, env: Record<string, string>, logs: LambdaLogSink, onExit: (e: ExecutionEnvironment) => void) {
    this.child = spawn(process.execPath, ['-e', WORKER], {
      cwd: fn.codeDirectory,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let buffer = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          logs.line(fn, buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      });
    }
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code) => reject(new Error(`${fn.name}: the execution environment exited (code ${code}) before it was ready`)));
    });
    this.ready.catch(() => undefined);
    this.child.on('error', (error) => logs.line(fn, `[sandbox] the execution environment failed: ${error.message}`));
    this.child.on('message', (msg: any) => {
      if (msg.type !== 'result' || !this.busy || msg.id !== this.busy.id) return;
      const pending = this.busy;
      this.busy = undefined;
      clearTimeout(pending.timer);
      const durationMs = Date.now() - pending.started;
      pending.resolve(msg.ok
        ? { payload: msg.payload === null ? null : JSON.parse(msg.payload), durationMs, requestId: pending.id }
        : { error: msg.error, durationMs, requestId: pending.id });
      onExit(this); // "released": the pool picks the next invocation
    });
    this.child.on('exit', (code, signal) => {
      this.dead = true;
      const pending = this.busy;
      this.busy = undefined;
      if (pending) {
        clearTimeout(pending.timer);
        pending.resolve({
          error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${pending.id} Error: Runtime exited ${signal ? `with signal ${signal}` : `with error: exit status ${code}`}` },
          durationMs: Date.now() - pending.started,
          requestId: pending.id,
        });
      }
      onExit(this);
    });
  }

  invoke(event: unknown, requestId: string, resolve: (r: InvokeResult) => void): void {
    const started = Date.now();
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    const timer = setTimeout(() => {
      const pending = this.busy;
      if (!pending) return;
      this.busy = undefined;
      this.child.kill('SIGKILL');
      pending.resolve({
        error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds` },
        durationMs: Date.now() - started,
        requestId,
      });
    }, timeoutMs);
    this.busy = { id: requestId, resolve, started, timer };
    this.child.send({ type: 'invoke', id: requestId, requestId, event, deadline: started + timeoutMs, functionArn: this.fn.arn });
  }

  stop(): Promise<void> {
    if (this.dead) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
      setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
    });
  }
}

export interface LambdaRuntimeOptions {
  /** Environment every function gets (endpoints, credentials, region), overriding the template's where both set a name. */
  readonly overrides: () => Record<string, string>;
  /** Set only when the template does not (e.g. PUBLIC_BASE_URL). */
  readonly defaults?: (fn: FunctionSpec) => Record<string, string>;
  readonly logs: LambdaLogSink;
  readonly region: string;
  /** Folders that hold the AWS SDK v3 (the Lambda runtime provides it; bundles leave it out). */
  readonly nodePath: string[];
  /** Called with each execution environment's process id (for the sandbox's process record). */
  readonly onSpawn?: (fn: FunctionSpec, pid: number | undefined) => void;
}

/** One pool of execution environments per function. */
class FunctionPool {
  private readonly environments = new Set<ExecutionEnvironment>();
  private readonly queue: Array<{ event: unknown; requestId: string; resolve: (r: InvokeResult) => void }> = [];
  private env: Record<string, string> | undefined;
  private stopped = false;
  invocations = 0;
  errors = 0;

  constructor(readonly fn: FunctionSpec, private readonly options: LambdaRuntimeOptions) {}

  private environment(): Record<string, string> {
    this.env ??= {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LANG: 'en_US.UTF-8',
      TZ: 'UTC',
      NODE_PATH: this.options.nodePath.join(path.delimiter),
      AWS_REGION: this.options.region,
      AWS_DEFAULT_REGION: this.options.region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${this.fn.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: this.fn.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.fn.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `local/${randomUUID()}`,
      LAMBDA_TASK_ROOT: this.fn.codeDirectory,
      LAMBDA_RUNTIME_DIR: this.fn.codeDirectory,
      _HANDLER: this.fn.handler,
      ...(this.options.defaults?.(this.fn) ?? {}),
      ...this.fn.environment(),
      ...this.options.overrides(),
    };
    return this.env;
  }

  invoke(event: unknown): Promise<InvokeResult> {
    if (this.stopped) {
      return Promise.resolve({ error: { errorType: 'Sandbox.Stopped', errorMessage: 'The sandbox is stopping' }, durationMs: 0, requestId: randomUUID() });
    }
    this.invocations++;
    return new Promise((resolve) => {
      const requestId = randomUUID();
      this.queue.push({
        event,
        requestId,
        resolve: (r) => {
          if (r.error) this.errors++;
          resolve(r);
        },
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.stopped) {
      for (const q of this.queue.splice(0)) q.resolve({ error: { errorType: 'Sandbox.Stopped', errorMessage: 'The sandbox is stopping' }, durationMs: 0, requestId: q.requestId });
      return;
    }
    while (this.queue.length > 0) {
      let idle = [...this.environments].find((e) => !e.busy && !e.dead);
      if (!idle && this.environments.size < this.fn.maxConcurrency) {
        idle = this.spawn();
      }
      if (!idle) return;
      const next = this.queue.shift()!;
      const environment = idle;
      environment.busy = { id: next.requestId, resolve: next.resolve, started: Date.now(), timer: setTimeout(() => undefined, 0) };
      environment.ready.then(
        () => {
          environment.busy = undefined;
          if (environment.dead) {
            next.resolve({ error: { errorType: 'Runtime.ExitError', errorMessage: `${this.fn.name}: the execution environment exited` }, durationMs: 0, requestId: next.requestId });
            return;
          }
          environment.invoke(next.event, next.requestId, next.resolve);
        },
        (error: Error) => {
          environment.busy = undefined;
          next.resolve({ error: { errorType: 'Runtime.InitError', errorMessage: error.message }, durationMs: 0, requestId: next.requestId });
        },
      );
    }
  }

  /** Starts one execution environment ahead of the first invocation. */
  warm(): void {
    if (this.environments.size > 0 || this.stopped) return;
    this.spawn();
  }

  private spawn(): ExecutionEnvironment {
    const e = new ExecutionEnvironment(this.fn, this.environment(), this.options.logs, (x) => {
      if (x.dead) this.environments.delete(x);
      this.dispatch();
    });
    this.environments.add(e);
    this.options.onSpawn?.(this.fn, e.child.pid);
    return e;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dispatch();
    await Promise.all([...this.environments].map((e) => e.stop()));
    this.environments.clear();
  }
}

export class LambdaRuntime {
  private readonly pools = new Map<string, FunctionPool>();
  private readonly byName = new Map<string, FunctionPool>();

  constructor(private readonly options: LambdaRuntimeOptions) {}

  add(fn: FunctionSpec): void {
    if (!fs.existsSync(fn.codeDirectory)) throw new Error(`${fn.id}: code folder ${fn.codeDirectory} does not exist`);
    const pool = new FunctionPool(fn, this.options);
    this.pools.set(fn.id, pool);
    this.byName.set(fn.name, pool);
    this.byName.set(fn.arn, pool);
  }

  functions(): FunctionSpec[] {
    return [...this.pools.values()].map((p) => p.fn);
  }

  /** The function by name, ARN or qualified ARN (`…:function:name:alias`). */
  find(nameOrArn: string): FunctionSpec | undefined {
    return this.pool(nameOrArn)?.fn;
  }

  private pool(nameOrArn: string): FunctionPool | undefined {
    const direct = this.byName.get(nameOrArn);
    if (direct) return direct;
    const m = /^arn:aws[^:]*:lambda:[^:]*:[^:]*:function:([^:]+)(?::.+)?$/.exec(nameOrArn);
    return m ? this.byName.get(m[1]) : undefined;
  }

  invoke(nameOrArn: string, event: unknown): Promise<InvokeResult> {
    const pool = this.pool(nameOrArn);
    if (!pool) return Promise.reject(Object.assign(new Error(`Function not found: ${nameOrArn}`), { name: 'ResourceNotFoundException' }));
    // Events cross a process boundary as JSON, as they do in the cloud.
    return pool.invoke(JSON.parse(JSON.stringify(event)));
  }

  warm(nameOrArn: string): void {
    this.pool(nameOrArn)?.warm();
  }

  stats(): Array<{ name: string; invocations: number; errors: number }> {
    return [...this.pools.values()].map((p) => ({ name: p.fn.name, invocations: p.invocations, errors: p.errors }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.stop()));
  }
}
