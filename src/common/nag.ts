/**
 * Acknowledges cdk-nag findings that a construct accepts by design, without depending on cdk-nag:
 * writes the `cdk_nag` metadata that cdk-nag 2.x's `NagSuppressions.addResourceSuppressions` writes.
 */
import { CfnResource } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

const MIN_REASON_LENGTH = 10;

/** A finding of a granular rule matched by a regular expression, written as `/pattern/`. */
export interface NagFindingPattern {
  readonly regex: string;
}

interface NagRuleSuppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: Array<string | NagFindingPattern>;
}

/**
 * Acknowledges one cdk-nag rule on one resource.
 *
 * @param resource  a CfnResource, or an L2 whose default child is one; undefined: nothing to acknowledge
 * @param id        the rule id, e.g. `AwsSolutions-IAM5`
 * @param reason    why the finding is accepted (at least 10 characters)
 * @param appliesTo for granular rules, the findings accepted, e.g. `Resource::*`, or patterns
 *                  for findings that contain the stack's account or region
 */
export function acknowledgeNagFinding(
  resource: IConstruct | undefined, id: string, reason: string, appliesTo?: Array<string | NagFindingPattern>,
): void {
  if (!resource) return; // a resource that does not exist, e.g. the policy of a role replaced by iam.Role.customizeRoles
  // A precreated role (iam.Role.customizeRoles) is not in the template: nothing to acknowledge.
  if (resource instanceof iam.Role && !resource.node.defaultChild) return;
  const cfn = CfnResource.isCfnResource(resource) ? resource : resource.node.defaultChild;
  if (!cfn || !CfnResource.isCfnResource(cfn)) {
    throw new Error(`Cannot acknowledge ${id} on ${resource.node.path}: it is not a CloudFormation resource`);
  }
  if (reason.trim().length < MIN_REASON_LENGTH) {
    throw new Error(`The reason for acknowledging ${id} on ${resource.node.path} must be at least ${MIN_REASON_LENGTH} characters`);
  }
  const existing: NagRuleSuppression[] = cfn.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  const entry: NagRuleSuppression = appliesTo && appliesTo.length > 0 ? { id, reason, applies_to: appliesTo } : { id, reason };
  const merged = [...existing, entry];
  // Same de-duplication as cdk-nag: identical entries are kept once.
  const unique = Array.from(new Set(merged.map((r) => JSON.stringify(r)))).map((r) => JSON.parse(r) as NagRuleSuppression);
  cfn.addMetadata('cdk_nag', { rules_to_suppress: unique });
}

/**
 * The default policy of a role (where its grants go), or undefined when it has none: no grant
 * yet, or the role is replaced by a precreated one (`iam.Role.customizeRoles`).
 */
export function defaultPolicyOf(role: IConstruct): IConstruct | undefined {
  return role.node.tryFindChild('DefaultPolicy');
}
