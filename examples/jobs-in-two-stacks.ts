/**
 * The async job workflow in a stack of its own, on an analytics API of another stack: passed across
 * stacks as the created `AnalyticsApi`, or imported with `AnalyticsApi.fromAnalyticsApiAttributes`
 * and literal ids (as from another app). Checked by the template lint, the runtime gate and
 * test/async-job-workflow-stacks.test.ts (synthesis, no dependency cycle, nag).
 */
import { App, Stack } from 'aws-cdk-lib';
import { AnalyticsApi, AnalyticsApiAuthorization, AsyncJobWorkflow, CanonicalStore } from '../src';

/** The stacks of the app with the created API passed across stacks. */
export interface JobsOnAnotherStacksApi {
  readonly apiStack: Stack;
  readonly jobsStack: Stack;
  readonly store: CanonicalStore;
  readonly api: AnalyticsApi;
  readonly jobs: AsyncJobWorkflow;
}

/** Store and API in `ApiStack`, the workflow in `JobsStack`. */
export function buildJobsOnAnotherStacksApi(app: App): JobsOnAnotherStacksApi {
  const apiStack = new Stack(app, 'ApiStack');
  const store = new CanonicalStore(apiStack, 'Store');
  const api = new AnalyticsApi(apiStack, 'Api', { store, userOperations: [{ name: 'customer_count', sql: 'SELECT count(*) AS customers FROM canonical.customers', longRunning: true }] });
  const jobsStack = new Stack(app, 'JobsStack');
  const jobs = new AsyncJobWorkflow(jobsStack, 'Jobs', { api, store });
  return { apiStack, jobsStack, store, api, jobs };
}

/** Literal ids of an analytics API deployed elsewhere (as a user copies them from its stack's outputs). */
export const IMPORTED_API_IDS = {
  restApiId: 'a1b2c3d4e5',
  rootResourceId: 'r00t1d2e3f',
  analyticsResourceId: 'an4l7t1cs0',
  resultsBucketName: 'analytics-results-123456789012',
  cacheTableName: 'analytics-cache-123456789012',
  functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:analytics-api',
};

/** The workflow (and the store it queries) in `JobsStack`, on an API imported by literal ids. */
export function buildJobsOnImportedApi(app: App): { jobsStack: Stack; jobs: AsyncJobWorkflow } {
  const jobsStack = new Stack(app, 'JobsStack');
  const store = new CanonicalStore(jobsStack, 'Store');
  const api = AnalyticsApi.fromAnalyticsApiAttributes(jobsStack, 'Api', {
    ...IMPORTED_API_IDS,
    restApiName: 'analytics',
    serviceName: 'analytics-api',
    stageName: 'prod',
    authorization: AnalyticsApiAuthorization.IAM,
  });
  const jobs = new AsyncJobWorkflow(jobsStack, 'Jobs', { api, store });
  return { jobsStack, jobs };
}
