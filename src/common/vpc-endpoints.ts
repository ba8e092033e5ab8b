/**
 * VPC endpoints for the AWS services our in-VPC Lambdas call. Isolated subnets have no route
 * to the internet, so each service a function calls needs an endpoint in its VPC. Endpoints
 * are created once per VPC per app, however many stacks and constructs ask for them.
 */
import { CfnResource, Stack, Stage, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct, IConstruct } from 'constructs';
import { acknowledgeNagFinding } from './nag';

/**
 * AWS services called by the library's Lambda functions, each reachable from a VPC through an endpoint.
 */
export enum PipelineAwsService {
  /** AWS Secrets Manager (interface endpoint). */
  SECRETS_MANAGER = 'SECRETS_MANAGER',
  /** Amazon EventBridge (interface endpoint). */
  EVENTBRIDGE = 'EVENTBRIDGE',
  /** AWS Step Functions (interface endpoint). */
  STEP_FUNCTIONS = 'STEP_FUNCTIONS',
  /** Amazon SNS (interface endpoint). */
  SNS = 'SNS',
  /** Amazon SQS (interface endpoint). */
  SQS = 'SQS',
  /** Amazon Bedrock Runtime (interface endpoint). */
  BEDROCK_RUNTIME = 'BEDROCK_RUNTIME',
  /** AWS Systems Manager, e.g. Parameter Store (interface endpoint). */
  SSM = 'SSM',
  /** Amazon SES API, e.g. SESv2 SendEmail (interface endpoint). */
  SES = 'SES',
  /** Amazon S3 (gateway endpoint: no hourly charge). */
  S3 = 'S3',
  /** Amazon DynamoDB (gateway endpoint: no hourly charge). */
  DYNAMODB = 'DYNAMODB',
}

const GATEWAY_SERVICES: { [service: string]: ec2.GatewayVpcEndpointAwsService } = {
  [PipelineAwsService.S3]: ec2.GatewayVpcEndpointAwsService.S3,
  [PipelineAwsService.DYNAMODB]: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
};

const INTERFACE_SERVICES: { [service: string]: ec2.InterfaceVpcEndpointAwsService } = {
  [PipelineAwsService.SECRETS_MANAGER]: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  [PipelineAwsService.EVENTBRIDGE]: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
  [PipelineAwsService.STEP_FUNCTIONS]: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
  [PipelineAwsService.SNS]: ec2.InterfaceVpcEndpointAwsService.SNS,
  [PipelineAwsService.SQS]: ec2.InterfaceVpcEndpointAwsService.SQS,
  [PipelineAwsService.BEDROCK_RUNTIME]: ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
  [PipelineAwsService.SSM]: ec2.InterfaceVpcEndpointAwsService.SSM,
  // The SES API (com.amazonaws.<region>.email); CDK's SES constant is the SMTP interface (email-smtp).
  [PipelineAwsService.SES]: new ec2.InterfaceVpcEndpointAwsService('email'),
};

