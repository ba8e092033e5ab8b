/**
 * The props every construct of the library shares, documented once: the constructs' props extend
 * `PipelineConstructProps` (and `AlarmedPipelineConstructProps` when they raise alarms).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { LambdaTuning } from './lambda-tuning';

/**
 * Properties shared by the library's constructs.
 */
export interface PipelineConstructProps {
  /**
   * What happens to the resources the construct creates that hold data (database, buckets,
   * tables) and to its log groups when they are removed from the stack or replaced.
   * `RemovalPolicy.DESTROY` deletes them with their data (buckets are emptied first): an explicit
   * opt-in. Each construct's documentation lists the resources it covers.
   *
   * @default RemovalPolicy.RETAIN (`CanonicalStore`: RemovalPolicy.SNAPSHOT for the database, its log groups retained)
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Tuning of the construct's Lambda function (memory, timeout, log retention, extra environment,
   * reserved concurrency).
   *
   * @default - the construct's defaults, listed in its documentation
   */
  readonly lambdaTuning?: LambdaTuning;

  /**
   * KMS key of every log group the construct creates (its functions', and the others its
   * documentation lists). Log groups that an AWS service creates itself (the database's exported
   * logs, API Gateway's execution logs) are outside the stack and not covered.
   *
   * The key policy must let CloudWatch Logs of the region (`logs.<region>.amazonaws.com`) use the
   * key. When the key is a `kms.Key` of the construct's stack, the construct adds that statement
   * (for the account's log groups in the region, by `kms:EncryptionContext:aws:logs:arn`); for an
   * imported key, or one of another stack, add it to the key policy yourself.
   *
   * @default - log groups are encrypted by CloudWatch Logs with its own keys
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * Permissions boundary applied to every IAM role the construct creates, those aws-cdk-lib
   * generates for it included (see docs/deploying.md for the list, and for
   * `iam.PermissionsBoundary.of(scope)` and `iam.Role.customizeRoles`).
   *
   * @default - none
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;

  /**
   * Whether to create the VPC endpoints the construct's functions call from their VPC (interface
   * endpoints with private DNS, S3 and DynamoDB gateway endpoints).
   *
   * There is one set per VPC in an app, however many stacks and constructs ask: in the VPC's own
   * stack when the app creates the VPC; for a VPC imported by a literal id, in the first stack that
   * asks, the other stacks depending on it. For a VPC imported by a deploy-time id (a token), the
   * library cannot recognize the same VPC across stacks: synthesis fails unless this is false.
   * Turn it off when the VPC already has the endpoints (e.g. created by another CDK app or outside
   * CDK: AWS refuses a second interface endpoint with private DNS for a service in one VPC), or
   * reaches the services through a NAT gateway.
   *
   * @default true
   */
  readonly createVpcEndpoints?: boolean;
}

/**
 * Properties shared by the library's constructs that raise alarms.
 */
export interface AlarmedPipelineConstructProps extends PipelineConstructProps {
  /**
   * Operations topic that the construct's alarms notify (each construct's documentation lists its
   * alarms, also exposed as its `*Alarm` properties).
   *
   * @default - the alarms have no action (they still show in CloudWatch)
   */
  readonly alarmTopic?: sns.ITopic;
}
