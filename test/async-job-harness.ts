/**
 * The async job workflow, locally, as deployed: the analytics handler harness (real PostgreSQL,
 * local Secrets Manager, dynalite, s3rver, real API Gateway events) plus
 *
 *   - the job state machine and the unfinished-job marker from a synthesized stack, run by the local
 *     Step Functions (test/support/local-stepfunctions.ts), RunQuery bound to the real `jobRunner`;
 *   - the job table in dynalite (named by its logical id), the topics in the recording SNS stand-in;
 *   - the API function's StartExecution / DescribeExecution answered by the local Step Functions;
 *   - a TCP proxy in front of PostgreSQL that can reset or black-hole connections (transient failures,
 *     hanging queries), the job runner and the API function both connecting through it.
 */
import * as net from 'net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { callWithEvent, EventInit, Harness, HarnessOptions, Response, startHarness } from './fixtures/analytics/harness';
import { LocalSns, startLocalSns } from './support/local-sns';
import { CfnTemplate, LocalFunction, LocalResourceNames, LocalStepFunctions } from './support/local-stepfunctions';
import { adminUrl } from './support/test-database';

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
  readonly names: LocalResourceNames;
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
  /** See LocalStepFunctionsOptions.executionTimeoutOverrides (logical id → seconds). */
  readonly executionTimeoutOverrides?: Record<string, number>;
}

export async function startJobsHarness(options: JobsHarnessOptions): Promise<JobsHarness> {
  const { template, ids } = options.workflow;
  const admin = new URL(adminUrl());
  const proxy = await FaultyProxy.start(admin.hostname, Number(admin.port || 5432));
  const sns = await startLocalSns();
  const names = new LocalResourceNames(template);
  const topicArn = names.arn(ids.topic);
  const opsTopicArn = ids.opsTopic ? names.arn(ids.opsTopic) : undefined;
  sns.addTopic(topicArn);
  if (opsTopicArn) sns.addTopic(opsTopicArn);

  // Created once the analytics harness has loaded the handlers (the job runner is one of them).
  let sfn!: LocalStepFunctions;
  const hangs: Array<() => void> = [];

  const h = await startHarness({
    ...options,
    env: {
      DB_HOST: '127.0.0.1',
      DB_PORT: String(proxy.port),
      JOB_TABLE_NAME: names.ref(ids.jobTable),
      JOB_STATE_MACHINE_ARN: names.arn(ids.stateMachine),
      AWS_ENDPOINT_URL_SNS: sns.endpoint,
      ...options.env,
    },
  });
  await h.ddb.createTable(names.ref(ids.jobTable), 'jobId');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jobs = require('../lambda/async-job-workflow/index') as typeof import('../lambda/async-job-workflow/index');

  const harness: JobsHarness = {
    h,
    jobs,
    call: (init) => callWithEvent(jobs.handler, init),
    sns,
    proxy,
    ids,
    names,
    topicArn,
    opsTopicArn,
    get sfn() {
      return sfn;
    },
    hang() {
      return new Promise<void>((_, reject) => hangs.push(() => reject(new Error('released at the end of the test'))));
    },
    releaseHangs() {
      for (const release of hangs.splice(0)) release();
    },
    async rawJob(jobId) {
      const key = { jobId: { S: jobId } };
      const { Item } = await h.ddb.client.send(new GetItemCommand({ TableName: names.ref(ids.jobTable), Key: key, ConsistentRead: true }));
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
      await sfn.waitForIdle();
      return { submit, status: await harness.status(jobId), jobId };
    },
    async close() {
      harness.releaseHangs();
      await sfn.close();
      await sfn.settleBackgroundHandlers();
      proxy.blackhole(false);
      await h.close();
      await Promise.all([sns.close(), proxy.close()]);
    },
  };

  const runner: LocalFunction = {
    handler: (event, context) => jobs.jobRunner(event, context),
    beforeInvoke: (n) => harness.beforeRunnerInvoke?.(n),
  };
  sfn = new LocalStepFunctions({
    template,
    names,
    dynamodb: h.ddb.client,
    sns: sns.client,
    functions: { [ids.jobRunner]: runner },
    executionTimeoutOverrides: options.executionTimeoutOverrides,
  });
  // The SDK reads AWS_ENDPOINT_URL_SFN at a client's first request: the API function's client is created on its first job.
  process.env.AWS_ENDPOINT_URL_SFN = await sfn.listen();
  return harness;
}