/** PascalCase construct id of a service, e.g. SECRETS_MANAGER -> SecretsManager. */
function endpointId(service: PipelineAwsService): string {
  return service.toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** Per Stage (an App is one): the endpoints of each imported VPC, by its literal id. */
const importedVpcEndpoints = new WeakMap<IConstruct, Map<string, PipelineVpcEndpoints>>();

/** Whether `vpc` is an `AWS::EC2::VPC` resource of this app (e.g. an `ec2.Vpc`), not an import. */
function isCreatedInApp(vpc: ec2.IVpc): boolean {
  const resource = vpc.node.defaultChild;
  return resource !== undefined && CfnResource.isCfnResource(resource) && resource.cfnResourceType === 'AWS::EC2::VPC';
}

/**
 * The endpoints of one VPC, one set per app (AWS refuses a second interface endpoint with private
 * DNS for a service in a VPC):
 * - a VPC created in the app: in the VPC's own stack, which every stack using the VPC depends on;
 * - an imported VPC with a literal id: in the stack of the first construct that asks, and every
 *   other stack that asks depends on that one;
 * - an imported VPC whose id is a token: an error, since another stack's import of the same VPC
 *   cannot be recognized.
 */
class PipelineVpcEndpoints extends Construct {
  /** The endpoints of `vpc` if some were created (for tests: where an endpoint lives). */
  static find(scope: IConstruct, vpc: ec2.IVpc): PipelineVpcEndpoints | undefined {
    if (isCreatedInApp(vpc)) {
      const found = Stack.of(vpc).node.tryFindChild(`PipelineVpcEndpoints-${vpc.node.addr}`);
      return found instanceof PipelineVpcEndpoints ? found : undefined;
    }
    return importedVpcEndpoints.get(Stage.of(scope) ?? scope.node.root)?.get(vpc.vpcId);
  }

  static of(scope: IConstruct, vpc: ec2.IVpc, service: PipelineAwsService): PipelineVpcEndpoints {
    if (isCreatedInApp(vpc)) {
      const stack = Stack.of(vpc);
      const id = `PipelineVpcEndpoints-${vpc.node.addr}`;
      const existing = stack.node.tryFindChild(id);
      return existing instanceof PipelineVpcEndpoints ? existing : new PipelineVpcEndpoints(stack, id, vpc);
    }
    if (Token.isUnresolved(vpc.vpcId)) {
      throw new Error(`${scope.node.path}: needs a ${service} VPC endpoint in VPC ${vpc.node.path}, whose id is only known at deploy time, `
        + 'so the library cannot tell whether another stack creates the same endpoints (AWS refuses two with private DNS in one VPC). '
        + 'Either pass `createVpcEndpoints: false` to the library\'s constructs and create the endpoints yourself, '
        + 'or import the VPC by its literal id (e.g. ec2.Vpc.fromLookup) so that the library creates one set for the app');
    }
    const stage = Stage.of(scope) ?? scope.node.root;
    let byVpcId = importedVpcEndpoints.get(stage);
    if (!byVpcId) importedVpcEndpoints.set(stage, byVpcId = new Map());
    let endpoints = byVpcId.get(vpc.vpcId);
    if (!endpoints) {
      endpoints = new PipelineVpcEndpoints(Stack.of(scope), `PipelineVpcEndpoints-${vpc.vpcId}`, vpc);
      byVpcId.set(vpc.vpcId, endpoints);
    }
    endpoints.dependOnIt(Stack.of(scope));
    return endpoints;
  }

  private constructor(scope: Construct, id: string, private readonly vpc: ec2.IVpc) {
    super(scope, id);
  }

  /** Makes `stack` deploy after the endpoints' stack (an imported VPC's endpoints serve other stacks). */
  private dependOnIt(stack: Stack): void {
    const host = Stack.of(this);
    if (stack === host || stack.dependencies.includes(host)) return;
    try {
      stack.addDependency(host, `the VPC endpoints of ${this.vpc.vpcId} (cdk-serverless-data-pipeline)`);
    } catch (error) {
      throw new Error(`The VPC endpoints of ${this.vpc.vpcId} are in stack ${host.stackName}, the first to ask for them, but ${stack.stackName} `
        + `cannot depend on it (${(error as Error).message}). Create the constructs of the stack that the others depend on first, `
        + 'or pass `createVpcEndpoints: false` and create the endpoints yourself');
    }
  }

  existing(service: PipelineAwsService): ec2.IVpcEndpoint | undefined {
    return this.node.tryFindChild(endpointId(service)) as ec2.IVpcEndpoint | undefined;
  }

  endpointFor(service: PipelineAwsService, subnets?: ec2.SubnetSelection): ec2.IVpcEndpoint {
    const id = endpointId(service);
    const existing = this.node.tryFindChild(id);
    if (existing) return existing as unknown as ec2.IVpcEndpoint;
    const gateway = GATEWAY_SERVICES[service];
    if (gateway) {
      // Gateway endpoints are routes: added to the route tables of all subnets of the VPC.
      return new ec2.GatewayVpcEndpoint(this, id, { vpc: this.vpc, service: gateway });
    }
    const awsService = INTERFACE_SERVICES[service];
    if (!awsService) throw new Error(`No VPC endpoint is known for service ${service}`);
    const endpoint = new ec2.InterfaceVpcEndpoint(this, id, {
      vpc: this.vpc,
      service: awsService,
      privateDnsEnabled: true,
      // One endpoint network interface per AZ; reachable from every subnet of the VPC.
      subnets: { ...(subnets ?? defaultInterfaceSubnets(this.vpc)), onePerAz: true },
    });
    if (Token.isUnresolved(this.vpc.vpcCidrBlock)) {
      acknowledgeNagFinding(endpoint.connections.securityGroups[0], 'CdkNagValidationFailure',
        'The endpoint accepts HTTPS from the VPC CIDR only (a deploy-time value cdk-nag cannot resolve), never from 0.0.0.0/0',
        ['AwsSolutions-EC23', 'HIPAA.Security-EC2RestrictedCommonPorts', 'HIPAA.Security-EC2RestrictedSSH']);
    }
    return endpoint;
  }
}

function defaultInterfaceSubnets(vpc: ec2.IVpc): ec2.SubnetSelection {
  return { subnetType: vpc.isolatedSubnets.length > 0 ? ec2.SubnetType.PRIVATE_ISOLATED : ec2.SubnetType.PRIVATE_WITH_EGRESS };
}

/**
 * Returns the endpoint of `service` in `vpc`, creating it the first time it is asked for in the app
 * (in the VPC's stack when the app creates the VPC, else in the stack of `scope`).
 *
 * @param subnets where interface endpoints are placed; the first call for a service in a VPC decides
 * (default: the isolated subnets, else the private subnets; for gateway endpoints: all subnets).
 */
export function ensureVpcEndpoint(scope: IConstruct, vpc: ec2.IVpc, service: PipelineAwsService, subnets?: ec2.SubnetSelection): ec2.IVpcEndpoint {
  return PipelineVpcEndpoints.of(scope, vpc, service).endpointFor(service, subnets);
}

/** `ensureVpcEndpoint` for several services. */
export function ensureVpcEndpoints(
  scope: IConstruct, vpc: ec2.IVpc, services: PipelineAwsService[], subnets?: ec2.SubnetSelection,
): ec2.IVpcEndpoint[] {
  return Array.from(new Set(services)).map((service) => ensureVpcEndpoint(scope, vpc, service, subnets));
}

/** The endpoint of `service` in `vpc` that the library created in the app of `scope`, if any. */
export function findVpcEndpoint(scope: IConstruct, vpc: ec2.IVpc, service: PipelineAwsService): ec2.IVpcEndpoint | undefined {
  return PipelineVpcEndpoints.find(scope, vpc)?.existing(service);
}
