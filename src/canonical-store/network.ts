import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeDefaultLogEncryption } from '../common/log-encryption';
import { acknowledgeNagFinding } from '../common/nag';

export interface StoreVpcOptions {
  readonly maxAzs: number;
  readonly natGateways: number;
  readonly logRetention: logs.RetentionDays;
  readonly logEncryptionKey?: kms.IKey;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The VPC created when none is given: isolated subnets for the database and functions, no route
 * to the internet unless NAT gateways are asked for, and flow logs.
 */
export function createStoreVpc(scope: Construct, options: StoreVpcOptions): ec2.Vpc {
  const subnetConfiguration: ec2.SubnetConfiguration[] = [
    { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
  ];
  if (options.natGateways > 0) {
    subnetConfiguration.push(
      // Only the NAT gateways live here: nothing gets a public IP by launching into them.
      { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
      { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
    );
  }
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: options.maxAzs,
    natGateways: options.natGateways,
    subnetConfiguration,
  });
  const flowLogGroup = new logs.LogGroup(scope, 'VpcFlowLogGroup', {
    retention: options.logRetention,
    removalPolicy: options.removalPolicy,
    encryptionKey: options.logEncryptionKey,
  });
  acknowledgeDefaultLogEncryption(flowLogGroup, options.logEncryptionKey);
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    trafficType: ec2.FlowLogTrafficType.ALL,
  });
  if (!vpc.node.tryFindChild('RestrictDefaultSecurityGroupCustomResource')) {
    acknowledgeNagFinding(vpc, 'HIPAA.Security-VPCDefaultSecurityGroupClosed',
      'CloudFormation creates every VPC\'s default security group open; nothing uses it (every resource has its own security group). '
      + 'Closing it needs CDK\'s restrictDefaultSecurityGroup custom resource (feature flag @aws-cdk/aws-ec2:restrictDefaultSecurityGroup), one more Lambda function outside the VPC');
  }
  for (const subnet of vpc.publicSubnets) {
    const route = subnet.node.tryFindChild('DefaultRoute');
    if (route) {
      acknowledgeNagFinding(route, 'HIPAA.Security-VPCNoUnrestrictedRouteToIGW',
        'Egress for the NAT gateways the user asked for (natGateways): only they sit in this public subnet');
    }
  }
  return vpc;
}
