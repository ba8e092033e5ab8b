/**
 * Step Functions, locally: the state machines CDK synthesized, run by `aws-local-stepfunctions`
 * (an ASL interpreter) with their tasks bound to local implementations:
 *
 *   - Lambda tasks (`payloadResponseOnly` or `lambda:invoke`) call the real handler in-process, with a
 *     Lambda-like context (remaining time from the function's timeout in the template) and Lambda's
 *     error contract: a thrown error becomes `Error` = its name, `Cause` = {"errorType","errorMessage","trace"};
 *     a handler running past the function's timeout fails with `Sandbox.Timedout`.
 *   - DynamoDB (`dynamodb:updateItem|putItem|getItem|deleteItem`) and SNS (`sns:publish`) optimized
 *     integrations call the real AWS SDK against local endpoints (dynalite, the recording SNS stand-in),
 *     with errors named as Step Functions names them (`DynamoDB.ConditionalCheckFailedException`).
 *
 * The definition is taken from the synthesized template: the `DefinitionString` Fn::Join is resolved
 * with local names for every Ref / Fn::GetAtt (table name = logical id, topic ARN ending in the logical
 * id, function ARN ending in the logical id…), then parsed. Executions emit "Step Functions Execution
 * Status Change" events that are delivered to the template's EventBridge rules whose pattern matches and
 * whose target is one of the template's state machines (as EventBridge would), so the unfinished-job
 * marker runs as deployed. `listen()` serves StartExecution / DescribeExecution / StopExecution over the
 * real JSON protocol, for handlers that start executions with the SDK (AWS_ENDPOINT_URL_SFN).
 *
 * aws-local-stepfunctions needs Node.js 22 (`Promise.withResolvers`); on Node.js 20 it is polyfilled here.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import {
  DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { liveStateContext } from '../../sandbox/src/step-functions';

/** `Promise.withResolvers` (Node.js 22) for aws-local-stepfunctions on Node.js 20. */
export function installPromiseWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: () => unknown };
  if (typeof P.withResolvers === 'function') return;
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}

/** An Amazon States Language definition (the parts read here). */
export interface StateMachineDefinition {
  StartAt: string;
  States: Record<string, { Type: string; [field: string]: any }>;
  TimeoutSeconds?: number;
  Comment?: string;
}

interface LocalRun {
  readonly result: Promise<unknown>;
  readonly eventLogs: AsyncGenerator<any>;
  abort(): void;
}

/** What is used of aws-local-stepfunctions (an ES module package; typed here to stay CommonJS). */
interface AslModule {
  StateMachine: new (definition: StateMachineDefinition, options?: Record<string, unknown>) => {
    run(input: unknown, options?: Record<string, unknown>): LocalRun;
  };
  ExecutionTimeoutError: any;
  ExecutionAbortedError: any;
}

installPromiseWithResolvers();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const asl = require('aws-local-stepfunctions') as AslModule;

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: any;
}
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
}

/**
 * Local physical names of a template's resources: tables are named by their logical id, everything
 * else gets an ARN that ends in the logical id. `overrides` renames a resource (logical id → name).
 */
export class LocalResourceNames {
  readonly partition = 'aws';

  constructor(
    private readonly template: CfnTemplate,
    readonly region = 'us-east-1',
    readonly account = '123456789012',
    private readonly overrides: Record<string, string> = {},
  ) {}

