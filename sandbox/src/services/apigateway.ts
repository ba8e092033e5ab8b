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

/** A REST API of the template, as the local gateway serves it. */
function buildRestApi(model: StackModel, apiId: string, warnings: string[]): RestApiSpec {
  const apiRef = String(model.ref(apiId));
  const p = model.properties(apiId);
  const forApi = (type: string) => model.ofType(type).filter(([id]) => String(model.resolve(model.resources[id].Properties?.RestApiId)) === apiRef);
  // Resource tree → paths.
  const root = String(model.getAtt(apiId, 'RootResourceId'));
  const parents = new Map<string, { parent: string; part: string }>();
  for (const [id] of forApi('AWS::ApiGateway::Resource')) {
    const r = model.properties(id);
    parents.set(String(model.ref(id)), { parent: String(r.ParentId), part: String(r.PathPart) });
  }
  const pathOf = (resourceId: string): string => {
    if (resourceId === root) return '/';
    const r = parents.get(resourceId);
    if (!r) return `/${resourceId}`;
    const parent = pathOf(r.parent);
    return `${parent === '/' ? '' : parent}/${r.part}`;
  };
  const validators = new Map<string, { body: boolean; parameters: boolean }>();
  for (const [id] of forApi('AWS::ApiGateway::RequestValidator')) {
    const v = model.properties(id);
    validators.set(String(model.ref(id)), { body: v.ValidateRequestBody === true || v.ValidateRequestBody === 'true', parameters: v.ValidateRequestParameters === true || v.ValidateRequestParameters === 'true' });
  }
  const models = new Map<string, unknown>();
  for (const [id] of forApi('AWS::ApiGateway::Model')) models.set(String(model.ref(id)), model.properties(id).Schema);
  const authorizers = new Map<string, ApiMethod['authorizer']>();
  for (const [id] of forApi('AWS::ApiGateway::Authorizer')) {
    const a = model.properties(id);
    const fn = /functions\/(.+)\/invocations$/.exec(String(a.AuthorizerUri ?? ''))?.[1];
    authorizers.set(String(model.ref(id)), { type: String(a.Type), functionArn: fn, identitySource: a.IdentitySource });
  }
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
  for (const id of parents.keys()) node(pathOf(id));
  for (const [id] of forApi('AWS::ApiGateway::Method')) {
    const m = model.properties(id);
    const integration = m.Integration ?? {};
    const uri = String(integration.Uri ?? '');
    const requestModels: Record<string, unknown> = {};
    for (const [ct, name] of Object.entries(m.RequestModels ?? {})) {
      const schema = models.get(String(name));
      if (schema !== undefined) requestModels[ct.toLowerCase()] = typeof schema === 'string' ? JSON.parse(schema) : schema;
    }
    const method: ApiMethod = {
      httpMethod: String(m.HttpMethod).toUpperCase(),
      authorizationType: String(m.AuthorizationType ?? 'NONE'),
      apiKeyRequired: m.ApiKeyRequired === true || m.ApiKeyRequired === 'true',
      validator: m.RequestValidatorId ? validators.get(String(m.RequestValidatorId)) : undefined,
      requestParameters: Object.fromEntries(Object.entries(m.RequestParameters ?? {}).map(([k, v]) => [k, v === true || v === 'true'])),
      requestModels,
      integration: {
        type: String(integration.Type ?? 'MOCK'),
        functionArn: /functions\/(.+)\/invocations$/.exec(uri)?.[1],
        timeoutMs: Number(integration.TimeoutInMillis ?? 29_000),
        integrationResponses: integration.IntegrationResponses,
      },
      authorizer: m.AuthorizerId ? authorizers.get(String(m.AuthorizerId)) : undefined,
    };
    if (method.authorizationType === 'AWS_IAM') {
      warnings.push(`${model.stackName}: ${method.httpMethod} ${pathOf(String(m.ResourceId))} uses IAM authorization, which the sandbox does not check`);
    }
    node(pathOf(String(m.ResourceId))).methods[method.httpMethod] = method;
  }
  const gatewayResponses: RestApiSpec['gatewayResponses'] = {};
  for (const [id] of forApi('AWS::ApiGateway::GatewayResponse')) {
    const g = model.properties(id);
    gatewayResponses[String(g.ResponseType)] = {
      statusCode: g.StatusCode, responseParameters: g.ResponseParameters, responseTemplates: g.ResponseTemplates,
    };
  }
  // Stage and throttling.
  const stages = forApi('AWS::ApiGateway::Stage').map(([id]) => ({ id, p: model.properties(id) }));
  const deployment = forApi('AWS::ApiGateway::Deployment').map(([id]) => model.properties(id))[0];
  const stage = String(stages[0]?.p.StageName ?? deployment?.StageName ?? 'prod');
  const all = (stages[0]?.p.MethodSettings ?? []).find((s: any) => s.HttpMethod === '*' && (s.ResourcePath === '/*' || s.ResourcePath === '*'));
  const stageThrottle = all?.ThrottlingRateLimit !== undefined
    ? { rateLimit: Number(all.ThrottlingRateLimit), burstLimit: Number(all.ThrottlingBurstLimit ?? all.ThrottlingRateLimit) }
    : undefined;
  // API keys that unlock this API: through a usage plan on this API, or the key's stage keys.
  const plans = new Map<string, { throttle?: { rateLimit?: number; burstLimit?: number } }>();
  for (const [id] of model.ofType('AWS::ApiGateway::UsagePlan')) {
    const u = model.properties(id);
    if ((u.ApiStages ?? []).some((s: any) => String(s.ApiId) === apiRef)) {
      plans.set(String(model.ref(id)), { throttle: u.Throttle ? { rateLimit: u.Throttle.RateLimit, burstLimit: u.Throttle.BurstLimit } : undefined });
    }
  }
  const keyPlans = new Map<string, string>();
  for (const [id] of model.ofType('AWS::ApiGateway::UsagePlanKey')) {
    const k = model.properties(id);
    if (plans.has(String(k.UsagePlanId))) keyPlans.set(String(k.KeyId), String(k.UsagePlanId));
  }
  const apiKeys: RestApiSpec['apiKeys'] = [];
  const keyResources = model.ofType('AWS::ApiGateway::ApiKey');
  for (const [id] of keyResources) {
    const k = model.properties(id);
    if (k.Enabled === false || k.Enabled === 'false') continue;
    const keyId = String(model.ref(id));
    const viaStage = (k.StageKeys ?? []).some((s: any) => String(s.RestApiId) === apiRef);
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
  return {
    id: apiRef,
    logicalId: apiId,
    name: String(p.Name ?? apiId),
    stage,
    resources: [...nodes.values()],
    gatewayResponses,
    binaryMediaTypes: (p.BinaryMediaTypes ?? []).map(String),
    apiKeys,
    stageThrottle,
  };
}
