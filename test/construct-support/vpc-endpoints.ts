/**
 * Checks that every Lambda function of ours that runs in a VPC can reach each AWS service it
 * declared it calls: the stack has a VPC endpoint for that service in the function's VPC.
 */
import { CfnResource, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { servicesCalledBy } from '../../src/common/lambda-tuning';
import { findVpcEndpoint, PipelineAwsService } from '../../src/common/vpc-endpoints';

/** The last part of each service's endpoint service name (`com.amazonaws.<region>.<suffix>`). */
export const ENDPOINT_SERVICE_SUFFIX: { [service in PipelineAwsService]: string } = {
  [PipelineAwsService.SECRETS_MANAGER]: 'secretsmanager',
  [PipelineAwsService.EVENTBRIDGE]: 'events',
  [PipelineAwsService.STEP_FUNCTIONS]: 'states',
  [PipelineAwsService.SNS]: 'sns',
  [PipelineAwsService.SQS]: 'sqs',
  [PipelineAwsService.BEDROCK_RUNTIME]: 'bedrock-runtime',
  [PipelineAwsService.SSM]: 'ssm',
  [PipelineAwsService.SES]: 'email',
  [PipelineAwsService.S3]: 's3',
  [PipelineAwsService.DYNAMODB]: 'dynamodb',
};

/** Endpoint service-name suffixes per VPC (the resolved VpcId, as JSON) in a template. */
export function endpointsByVpc(template: Template): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  for (const endpoint of Object.values(template.findResources('AWS::EC2::VPCEndpoint'))) {
    const vpc = JSON.stringify(endpoint.Properties.VpcId);
    const name = JSON.stringify(endpoint.Properties.ServiceName);
    const suffix = /\.([a-z0-9-]+)"\]\]\}$/.exec(name)?.[1] ?? name;
    if (!result.has(vpc)) result.set(vpc, new Set());
    result.get(vpc)!.add(suffix);
  }
  return result;
}

/**
 * The (function path, service) pairs without an endpoint; empty when all are covered. The endpoint
 * may live in another stack of the app (the VPC's, or the first to ask): it must be in that stack's
 * template.
 */
export function missingVpcEndpoints(stack: Stack): string[] {
  const missing: string[] = [];
  for (const construct of stack.node.findAll()) {
    if (!(construct instanceof lambda.Function)) continue;
    const called = servicesCalledBy(construct);
    if (!called?.vpc) continue;
    for (const service of called.services) {
      const endpoint = findVpcEndpoint(construct, called.vpc, service);
      const host = endpoint && Stack.of(endpoint);
      const inTemplate = endpoint && host && Object.keys(Template.fromStack(host).findResources('AWS::EC2::VPCEndpoint'))
        .includes(host.resolve((endpoint.node.defaultChild as CfnResource).logicalId));
      if (!inTemplate) missing.push(`${construct.node.path}: ${service}`);
    }
  }
  return missing;
}