  typeOf(logicalId: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`No resource ${logicalId} in the template`);
    return resource.Type;
  }

  private name(logicalId: string): string {
    return this.overrides[logicalId] ?? logicalId;
  }

  arn(logicalId: string): string {
    const name = this.name(logicalId);
    const { region, account } = this;
    switch (this.typeOf(logicalId)) {
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${region}:${account}:function:${name}`;
      case 'AWS::DynamoDB::Table': return `arn:aws:dynamodb:${region}:${account}:table/${name}`;
      case 'AWS::DynamoDB::GlobalTable': return `arn:aws:dynamodb:${region}:${account}:table/${name}`;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${region}:${account}:${name}`;
      case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${region}:${account}:stateMachine:${name}`;
      case 'AWS::IAM::Role': return `arn:aws:iam::${account}:role/${name}`;
      case 'AWS::KMS::Key': return `arn:aws:kms:${region}:${account}:key/${name}`;
      case 'AWS::S3::Bucket': return `arn:aws:s3:::${name.toLowerCase()}`;
      case 'AWS::Logs::LogGroup': return `arn:aws:logs:${region}:${account}:log-group:${name}:*`;
      case 'AWS::Events::Rule': return `arn:aws:events:${region}:${account}:rule/${name}`;
      default: return `arn:aws:local:${region}:${account}:${name}`;
    }
  }

  /** What `{ Ref }` returns for the resource type. */
  ref(logicalId: string): string {
    switch (logicalId) {
      case 'AWS::Partition': return this.partition;
      case 'AWS::Region': return this.region;
      case 'AWS::AccountId': return this.account;
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return 'LocalStack';
      case 'AWS::NoValue': return '';
      default:
    }
    switch (this.typeOf(logicalId)) {
      case 'AWS::SNS::Topic':
      case 'AWS::StepFunctions::StateMachine':
        return this.arn(logicalId);
      default:
        return this.name(logicalId);
    }
  }

  getAtt(logicalId: string, attribute: string): string {
    if (attribute === 'Arn') return this.arn(logicalId);
    if (attribute === 'Name' || attribute === 'TopicName') return this.name(logicalId);
    throw new Error(`Fn::GetAtt ${logicalId}.${attribute} is not supported locally`);
  }

  /** Resolves the intrinsic functions in a template value. */
  resolve(value: any): any {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (!value || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [fn] = keys;
      const arg = value[fn];
      switch (fn) {
        case 'Ref': return this.ref(arg);
        case 'Fn::GetAtt': return this.getAtt(arg[0], arg[1]);
        case 'Fn::Join': return (this.resolve(arg[1]) as unknown[]).join(arg[0]);
        case 'Fn::Select': return (this.resolve(arg[1]) as unknown[])[Number(this.resolve(arg[0]))];
        case 'Fn::Split': return String(this.resolve(arg[1])).split(arg[0]);
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
          return String(text).replace(/\$\{([^}]+)\}/g, (_, name: string) => {
            if (vars[name] !== undefined) return String(this.resolve(vars[name]));
            const [id, attr] = name.split('.');
            return attr ? this.getAtt(id, attr) : this.ref(id);
          });
        }
        default:
      }
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(value[k])]));
  }
}

/** The ASL of a state machine in the template, with local names. */
export function definitionOf(template: CfnTemplate, logicalId: string, names: LocalResourceNames): StateMachineDefinition {
  const resource = template.Resources[logicalId];
  if (resource?.Type !== 'AWS::StepFunctions::StateMachine') throw new Error(`${logicalId} is not a state machine`);
  const text = names.resolve(resource.Properties.DefinitionString);
  return JSON.parse(text) as StateMachineDefinition;
}

/** A Lambda handler bound to a function of the template. */
export interface LocalFunction {
  readonly handler: (event: any, context: Context) => Promise<unknown>;
  /** Runs before each invocation (inject faults); a promise that never settles loses the invocation. */
  beforeInvoke?(invocation: number): Promise<void> | void;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface LocalExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: unknown;
  readonly startDate: Date;
  status: ExecutionStatus;
  stopDate?: Date;
  output?: unknown;
  error?: string;
  cause?: string;
  /** The interpreter's event log (StateEntered, StateRetried, StateCaught…). */
  readonly events: any[];
  /** Settles when the execution (not the executions it triggers) has finished. */
  readonly done: Promise<void>;
  abort(): void;
}

export interface LocalStepFunctionsOptions {
  readonly template: CfnTemplate;
  readonly names: LocalResourceNames;
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
  /** Handlers by the logical id of their AWS::Lambda::Function. */
  readonly functions: Record<string, LocalFunction>;
  /** Wait between retries in ms, replacing IntervalSeconds/BackoffRate/jitter (default 0). Undefined keeps the real waits. */
  readonly retryIntervalMs?: number | null;
  /** Replace the execution timeout of state machines (logical id → seconds), to test TIMED_OUT without waiting. */
  readonly executionTimeoutOverrides?: Record<string, number>;
}

interface TaskDescription {
  readonly name: string;
  readonly resource: string;
}

function taskStates(definition: StateMachineDefinition): TaskDescription[] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    if (state.Type === 'Map' || state.Type === 'Parallel') throw new Error(`State ${name}: nested state machines are not bound locally`);
    return state.Type === 'Task' ? [{ name, resource: String(state.Resource) }] : [];
  });
}

/** Attribute values as Step Functions passes them (B as base64) ↔ as the SDK wants them (B as bytes). */
function toSdkAttributes(value: any): any {
  if (Array.isArray(value)) return value.map(toSdkAttributes);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => {
    if (k === 'B' && typeof v === 'string') return [k, Buffer.from(v, 'base64')];
    if (k === 'BS' && Array.isArray(v)) return [k, v.map((x) => Buffer.from(String(x), 'base64'))];
    return [k, toSdkAttributes(v)];
  }));
}

function fromSdkOutput(value: any): any {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(fromSdkOutput);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '$metadata').map(([k, v]) => [k, fromSdkOutput(v)]));
}

function taskError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

const EVENTBRIDGE_DETAIL_TYPE = 'Step Functions Execution Status Change';

/** EventBridge pattern matching for the subset CDK writes (literal value lists, nested objects, prefix). */
export function matchesPattern(pattern: any, event: any): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event?.[key];
    if (Array.isArray(expected)) {
      return expected.some((e) => {
        if (e && typeof e === 'object' && 'prefix' in e) return typeof actual === 'string' && actual.startsWith(e.prefix);
        return Array.isArray(actual) ? actual.includes(e) : actual === e;
      });
    }
    if (expected && typeof expected === 'object') return matchesPattern(expected, actual);
    return actual === expected;
  });
}

export class LocalStepFunctions {
  readonly executions = new Map<string, LocalExecution>();
  /** Status-change events emitted (as EventBridge would receive them). */
  readonly statusEvents: any[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly invocations = new Map<string, number>();
  private readonly backgroundHandlers = new Set<Promise<unknown>>();
  private server?: http.Server;
  private readonly timeoutOverrides: Record<string, number | undefined>;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.timeoutOverrides = { ...options.executionTimeoutOverrides };
  }

  /** Replaces the execution timeout of a state machine's next executions (undefined: the template's). */
  setExecutionTimeout(logicalId: string, seconds: number | undefined): void {
    this.timeoutOverrides[logicalId] = seconds;
  }

  get names(): LocalResourceNames {
    return this.options.names;
  }

  stateMachineArn(logicalId: string): string {
    return this.names.arn(logicalId);
  }

  private logicalIdOfStateMachine(arn: string): string {
    const id = Object.keys(this.options.template.Resources).find((k) =>
      this.options.template.Resources[k].Type === 'AWS::StepFunctions::StateMachine' && this.names.arn(k) === arn);
    if (!id) throw taskError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return id;
  }

  private functionByArn(arn: string): { logicalId: string; fn: LocalFunction; timeoutSeconds: number; memory: number } {
    const name = arn.split(':')[6];
    const logicalId = Object.keys(this.options.template.Resources).find((k) =>
      this.options.template.Resources[k].Type === 'AWS::Lambda::Function' && this.names.arn(k).split(':')[6] === name);
    const fn = logicalId ? this.options.functions[logicalId] : undefined;
    if (!logicalId || !fn) throw taskError('Lambda.ResourceNotFoundException', `Function not found: ${arn}`);
    const props = this.options.template.Resources[logicalId].Properties ?? {};
    return { logicalId, fn, timeoutSeconds: Number(props.Timeout ?? 3), memory: Number(props.MemorySize ?? 128) };
  }

  /** Invokes a bound function as Lambda would (timeout, error contract). */
  private async invoke(functionArn: string, payload: unknown): Promise<unknown> {
    const { logicalId, fn, timeoutSeconds, memory } = this.functionByArn(functionArn);
    const n = (this.invocations.get(logicalId) ?? 0) + 1;
    this.invocations.set(logicalId, n);
    await fn.beforeInvoke?.(n);
    const deadline = Date.now() + timeoutSeconds * 1000;
    const context = {
      functionName: logicalId,
      functionVersion: '$LATEST',
      invokedFunctionArn: functionArn,
      memoryLimitInMB: String(memory),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${logicalId}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } as Context;
    const run = Promise.resolve().then(() => fn.handler(JSON.parse(JSON.stringify(payload ?? null)), context));
    // A handler still running after its timeout keeps going in the background (as a frozen sandbox would not):
    // tests wait for it with settleBackgroundHandlers().
    const tracked = run.catch(() => undefined);
    this.backgroundHandlers.add(tracked);
    void tracked.then(() => this.backgroundHandlers.delete(tracked));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(taskError('Sandbox.Timedout', JSON.stringify({
        errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
      }))), Math.max(0, deadline - Date.now()));
    });
    try {
      const result = await Promise.race([run, timeout]);
      // Lambda returns JSON: what the state machine sees is the serialized result.
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (error) {
      if ((error as Error).name === 'Sandbox.Timedout') throw error;
      const e = error as Error;
      const errorType = e?.name || 'Error';
      throw taskError(errorType, JSON.stringify({ errorType, errorMessage: e?.message ?? String(error), trace: String(e?.stack ?? '').split('\n') }));
    } finally {
      clearTimeout(timer);
    }
  }

  private async dynamodb(action: string, input: any): Promise<unknown> {
    const params = toSdkAttributes(input);
    const commands: Record<string, (p: any) => any> = {
      updateItem: (p) => new UpdateItemCommand(p),
      putItem: (p) => new PutItemCommand(p),
      getItem: (p) => new GetItemCommand(p),
      deleteItem: (p) => new DeleteItemCommand(p),
    };
    const make = commands[action];
    if (!make) throw new Error(`dynamodb:${action} is not bound locally`);
    try {
      return fromSdkOutput(await this.options.dynamodb.send(make(params)));
    } catch (error) {
      const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
      throw taskError(`DynamoDB.${e.name}`, `${e.message} (Service: DynamoDb, Status Code: ${e.$metadata?.httpStatusCode ?? 400}, Error Code: ${e.name})`);
    }
  }

  private async snsPublish(input: any): Promise<unknown> {
    const message = typeof input.Message === 'string' ? input.Message : JSON.stringify(input.Message);
    try {
      const out = await this.options.sns.send(new PublishCommand({ ...input, Message: message }));
      return { MessageId: out.MessageId };
    } catch (error) {
      const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
      throw taskError(`SNS.${e.name}`, `${e.message} (Service: Sns, Status Code: ${e.$metadata?.httpStatusCode ?? 400}, Error Code: ${e.name})`);
    }
  }

  private bindTask(task: TaskDescription): (input: any) => Promise<any> {
    const { resource } = task;
    if (/^arn:aws:lambda:[^:]+:[^:]+:function:/.test(resource)) return (input) => this.invoke(resource, input);
    if (resource === 'arn:aws:states:::lambda:invoke') {
      return async (input) => ({ StatusCode: 200, ExecutedVersion: '$LATEST', Payload: await this.invoke(input.FunctionName, input.Payload) });
    }
    const dynamo = /^arn:aws:states:::dynamodb:(\w+)$/.exec(resource);
    if (dynamo) return (input) => this.dynamodb(dynamo[1], input);
    if (resource === 'arn:aws:states:::sns:publish') return (input) => this.snsPublish(input);
    throw new Error(`Task ${task.name}: resource ${resource} is not bound locally`);
  }

  /** Starts an execution (named like Step Functions: unique per state machine). */
  startExecution(stateMachineArn: string, name: string = randomUUID(), input: unknown = {}): LocalExecution {
    const logicalId = this.logicalIdOfStateMachine(stateMachineArn);
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(executionArn)) throw taskError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    const definition = definitionOf(this.options.template, logicalId, this.names);
    const override = this.timeoutOverrides[logicalId];
    if (override !== undefined) definition.TimeoutSeconds = override;
    const tasks = taskStates(definition);
    const handlers = Object.fromEntries(tasks.map((t) => [t.name, this.bindTask(t)]));
    const retryOverrides = this.options.retryIntervalMs === null
      ? undefined
      : Object.fromEntries(Object.entries(definition.States).filter(([, s]) => 'Retry' in s).map(([n]) => [n, this.options.retryIntervalMs ?? 0]));
    const machine = new asl.StateMachine(definition, { validationOptions: { checkArn: false } });
    const parsedInput = typeof input === 'string' ? JSON.parse(input) : input;
    const run = machine.run(parsedInput, {
      overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retryOverrides },
      context: {
        Execution: { Id: executionArn, Name: name, RoleArn: `arn:aws:iam::${this.names.account}:role/${logicalId}Role` },
        StateMachine: { Id: stateMachineArn, Name: logicalId },
        State: liveStateContext(),
      },
    });
    const events: any[] = [];
    const collecting = (async () => {
      for await (const event of run.eventLogs) events.push(event);
    })().catch(() => undefined);
    const execution: LocalExecution = {
      executionArn,
      stateMachineArn,
      name,
      input: parsedInput,
      startDate: new Date(),
      status: 'RUNNING',
      events,
      abort: () => run.abort(),
      done: undefined as unknown as Promise<void>,
    };
    const done = run.result.then(
      (output) => {
        execution.status = 'SUCCEEDED';
        execution.output = output;
      },
      (error: Error & { cause?: Error }) => {
        if (error instanceof asl.ExecutionTimeoutError) {execution.status = 'TIMED_OUT';} else if (error instanceof asl.ExecutionAbortedError) {execution.status = 'ABORTED';} else {
          execution.status = 'FAILED';
          execution.error = error.cause?.name ?? error.name;
          execution.cause = error.cause?.message ?? error.message;
        }
      },
    ).then(async () => {
      execution.stopDate = new Date();
      await collecting;
      this.emitStatusChange(execution);
    });
    (execution as { done: Promise<void> }).done = done;
    this.executions.set(executionArn, execution);
    this.track(done);
    return execution;
  }

  private track(promise: Promise<void>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }

  /** Sends the execution's status change to the template's matching rules (targets: its state machines). */
  private emitStatusChange(execution: LocalExecution): void {
    const event = {
      'version': '0',
      'id': randomUUID(),
      'detail-type': EVENTBRIDGE_DETAIL_TYPE,
      'source': 'aws.states',
      'account': this.names.account,
      'time': execution.stopDate!.toISOString(),
      'region': this.names.region,
      'resources': [execution.executionArn],
      'detail': {
        executionArn: execution.executionArn,
        stateMachineArn: execution.stateMachineArn,
        name: execution.name,
        status: execution.status,
        startDate: execution.startDate.getTime(),
        stopDate: execution.stopDate!.getTime(),
        input: JSON.stringify(execution.input),
        output: execution.output === undefined ? null : JSON.stringify(execution.output),
      },
    };
    this.statusEvents.push(event);
    for (const [id, resource] of Object.entries(this.options.template.Resources)) {
      if (resource.Type !== 'AWS::Events::Rule' || resource.Properties?.State === 'DISABLED') continue;
      const pattern = this.names.resolve(resource.Properties.EventPattern);
      if (!matchesPattern(pattern, event)) continue;
      for (const target of resource.Properties.Targets ?? []) {
        const arn = this.names.resolve(target.Arn);
        if (!String(arn).includes(':stateMachine:')) throw new Error(`Rule ${id}: target ${arn} is not bound locally`);
        if (target.Input || target.InputPath || target.InputTransformer) throw new Error(`Rule ${id}: target input transformations are not emulated`);
        this.startExecution(arn, randomUUID(), event);
      }
    }
  }

  /** Waits until no execution is running (including those started by rules meanwhile). */
  async waitForIdle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Waits for handlers that outlived their invocation (timeouts) to finish. */
  async settleBackgroundHandlers(): Promise<void> {
    while (this.backgroundHandlers.size > 0) await Promise.all([...this.backgroundHandlers]);
  }

  executionsOf(logicalId: string): LocalExecution[] {
    const arn = this.stateMachineArn(logicalId);
    return [...this.executions.values()].filter((e) => e.stateMachineArn === arn);
  }

  /** Serves StartExecution / DescribeExecution / StopExecution (JSON 1.0) at the returned endpoint. */
  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const reply = (status: number, payload: unknown) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify(payload));
        };
        const target = String(req.headers['x-amz-target'] ?? '');
        const params = JSON.parse(body || '{}');
        try {
          if (target.endsWith('.StartExecution')) {
            const execution = this.startExecution(params.stateMachineArn, params.name ?? randomUUID(), params.input ?? '{}');
            return reply(200, { executionArn: execution.executionArn, startDate: execution.startDate.getTime() / 1000 });
          }
          if (target.endsWith('.DescribeExecution')) {
            const e = this.executions.get(params.executionArn);
            if (!e) return reply(400, { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${params.executionArn}'` });
            return reply(200, {
              executionArn: e.executionArn,
              stateMachineArn: e.stateMachineArn,
              name: e.name,
              status: e.status,
              startDate: e.startDate.getTime() / 1000,
              stopDate: e.stopDate ? e.stopDate.getTime() / 1000 : undefined,
              input: JSON.stringify(e.input),
              output: e.output === undefined ? undefined : JSON.stringify(e.output),
              error: e.error,
              cause: e.cause,
            });
          }
          if (target.endsWith('.StopExecution')) {
            const e = this.executions.get(params.executionArn);
            if (!e) return reply(400, { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${params.executionArn}'` });
            e.abort();
            return reply(200, { stopDate: Date.now() / 1000 });
          }
          return reply(400, { __type: 'UnknownOperationException', message: `Unsupported operation ${target}` });
        } catch (error) {
          const e = error as Error;
          return reply(400, { __type: e.name, message: e.message });
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const e of this.executions.values()) if (e.status === 'RUNNING') e.abort();
    await this.waitForIdle().catch(() => undefined);
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
