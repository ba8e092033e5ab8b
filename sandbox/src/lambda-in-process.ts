/**
 * Lambda functions run in this process, for the tests (where speed and fault injection matter):
 * each handler is bound to a function of the template (name, ARN, timeout, memory) and invoked as
 * Lambda invokes it — a JSON copy of the event, a context whose remaining time counts down from the
 * function's timeout, Lambda's error contract (errorType, errorMessage, trace) and `Sandbox.Timedout`
 * past the timeout — with the result shape of ./lambda-runtime.ts, so the services that invoke
 * functions (Step Functions, rule targets) take either runtime.
 */
import { randomUUID } from 'crypto';
import type { InvokeResult } from './lambda-runtime';

/** What the template says of a function (see `functionSettings` in ./services/lambda.ts). */
export interface FunctionSettings {
  readonly name: string;
  readonly arn: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
}

export interface InProcessFunction extends FunctionSettings {
  readonly handler: (event: any, context: any) => unknown;
  /** Runs before each invocation (fault injection); a promise that never settles loses the invocation. */
  beforeInvoke?(invocation: number): Promise<void> | void;
}

const TIMED_OUT = Symbol('timed out');

function lambdaError(error: unknown): NonNullable<InvokeResult['error']> {
  if (error instanceof Error) return { errorType: error.name || 'Error', errorMessage: error.message, trace: String(error.stack ?? '').split('\n') };
  return { errorType: 'Error', errorMessage: typeof error === 'string' ? error : JSON.stringify(error), trace: [] };
}

export class InProcessLambdas {
  private readonly functions: InProcessFunction[] = [];
  private readonly invocations = new Map<string, number>();
  /** Handlers still running after their invocation timed out (a frozen environment would not be). */
  private readonly outliving = new Set<Promise<unknown>>();

  add(fn: InProcessFunction): void {
    this.functions.push(fn);
  }

  find(nameOrArn: string): InProcessFunction | undefined {
    return this.functions.find((f) => f.name === nameOrArn || f.arn === nameOrArn || f.arn === nameOrArn.replace(/:(\$LATEST|\d+)$/, ''));
  }

  async invoke(nameOrArn: string, event: unknown): Promise<InvokeResult> {
    const fn = this.find(nameOrArn);
    const requestId = randomUUID();
    const started = Date.now();
    if (!fn) return { error: { errorType: 'ResourceNotFoundException', errorMessage: `Function not found: ${nameOrArn}` }, durationMs: 0, requestId };
    const n = (this.invocations.get(fn.arn) ?? 0) + 1;
    this.invocations.set(fn.arn, n);
    await fn.beforeInvoke?.(n);
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    const context = {
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: fn.arn,
      memoryLimitInMB: String(fn.memoryMb),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    const run = Promise.resolve().then(() => fn.handler(JSON.parse(JSON.stringify(event ?? null)), context));
    const tracked = run.catch(() => undefined);
    this.outliving.add(tracked);
    void tracked.then(() => this.outliving.delete(tracked));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()))));
    try {
      const result = await Promise.race([run, timedOut]);
      if (result === TIMED_OUT) {
        const errorMessage = `RequestId: ${requestId} Error: Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`;
        return { error: { errorType: 'Sandbox.Timedout', errorMessage }, durationMs: Date.now() - started, requestId };
      }
      // Lambda answers JSON: the caller sees the serialized result.
      return { payload: result === undefined ? null : JSON.parse(JSON.stringify(result)), durationMs: Date.now() - started, requestId };
    } catch (error) {
      return { error: lambdaError(error), durationMs: Date.now() - started, requestId };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the handlers that outlived their invocation's timeout to finish. */
  async settle(): Promise<void> {
    while (this.outliving.size > 0) await Promise.all([...this.outliving]);
  }
}
