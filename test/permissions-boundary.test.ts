/**
 * Permissions boundaries reach every IAM role the library causes to exist, aws-cdk-lib's generated
 * ones included (custom resource providers, log retention, bucket notifications, auto-delete of
 * objects): through each construct's `permissionsBoundary` prop, and through
 * `iam.PermissionsBoundary.of(scope)`. Hosted rotation's function and role are created by a
 * CloudFormation transform at deploy time, outside the template: they never appear here (see
 * docs/security-review.md).
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  AiAnalyzer, AnalyticsApi, AsyncJobWorkflow, BuiltInSources, CanonicalStore, IngestionPipeline, ReportNotifier,
} from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';

afterAll(removeTestAppDirs);

const BOUNDARY = 'pipeline-boundary';

/** Builds one construct (with what it needs) in `stack`, passing `boundary` as its prop when given. */
type Build = (stack: Stack, boundary?: iam.IManagedPolicy) => void;

const constructs: Array<[string, Build]> = [
  ['CanonicalStore', (stack, permissionsBoundary) => {
    new CanonicalStore(stack, 'Store', { permissionsBoundary });
  }],
  ['CanonicalStore (Aurora, proxy, DESTROY)', (stack, permissionsBoundary) => {
    new CanonicalStore(stack, 'Store', { permissionsBoundary, proxy: true, removalPolicy: RemovalPolicy.DESTROY });
  }],
  ['IngestionPipeline (DESTROY)', (stack, permissionsBoundary) => {
    const store = new CanonicalStore(stack, 'Store', { permissionsBoundary });
    new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()], permissionsBoundary, removalPolicy: RemovalPolicy.DESTROY });
  }],
  ['AnalyticsApi and AsyncJobWorkflow (DESTROY)', (stack, permissionsBoundary) => {
    const store = new CanonicalStore(stack, 'Store', { permissionsBoundary });
    const api = new AnalyticsApi(stack, 'Api', { store, permissionsBoundary, removalPolicy: RemovalPolicy.DESTROY });
    new AsyncJobWorkflow(stack, 'Jobs', { api, store, permissionsBoundary, removalPolicy: RemovalPolicy.DESTROY });
  }],
  ['AiAnalyzer and ReportNotifier', (stack, permissionsBoundary) => {
    const eventBus = new events.EventBus(stack, 'Bus');
    const store = new CanonicalStore(stack, 'Store', { permissionsBoundary });
    const ingestion = new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()], eventBus, permissionsBoundary });
    const analyzer = new AiAnalyzer(stack, 'Analyzer', { eventBus, dataBucket: ingestion.bucket, permissionsBoundary });
    new ReportNotifier(stack, 'Notifier', {
      eventBus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'], permissionsBoundary,
    });
  }],
];

/** Logical ids of the roles in the stack's template without the boundary, with where CDK put them. */
function rolesWithoutBoundary(stack: Stack): string[] {
  const roles = Template.fromStack(stack).findResources('AWS::IAM::Role');
  expect(Object.keys(roles).length).toBeGreaterThan(0);
  return Object.entries(roles)
    .filter(([, role]) => !JSON.stringify(role.Properties.PermissionsBoundary ?? null).includes(BOUNDARY))
    .map(([id, role]) => `${id} (${role.Metadata?.['aws:cdk:path'] ?? 'no path'})`);
}

describe.each(constructs)('%s', (_name, build) => {
  test('the permissionsBoundary prop reaches every role of the template, aws-cdk-lib\'s generated ones included', () => {
    const stack = createTestStack();
    build(stack, iam.ManagedPolicy.fromManagedPolicyName(stack, 'Boundary', BOUNDARY));
    expect(rolesWithoutBoundary(stack)).toEqual([]);
  });

  test('iam.PermissionsBoundary.of(stack) reaches every role of the template', () => {
    const stack = createTestStack();
    build(stack);
    iam.PermissionsBoundary.of(stack).apply(iam.ManagedPolicy.fromManagedPolicyName(stack, 'Boundary', BOUNDARY));
    expect(rolesWithoutBoundary(stack)).toEqual([]);
  });

  test('iam.Role.customizeRoles replaces every role of the template but CDK\'s CfnResource-based provider roles (listed in the docs)', () => {
    // The paths of the roles first, then the same construct with a precreated role for each.
    const probe = createTestStack();
    build(probe);
    const precreated = Object.fromEntries(probe.node.findAll().filter((c) => c instanceof iam.Role).map((r, i) => [r.node.path, `precreated-${i}`]));
    expect(Object.keys(precreated).length).toBeGreaterThan(0);
    const stack = createTestStack();
    iam.Role.customizeRoles(stack, { usePrecreatedRoles: precreated });
    build(stack);
    const remaining = Object.keys(Template.fromStack(stack).findResources('AWS::IAM::Role'));
    expect(remaining.filter((id) => !id.startsWith('CustomS3AutoDeleteObjectsCustomResourceProviderRole'))).toEqual([]);
  });
});
