/**
 * How clients reach a canonical store, shared by the construct and by imported stores.
 */
import { Stack, Tokenization } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CanonicalStoreBase } from './canonical-store-base';
import { AccessLevel, CanonicalStoreAttributes, ICanonicalStore, StoreEngine } from './canonical-store-props';
import { ensureVpcEndpoint, PipelineAwsService } from '../common/vpc-endpoints';

/** `DB_TLS` in the cloud: verify the server certificate and hostname against the RDS CA bundle. */
export const DB_TLS_VERIFY_FULL = 'verify-full';

/** The handler contract: what a handler reads to connect. No secret values. */
export function connectionEnvironment(host: string, port: number, databaseName: string, secret: secretsmanager.ISecret): { [key: string]: string } {
  return {
    DB_HOST: host,
    DB_PORT: Tokenization.stringifyNumber(port),
    DB_NAME: databaseName,
    DB_SECRET_ARN: secret.secretArn,
    DB_TLS: DB_TLS_VERIFY_FULL,
  };
}

/**
 * Read access to a secret, in the grantee's policy only. Unlike `ISecret.grantRead`, nothing is
 * added to the key policy of a customer-managed key, which would make the store's stack depend
 * on the grantee's stack (a cycle when the grantee's stack uses the store).
 */
export function grantSecretRead(secret: secretsmanager.ISecret, grantee: iam.IGrantable): iam.Grant {
  const grant = iam.Grant.addToPrincipal({
    grantee,
    actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
    // A secret imported by partial ARN matches its random 6-character suffix.
    resourceArns: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
  });
  if (secret.encryptionKey) {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [secret.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` } },
    });
  }
  return grant;
}

/** Network access to the store's port (or `portNumber`) and read access to the level's secret. */
export function grantConnect(
  store: ICanonicalStore, grantee: iam.IGrantable, level: AccessLevel, connectable?: ec2.IConnectable, portNumber: number = store.port,
): iam.Grant {
  // jsii has no intersection types: the grantee is usually connectable itself (a Lambda function).
  const network = connectable ?? ((grantee as Partial<ec2.IConnectable>).connections ? grantee as unknown as ec2.IConnectable : undefined);
  if (!network) {
    throw new Error(`grantConnect: ${grantee.constructor?.name ?? 'the grantee'} has no security groups; pass \`connectable\` (e.g. the function or task that connects)`);
  }
  // As connections.allowTo does, but egress only where the grantee's group restricts outbound traffic
  // (CDK ignores, with a synth warning, an egress rule on a group that allows all outbound). The
  // ingress rule is a remote rule: it lives in the grantee's stack, so a store shared by another
  // stack does not depend on its consumers.
  const port = ec2.Port.tcp(portNumber);
  const description = `Canonical store access as ${level}`;
  for (const group of network.connections.securityGroups) {
    store.securityGroup.addIngressRule(group, port, description, true);
    if (!group.allowAllOutbound) group.addEgressRule(store.securityGroup, port, description);
  }
  return grantSecretRead(store.secretFor(level), grantee);
}

/** A canonical store defined elsewhere, e.g. in another stack. */
export class ImportedCanonicalStore extends CanonicalStoreBase implements ICanonicalStore {
  public readonly engine: StoreEngine;
  public readonly endpoint: string;
  public readonly port: number;
  public readonly databaseName: string;
  public readonly vpc: ec2.IVpc;
  public readonly vpcSubnets: ec2.SubnetSelection;
  public readonly securityGroup: ec2.ISecurityGroup;
  private readonly secrets: { [level: string]: secretsmanager.ISecret | undefined };
  private readonly databaseIdentifier?: string;

  constructor(scope: Construct, id: string, attrs: CanonicalStoreAttributes) {
    super(scope, id);
    this.endpoint = attrs.endpoint;
    this.port = attrs.port ?? 5432;
    this.databaseName = attrs.databaseName;
    this.vpc = attrs.vpc;
    this.vpcSubnets = attrs.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    this.securityGroup = attrs.securityGroup;
    this.engine = attrs.engine ?? StoreEngine.RDS_POSTGRES;
    this.databaseIdentifier = attrs.databaseIdentifier;
    this.secrets = {
      [AccessLevel.OWNER]: attrs.ownerSecret,
      [AccessLevel.WRITER]: attrs.writerSecret,
      [AccessLevel.ANALYTICS_READER]: attrs.analyticsSecret,
      [AccessLevel.RESTRICTED_READER]: attrs.sqlReaderSecret,
    };
  }

  public secretFor(level: AccessLevel): secretsmanager.ISecret {
    const secret = this.secrets[level];
    if (!secret) {
      const attr = { OWNER: 'ownerSecret', WRITER: 'writerSecret', ANALYTICS_READER: 'analyticsSecret', RESTRICTED_READER: 'sqlReaderSecret' }[level];
      throw new Error(`${this.node.path}: no secret for ${level}; pass \`${attr}\` to CanonicalStore.fromCanonicalStoreAttributes`);
    }
    return secret;
  }

  public grantConnect(grantee: iam.IGrantable, level: AccessLevel, connectable?: ec2.IConnectable): iam.Grant {
    return grantConnect(this, grantee, level, connectable);
  }

  public connectionEnvironment(level: AccessLevel): { [key: string]: string } {
    return connectionEnvironment(this.endpoint, this.port, this.databaseName, this.secretFor(level));
  }

  public ensureVpcEndpoint(service: PipelineAwsService): ec2.IVpcEndpoint {
    return ensureVpcEndpoint(this, this.vpc, service, this.vpcSubnets);
  }

  protected metricDimensions(): { [name: string]: string } {
    if (!this.databaseIdentifier) {
      throw new Error(`${this.node.path}: its metrics need the database's identifier; pass \`databaseIdentifier\` to CanonicalStore.fromCanonicalStoreAttributes`);
    }
    return this.engine === StoreEngine.AURORA_POSTGRES_SERVERLESS_V2
      ? { DBClusterIdentifier: this.databaseIdentifier }
      : { DBInstanceIdentifier: this.databaseIdentifier };
  }
}
