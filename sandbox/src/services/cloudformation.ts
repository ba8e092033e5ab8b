/**
 * CloudFormation custom resources (e.g. the store's schema migrations): run once at start, as a
 * deployment would. A CDK provider framework's onEvent (and isComplete) function is invoked
 * directly; a plain function answers through a local ResponseURL. The CDK's internal custom
 * resources (log retention, auto-delete, bucket notifications, …) have no local meaning.
 */
import { randomUUID } from 'crypto';
import type { FunctionSpec, LambdaRuntime } from '../lambda-runtime';
import type { LambdaService } from './lambda';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

const INTERNAL_CUSTOM_RESOURCES = [
  'Custom::LogRetention', 'Custom::S3AutoDeleteObjects', 'Custom::VpcRestrictDefaultSG',
  'Custom::CDKBucketDeployment', 'Custom::AWS', 'Custom::CrossRegionExportWriter', 'Custom::CrossRegionExportReader',
  'Custom::DeleteExistingRecordSet', 'Custom::AWSCDKOpenIdConnectProvider', 'Custom::AWSCDK-EKS-Cluster',
];

interface CustomResourceResult {
  readonly PhysicalResourceId?: string;
  readonly Data?: Record<string, unknown>;
}

export class CloudFormationService implements SandboxService {
  /** Whether a resource type is a custom resource (the sandbox runs its provider). */
  static isCustomResource(type: string): boolean {
    return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
  }

  readonly name = 'cloudformation';
  /** Custom resources are recognised by prefix (see `runs`); these are the internal ones, not run. */
  readonly resourceTypes = INTERNAL_CUSTOM_RESOURCES;
  private readonly responses = new Map<string, (body: any) => void>();
  private readonly created: string[] = [];

  constructor(private readonly ctx: ServiceContext, private readonly lambda: LambdaService) {
    ctx.api.route('PUT', /^\/_sandbox\/cfn-response\/([^/]+)$/, (request, m) => {
      this.responses.get(m[1])?.(JSON.parse(request.body.toString('utf8') || '{}'));
      return { status: 200 };
    });
  }

  /** Runs each custom resource's Create, in template order, and sets its attributes. */
  async provision(): Promise<void> {
    const lambdas = this.lambda.runtime;
    for (const { model, id } of resourcesOfType(this.ctx.models, CloudFormationService.isCustomResource)) {
      const type = model.resources[id].Type;
      if (INTERNAL_CUSTOM_RESOURCES.includes(type) || type === 'Custom::S3BucketNotifications') continue;
      const props = model.properties(id);
      const token = String(props.ServiceToken ?? '');
      const fn = lambdas.find(token);
      if (!fn) {
        this.ctx.warnings.push(`${model.stackName}/${id} (${type}): its provider ${token} does not run locally; skipped`);
        continue;
      }
      await this.ctx.progress.step(`Custom resource ${id} (${type})`, async () => {
        const event: Record<string, unknown> = {
          RequestType: 'Create',
          ServiceToken: token,
          ResponseURL: `${this.ctx.endpoints.services}/_sandbox/cfn-response/${randomUUID()}`,
          StackId: `arn:aws:cloudformation:${this.ctx.region}:${this.ctx.accountId}:stack/${model.stackName}/sandbox`,
          RequestId: randomUUID(),
          LogicalResourceId: id,
          ResourceType: type,
          ResourceProperties: props,
        };
        const data = this.lambda.providerFunctions.has(fn.arn)
          ? await runProviderFramework(lambdas, fn, event)
          : await this.runPlainFunction(lambdas, fn, event);
        model.setAttributes(id, data.Data ?? {}, data.PhysicalResourceId);
        this.created.push(`${model.stackName}/${id}`);
        return data;
      }, (d) => d.PhysicalResourceId ? String(d.PhysicalResourceId) : '');
    }
  }

  /** A plain function answers through the ResponseURL (cfn-response): catch that PUT locally. */
  private async runPlainFunction(lambdas: LambdaRuntime, fn: FunctionSpec, event: Record<string, unknown>): Promise<CustomResourceResult> {
    const id = String(event.ResponseURL).split('/').pop()!;
    const response = new Promise<any>((resolve) => this.responses.set(id, resolve));
    const result = await lambdas.invoke(fn.arn, event);
    if (result.error) throw new Error(`${fn.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
    const body = await Promise.race([response, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
    this.responses.delete(id);
    if (body?.Status === 'FAILED') throw new Error(`${fn.name} failed: ${body.Reason}`);
    return body ?? (result.payload as any) ?? {};
  }

  describe(): unknown {
    return this.created;
  }

  async stop(): Promise<void> {
    // nothing runs after start
  }
}

/** The provider framework calls the user's onEvent (and isComplete) function: do the same, directly. */
async function runProviderFramework(lambdas: LambdaRuntime, fn: FunctionSpec, event: Record<string, unknown>): Promise<CustomResourceResult> {
  const env = fn.environment();
  const onEvent = String(env.USER_ON_EVENT_FUNCTION_ARN);
  const result = await lambdas.invoke(onEvent, event);
  if (result.error) throw new Error(`${onEvent.split(':').pop()} failed: ${result.error.errorType}: ${result.error.errorMessage}`);
  const out = (result.payload ?? {}) as CustomResourceResult;
  const isComplete = env.USER_IS_COMPLETE_FUNCTION_ARN;
  if (!isComplete) return out;
  for (let i = 0; i < 600; i++) {
    const r = await lambdas.invoke(String(isComplete), { ...event, ...out });
    if (r.error) throw new Error(`isComplete failed: ${r.error.errorType}: ${r.error.errorMessage}`);
    const c = r.payload as { IsComplete?: boolean; Data?: Record<string, unknown> };
    if (c?.IsComplete) return { ...out, Data: { ...(out.Data ?? {}), ...(c.Data ?? {}) } };
    await new Promise((res) => setTimeout(res, 1000));
  }
  return out;
}
