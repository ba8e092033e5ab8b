/**
 * Integ test: the core path (store + ingestion + API + jobs) with the store's defaults (RDS for
 * PostgreSQL, single-AZ, in a new VPC with interface endpoints and no NAT gateway).
 * Run against an account: README "Integration tests against an account".
 */
import { App } from 'aws-cdk-lib';
import { buildCorePathTest } from './core-path';

const app = new App();
buildCorePathTest(app, { stackName: 'CdpIntegCorePath' });
app.synth();
