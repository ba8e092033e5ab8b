/**
 * Acknowledges cdk-nag findings that a construct accepts by design, without depending on cdk-nag,
 * so that both major versions honour them:
 * - cdk-nag 3 reads aws-cdk-lib's `Validations.of(resource).acknowledge({ id, reason })` records and
 *   matches them exactly: one id per finding of a granular rule (`AwsSolutions-IAM5[Resource::*]`),
 *   and a rule that could not be evaluated under its own id;
 * - cdk-nag 2 reads the `cdk_nag` metadata that its `NagSuppressions.addResourceSuppressions` writes
 *   (`applies_to` for granular findings, regular expressions allowed; `CdkNagValidationFailure` for a
 *   rule that could not be evaluated).
 *
 * cdk-nag 3 has no patterns. A finding given as a pattern (it names ids or an account only known at
 * synthesis) is matched at synthesis, after the app is prepared and before validation plugins run,
 * against the resource's actual findings, and each finding it matches is acknowledged by its id.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

const MIN_REASON_LENGTH = 10;
/** The id cdk-nag 2 reports a rule under when the rule could not be evaluated (cdk-nag 3 uses the rule's id). */
const VALIDATION_FAILURE_ID = 'CdkNagValidationFailure';

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
 * Acknowledges one cdk-nag rule on one resource, for cdk-nag 3 and cdk-nag 2.
 *
 * @param resource  a CfnResource, or an L2 whose default child is one; undefined: nothing to acknowledge
 * @param id        the rule id, e.g. `AwsSolutions-IAM5`, or `CdkNagValidationFailure` with the
 *                  rules that cannot be evaluated in `appliesTo`
 * @param reason    why the finding is accepted (at least 10 characters)
 * @param appliesTo for granular rules, the findings accepted, e.g. `Resource::*`, or patterns
 *                  (AwsSolutions-IAM5 on an IAM policy only) for findings that contain generated
 *                  logical ids, the stack's account or region
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
  const findings = appliesTo ?? [];
  recordForNagV2(cfn, id, reason, findings);
  recordForNagV3(cfn, id, reason, findings);
}

function recordForNagV2(cfn: CfnResource, id: string, reason: string, appliesTo: Array<string | NagFindingPattern>): void {
  const existing: NagRuleSuppression[] = cfn.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  const entry: NagRuleSuppression = appliesTo.length > 0 ? { id, reason, applies_to: appliesTo } : { id, reason };
  // Same de-duplication as cdk-nag: identical entries are kept once.
  const unique = Array.from(new Set([...existing, entry].map((r) => JSON.stringify(r)))).map((r) => JSON.parse(r) as NagRuleSuppression);
  cfn.addMetadata('cdk_nag', { rules_to_suppress: unique });
}

function recordForNagV3(cfn: CfnResource, id: string, reason: string, appliesTo: Array<string | NagFindingPattern>): void {
  if (id === VALIDATION_FAILURE_ID) {
    // cdk-nag 3 reports a rule that threw under the rule's own id.
    const rules = appliesTo.filter((f): f is string => typeof f === 'string');
    if (rules.length === 0 || rules.length !== appliesTo.length) {
      throw new Error(`Acknowledging ${VALIDATION_FAILURE_ID} on ${cfn.node.path} needs the rule ids it stands for`);
    }
    for (const rule of rules) Validations.of(cfn).acknowledge({ id: rule, reason });
    return;
  }
  if (appliesTo.length === 0) {
    Validations.of(cfn).acknowledge({ id, reason });
    return;
  }
  for (const finding of appliesTo) {
    if (typeof finding === 'string') Validations.of(cfn).acknowledge({ id: `${id}[${finding}]`, reason });
  }
  const patterns = appliesTo.filter((f): f is NagFindingPattern => typeof f !== 'string').map((f) => toRegExp(f.regex));
  if (patterns.length > 0) acknowledgeMatchingAtSynthesis(cfn, id, reason, patterns);
}

/** `/pattern/flags` as cdk-nag 2 writes regular expressions. */
function toRegExp(pattern: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (!match) throw new Error(`A finding pattern is written /pattern/: ${pattern}`);
  return new RegExp(match[1], match[2]);
}

function acknowledgeMatchingAtSynthesis(cfn: CfnResource, id: string, reason: string, patterns: RegExp[]): void {
  if (!/-IAM5$/.test(id) || !(cfn instanceof iam.CfnPolicy || cfn instanceof iam.CfnManagedPolicy)) {
    throw new Error(`Finding patterns are supported for AwsSolutions-IAM5 on an IAM policy only, not ${id} on ${cfn.node.path}`);
  }
  const policy = cfn;
  const done = new Set<string>();
  cfn.node.addValidation({
    validate: () => {
      for (const finding of wildcardFindings(Stack.of(policy).resolve(policy.policyDocument))) {
        if (!done.has(finding) && patterns.some((p) => p.test(finding))) {
          done.add(finding);
          Validations.of(policy).acknowledge({ id: `${id}[${finding}]`, reason });
        }
      }
      return [];
    },
  });
}

/**
 * The findings of cdk-nag's IAM wildcard rule (AwsSolutions-IAM5) on a resolved policy document:
 * `Action::<action>` for each allowed action with a `*`, `Resource::<resource>` for each allowed
 * resource with a `*`, CloudFormation references flattened as cdk-nag flattens them.
 */
function wildcardFindings(document: any): string[] {
  const findings = new Set<string>();
  for (const statement of document?.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of asArray(statement.Action)) {
      if (typeof action === 'string' && action.includes('*')) findings.add(`Action::${action}`);
    }
    for (const resource of asArray(statement.Resource).map(flattenReference)) {
      if (resource.includes('*')) findings.add(`Resource::${resource}`);
    }
  }
  return [...findings];
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** A CloudFormation value as cdk-nag writes it in findings: `<Logical.Attr>`, `<Ref>`, joins concatenated. */
function flattenReference(node: any): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node['Fn::Join']) {
    const [delimiter, items] = node['Fn::Join'];
    return (items as unknown[]).map(flattenReference).join(delimiter);
  }
  if (node['Fn::Sub']) return flattenReference(node['Fn::Sub']);
  if (node['Fn::GetAtt']) {
    const [logicalId, attribute] = node['Fn::GetAtt'];
    return `<${flattenReference(logicalId)}.${flattenReference(attribute)}>`;
  }
  if (node['Fn::ImportValue']) return flattenReference(node['Fn::ImportValue']);
  if (node.Ref) return `<${flattenReference(node.Ref)}>`;
  return JSON.stringify(node);
}

/**
 * The default policy of a role (where its grants go), or undefined when it has none: no grant
 * yet, or the role is replaced by a precreated one (`iam.Role.customizeRoles`).
 */
export function defaultPolicyOf(role: IConstruct): IConstruct | undefined {
  return role.node.tryFindChild('DefaultPolicy');
}
