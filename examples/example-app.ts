/**
 * Builds the example app from its context, so that `examples/app.ts`, `cdk synth` and the tests
 * build exactly the same stacks.
 *
 * Context (`-c key=value`, or `context` in cdk.json):
 *   destroyData=true        a sandbox: data resources are deleted with the stack (default: retained / snapshotted)
 *   alertEmail=ADDRESS      subscribe an address to the operations topic
 *   multiAz=false           single-AZ database (cheaper sandbox; default Multi-AZ)
 *   reportEmail=ADDRESS     sender (and default recipient) of the e-mailed reports (an SES identity is created for it)
 *   reportRecipients=A,B    recipients of the reports (default: reportEmail)
 *   pipeline=true           also the CI/CD stack, with connectionArn=ARN, repo=owner/name [, branch=main]
 */
import { App } from 'aws-cdk-lib';
import { DataPipelineStack, DataPipelineStackProps } from './data-pipeline-stack';
import { PipelineStack } from './pipeline-stack';

/** Stack names of the example. */
export const EXAMPLE_STACK_NAME = 'ServerlessDataPipelineExample';
export const PIPELINE_STACK_NAME = 'ServerlessDataPipelineCicd';

/** The stacks of the example app. */
export interface ExampleApp {
  readonly dataPipeline: DataPipelineStack;
  readonly pipeline?: PipelineStack;
}

/** Context keys that are settings of the data pipeline stack (passed on to the pipeline's synth). */
const SYSTEM_CONTEXT_KEYS = ['destroyData', 'alertEmail', 'multiAz', 'reportEmail', 'reportRecipients'];

function flag(app: App, key: string): boolean | undefined {
  const value = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`Context ${key} must be true or false, got ${JSON.stringify(value)}`);
}

function text(app: App, key: string): string | undefined {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/** Adds the example's stacks to `app` according to its context. */
export function buildExampleApp(app: App): ExampleApp {
  const systemProps: DataPipelineStackProps = {
    destroyData: flag(app, 'destroyData') ?? false,
    alertEmail: text(app, 'alertEmail'),
    multiAz: flag(app, 'multiAz') ?? true,
    reportEmail: text(app, 'reportEmail'),
    reportRecipients: text(app, 'reportRecipients')?.split(',').map((a) => a.trim()).filter(Boolean),
  };
  const dataPipeline = new DataPipelineStack(app, EXAMPLE_STACK_NAME, {
    description: 'cdk-serverless-data-pipeline example: the complete system',
    ...systemProps,
  });

  if (!flag(app, 'pipeline')) return { dataPipeline };

  const connectionArn = text(app, 'connectionArn');
  const repository = text(app, 'repo');
  if (!connectionArn || !repository) {
    throw new Error('The pipeline needs -c connectionArn=<CodeStar connection ARN> and -c repo=<owner/name>');
  }
  const synthContext: { [key: string]: string } = {};
  for (const key of SYSTEM_CONTEXT_KEYS) {
    const value = text(app, key);
    if (value !== undefined) synthContext[key] = value;
  }
  const pipeline = new PipelineStack(app, PIPELINE_STACK_NAME, {
    description: 'cdk-serverless-data-pipeline example: CI/CD (CDK Pipelines)',
    connectionArn,
    repository,
    branch: text(app, 'branch'),
    dataPipeline: systemProps,
    synthContext,
  });
  return { dataPipeline, pipeline };
}
