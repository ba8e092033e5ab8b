/**
 * Every Lambda function of the library is built here, the same way: Node.js 24 (the newest LTS
 * runtime Lambda offers; `lambdaTuning.runtime` pins another supported one) on ARM64,
 * bundled asset code, X-Ray tracing, its own log group with retention, a role scoped to that
 * log group, and VPC endpoints for the AWS services it calls when it runs in a VPC.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { assetPath } from './assets';
import { METRICS_NAMESPACE } from './contracts';
import { acknowledgeDefaultLogEncryption } from './log-encryption';
import { acknowledgeNagFinding, defaultPolicyOf } from './nag';
import { MIN_NODE_MAJOR } from './node-runtime';
import { ensureVpcEndpoints, PipelineAwsService } from './vpc-endpoints';

/**
 * Settings of one of the library's Lambda functions that users may tune.
 */
export interface LambdaTuning {
  /**
   * Memory of the function, in MiB (128-10240). More memory also means more CPU.
   *
   * @default - chosen per function by the construct (documented on the construct's prop)
   */
  readonly memorySize?: number;

  /**
   * Maximum run time of one invocation (at most 15 minutes).
   *
   * @default - chosen per function by the construct (documented on the construct's prop)
   */
  readonly timeout?: Duration;

  /**
   * How long the function's CloudWatch logs are kept.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Extra environment variables, e.g. `POWERTOOLS_LOG_LEVEL`. They cannot replace the
   * variables the construct sets for the handler (such as `DB_HOST`); never put secrets here.
   *
   * @default - none
   */
  readonly environment?: { [key: string]: string };

  /**
   * Concurrent executions reserved for (and limiting) the function.
   *
   * @default - no reservation: the function uses the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * The Node.js runtime of the function. The bundled handlers are built for Node.js 22 and later:
   * an older runtime, or another language's, is refused at synth.
   *
   * @default lambda.Runtime.NODEJS_24_X (the newest Node.js LTS runtime Lambda offers)
   */
  readonly runtime?: lambda.Runtime;
}

/** The runtime of the library's functions unless `lambdaTuning.runtime` says otherwise. */
export const DEFAULT_RUNTIME = lambda.Runtime.NODEJS_24_X;


function validateRuntime(runtime: lambda.Runtime, prop: string): void {
  const major = /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1];
  if (runtime.family !== lambda.RuntimeFamily.NODEJS || major === undefined || Number(major) < MIN_NODE_MAJOR) {
    throw new Error(`${prop}.runtime must be a Node.js runtime, nodejs${MIN_NODE_MAJOR}.x or later (the handlers are built for Node.js ${MIN_NODE_MAJOR}+), got ${runtime.name}`);
  }
}

/**
 * Acknowledges cdk-nag's AwsSolutions-L1 ("not the latest runtime") on a function that runs the
 * library's default runtime (chosen on purpose: the runtime the handlers are tested on), and only
 * while the aws-cdk-lib in use knows a newer Node.js runtime (what the rule compares with). Any
 * other runtime is left to the rule.
 *
 * @param whose who chose the runtime, for the reason
 */
export function acknowledgeDefaultRuntime(fn: lambda.Function, whose: string): void {
  const newest = newestKnownNodeRuntime();
  if (fn.runtime.name !== DEFAULT_RUNTIME.name || newest === undefined || nodeMajor(newest) <= nodeMajor(DEFAULT_RUNTIME.name)) return;
  acknowledgeNagFinding(fn, 'AwsSolutions-L1',
    `${whose} the library's default runtime, ${DEFAULT_RUNTIME.name} (the handlers are built and tested on Node.js ${nodeMajor(DEFAULT_RUNTIME.name)}); `
    + `aws-cdk-lib also offers ${newest}, which lambdaTuning.runtime selects for the library's functions`);
}

/** The newest `nodejsNN.x` runtime aws-cdk-lib knows. */
function newestKnownNodeRuntime(): string | undefined {
  const names = lambda.Runtime.ALL.map((r) => r.name).filter((n) => /^nodejs\d+\.x$/.test(n));
  return names.sort((a, b) => nodeMajor(a) - nodeMajor(b)).pop();
}

