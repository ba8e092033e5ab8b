/**
 * Integ test: the core path (store + ingestion + API + jobs) on Aurora PostgreSQL Serverless v2
 * behind an RDS Proxy, the store's other deployment shape (handlers reach the database through
 * the proxy). Run against an account: README "Integration tests against an account".
 */
import { App } from 'aws-cdk-lib';
import { buildCorePathTest } from './core-path';
import { StoreEngine } from '../../src';

const app = new App();
buildCorePathTest(app, {
  stackName: 'CdpIntegCorePathAuroraProxy',
  store: { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, proxy: true },
});
app.synth();
