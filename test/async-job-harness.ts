/**
 * The async job workflow, locally, as deployed: the analytics handler harness (real PostgreSQL,
 * local Secrets Manager, dynalite, s3rver, real API Gateway events) plus
 *
 *   - the job state machine and the unfinished-job marker from a synthesized stack, run by the
 *     sandbox's Step Functions in-process (test/support/local-stepfunctions.ts), RunQuery bound to
 *     the real `jobRunner`;
 *   - the job table in dynalite (named as the sandbox names it), the topics in the sandbox's SNS;
 *   - the API function's StartExecution / DescribeExecution answered by the sandbox's Step Functions;
 *   - a TCP proxy in front of PostgreSQL that can reset or black-hole connections (transient failures,
 *     hanging queries), the job runner and the API function both connecting through it.
 */
import * as net from 'net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { callWithEvent, EventInit, Harness, HarnessOptions, Response, startHarness } from './fixtures/analytics/harness';
import { LocalSns, startLocalSns } from './support/local-sns';
import { CfnTemplate, LocalFunction, localModel, LocalWorkflow, startLocalStepFunctions } from './support/local-stepfunctions';
import { adminUrl } from './support/test-database';
import type { StackModel } from '../sandbox/src/resolver';
import type { Execution, LocalStepFunctions } from '../sandbox/src/step-functions';

/** Logical ids of the workflow's resources in the synthesized template. */
export interface WorkflowIds {
  readonly stateMachine: string;
  readonly marker: string;
  readonly jobRunner: string;
  readonly jobTable: string;
  readonly topic: string;
  readonly opsTopic?: string;
}

export interface SynthesizedWorkflow {
  readonly template: CfnTemplate;
  readonly ids: WorkflowIds;
}

/** A TCP proxy to PostgreSQL that injects connection faults. */
export class FaultyProxy {
  static async start(host: string, port: number): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(host, port);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private resets = 0;
  private blackholed = false;
  /** Connections accepted so far. */
  connections = 0;

