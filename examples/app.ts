/**
 * Example app: `npx ts-node --project tsconfig.dev.json examples/app.ts` (or `npx projen
 * example:synth`) synthesizes it into examples/cdk.out. Environment-agnostic: deploy it with
 * `cdk deploy --app examples/cdk.out` into the account and region of your credentials.
 */
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { DataPipelineStack } from './data-pipeline-stack';

const app = new App({ outdir: process.env.CDK_OUTDIR ?? path.join(__dirname, 'cdk.out') });
new DataPipelineStack(app, 'ServerlessDataPipelineExample', {
  description: 'cdk-serverless-data-pipeline example',
  destroyData: app.node.tryGetContext('destroyData') === 'true',
});
app.synth();
