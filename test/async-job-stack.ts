/**
 * The stack the async job tests synthesize, and the logical ids of the workflow's resources in it.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { SynthesizedWorkflow } from './async-job-harness';
import { createTestStack } from './construct-support/app';
import { buildJobStateMachines } from '../src/async-job-workflow/job-state-machine';
import { createPipelineFunction } from '../src/common/lambda-tuning';

export interface WorkflowStackOptions {
  readonly jobTimeout?: Duration;
  readonly withOpsTopic?: boolean;
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.resolve((construct.node.defaultChild as any).logicalId);
}

export function synthesizeWorkflow(options: WorkflowStackOptions = {}): SynthesizedWorkflow {
  const stack: Stack = createTestStack();
  const table = new dynamodb.Table(stack, 'Jobs', { partitionKey: { name: 'jobId', type: dynamodb.AttributeType.STRING } });
  const runner = createPipelineFunction(stack, 'Runner', {
    assetName: 'analytics',
    description: 'x',
    serviceName: 'x',
    defaults: { memorySize: 1024, timeout: options.jobTimeout ?? Duration.minutes(15) },
    tuningProp: 'lambda',
    environment: {},
    callsServices: [],
  });
  const key = new kms.Key(stack, 'Key');
  const topic = new sns.Topic(stack, 'Topic', { masterKey: key });
  const ops = options.withOpsTopic ? new sns.Topic(stack, 'Ops') : undefined;
  const built = buildJobStateMachines(stack, {
    table,
    runner: runner.fn,
    topic,
    opsTopic: ops,
    topicKey: key,
    logKey: key,
    jobTimeout: options.jobTimeout ?? Duration.minutes(15),
    retry: { maxAttempts: 3, interval: Duration.seconds(10), backoffRate: 2, maxDelay: Duration.minutes(2) },
    logExecutionData: false,
    logRetention: 90,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const template = stack.resolve((stack as any)._toCloudFormation());
  return {
    template,
    ids: {
      stateMachine: logicalId(stack, built.stateMachine),
      marker: logicalId(stack, built.marker),
      jobRunner: logicalId(stack, runner.fn),
      jobTable: logicalId(stack, table),
      topic: logicalId(stack, topic),
      opsTopic: ops ? logicalId(stack, ops) : undefined,
    },
  };
}
