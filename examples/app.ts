/**
 * The example app: the complete data pipeline system, and (with `-c pipeline=true`) its CI/CD
 * pipeline. Synthesizes without AWS credentials:
 *
 *   npx cdk synth                     (cdk.json at the repository root; cdk.out/)
 *   npm run example:synth             (bundles the handlers first; examples/cdk.out/)
 *
 * Context settings: see example-app.ts. Deploy with `npx cdk deploy ServerlessDataPipelineExample`
 * into the account and region of your credentials (the stacks are environment-agnostic).
 */
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { buildExampleApp } from './example-app';

const app = new App({ outdir: process.env.CDK_OUTDIR ?? path.join(__dirname, 'cdk.out') });
buildExampleApp(app);
app.synth();
