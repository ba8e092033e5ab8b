/**
 * VPC endpoints for the AWS services our in-VPC Lambdas call. Isolated subnets have no route
 * to the internet, so each service a function calls needs an endpoint in its VPC. Endpoints
 * are created once per VPC per stack, however many constructs ask for them.
 */
import { Stack, Token } from 'aws-cdk-lib';
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
  // The SES API (com.amazonaws.<region>.email); CDK's SES constant is the SMTP interface (email-smtp).
  [PipelineAwsService.SES]: new ec2.InterfaceVpcEndpointAwsService('email'),
};

/** PascalCase construct id of a service, e.g. SECRETS_MANAGER -> SecretsManager. */
function endpointId(service: PipelineAwsService): string {
  return service.toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/**
 * The endpoints of one VPC in one stack: a direct child of the stack, found by the VPC's id
 * (or, when the id is a token, its construct address).
 */
class PipelineVpcEndpoints extends Construct {
  static of(scope: IConstruct, vpc: ec2.IVpc): PipelineVpcEndpoints {
    const stack = Stack.of(scope);
    const key = Token.isUnresolved(vpc.vpcId) ? vpc.node.addr : vpc.vpcId;
    const id = `PipelineVpcEndpoints-${key}`;
    const existing = stack.node.tryFindChild(id);
    return existing instanceof PipelineVpcEndpoints ? existing : new PipelineVpcEndpoints(stack, id, vpc);
  }

  private constructor(scope: Construct, id: string, private readonly vpc: ec2.IVpc) {
    super(scope, id);
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
 * Returns the endpoint of `service` in `vpc`, creating it in the stack of `scope` the first time.
 *
 * @param subnets where interface endpoints are placed; the first call for a service in a VPC decides
 * (default: the isolated subnets, else the private subnets; for gateway endpoints: all subnets).
 */
export function ensureVpcEndpoint(scope: IConstruct, vpc: ec2.IVpc, service: PipelineAwsService, subnets?: ec2.SubnetSelection): ec2.IVpcEndpoint {
  return PipelineVpcEndpoints.of(scope, vpc).endpointFor(service, subnets);
}

/** `ensureVpcEndpoint` for several services. */
export function ensureVpcEndpoints(
  scope: IConstruct, vpc: ec2.IVpc, services: PipelineAwsService[], subnets?: ec2.SubnetSelection,
): ec2.IVpcEndpoint[] {
  return Array.from(new Set(services)).map((service) => ensureVpcEndpoint(scope, vpc, service, subnets));
}
