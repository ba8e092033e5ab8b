/**
 * The stack the async job execution tests synthesize (a CanonicalStore, an AnalyticsApi and the
 * AsyncJobWorkflow, as an application deploys them), and the logical ids of the workflow's resources.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { SynthesizedWorkflow } from './async-job-harness';
import { AnalyticsApi, AsyncJobWorkflow, CanonicalStore } from '../src';
import { createTestStack } from './construct-support/app';

export interface WorkflowStackOptions {
  readonly jobTimeout?: Duration;
  /** An operations topic (alarmTopic): failures are published there too. */
  readonly withOpsTopic?: boolean;
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.resolve(((construct.node.defaultChild ?? construct) as any).logicalId);
}

export function synthesizeWorkflow(options: WorkflowStackOptions = {}): SynthesizedWorkflow {
  const stack = createTestStack();
  const store = new CanonicalStore(stack, 'Store');
  const api = new AnalyticsApi(stack, 'Analytics', { store });
  const ops = options.withOpsTopic ? new sns.Topic(stack, 'Ops', { enforceSSL: true }) : undefined;
  const jobs = new AsyncJobWorkflow(stack, 'Jobs', { api, store, jobTimeout: options.jobTimeout, alarmTopic: ops });
  return {
    template: Template.fromStack(stack).toJSON() as SynthesizedWorkflow['template'],
    ids: {
      stateMachine: logicalId(stack, jobs.stateMachine),
      marker: logicalId(stack, jobs.unfinishedJobMarker),
      jobRunner: logicalId(stack, jobs.jobRunner),
      jobTable: logicalId(stack, jobs.jobTable),
      topic: logicalId(stack, jobs.notificationTopic),
      opsTopic: ops ? logicalId(stack, ops) : undefined,
    },
  };
}
