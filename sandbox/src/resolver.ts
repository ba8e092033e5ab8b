/**
 * CloudFormation, locally: each resource of a template gets a local physical name and attributes
 * (names as CloudFormation would generate them, ARNs in a fake account, endpoints on this
 * machine), and intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::If, …) resolve
 * against them, so the handlers get the same environment shape as in the cloud.
 */
import { createHash } from 'crypto';
import type { AssemblyStack, CfnResource } from './assembly';

export interface LocalAccount {
  readonly region: string;
  readonly accountId: string;
}

/** Values some attributes take locally (set once the services run). */
export interface LocalEndpoints {
  /** Host and port of the local PostgreSQL. */
  database?: { host: string; port: number };
  /** Base URL of the local AWS API server (SQS queue URLs). */
  services?: string;
  /** Base URL of each local REST API, by logical id. */
  apis?: Record<string, string>;
}

interface Physical {
  ref: unknown;
  attrs: Record<string, unknown>;
}

const NO_VALUE = Symbol('AWS::NoValue');

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('/')).digest('hex');
}

/** CloudFormation-style generated name: `<stack>-<logicalId>-<SUFFIX>`, within `max` characters. */
function generatedName(stackName: string, logicalId: string, max: number, lower = false): string {
  const suffix = shortHash(stackName, logicalId).slice(0, 12).toUpperCase();
  const base = `${stackName}-${logicalId}`.slice(0, max - suffix.length - 1);
  const name = `${base}-${suffix}`;
  return lower ? name.toLowerCase().replace(/[^a-z0-9.-]/g, '-') : name;
}

/** A stable 10-character id (API Gateway ids, key ids). */
function localId(stackName: string, logicalId: string, length = 10): string {
  return shortHash('id', stackName, logicalId).replace(/[^a-z0-9]/g, '').slice(0, length);
}

export class StackModel {
  readonly stackName: string;
  readonly resources: Record<string, CfnResource>;
  private readonly physical = new Map<string, Physical>();
  private readonly conditions = new Map<string, boolean>();
  /** Warnings about references the sandbox could only guess. */
  readonly warnings: string[] = [];
  /** Resolves `{{resolve:secretsmanager:…}}` dynamic references (set once secrets exist). */
  private referenceResolver: ((service: string, reference: string) => string | undefined) | undefined;

  constructor(
    readonly stack: AssemblyStack,
    readonly account: LocalAccount,
    readonly endpoints: LocalEndpoints,
    private readonly exports: Map<string, unknown>,
  ) {
    this.stackName = stack.stackName;
    this.resources = {};
    for (const [id, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (resource.Condition && !this.condition(resource.Condition)) continue;
      this.resources[id] = resource;
    }
  }

  /** How `{{resolve:<service>:…}}` dynamic references resolve (e.g. from the local secrets). */
  resolveDynamicReferencesWith(resolver: (service: string, reference: string) => string | undefined): void {
    this.referenceResolver = resolver;
  }

  /** Resources of one type (or matching a predicate on the type), in template order. */
  ofType(type: string | ((t: string) => boolean)): Array<[string, CfnResource]> {
    const match = typeof type === 'string' ? (t: string) => t === type : type;
    return Object.entries(this.resources).filter(([, r]) => match(r.Type));
  }

  /** Properties of a resource with every intrinsic resolved. */
  properties(logicalId: string): Record<string, any> {
    return this.resolve(this.resources[logicalId]?.Properties ?? {}) ?? {};
  }

  arn(service: string, resource: string, region = this.account.region): string {
    return `arn:aws:${service}:${region}:${this.account.accountId}:${resource}`;
  }

  /** Overrides or adds attributes of a resource (e.g. a custom resource's Data). */
  setAttributes(logicalId: string, attrs: Record<string, unknown>, ref?: unknown): void {
    const p = this.physicalOf(logicalId);
    Object.assign(p.attrs, attrs);
    if (ref !== undefined) p.ref = ref;
  }

  ref(logicalId: string): unknown {
    return this.physicalOf(logicalId).ref;
  }

  getAtt(logicalId: string, attribute: string): unknown {
    const p = this.physicalOf(logicalId);
    if (attribute in p.attrs) return p.attrs[attribute];
    const type = this.resources[logicalId]?.Type ?? 'unknown';
    this.warnings.push(`${this.stackName}/${logicalId}: attribute ${attribute} of ${type} has no local value; using a placeholder`);
    const placeholder = attribute.endsWith('Arn') ? this.arn(type.split('::')[1]?.toLowerCase() ?? 'local', `${logicalId}/${attribute}`) : `${logicalId}.${attribute}.local`;
    p.attrs[attribute] = placeholder;
    return placeholder;
  }

  /** Outputs of the stack, resolved. */
  outputs(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const [name, output] of Object.entries(this.stack.template.Outputs ?? {})) {
      result[name] = this.resolve(output.Value);
    }
    return result;
  }