  private constructor(private readonly upstreamHost: string, private readonly upstreamPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    this.connections++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.resets > 0) {
      this.resets--;
      client.resetAndDestroy();
      return;
    }
    if (this.blackholed) return; // accepted, never answered
    const upstream = net.connect(this.upstreamPort, this.upstreamHost);
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Resets every open connection (TCP RST), and the next `refuseNext` new ones. */
  resetConnections(refuseNext = 0): void {
    this.resets = refuseNext;
    for (const socket of [...this.sockets]) {
      if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  /** Resets the next `n` new connections (Infinity: until told otherwise). */
  refuseConnections(n: number): void {
    this.resets = n;
  }

  /** While on, new connections are accepted and never answered (a hung network path). */
  blackhole(on: boolean): void {
    this.blackholed = on;
    if (!on) for (const socket of [...this.sockets]) if (!socket.destroyed && socket.listenerCount('data') === 0) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of [...this.sockets]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface JobsHarness {
  readonly h: Harness;
  /** The workflow's functions (lambda/async-job-workflow), loaded with the analytics handler's environment. */
  readonly jobs: typeof import('../lambda/async-job-workflow/index');
  readonly sfn: LocalStepFunctions;
  readonly sns: LocalSns;
  readonly proxy: FaultyProxy;
  readonly ids: WorkflowIds;
  /** The template as the sandbox resolves it: `model.ref(id)` is a table's name, a topic's or state machine's ARN. */
  readonly model: StackModel;
  readonly topicArn: string;
  readonly opsTopicArn?: string;
  /** Per-test fault injection before each job-runner invocation (reset by `resetFaults`). */
  beforeRunnerInvoke?: (invocation: number) => Promise<void> | void;
  /** Calls the jobs API function (the job routes) with an API Gateway event. */
  call(init: EventInit): Promise<Response>;
  /**
   * A promise that stays pending until the test ends (then it rejects): a job-runner invocation whose
   * answer never comes back. Released in `releaseHangs()` (call it in afterEach) and on close.
   */
  hang(): Promise<void>;
  releaseHangs(): void;
  /** Executions of a state machine of the template, by its logical id. */
  executionsOf(logicalId: string): Execution[];
  /** The job item as stored (raw DynamoDB attribute values). */
  rawJob(jobId: string): Promise<Record<string, any> | undefined>;
  /** POST /analytics/jobs (202 expected), without waiting for the workflow. */
  submit(body: unknown): Promise<{ submit: any; jobId: string }>;
  /** POST /analytics/jobs, then waits until every execution (and what it triggered) finished. */
  submitAndWait(body: unknown): Promise<{ submit: any; status: any; jobId: string }>;
  status(jobId: string): Promise<any>;
  close(): Promise<void>;
}

export interface JobsHarnessOptions extends HarnessOptions {
  readonly workflow: SynthesizedWorkflow;
}

export async function startJobsHarness(options: JobsHarnessOptions): Promise<JobsHarness> {
  const { template, ids } = options.workflow;
  const admin = new URL(adminUrl());
  const proxy = await FaultyProxy.start(admin.hostname, Number(admin.port || 5432));
  const sns = await startLocalSns();
  const model = localModel(template);
  const tableName = String(model.ref(ids.jobTable));
  const topicArn = String(model.ref(ids.topic));
  const opsTopicArn = ids.opsTopic ? String(model.ref(ids.opsTopic)) : undefined;
  sns.addTopic(topicArn);
  if (opsTopicArn) sns.addTopic(opsTopicArn);

  // Started once the analytics harness has loaded the handlers (the job runner is one of them).
  let workflow!: LocalWorkflow;
  const hangs: Array<() => void> = [];

  const h = await startHarness({
    ...options,
    env: {
      DB_HOST: '127.0.0.1',
      DB_PORT: String(proxy.port),
      JOB_TABLE_NAME: tableName,
      JOB_STATE_MACHINE_ARN: String(model.ref(ids.stateMachine)),
      AWS_ENDPOINT_URL_SNS: sns.endpoint,
      ...options.env,
    },
  });
  await h.ddb.createTable(tableName, 'jobId');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jobs = require('../lambda/async-job-workflow/index') as typeof import('../lambda/async-job-workflow/index');

  const harness: JobsHarness = {
    h,
    jobs,
    call: (init) => callWithEvent(jobs.handler, init),
    sns,
    proxy,
    ids,
    model,
    topicArn,
    opsTopicArn,
    get sfn() {
      return workflow.sfn;
    },
    executionsOf: (logicalId) => workflow.sfn.executionsOf(String(model.ref(logicalId))),
    hang() {
      return new Promise<void>((_, reject) => hangs.push(() => reject(new Error('released at the end of the test'))));
    },
    releaseHangs() {
      for (const release of hangs.splice(0)) release();
    },
    async rawJob(jobId) {
      const key = { jobId: { S: jobId } };
      const { Item } = await h.ddb.client.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
      return Item;
    },
    async status(jobId) {
      return harness.call({ path: `/analytics/jobs/${jobId}`, resource: '/analytics/jobs/{jobId}', pathParameters: { jobId } });
    },
    async submit(body) {
      const submit = await harness.call({ method: 'POST', path: '/analytics/jobs', body: body as object });
      if (submit.statusCode !== 202) throw new Error(`expected 202, got ${submit.statusCode}: ${submit.body}`);
      return { submit, jobId: submit.json.data.jobId as string };
    },
    async submitAndWait(body) {
      const { submit, jobId } = await harness.submit(body);
      await workflow.sfn.waitForIdle();
      return { submit, status: await harness.status(jobId), jobId };
    },
    async close() {
      harness.releaseHangs();
      await workflow.close();
      proxy.blackhole(false);
      await h.close();
      await Promise.all([sns.close(), proxy.close()]);
    },
  };

  const runner: LocalFunction = {
    handler: (event, context) => jobs.jobRunner(event, context),
    beforeInvoke: (n) => harness.beforeRunnerInvoke?.(n),
  };
  workflow = await startLocalStepFunctions({ model, functions: { [ids.jobRunner]: runner }, dynamodbEndpoint: h.ddb.endpoint, sns: sns.service });
  // The SDK reads AWS_ENDPOINT_URL_SFN at a client's first request: the API function's client is created on its first job.
  process.env.AWS_ENDPOINT_URL_SFN = workflow.endpoint;
  return harness;
}