function nodeMajor(runtimeName: string): number {
  return Number(/^nodejs(\d+)/.exec(runtimeName)?.[1] ?? 0);
}

/** Default log retention of the library's functions. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;


/** A metric a handler emits (EMF through Powertools), by its service name: every construct's `metric()`. */
export function handlerMetric(serviceName: string, metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: serviceName },
    period: Duration.minutes(5),
    ...props,
  });
}

/** Defaults a construct picks for one of its functions. */
export interface FunctionDefaults {
  readonly memorySize: number;
  readonly timeout: Duration;
}

/** Options of `createPipelineFunction`. */
export interface PipelineFunctionOptions {
  /** Folder under `assets/` with the bundled handler (`index.js`, exporting `handler`). */
  readonly assetName: string;
  /** The code, when it is more than the bundle (e.g. a staged copy with configuration). @default - the asset folder */
  readonly code?: lambda.Code;
  /** The handler export. @default 'index.handler' */
  readonly handler?: string;
  readonly description: string;
  /** `POWERTOOLS_SERVICE_NAME`, also the database `application_name`. */
  readonly serviceName: string;
  /** When set, the function runs in this VPC. */
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default - a new security group with all outbound traffic allowed */
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly defaults: FunctionDefaults;
  /** The user's tuning, and the name of the prop it came from (for error messages). */
  readonly tuning?: LambdaTuning;
  readonly tuningProp: string;
  /** The handler's own variables (its contract). */
  readonly environment: { [key: string]: string };
  /** AWS services the handler calls: each gets a VPC endpoint when the function runs in a VPC. */
  readonly callsServices: PipelineAwsService[];
  /** @default true */
  readonly createVpcEndpoints?: boolean;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** The construct's `logEncryptionKey` (its key policy is the construct's business). @default - CloudWatch Logs' own keys */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * What invokes the function, for the cdk-nag acknowledgement of a Lambda dead-letter queue,
   * which only applies to asynchronous invocations, e.g. `the SQS event source mapping`.
   * @default - asynchronous invocation: the function gets an encrypted dead-letter queue
   */
  readonly invokedSynchronouslyBy?: string;
  /**
   * Dead-letter queue for asynchronous invocations (ignored with `invokedSynchronouslyBy`).
   * @default - a new encrypted queue
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/** What `createPipelineFunction` built. */
export interface PipelineFunction {
  readonly fn: lambda.Function;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;
  /** Endpoints the function needs (empty outside a VPC or with createVpcEndpoints false). */
  readonly vpcEndpoints: ec2.IVpcEndpoint[];
  /** Dead-letter queue of asynchronous invocations (functions not invoked synchronously). */
  readonly deadLetterQueue?: sqs.IQueue;
}

/** What a function built by `createPipelineFunction` calls, and from which VPC (tests check the endpoints). */
export interface CalledServices {
  readonly services: PipelineAwsService[];
  readonly vpc?: ec2.IVpc;
}

const calledServices = new WeakMap<lambda.IFunction, CalledServices>();

/** The AWS services a function built by `createPipelineFunction` declared it calls. */
export function servicesCalledBy(fn: lambda.IFunction): CalledServices | undefined {
  return calledServices.get(fn);
}

function validateTuning(tuning: LambdaTuning | undefined, prop: string, ownEnvironment: { [key: string]: string }): void {
  if (!tuning) return;
  const { memorySize, timeout, reservedConcurrentExecutions, environment } = tuning;
  if (memorySize !== undefined && (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240)) {
    throw new Error(`${prop}.memorySize must be an integer between 128 and 10240 MiB, got ${memorySize}`);
  }
  if (timeout !== undefined && (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)) {
    throw new Error(`${prop}.timeout must be between 1 second and 15 minutes, got ${timeout.toHumanString()}`);
  }
  if (reservedConcurrentExecutions !== undefined && (!Number.isInteger(reservedConcurrentExecutions) || reservedConcurrentExecutions < 0)) {
    throw new Error(`${prop}.reservedConcurrentExecutions must be a non-negative integer, got ${reservedConcurrentExecutions}`);
  }
  if (tuning.runtime) validateRuntime(tuning.runtime, prop);
  const clashes = Object.keys(environment ?? {}).filter((k) => k in ownEnvironment);
  if (clashes.length > 0) {
    throw new Error(`${prop}.environment cannot set ${clashes.join(', ')}: the construct sets them for the handler`);
  }
}

