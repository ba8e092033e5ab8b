/**
 * API Gateway (REST APIs): each API of the templates served on http://localhost:3000 (more APIs:
 * 3001, …) by ../api-gateway.ts — routes, API keys and usage plans, validators, gateway
 * responses, throttling, MOCK integrations, Lambda authorizers.
 */
import { createHash } from 'crypto';
import { ApiMethod, ApiResourceNode, LocalRestApi, RestApiSpec } from '../api-gateway';
import type { StackModel } from '../resolver';
import type { LambdaService } from './lambda';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

export class ApiGatewayService implements SandboxService {
  readonly name = 'apigateway';
  readonly resourceTypes = [
    'AWS::ApiGateway::RestApi', 'AWS::ApiGateway::Resource', 'AWS::ApiGateway::Method', 'AWS::ApiGateway::Deployment',
    'AWS::ApiGateway::Stage', 'AWS::ApiGateway::Model', 'AWS::ApiGateway::RequestValidator', 'AWS::ApiGateway::GatewayResponse',
    'AWS::ApiGateway::Authorizer', 'AWS::ApiGateway::ApiKey', 'AWS::ApiGateway::UsagePlan', 'AWS::ApiGateway::UsagePlanKey',
    'AWS::ApiGateway::Account',
  ];
  readonly apis: LocalRestApi[] = [];

  constructor(private readonly ctx: ServiceContext, private readonly lambda: LambdaService, private readonly firstPort: number) {}

