/**
 * Step Functions, locally: the template's state machine definitions (the ASL that CDK produced)
 * run by aws-local-stepfunctions. Each Task state is bound by its Resource to the local
 * services: Lambda (lambda:invoke and plain function ARNs) to the local functions; DynamoDB,
 * SNS, EventBridge, SQS and `aws-sdk:*` integrations to the local endpoints through the real SDK.
 * Retry/Catch see the errors the cloud would raise (a function's errorType; `DynamoDB.…`).
 * StartExecution / DescribeExecution / StopExecution / ListExecutions answer the handlers, and
 * each status change is sent to the default event bus as "Step Functions Execution Status Change".
 * The same class serves the tests in-process (their functions bound by `invokeLambda`, retry waits
 * shortened with `retryIntervalMs`, an execution timeout replaced with `setExecutionTimeout`).
 * Distributed Map states, which the interpreter does not run, are rewritten when a definition is
 * added (./distributed-map.ts) and run as Map Runs (./map-run.ts) whose child executions use the
 * same task binding; DescribeMapRun / ListMapRuns / ListExecutions(mapRunArn) answer about them.
 */
import { randomUUID } from 'crypto';
import { AwsError, LocalAwsApi } from './aws-api';
import { DISTRIBUTED_MAP_RESOURCE, DistributedMapSpec, rewriteDistributedMaps } from './distributed-map';
import type { LocalEventBridge } from './eventbridge';
import type { InvokeResult } from './lambda-runtime';
import { ChildIdentity, ChildOutcome, describeMapRun, MapRun, MapRunHost, mapRunExecutions, mapRunListItem, runDistributedMap } from './map-run';
import type { LocalSns } from './messaging';
import type { LocalQueues } from './queues';
import { LOCAL_S3_CREDENTIALS } from './s3';
import { statesError } from './states-error';