/**
 * Builds one of the library's Lambda functions. Ids: `<id>`, `<id>Role`, `<id>LogGroup`.
 */
export function createPipelineFunction(scope: Construct, id: string, options: PipelineFunctionOptions): PipelineFunction {
  const { tuning, defaults } = options;
  validateTuning(tuning, options.tuningProp, options.environment);

  const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
    retention: tuning?.logRetention ?? DEFAULT_LOG_RETENTION,
    removalPolicy: options.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    encryptionKey: options.logEncryptionKey,
  });
  acknowledgeDefaultLogEncryption(logGroup, options.logEncryptionKey);

  // Our own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of ${options.description}`,
  });
  logGroup.grantWrite(role);
  if (options.vpc) {
    // What AWSLambdaVPCAccessExecutionRole grants: Lambda manages the function's network interfaces.
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: [
        'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
    }));
  }

  // Failed asynchronous invocations are kept, not dropped (synchronous callers retry themselves).
  const deadLetterQueue = options.invokedSynchronouslyBy ? undefined : options.deadLetterQueue ?? new sqs.Queue(scope, `${id}DeadLetterQueue`, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });

  const fn = new lambda.Function(scope, id, {
    description: options.description,
    runtime: tuning?.runtime ?? DEFAULT_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    code: options.code ?? lambda.Code.fromAsset(assetPath(options.assetName)),
    handler: options.handler ?? 'index.handler',
    role,
    memorySize: tuning?.memorySize ?? defaults.memorySize,
    timeout: tuning?.timeout ?? defaults.timeout,
    reservedConcurrentExecutions: tuning?.reservedConcurrentExecutions,
    deadLetterQueue,
    tracing: lambda.Tracing.ACTIVE,
    logGroup,
    vpc: options.vpc,
    vpcSubnets: options.vpc ? options.vpcSubnets : undefined,
    securityGroups: options.securityGroups,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: options.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      ...tuning?.environment,
      ...options.environment,
    },
  });

  acknowledgeNagFinding(defaultPolicyOf(role), 'AwsSolutions-IAM5',
    'X-Ray PutTraceSegments/PutTelemetryRecords and the Lambda VPC network-interface actions support no resource-level permissions',
    ['Resource::*']);
  acknowledgeHipaaFindings(fn, role, options);
  acknowledgeDefaultRuntime(fn, 'Runs');
  if (!options.vpc) {
    acknowledgeNagFinding(fn, 'HIPAA.Security-LambdaInsideVPC',
      'No vpc was given: the function calls AWS service APIs only (TLS, IAM-authorized) and reaches no private resource; pass vpc to run it in your VPC');
  }

  calledServices.set(fn, { services: [...options.callsServices], vpc: options.vpc });
  const vpcEndpoints = options.vpc && options.createVpcEndpoints !== false
    ? ensureVpcEndpoints(scope, options.vpc, options.callsServices, options.vpcSubnets)
    : [];
  return { fn, logGroup, role, vpcEndpoints, deadLetterQueue };
}

/** HIPAA Security findings that every function of the library accepts by design. */
function acknowledgeHipaaFindings(fn: lambda.Function, role: iam.Role, options: PipelineFunctionOptions): void {
  acknowledgeNagFinding(defaultPolicyOf(role), 'HIPAA.Security-IAMNoInlinePolicy',
    'The policy is generated from least-privilege grants for this one role; a managed policy would add no reuse');
  if (options.tuning?.reservedConcurrentExecutions === undefined) {
    acknowledgeNagFinding(fn, 'HIPAA.Security-LambdaConcurrency',
      'Concurrency is bounded by the trigger (event source maxConcurrency, API throttling, one call per deploy); reserving it by default fails in accounts at the minimum quota. Set reservedConcurrentExecutions to reserve it');
  }
  if (options.invokedSynchronouslyBy) {
    acknowledgeNagFinding(fn, 'HIPAA.Security-LambdaDLQ',
      `Invoked synchronously by ${options.invokedSynchronouslyBy}, which retries and keeps failures itself; a Lambda DLQ applies to asynchronous invocations only`);
  }
}