  async provision(): Promise<void> {
    const specs = resourcesOfType(this.ctx.models, 'AWS::ApiGateway::RestApi').map(({ model, id }) => buildRestApi(model, id, this.ctx.warnings));
    let port = this.firstPort;
    for (const spec of specs) {
      for (const node of spec.resources) {
        for (const m of Object.values(node.methods)) if (m.integration.functionArn) this.lambda.apiFunctions.add(m.integration.functionArn);
      }
      const rest = new LocalRestApi(spec, (fn, event) => this.lambda.runtime.invoke(fn, event), this.ctx.accountId, this.ctx.print);
      const url = await rest.listen(port);
      this.apis.push(rest);
      this.lambda.publicBaseUrl ??= url;
      if (port !== 0) port++;
    }
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::ApiGatewayV2::Api')) this.ctx.warnings.push(`${model.stackName}/${id}: HTTP/WebSocket APIs (API Gateway v2) are not run by the sandbox`);
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::WAFv2::WebACLAssociation')) this.ctx.warnings.push(`${model.stackName}/${id}: the AWS WAF web ACL's rules are not applied locally`);
  }

  describe(): Array<{ name: string; url: string; stage: string; apiKeys: Array<{ name: string; value: string }> }> {
    return this.apis.map((r) => ({
      name: r.spec.name, url: r.url, stage: r.spec.stage, apiKeys: r.spec.apiKeys.map((k) => ({ name: k.name, value: k.value })),
    }));
  }

  async stop(): Promise<void> {
    for (const api of this.apis) await api.close();
  }
}

const isTrue = (v: unknown) => v === true || v === 'true';
const FUNCTION_IN_URI = /functions\/(.+)\/invocations$/;

/** A REST API of the template, as the local gateway serves it. */
function buildRestApi(model: StackModel, apiId: string, warnings: string[]): RestApiSpec {
  const api = new RestApiTemplate(model, apiId);
  const p = model.properties(apiId);
  return {
    id: api.ref,
    logicalId: apiId,
    name: String(p.Name ?? apiId),
    ...api.stage(),
    resources: api.resources(warnings),
    gatewayResponses: api.gatewayResponses(),
    binaryMediaTypes: (p.BinaryMediaTypes ?? []).map(String),
    apiKeys: api.apiKeys(),
  };
}

/** Reads one REST API's resources (paths, methods, stage, keys) from its template. */
class RestApiTemplate {
  readonly ref: string;
  private readonly root: string;
  private readonly parents = new Map<string, { parent: string; part: string }>();

  constructor(private readonly model: StackModel, apiId: string) {
    this.ref = String(model.ref(apiId));
    this.root = String(model.getAtt(apiId, 'RootResourceId'));
    for (const [id] of this.forApi('AWS::ApiGateway::Resource')) {
      const r = model.properties(id);
      this.parents.set(String(model.ref(id)), { parent: String(r.ParentId), part: String(r.PathPart) });
    }
  }

  /** Resources of a type that belong to this API. */
  private forApi(type: string): Array<[string, unknown]> {
    return this.model.ofType(type).filter(([id]) => String(this.model.resolve(this.model.resources[id].Properties?.RestApiId)) === this.ref);
  }

  private pathOf(resourceId: string): string {
    if (resourceId === this.root) return '/';
    const r = this.parents.get(resourceId);
    if (!r) return `/${resourceId}`;
    const parent = this.pathOf(r.parent);
    return `${parent === '/' ? '' : parent}/${r.part}`;
  }

  /** Every path with its methods. */
  resources(warnings: string[]): ApiResourceNode[] {
    const nodes = new Map<string, ApiResourceNode>();
    const node = (resourcePath: string) => {
      let n = nodes.get(resourcePath);
      if (!n) {
        n = { path: resourcePath, methods: {} };
        nodes.set(resourcePath, n);
      }
      return n;
    };
    node('/');
    for (const id of this.parents.keys()) node(this.pathOf(id));
    const parts = { validators: this.validators(), models: this.requestModels(), authorizers: this.authorizers() };
    for (const [id] of this.forApi('AWS::ApiGateway::Method')) {
      const m = this.model.properties(id);
      const method = this.method(m, parts);
      if (method.authorizationType === 'AWS_IAM') {
        warnings.push(`${this.model.stackName}: ${method.httpMethod} ${this.pathOf(String(m.ResourceId))} uses IAM authorization, which the sandbox does not check`);
      }
      node(this.pathOf(String(m.ResourceId))).methods[method.httpMethod] = method;
    }
    return [...nodes.values()];
  }

  private method(m: Record<string, any>, parts: { validators: Map<string, ApiMethod['validator']>; models: Map<string, unknown>; authorizers: Map<string, ApiMethod['authorizer']> }): ApiMethod {
    const integration = m.Integration ?? {};
    const requestModels: Record<string, unknown> = {};
    for (const [ct, name] of Object.entries(m.RequestModels ?? {})) {
      const schema = parts.models.get(String(name));
      if (schema !== undefined) requestModels[ct.toLowerCase()] = typeof schema === 'string' ? JSON.parse(schema) : schema;
    }
    return {
      httpMethod: String(m.HttpMethod).toUpperCase(),
      authorizationType: String(m.AuthorizationType ?? 'NONE'),
      apiKeyRequired: isTrue(m.ApiKeyRequired),
      validator: m.RequestValidatorId ? parts.validators.get(String(m.RequestValidatorId)) : undefined,
      requestParameters: Object.fromEntries(Object.entries(m.RequestParameters ?? {}).map(([k, v]) => [k, isTrue(v)])),
      requestModels,
      integration: {
        type: String(integration.Type ?? 'MOCK'),
        functionArn: FUNCTION_IN_URI.exec(String(integration.Uri ?? ''))?.[1],
        timeoutMs: Number(integration.TimeoutInMillis ?? 29_000),
        integrationResponses: integration.IntegrationResponses,
      },
      authorizer: m.AuthorizerId ? parts.authorizers.get(String(m.AuthorizerId)) : undefined,
    };
  }

  private validators(): Map<string, ApiMethod['validator']> {
    const validators = new Map<string, ApiMethod['validator']>();
    for (const [id] of this.forApi('AWS::ApiGateway::RequestValidator')) {
      const v = this.model.properties(id);
      validators.set(String(this.model.ref(id)), { body: isTrue(v.ValidateRequestBody), parameters: isTrue(v.ValidateRequestParameters) });
    }
    return validators;
  }

  private requestModels(): Map<string, unknown> {
    return new Map(this.forApi('AWS::ApiGateway::Model').map(([id]) => [String(this.model.ref(id)), this.model.properties(id).Schema]));
  }

  private authorizers(): Map<string, ApiMethod['authorizer']> {
    const authorizers = new Map<string, ApiMethod['authorizer']>();
    for (const [id] of this.forApi('AWS::ApiGateway::Authorizer')) {
      const a = this.model.properties(id);
      const functionArn = FUNCTION_IN_URI.exec(String(a.AuthorizerUri ?? ''))?.[1];
      authorizers.set(String(this.model.ref(id)), { type: String(a.Type), functionArn, identitySource: a.IdentitySource });
    }
    return authorizers;
  }

  gatewayResponses(): RestApiSpec['gatewayResponses'] {
    const responses: RestApiSpec['gatewayResponses'] = {};
    for (const [id] of this.forApi('AWS::ApiGateway::GatewayResponse')) {
      const g = this.model.properties(id);
      const { StatusCode: statusCode, ResponseParameters: responseParameters, ResponseTemplates: responseTemplates } = g;
      responses[String(g.ResponseType)] = { statusCode, responseParameters, responseTemplates };
    }
    return responses;
  }

  /** The stage name and the stage's throttling (its `/*` method settings). */
  stage(): { stage: string; stageThrottle: RestApiSpec['stageThrottle'] } {
    const stages = this.forApi('AWS::ApiGateway::Stage').map(([id]) => this.model.properties(id));
    const deployment = this.forApi('AWS::ApiGateway::Deployment').map(([id]) => this.model.properties(id))[0];
    const settings: any[] = stages[0]?.MethodSettings ?? [];
    const all = settings.find((s) => s.HttpMethod === '*' && (s.ResourcePath === '/*' || s.ResourcePath === '*'));
    return {
      stage: String(stages[0]?.StageName ?? deployment?.StageName ?? 'prod'),
      stageThrottle: all?.ThrottlingRateLimit !== undefined
        ? { rateLimit: Number(all.ThrottlingRateLimit), burstLimit: Number(all.ThrottlingBurstLimit ?? all.ThrottlingRateLimit) }
        : undefined,
    };
  }

  /** API keys that unlock this API: through a usage plan on this API, or the key's stage keys. */
  apiKeys(): RestApiSpec['apiKeys'] {
    const model = this.model;
    const plans = new Map<string, { throttle?: { rateLimit?: number; burstLimit?: number } }>();
    for (const [id] of model.ofType('AWS::ApiGateway::UsagePlan')) {
      const u = model.properties(id);
      if ((u.ApiStages ?? []).some((s: any) => String(s.ApiId) === this.ref)) {
        const throttle = u.Throttle ? { rateLimit: u.Throttle.RateLimit, burstLimit: u.Throttle.BurstLimit } : undefined;
        plans.set(String(model.ref(id)), { throttle });
      }
    }
    const keyPlans = new Map<string, string>();
    for (const [id] of model.ofType('AWS::ApiGateway::UsagePlanKey')) {
      const k = model.properties(id);
      if (plans.has(String(k.UsagePlanId))) keyPlans.set(String(k.KeyId), String(k.UsagePlanId));
    }
    const apiKeys: RestApiSpec['apiKeys'] = [];
    for (const [id] of model.ofType('AWS::ApiGateway::ApiKey')) {
      const k = model.properties(id);
      if (k.Enabled === false || k.Enabled === 'false') continue;
      const keyId = String(model.ref(id));
      const viaStage = (k.StageKeys ?? []).some((s: any) => String(s.RestApiId) === this.ref);
      const plan = keyPlans.get(keyId);
      if (!plan && !viaStage && keyPlans.size + plans.size > 0) continue;
      apiKeys.push({
        id: keyId,
        name: String(k.Name ?? id),
        // The template's value when it sets one; else a stable generated one (printed at start).
        value: String(k.Value ?? `sandbox-${createHash('sha256').update(`${model.stackName}/${id}`).digest('hex').slice(0, 32)}`),
        throttle: plan ? plans.get(plan)?.throttle : undefined,
      });
    }
    return apiKeys;
  }
}