// aws-local-stepfunctions uses Promise.withResolvers (Node 22+): polyfill for Node 20.
const P = Promise as any;
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = () => {
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export interface StepFunctionsDependencies {
  readonly region: string;
  readonly account: string;
  readonly sns: LocalSns;
  readonly events: LocalEventBridge;
  readonly queues: LocalQueues;
  /** Wait between retries in ms, replacing IntervalSeconds/BackoffRate/jitter (tests); unset keeps the definition's waits. */
  readonly retryIntervalMs?: number;
  invokeLambda(nameOrArn: string, payload: unknown): Promise<InvokeResult>;
  /** Endpoint for an SDK service name (dynamodb, s3, sns, …) and whether it needs path-style S3. */
  endpointFor(service: string): string;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface Execution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: number;
  status: ExecutionStatus;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  abort?: () => void;
  /** The interpreter's events: StateEntered, StateRetried, StateFailed… with the state's name (and error). */
  readonly history: HistoryEvent[];
  /** The Map Runs of its Distributed Map states (nested ones included), in start order, with their counts. */
  readonly mapRuns: MapRun[];
}

export interface HistoryEvent {
  readonly type: string;
  readonly timestamp: number;
  readonly details?: { readonly name: string; readonly error?: string };
}

interface Machine {
  readonly arn: string;
  readonly name: string;
  /** As the template gives it. */
  readonly source: any;
  /** As the interpreter runs it: Distributed Maps replaced by their Tasks. */
  readonly definition: any;
  /** The Distributed Map states, by name (nested ones included). */
  readonly maps: Map<string, DistributedMapSpec>;
  readonly type: string;
}

/** How a run of the interpreter ended. */
type Outcome = ChildOutcome;

const SDK_CLIENTS: Record<string, [string, string, string]> = {
  // ARN service name: [package, client class, error prefix]
  dynamodb: ['@aws-sdk/client-dynamodb', 'DynamoDBClient', 'DynamoDb'],
  s3: ['@aws-sdk/client-s3', 'S3Client', 'S3'],
  sns: ['@aws-sdk/client-sns', 'SNSClient', 'Sns'],
  sfn: ['@aws-sdk/client-sfn', 'SFNClient', 'Sfn'],
  eventbridge: ['@aws-sdk/client-eventbridge', 'EventBridgeClient', 'EventBridge'],
  secretsmanager: ['@aws-sdk/client-secrets-manager', 'SecretsManagerClient', 'SecretsManager'],
  lambda: ['@aws-sdk/client-lambda', 'LambdaClient', 'Lambda'],
  sesv2: ['@aws-sdk/client-sesv2', 'SESv2Client', 'SesV2'],
};

function taskStates(definition: any): Array<[string, any]> {
  const out: Array<[string, any]> = [];
  for (const [name, state] of Object.entries<any>(definition?.States ?? {})) {
    if (state.Type === 'Task') out.push([name, state]);
    for (const branch of state.Branches ?? []) out.push(...taskStates(branch));
    if (state.Iterator) out.push(...taskStates(state.Iterator));
    if (state.ItemProcessor) out.push(...taskStates(state.ItemProcessor));
  }
  return out;
}

/** aws-local-stepfunctions times a Task out after 60 s by default; the cloud's default is a year. */
function withTaskTimeouts(definition: any): any {
  for (const [, state] of Object.entries<any>(definition?.States ?? {})) {
    if (state.Type === 'Task' && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = 86_400;
    for (const branch of state.Branches ?? []) withTaskTimeouts(branch);
    if (state.Iterator) withTaskTimeouts(state.Iterator);
    if (state.ItemProcessor) withTaskTimeouts(state.ItemProcessor);
  }
  return definition;
}

/** The interpreter, required when first used (after the Promise.withResolvers polyfill above). */
function interpreter(): any {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('aws-local-stepfunctions');
}

const VALIDATION = { validationOptions: { checkArn: false, checkPaths: false } };

/** How a run of the interpreter ended: its output, or the error and cause of its failure. */
async function settle(result: Promise<unknown>): Promise<Outcome> {
  const { ExecutionError, ExecutionTimeoutError, ExecutionAbortedError } = interpreter();
  try {
    return { status: 'SUCCEEDED', output: await result };
  } catch (error) {
    if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT' };
    if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
    const inner = error instanceof ExecutionError ? (error as Error & { cause?: Error }).cause : error as Error;
    return { status: 'FAILED', error: inner?.name ?? 'States.Runtime', cause: inner?.message ?? String(error) };
  }
}

/** A local service's error as an optimized integration names it (`SNS.NotFoundException`). */
function serviceCall<T>(prefix: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    const type = error instanceof AwsError ? error.type : (error as Error).name;
    throw statesError(`${prefix}.${type.endsWith('Exception') ? type : `${type}Exception`}`, (error as Error).message);
  }
}

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export class LocalStepFunctions {
  readonly machines = new Map<string, Machine>();
  readonly executions = new Map<string, Execution>();
  private readonly clients = new Map<string, any>();
  private readonly listeners: Array<(e: Execution) => void> = [];
  private readonly running = new Set<Promise<void>>();
  private readonly timeoutOverrides = new Map<string, number>();

  constructor(private readonly deps: StepFunctionsDependencies) {}

  /** Replaces the execution timeout of a state machine's next executions (undefined: the definition's). */
  setExecutionTimeout(stateMachineArn: string, seconds: number | undefined): void {
    if (seconds === undefined) this.timeoutOverrides.delete(stateMachineArn);
    else this.timeoutOverrides.set(stateMachineArn, seconds);
  }

  /** Executions of one state machine, in start order. */
  executionsOf(stateMachineArn: string): Execution[] {
    return [...this.executions.values()].filter((e) => e.stateMachineArn === stateMachineArn);
  }

  /** Waits until no execution runs, including those their status changes started (rules → state machines). */
  async waitForIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Aborts the running executions and waits for them to end. */
  async stop(): Promise<void> {
    for (const e of this.executions.values()) if (e.status === 'RUNNING') e.abort?.();
    await this.waitForIdle();
  }

  /** Adds a state machine; throws on a Distributed Map field the sandbox does not run (./distributed-map.ts). */
  addMachine(arn: string, name: string, definition: any, type = 'STANDARD'): void {
    const rewritten = rewriteDistributedMaps(definition);
    for (const spec of rewritten.maps.values()) {
      withTaskTimeouts(spec.processor);
      try {
        new (interpreter().StateMachine)(spec.processor, VALIDATION);
      } catch (error) {
        throw new Error(`${name}: the ItemProcessor of ${spec.stateName}: ${(error as Error).message}`);
      }
    }
    this.machines.set(arn, { arn, name, source: definition, definition: withTaskTimeouts(rewritten.definition), maps: rewritten.maps, type });
  }

  onStatus(listener: (e: Execution) => void): void {
    this.listeners.push(listener);
  }

  start(stateMachineArn: string, input: string | undefined, name?: string): Execution {
    const machine = this.machines.get(stateMachineArn);
    if (!machine) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    const executionName = name ?? randomUUID();
    const executionArn = `arn:aws:states:${this.deps.region}:${this.deps.account}:execution:${machine.name}:${executionName}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.input === (input ?? '{}') && existing.status === 'RUNNING') return existing;
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(input ?? '{}');
    } catch {
      throw new AwsError('InvalidExecutionInput', 'Invalid State Machine Execution Input: \'Unexpected token\'');
    }
    const execution: Execution = { executionArn, stateMachineArn, name: executionName, input: input ?? '{}', startDate: Date.now(), status: 'RUNNING', history: [], mapRuns: [] };
    this.executions.set(executionArn, execution);
    this.emit(execution);
    const run = this.run(machine, execution, parsed);
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    return execution;
  }

  private emit(execution: Execution): void {
    this.deps.events.put('default', {
      source: 'aws.states',
      detailType: 'Step Functions Execution Status Change',
      resources: [execution.executionArn],
      detail: {
        executionArn: execution.executionArn,
        stateMachineArn: execution.stateMachineArn,
        name: execution.name,
        status: execution.status,
        startDate: execution.startDate,
        stopDate: execution.stopDate ?? null,
        input: execution.input,
        output: execution.output ?? null,
        inputDetails: { included: true },
        outputDetails: execution.output !== undefined ? { included: true } : null,
        error: execution.error ?? null,
        cause: execution.cause ?? null,
      },
    });
    for (const l of this.listeners) l(execution);
  }

  private async run(machine: Machine, execution: Execution, input: unknown): Promise<void> {
    const timeout = this.timeoutOverrides.get(machine.arn);
    const definition = timeout === undefined ? machine.definition : { ...machine.definition, TimeoutSeconds: timeout };
    const children = new AbortController();
    const context = {
      Execution: { Id: execution.executionArn, Name: execution.name, Input: input, RoleArn: `arn:aws:iam::${this.deps.account}:role/sandbox`, StartTime: new Date(execution.startDate).toISOString() },
      StateMachine: { Id: machine.arn, Name: machine.name },
      State: liveStateContext(),
    };
    let logged: Promise<void> | undefined;
    let outcome: Outcome;
    try {
      const run = this.interpret(definition, input, context, machine.maps, this.mapRunHost(execution, machine.maps, children.signal));
      execution.abort = () => {
        children.abort();
        run.abort();
      };
      logged = this.logHistory(run.eventLogs, execution);
      outcome = await settle(run.result);
    } catch (error) {
      outcome = { status: 'FAILED', error: (error as Error).name, cause: (error as Error).message };
    }
    children.abort(); // a Map Run's children end with their parent, however it ended
    await logged; // the whole history is there when the status changes
    Object.assign(execution, outcome.status === 'SUCCEEDED' ? { status: 'SUCCEEDED', output: JSON.stringify(outcome.output) } : { status: outcome.status, error: outcome.error ?? execution.error, cause: outcome.cause ?? execution.cause });
    execution.stopDate = Date.now();
    this.emit(execution);
  }

  private async logHistory(eventLogs: AsyncIterable<any>, execution: Execution): Promise<void> {
    try {
      for await (const e of eventLogs) {
        execution.history.push({ type: e.type, timestamp: e.timestamp, details: 'state' in e ? { name: e.state.name, ...('Error' in e ? { error: e.Error } : {}) } : undefined });
      }
    } catch {
      // the log ends with the execution
    }
  }

  /** Runs a definition with the local task binding: Tasks by their Resource, Distributed Maps as Map Runs. */
  private interpret(
    definition: any, input: unknown, context: Record<string, unknown>, maps: Map<string, DistributedMapSpec>, host: MapRunHost, validated = false,
  ) {
    const handlers: Record<string, (input: any) => Promise<any>> = {};
    const tasks = taskStates(definition);
    for (const [stateName, state] of tasks) {
      handlers[stateName] = state.Resource === DISTRIBUTED_MAP_RESOURCE
        ? (i) => runDistributedMap(maps.get(stateName)!, i, host)
        : (i) => this.task(state.Resource, i);
    }
    const retryIntervalOverrides = this.deps.retryIntervalMs === undefined ? undefined
      : Object.fromEntries(tasks.filter(([, state]) => state.Retry).map(([name]) => [name, this.deps.retryIntervalMs]));
    const sm = new (interpreter().StateMachine)(definition, validated ? { validationOptions: { noValidate: true } } : VALIDATION);
    return sm.run(input, { overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides }, context }) as {
      abort: () => void; eventLogs: AsyncIterable<any>; result: Promise<unknown>;
    };
  }

  /** What a Map Run of this execution uses: the S3 client, child executions with the same binding, the execution's record. */
  private mapRunHost(execution: Execution, maps: Map<string, DistributedMapSpec>, signal: AbortSignal): MapRunHost {
    const host: MapRunHost = {
      region: this.deps.region,
      account: this.deps.account,
      signal,
      s3: () => this.client('s3'),
      record: (run) => execution.mapRuns.push(run),
      runChild: async (definition: any, input: unknown, child: ChildIdentity, childSignal: AbortSignal) => {
        if (childSignal.aborted) return { status: 'ABORTED' };
        const context = {
          Execution: { Id: child.executionArn, Name: child.name, Input: input, RoleArn: `arn:aws:iam::${this.deps.account}:role/sandbox`, StartTime: new Date(child.startDate).toISOString(), RedriveCount: 0 },
          StateMachine: { Id: child.stateMachineArn, Name: child.stateMachineName },
          State: liveStateContext(),
        };
        const grandchildren = new AbortController();
        // validated once, when the machine was added (asl-validator takes ~0.1 s a definition)
        const run = this.interpret(definition, input, context, maps, { ...host, signal: AbortSignal.any([childSignal, grandchildren.signal]) }, true);
        const onAbort = () => run.abort();
        childSignal.addEventListener('abort', onAbort, { once: true });
        try {
          return await settle(run.result);
        } finally {
          childSignal.removeEventListener('abort', onAbort);
          grandchildren.abort();
        }
      },
    };
    return host;
  }

  /** A Task state's work, by its Resource, against the local services. */
  private async task(resource: string, input: any): Promise<any> {
    const [base] = resource.split(/\.(?=sync|waitForTaskToken)/);
    const lambdaArn = /^arn:aws[^:]*:lambda:/.test(base);
    if (base === 'arn:aws:states:::lambda:invoke' || lambdaArn) {
      const fn = lambdaArn ? base : input.FunctionName;
      const payload = lambdaArn ? input : input.Payload;
      const result = await this.deps.invokeLambda(fn, payload ?? {});
      if (result.error) {
        const { errorType, errorMessage, trace } = result.error;
        throw statesError(errorType, JSON.stringify({ errorType, errorMessage, requestId: result.requestId, stackTrace: trace ?? [] }));
      }
      if (lambdaArn) return result.payload;
      return { ExecutedVersion: '$LATEST', Payload: result.payload, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: { RequestId: result.requestId }, StatusCode: 200 };
    }
    const optimized = /^arn:aws:states:::([a-z0-9-]+):([A-Za-z]+)$/.exec(base);
    if (optimized) {
      const [, service, action] = optimized;
      switch (`${service}:${action}`) {
        case 'sns:publish': {
          const message = typeof input.Message === 'string' ? input.Message : JSON.stringify(input.Message);
          const id = serviceCall('SNS', () => this.deps.sns.publish(input.TopicArn ?? input.TargetArn, message, input.Subject, input.MessageAttributes));
          return { MessageId: id, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: { RequestId: randomUUID() } };
        }
        case 'events:putEvents': {
          const entries = (input.Entries ?? []).map((e: any) => this.deps.events.put(e.EventBusName ?? 'default', {
            source: e.Source, detailType: e.DetailType, detail: typeof e.Detail === 'string' ? JSON.parse(e.Detail) : e.Detail, resources: e.Resources,
          }));
          return { Entries: entries.map((e: any) => ({ EventId: e.id })), FailedEntryCount: 0 };
        }
        case 'sqs:sendMessage': {
          const q = this.deps.queues.byUrlOrName(input.QueueUrl);
          if (!q) throw statesError('SQS.QueueDoesNotExistException', `The specified queue does not exist: ${input.QueueUrl}`);
          const id = q.send(typeof input.MessageBody === 'string' ? input.MessageBody : JSON.stringify(input.MessageBody));
          return { MessageId: id };
        }
        case 'states:startExecution': {
          const e = this.start(input.StateMachineArn, typeof input.Input === 'string' ? input.Input : JSON.stringify(input.Input ?? {}), input.Name);
          return { ExecutionArn: e.executionArn, StartDate: new Date(e.startDate).toISOString() };
        }
        default:
          if (service === 'dynamodb') return this.sdkCall('dynamodb', action, input, 'DynamoDB');
          throw statesError('States.Runtime', `The sandbox does not run the ${service}:${action} integration`);
      }
    }
    const sdk = /^arn:aws:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(base);
    if (sdk) return this.sdkCall(sdk[1], sdk[2], input);
    throw statesError('States.Runtime', `The sandbox cannot run a Task with Resource ${resource}`);
  }

  private async sdkCall(service: string, action: string, input: any, errorPrefix?: string): Promise<any> {
    const spec = SDK_CLIENTS[service];
    if (!spec) throw statesError('States.Runtime', `The sandbox has no SDK client for aws-sdk:${service}`);
    const [pkg, , prefix] = spec;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(pkg);
    const client = this.client(service);
    const Command = mod[`${pascal(action)}Command`];
    if (!Command) throw statesError('States.Runtime', `Unknown action aws-sdk:${service}:${action}`);
    try {
      const { $metadata, ...out } = await client.send(new Command(input));
      void $metadata;
      return out;
    } catch (error) {
      const e = error as Error;
      throw statesError(`${errorPrefix ?? prefix}.${e.name}`, e.message);
    }
  }

  /** The SDK v3 client of a service, pointed at the local endpoint (one per service). */
  private client(service: string): any {
    let client = this.clients.get(service);
    if (!client) {
      const [pkg, clientClass] = SDK_CLIENTS[service];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      client = new (require(pkg))[clientClass]({
        region: this.deps.region,
        endpoint: this.deps.endpointFor(service),
        credentials: LOCAL_S3_CREDENTIALS,
        ...(service === 's3' ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
      });
      this.clients.set(service, client);
    }
    return client;
  }

  register(api: LocalAwsApi): void {
    const get = (arn: string) => {
      const e = this.executions.get(arn);
      if (!e) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
      return e;
    };
    const summary = (e: Execution) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate / 1000,
      ...(e.stopDate ? { stopDate: e.stopDate / 1000 } : {}),
    });
    const mapRuns = () => [...this.executions.values()].flatMap((e) => e.mapRuns);
    const mapRun = (arn: string) => {
      const run = mapRuns().find((r) => r.mapRunArn === arn);
      if (!run) throw new AwsError('ResourceNotFound', `Resource not found: '${arn}'`);
      return run;
    };
    api.jsonService('AWSStepFunctions', '1.0', {
      StartExecution: ({ stateMachineArn, input, name }) => {
        const e = this.start(stateMachineArn, input, name);
        return { executionArn: e.executionArn, startDate: e.startDate / 1000 };
      },
      DescribeExecution: ({ executionArn }) => {
        const e = get(executionArn);
        return {
          ...summary(e),
          input: e.input,
          inputDetails: { included: true },
          ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
          ...(e.error ? { error: e.error } : {}),
          ...(e.cause ? { cause: e.cause } : {}),
        };
      },
      StopExecution: ({ executionArn, error, cause }) => {
        const e = get(executionArn);
        if (e.status === 'RUNNING') {
          e.error = error;
          e.cause = cause;
          e.abort?.();
        }
        return { stopDate: Date.now() / 1000 };
      },
      ListExecutions: ({ stateMachineArn, statusFilter, mapRunArn }) => (mapRunArn
        ? { executions: mapRunExecutions(mapRun(mapRunArn), statusFilter) }
        : {
          executions: [...this.executions.values()]
            .filter((e) => e.stateMachineArn === stateMachineArn && (!statusFilter || e.status === statusFilter))
            .map(summary),
        }),
      DescribeMapRun: ({ mapRunArn }) => describeMapRun(mapRun(mapRunArn)),
      ListMapRuns: ({ executionArn }) => ({ mapRuns: mapRuns().filter((r) => r.executionArn === executionArn).map(mapRunListItem) }),
      GetExecutionHistory: ({ executionArn }) => ({
        events: get(executionArn).history.map((h, i) => ({ id: i + 1, timestamp: h.timestamp / 1000, type: h.type })),
      }),
      DescribeStateMachine: ({ stateMachineArn }) => {
        const m = this.machines.get(stateMachineArn);
        if (!m) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
        return { stateMachineArn: m.arn, name: m.name, status: 'ACTIVE', definition: JSON.stringify(m.source), roleArn: `arn:aws:iam::${this.deps.account}:role/sandbox`, type: m.type, creationDate: 0 };
      },
    });
  }
}

/**
 * The Context fields `$$.State` gives. The interpreter copies the context into each state without
 * setting `State`, so `EnteredTime` is a getter: read when the state evaluates its paths, i.e. on entry.
 */
export function liveStateContext(): Record<string, unknown> {
  const state: Record<string, unknown> = { Name: '', RetryCount: 0 };
  Object.defineProperty(state, 'EnteredTime', { get: () => new Date().toISOString(), enumerable: true });
  return state;
}