  /** Publishes the stack's exports for Fn::ImportValue in later stacks. */
  publishExports(): void {
    for (const output of Object.values(this.stack.template.Outputs ?? {})) {
      if (output.Export) this.exports.set(String(this.resolve(output.Export.Name)), this.resolve(output.Value));
    }
  }

  private physicalOf(logicalId: string): Physical {
    let p = this.physical.get(logicalId);
    if (!p) {
      const resource = this.resources[logicalId];
      if (!resource) {
        const param = this.stack.template.Parameters?.[logicalId];
        if (param) return { ref: this.parameterValue(logicalId, param), attrs: {} };
        throw new Error(`${this.stackName}: reference to unknown resource or parameter ${logicalId}`);
      }
      p = this.localPhysical(logicalId, resource);
      this.physical.set(logicalId, p);
    }
    return p;
  }

  private parameterValue(name: string, param: { Type: string; Default?: unknown }): unknown {
    if (param.Default !== undefined) return param.Default;
    if (name === 'BootstrapVersion') return '6';
    this.warnings.push(`${this.stackName}: parameter ${name} has no default; using ""`);
    return '';
  }

  /** The local name and attributes of a resource, as CloudFormation would create them. */
  private localPhysical(logicalId: string, resource: CfnResource): Physical {
    const props = resource.Properties ?? {};
    const stack = this.stackName;
    const { region, accountId } = this.account;
    const named = (key: string, max: number, lower = false) => {
      const given = props[key] !== undefined ? this.resolve(props[key]) : undefined;
      return typeof given === 'string' && given ? given : generatedName(stack, logicalId, max, lower);
    };
    switch (resource.Type) {
      case 'AWS::Lambda::Function': {
        const name = named('FunctionName', 64);
        const arn = this.arn('lambda', `function:${name}`);
        return { ref: name, attrs: { Arn: arn } };
      }
      case 'AWS::Lambda::Alias':
      case 'AWS::Lambda::Version': {
        const fn = String(this.resolve(props.FunctionName));
        const fnArn = fn.startsWith('arn:') ? fn : this.arn('lambda', `function:${fn}`);
        const qualified = `${fnArn}:${resource.Type.endsWith('Alias') ? this.resolve(props.Name) : '1'}`;
        return { ref: qualified, attrs: { Version: '1', FunctionArn: qualified } };
      }
      case 'AWS::S3::Bucket': {
        const name = named('BucketName', 63, true);
        return {
          ref: name,
          attrs: {
            Arn: `arn:aws:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
            DualStackDomainName: `${name}.s3.dualstack.${region}.amazonaws.com`,
            WebsiteURL: `http://${name}.s3-website-${region}.amazonaws.com`,
          },
        };
      }
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable': {
        const name = named('TableName', 255);
        const arn = this.arn('dynamodb', `table/${name}`);
        return { ref: name, attrs: { Arn: arn, StreamArn: `${arn}/stream/2024-01-01T00:00:00.000` } };
      }
      case 'AWS::SQS::Queue': {
        const fifo = this.resolve(props.FifoQueue) === true || this.resolve(props.FifoQueue) === 'true';
        let name = named('QueueName', fifo ? 75 : 80);
        if (fifo && !name.endsWith('.fifo')) name += '.fifo';
        const url = `${this.endpoints.services ?? 'http://127.0.0.1'}/${accountId}/${name}`;
        return { ref: url, attrs: { Arn: this.arn('sqs', name), QueueName: name, QueueUrl: url } };
      }
      case 'AWS::SNS::Topic': {
        const name = named('TopicName', 256);
        const arn = this.arn('sns', name);
        return { ref: arn, attrs: { TopicArn: arn, TopicName: name } };
      }
      case 'AWS::Events::EventBus': {
        const name = String(this.resolve(props.Name));
        return { ref: name, attrs: { Arn: this.arn('events', `event-bus/${name}`), Name: name } };
      }
      case 'AWS::Events::Rule': {
        const name = named('Name', 64);
        const bus = props.EventBusName ? String(this.resolve(props.EventBusName)) : 'default';
        const busName = bus.startsWith('arn:') ? bus.split('/').pop()! : bus;
        const arn = this.arn('events', busName === 'default' ? `rule/${name}` : `rule/${busName}/${name}`);
        return { ref: busName === 'default' ? name : `${busName}|${name}`, attrs: { Arn: arn } };
      }
      case 'AWS::Scheduler::Schedule': {
        const name = named('Name', 64);
        return { ref: name, attrs: { Arn: this.arn('scheduler', `schedule/default/${name}`) } };
      }
      case 'AWS::SecretsManager::Secret': {
        const name = named('Name', 200);
        const arn = this.arn('secretsmanager', `secret:${name}-${shortHash(name).slice(0, 6)}`);
        return { ref: arn, attrs: { Id: arn } };
      }
      case 'AWS::SecretsManager::SecretTargetAttachment': {
        const secret = this.resolve(props.SecretId);
        return { ref: secret, attrs: {} };
      }
      case 'AWS::RDS::DBInstance':
      case 'AWS::RDS::DBCluster':
      case 'AWS::RDS::DBProxy':
      case 'AWS::RDS::DBProxyEndpoint': {
        const id = named(resource.Type === 'AWS::RDS::DBCluster' ? 'DBClusterIdentifier' : 'DBInstanceIdentifier', 63, true);
        const db = this.endpoints.database;
        const host = db?.host ?? '127.0.0.1';
        const port = String(db?.port ?? 5432);
        const kind = resource.Type === 'AWS::RDS::DBCluster' ? 'cluster' : resource.Type.startsWith('AWS::RDS::DBProxy') ? 'db-proxy' : 'db';
        const arn = this.arn('rds', `${kind}:${id}`);
        const masterSecret = this.arn('secretsmanager', `secret:rds!${kind}-${shortHash(id).slice(0, 8)}-${shortHash(id, 's').slice(0, 6)}`);
        return {
          ref: id,
          attrs: {
            'Endpoint.Address': host,
            'Endpoint.Port': port,
            'ReadEndpoint.Address': host,
            'Endpoint': host,
            'DBProxyArn': arn,
            'DBProxyEndpointArn': arn,
            'DBClusterArn': arn,
            'DBInstanceArn': arn,
            'DbiResourceId': `db-${localId(stack, logicalId, 20).toUpperCase()}`,
            'DBClusterResourceId': `cluster-${localId(stack, logicalId, 20).toUpperCase()}`,
            'MasterUserSecret.SecretArn': masterSecret,
          },
        };
      }
      case 'AWS::StepFunctions::StateMachine': {
        const name = named('StateMachineName', 80);
        const arn = this.arn('states', `stateMachine:${name}`);
        return { ref: arn, attrs: { Arn: arn, Name: name } };
      }
      case 'AWS::ApiGateway::RestApi': {
        const id = localId(stack, logicalId);
        return { ref: id, attrs: { RootResourceId: localId(stack, `${logicalId}/root`), RestApiId: id } };
      }
      case 'AWS::ApiGateway::Stage':
        return { ref: this.resolve(props.StageName), attrs: {} };
      case 'AWS::ApiGateway::ApiKey':
      case 'AWS::ApiGateway::Resource':
      case 'AWS::ApiGateway::Deployment':
      case 'AWS::ApiGateway::UsagePlan':
      case 'AWS::ApiGateway::RequestValidator':
      case 'AWS::ApiGateway::Authorizer':
      {
        const lid = localId(stack, logicalId);
        return { ref: lid, attrs: { ResourceId: lid, APIKeyId: lid, DeploymentId: lid, RequestValidatorId: lid, AuthorizerId: lid } };
      }
      case 'AWS::ApiGateway::Model':
        return { ref: String(props.Name ? this.resolve(props.Name) : `Model${localId(stack, logicalId)}`), attrs: {} };
      case 'AWS::KMS::Key': {
        const id = `${localId(stack, logicalId, 8)}-0000-4000-8000-${localId(stack, `${logicalId}/k`, 12)}`;
        return { ref: id, attrs: { Arn: this.arn('kms', `key/${id}`), KeyId: id } };
      }
      case 'AWS::IAM::Role': {
        const name = named('RoleName', 64);
        return { ref: name, attrs: { Arn: `arn:aws:iam::${accountId}:role/${name}`, RoleId: `AROA${localId(stack, logicalId, 16).toUpperCase()}` } };
      }
      case 'AWS::IAM::ManagedPolicy':
        return { ref: `arn:aws:iam::${accountId}:policy/${generatedName(stack, logicalId, 128)}`, attrs: {} };
      case 'AWS::Logs::LogGroup': {
        const name = named('LogGroupName', 512);
        return { ref: name, attrs: { Arn: this.arn('logs', `log-group:${name}:*`) } };
      }
      case 'AWS::SES::EmailIdentity':
      case 'AWS::SES::ConfigurationSet':
        return { ref: String(this.resolve(props.EmailIdentity ?? props.Name) ?? generatedName(stack, logicalId, 64)), attrs: {} };
      default: {
        const ref = `${logicalId.toLowerCase()}-${localId(stack, logicalId, 8)}`;
        return { ref, attrs: { Arn: this.arn(resource.Type.split('::')[1]?.toLowerCase() ?? 'local', ref), GroupId: `sg-${localId(stack, logicalId, 17)}` } };
      }
    }
  }

  condition(name: string): boolean {
    const known = this.conditions.get(name);
    if (known !== undefined) return known;
    const expression = this.stack.template.Conditions?.[name];
    const value = expression === undefined ? false : Boolean(this.resolve(expression));
    this.conditions.set(name, value);
    return value;
  }

  private pseudo(name: string): unknown {
    switch (name) {
      case 'AWS::Region': return this.account.region;
      case 'AWS::AccountId': return this.account.accountId;
      case 'AWS::Partition': return 'aws';
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return this.stackName;
      case 'AWS::StackId': return `arn:aws:cloudformation:${this.account.region}:${this.account.accountId}:stack/${this.stackName}/${shortHash(this.stackName).slice(0, 8)}`;
      case 'AWS::NoValue': return NO_VALUE;
      case 'AWS::NotificationARNs': return [];
      default: return undefined;
    }
  }

  /** Resolves every intrinsic function in a value. */
  resolve(value: any): any {
    const resolved = this.resolveInner(value);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  private resolveInner(value: any): any {
    if (Array.isArray(value)) return value.map((v) => this.resolveInner(v)).filter((v) => v !== NO_VALUE);
    if (typeof value === 'string') return this.dynamicReferences(value);
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [key] = keys;
      const arg = value[key];
      switch (key) {
        case 'Ref': {
          const pseudo = this.pseudo(arg);
          return pseudo !== undefined ? pseudo : this.ref(arg);
        }
        case 'Fn::GetAtt': {
          const [id, ...rest] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(id, rest.join('.'));
        }
        case 'Fn::Join': {
          const [sep, parts] = arg;
          return this.dynamicReferences((this.resolveInner(parts) as unknown[]).map((p) => typeof p === 'string' ? p : JSON.stringify(p)).join(sep));
        }
        case 'Fn::Sub': return this.dynamicReferences(this.sub(arg));
        case 'Fn::Select': {
          const [index, list] = arg;
          return (this.resolveInner(list) as unknown[])[Number(this.resolveInner(index))];
        }
        case 'Fn::Split': {
          const [sep, source] = arg;
          return String(this.resolveInner(source)).split(sep);
        }
        case 'Fn::If': {
          const [cond, a, b] = arg;
          return this.resolveInner(this.condition(cond) ? a : b);
        }
        case 'Fn::Equals': {
          const [a, b] = arg;
          return JSON.stringify(this.resolveInner(a)) === JSON.stringify(this.resolveInner(b));
        }
        case 'Fn::And': return (arg as unknown[]).every((c) => this.resolveInner(c));
        case 'Fn::Or': return (arg as unknown[]).some((c) => this.resolveInner(c));
        case 'Fn::Not': return !this.resolveInner(arg[0]);
        case 'Condition': return this.condition(arg);
        case 'Fn::FindInMap': {
          const [map, k1, k2] = (arg as unknown[]).map((x) => this.resolveInner(x));
          const found = this.stack.template.Mappings?.[map]?.[k1]?.[k2];
          if (found === undefined) throw new Error(`${this.stackName}: Fn::FindInMap ${map}/${k1}/${k2} has no value`);
          return found;
        }
        case 'Fn::ImportValue': {
          const name = String(this.resolveInner(arg));
          if (!this.exports.has(name)) throw new Error(`${this.stackName}: Fn::ImportValue of ${name}, which no stack exports`);
          return this.exports.get(name);
        }
        case 'Fn::Base64': return Buffer.from(String(this.resolveInner(arg))).toString('base64');
        case 'Fn::GetAZs': return ['a', 'b', 'c'].map((z) => `${this.account.region}${z}`);
        case 'Fn::Cidr': return ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'];
        case 'Fn::ToJsonString': return JSON.stringify(this.resolveInner(arg));
        default: break;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = this.resolveInner(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  private sub(arg: unknown): string {
    const [template, variables] = Array.isArray(arg) ? arg : [arg, {}];
    const vars: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(variables ?? {})) vars[k] = this.resolveInner(v);
    return String(template).replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, name: string) => {
      if (bang) return `\${${name}}`;
      if (name in vars) return String(vars[name]);
      const pseudo = this.pseudo(name);
      if (pseudo !== undefined) return String(pseudo);
      const dot = name.indexOf('.');
      return String(dot > 0 ? this.getAtt(name.slice(0, dot), name.slice(dot + 1)) : this.ref(name));
    });
  }

  private dynamicReferences(value: string): string {
    if (!value.includes('{{resolve:')) return value;
    return value.replace(/\{\{resolve:([a-z-]+):(.+?)\}\}/g, (match, service: string, reference: string) => {
      const resolved = this.referenceResolver?.(service, reference);
      if (resolved === undefined) {
        this.warnings.push(`${this.stackName}: dynamic reference ${match} has no local value`);
        return '';
      }
      return resolved;
    });
  }
}

/** Every stack of the assembly, in deployment order, sharing exports. */
export function stackModels(stacks: AssemblyStack[], account: LocalAccount, endpoints: LocalEndpoints): StackModel[] {
  const exports = new Map<string, unknown>();
  return stacks.map((s) => new StackModel(s, account, endpoints, exports));
}

/** The logical id and stack of a resource by an ARN or name the handlers use (Lambda, queue, state machine…). */
export function findByPhysical(models: StackModel[], type: string, value: string): { model: StackModel; logicalId: string } | undefined {
  for (const model of models) {
    for (const [id] of model.ofType(type)) {
      const ref = model.ref(id);
      const arn = (() => {
        try {
          return model.getAtt(id, 'Arn');
        } catch {
          return undefined;
        }
      })();
      if (ref === value || arn === value) return { model, logicalId: id };
    }
  }
  return undefined;
}
