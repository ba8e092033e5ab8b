/**
 * Delivery to a target by its ARN (what EventBridge rules, SNS subscriptions, S3 notifications
 * and Step Functions do in the cloud): a function, a queue, a topic, a state machine, a bus or a
 * log group. One place for that routing, used by every service that sends to a target.
 */
import type { LocalEventBridge } from '../eventbridge';
import type { InvokeResult } from '../lambda-runtime';
import type { LocalSns } from '../messaging';
import type { LocalQueues } from '../queues';
import type { LocalStepFunctions } from '../step-functions';

export interface TargetServices {
  /** The functions: the sandbox's processes (../lambda-runtime.ts) or the tests' in-process ones (../lambda-in-process.ts). */
  readonly lambdas: { invoke(nameOrArn: string, event: unknown): Promise<InvokeResult> };
  readonly queues: LocalQueues;
  readonly sns: LocalSns;
  readonly stepFunctions: LocalStepFunctions;
  readonly events: LocalEventBridge;
  /** Where log-group targets write. */
  logLine(line: string): void;
}

export class Targets {
  private services: TargetServices | undefined;

  /** The services are created after the routes that use them: bind them once they exist. */
  bind(services: TargetServices): void {
    this.services = services;
  }

  private get s(): TargetServices {
    if (!this.services) throw new Error('The sandbox\'s services are not running yet');
    return this.services;
  }

  /** Invokes a function asynchronously; a function error is thrown (for the caller's retries). */
  async invoke(functionArn: string, event: unknown, what: string): Promise<void> {
    const r = await this.s.lambdas.invoke(functionArn, event);
    if (r.error) throw new Error(`${what}: ${r.error.errorType}: ${r.error.errorMessage}`);
  }

  /** Sends `input` to the target `arn`; `what` names the sender in errors. */
  async deliver(arn: string, input: unknown, what: string): Promise<void> {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    if (arn.includes(':lambda:')) return this.invoke(arn, input, `${what} → ${arn.split(':').pop()}`);
    if (arn.includes(':sqs:')) {
      const queue = this.s.queues.byArn(arn);
      if (!queue) throw new Error(`${what}: no queue ${arn}`);
      queue.send(text);
      return;
    }
    if (arn.includes(':sns:')) {
      this.s.sns.publish(arn, text);
      return;
    }
    if (arn.includes(':states:')) {
      this.s.stepFunctions.start(arn, text);
      return;
    }
    if (arn.includes(':events:') && arn.includes(':event-bus/')) {
      const e = input as any;
      this.s.events.put(arn, { source: e.source, detailType: e['detail-type'], detail: e.detail, resources: e.resources });
      return;
    }
    if (arn.includes(':logs:')) {
      this.s.logLine(`${new Date().toISOString()} ${what} → ${arn}: ${text}`);
      return;
    }
    throw new Error(`The sandbox cannot deliver to target ${arn}`);
  }
}
