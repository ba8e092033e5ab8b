/**
 * The core path as an integ test (`@aws-cdk/integ-tests-alpha`): store + ingestion + API + jobs in
 * one stack, everything `RemovalPolicy.DESTROY`, and assertions that run after the deployment:
 *
 *  1. upload a small CRM file (3 valid customers, 1 invalid) into the ingestion bucket;
 *  2. wait for its manifest under manifests/<source>/ and check its status and counts;
 *  3. query the store through the API (`database_info`): the 3 customers are rows of the store;
 *  4. submit a job through the API (`POST /analytics/jobs`) and wait until it is SUCCEEDED.
 *
 * The API defaults to IAM authorization, so the assertions call it with API Gateway's
 * TestInvokeMethod (an AWS API call that runs the real method, integration and function, without
 * the authorizer) rather than over HTTPS. Every check waits for its condition and fails its custom
 * resource when the wait runs out, so a failed check fails the deployment itself, whether
 * integ-runner or `cdk deploy` runs it. The integ apps (`integ.*.ts` beside this file) choose the
 * store's settings; README "Integration tests against an account" says how to run them.
 */
import { AwsApiCall, ExpectedResult, IApiCall, IDeployAssert, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cxapi from 'aws-cdk-lib/cx-api';
import {
  AnalyticsApi, AsyncJobWorkflow, BuiltInSources, CanonicalStore, CanonicalStoreProps, IngestionPipeline,
} from '../../src';

/** The sample file: 3 valid customers and 1 without the required `name` (rejected). */
const SOURCE = BuiltInSources.crmCustomers();
const SAMPLE_KEY = `${SOURCE.prefix}integ/customers.json`;
const SAMPLE_RECORDS = [
  { customer_id: 'IT001', name: 'Integ One', email: 'one@integ.example', country: 'DE', updated_at: '2026-01-01T00:00:00Z' },
  { customer_id: 'IT002', name: 'Integ Two', email: 'two@integ.example', country: 'FR', updated_at: '2026-01-01T00:00:00Z' },
  { customer_id: 'IT003', name: 'Integ Three', email: 'three@integ.example', country: 'ES', updated_at: '2026-01-01T00:00:00Z' },
  { customer_id: 'IT004', email: 'four@integ.example' },
];
const VALID_RECORDS = 3;

/** Waits for what takes time: the first ingestion (cold starts) and the job. */
const WAIT_LONG = { totalTimeout: Duration.minutes(15), interval: Duration.seconds(20) };
/** Waits for what should already hold (retried briefly, then the check fails the deployment). */
const WAIT_SHORT = { totalTimeout: Duration.minutes(3), interval: Duration.seconds(15) };

export interface CorePathTestOptions {
  /** Name of the stack under test. */
  readonly stackName: string;
  /** Store settings of this variant (its removal policy is always DESTROY). */
  readonly store?: CanonicalStoreProps;
}

/** The stack under test and its integ test case with the assertions. */
export function buildCorePathTest(app: App, options: CorePathTestOptions): IntegTest {
  // The assertion stack reads the test stack's attributes through exports ("strong" references,
  // said explicitly to silence the synth warning): it is always destroyed first, so they never block.
  app.node.setContext(cxapi.DEFAULT_CROSS_STACK_REFERENCES, 'strong');
  const stack = new Stack(app, options.stackName);
  const store = new CanonicalStore(stack, 'Store', { ...options.store, removalPolicy: RemovalPolicy.DESTROY });
  const ingestion = new IngestionPipeline(stack, 'Ingestion', { store, sources: [SOURCE], removalPolicy: RemovalPolicy.DESTROY });
  const api = new AnalyticsApi(stack, 'Api', { store, removalPolicy: RemovalPolicy.DESTROY });
  new AsyncJobWorkflow(stack, 'Jobs', { api, store, removalPolicy: RemovalPolicy.DESTROY });

  const integ = new IntegTest(app, `${options.stackName}Test`, {
    testCases: [stack],
    // One deployment (no update from an earlier snapshot): the database is the slow, costly part.
    stackUpdateWorkflow: false,
    diffAssets: false,
  });
  const { assertions } = integ;
  const bucket = ingestion.bucket;

  // 1. the sample file
  const upload = assertions.awsApiCall('S3', 'putObject', {
    Bucket: bucket.bucketName,
    Key: SAMPLE_KEY,
    Body: JSON.stringify(SAMPLE_RECORDS),
    ContentType: 'application/json',
  });

  // 2. its manifest: one per file, under manifests/<source>/<day>/<run id>.json
  const manifests = assertions.awsApiCall('S3', 'listObjectsV2', { Bucket: bucket.bucketName, Prefix: `manifests/${SOURCE.name}/` });
  manifests.assertAtPath('KeyCount', ExpectedResult.exact(1));
  manifests.waitForAssertions(WAIT_LONG);
  allow(manifests, 's3:ListBucket', bucket.bucketArn); // the SDK call is ListObjectsV2, its IAM action ListBucket
  const manifest = assertions.awsApiCall('S3', 'getObject', { Bucket: bucket.bucketName, Key: manifests.getAttString('Contents.0.Key') });
  manifest.expect(ExpectedResult.objectLike({
    Body: Match.serializedJson(Match.objectLike({
      status: 'succeeded',
      object: Match.objectLike({ key: SAMPLE_KEY }),
      counts: Match.objectLike({ received: SAMPLE_RECORDS.length, inserted: VALID_RECORDS, rejected: SAMPLE_RECORDS.length - VALID_RECORDS }),
    })),
  }));
  manifest.waitForAssertions(WAIT_SHORT);

  // 3. the rows of the store, through the API
  const rows = testInvoke(assertions, api, { method: 'GET', resource: '/analytics', path: '/analytics?operation=database_info&cache=false' }, (call) => {
    call.expect(ExpectedResult.objectLike({
      status: 200,
      body: Match.serializedJson(Match.objectLike({
        data: Match.objectLike({
          entity_counts: Match.arrayWith([
            Match.objectLike({ entity_type: SOURCE.entityType, source_system: SOURCE.sourceSystem, entities: VALID_RECORDS }),
          ]),
        }),
      })),
    }));
    call.waitForAssertions(WAIT_SHORT);
  });

  // 4. a job, submitted through the API (202 with its id) and followed until it SUCCEEDED
  const submit = { method: 'POST', resource: '/analytics/jobs', path: '/analytics/jobs', body: JSON.stringify({ operation: 'data_integrity_analysis', parameters: {} }) };
  const submitted = testInvoke(assertions, api, submit, (call) => {
    call.assertAtPath('status', ExpectedResult.exact(202));
    call.waitForAssertions(WAIT_SHORT);
  });
  const jobId = submitted.getAttString('body.data.jobId');
  const finished = testInvoke(assertions, api, { method: 'GET', resource: '/analytics/jobs/{jobId}', path: `/analytics/jobs/${jobId}` }, (call) => {
    call.assertAtPath('body.data.status', ExpectedResult.exact('SUCCEEDED'));
    call.waitForAssertions(WAIT_LONG);
  });

  upload.next(manifests).next(manifest).next(rows).next(submitted).next(finished);
  return integ;
}

/** Lets the assertion's functions (the call's and, when it waits, the waiter's) do `action` on `resource`. */
function allow(call: IApiCall, action: string, resource: string): void {
  const statement = { Effect: 'Allow', Action: [action], Resource: [resource] };
  call.provider.addToRolePolicy(statement);
  if (call instanceof AwsApiCall) call.waiterProvider?.addToRolePolicy(statement);
}

/** The resource of the API at `resourcePath` (e.g. `/analytics/jobs/{jobId}`). */
function resourceOf(api: AnalyticsApi, resourcePath: string): apigw.IResource {
  const resource = resourcePath.split('/').filter(Boolean)
    .reduce<apigw.IResource | undefined>((parent, part) => parent?.getResource(part), api.api.root);
  if (!resource) throw new Error(`The API has no resource ${resourcePath}`);
  return resource;
}

/** A request to the analytics API: method, resource template, and the path (with the query string) it calls. */
interface ApiRequest {
  readonly method: string;
  readonly resource: string;
  readonly path: string;
  readonly body?: string;
}

/**
 * A call of the API through API Gateway's TestInvokeMethod: the method's real integration and
 * function, without the IAM authorizer (which an assertion's SDK call cannot sign for). `check`
 * adds the expectations (and the wait) before the call is given its permission.
 */
function testInvoke(assertions: IDeployAssert, api: AnalyticsApi, request: ApiRequest, check: (call: IApiCall) => void): IApiCall {
  const resourceId = resourceOf(api, request.resource).resourceId;
  const call = assertions.awsApiCall('APIGateway', 'testInvokeMethod', {
    restApiId: api.api.restApiId,
    resourceId,
    httpMethod: request.method,
    pathWithQueryString: request.path,
    ...(request.body === undefined ? {} : { body: request.body, headers: { 'content-type': 'application/json' } }),
  });
  check(call);
  // TestInvokeMethod is authorized as `apigateway:POST` on the method, not as an action of its own name.
  allow(call, 'apigateway:POST', Stack.of(api).formatArn({
    service: 'apigateway',
    account: '',
    resource: `/restapis/${api.api.restApiId}/resources/${resourceId}/methods/${request.method}`,
    arnFormat: ArnFormat.NO_RESOURCE_NAME,
  }));
  return call;
}
