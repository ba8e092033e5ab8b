/**
 * The security review of the example app: cdk-nag's AwsSolutions and HIPAA Security packs on every
 * stack, and the report of what they accepted by design (docs/security-review.md).
 *
 *   npm run security:review       rewrites docs/security-review.md from the app
 *
 * test/security-review.test.ts runs the same review, fails on any unacknowledged error, on any
 * warning not listed here, and when docs/security-review.md no longer matches the app.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects, CfnResource, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag-v2';
import { buildExampleApp, ExampleApp } from './example-app';

/** The context the review builds the app with: the system stack and the CI/CD pipeline stack. */
export const REVIEW_CONTEXT = {
  pipeline: 'true',
  connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/00000000-0000-0000-0000-000000000000',
  repo: 'example/cdk-serverless-data-pipeline',
};

const PACKS = /^(AwsSolutions|HIPAA\.Security|CdkNagValidationFailure)/;

/** Warnings of the system stack, each looked at by a person: why it stays a warning. `*` stands for a hash. */
export const EXPECTED_WARNINGS: { [finding: string]: string } = {
  ...endpointWarnings('SecretsManager', 'Eventbridge', 'BedrockRuntime', 'Ses', 'Sns', 'StepFunctions'),
  'Store/Vpc/Resource: HIPAA.Security-VPCDefaultSecurityGroupClosed':
    'CloudFormation creates every VPC\'s default security group open; nothing uses it (every resource has its own security group). '
    + 'Closing it needs a custom resource (CDK\'s restrictDefaultSecurityGroup), i.e. one more Lambda function outside the VPC',
};

function endpointWarnings(...endpoints: string[]): { [finding: string]: string } {
  const result: { [finding: string]: string } = {};
  for (const endpoint of endpoints) {
    for (const rule of ['EC2RestrictedCommonPorts', 'EC2RestrictedSSH']) {
      result[`PipelineVpcEndpoints-*/${endpoint}/SecurityGroup/Resource: CdkNagValidationFailure[HIPAA.Security-${rule}]`] =
        'The interface endpoint\'s security group allows HTTPS (443) from the VPC\'s CIDR block, a deploy-time value cdk-nag cannot resolve: no SSH, no other port';
    }
  }
  return result;
}

/** What the packs reported on one stack. */
export interface StackReview {
  readonly stack: Stack;
  /** Unacknowledged errors, as `<path in the stack>: <rule>`. */
  readonly errors: string[];
  /** Unacknowledged warnings, same form. */
  readonly warnings: string[];
  /** The suppression messages: which acknowledgement covered which finding. */
  readonly acknowledged: Array<{ path: string; message: string }>;
}

/** One acknowledged rule of a stack: on how many resources, for which reasons. */
export interface AcknowledgedRule {
  readonly rule: string;
  /** The reasons, each with the resources (paths in the stack) it is given for. */
  readonly reasons: Array<{ reason: string; resources: string[] }>;
}

/** The example app built with both packs as aspects (synthesized when the reviews are read). */
export function reviewExampleApp(app: App): { example: ExampleApp; system: StackReview; pipeline: StackReview } {
  const example = buildExampleApp(app);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true, logIgnores: true }));
  Aspects.of(app).add(new HIPAASecurityChecks({ verbose: true, logIgnores: true }));
  return { example, system: reviewStack(example.dataPipeline), pipeline: reviewStack(example.pipeline!) };
}

function reviewStack(stack: Stack): StackReview {
  const annotations = Annotations.fromStack(stack);
  const label = (m: SynthesisMessage) => `${relativePath(stack, m.id)}: ${String(m.entry.data).split(': ')[0]}`;
  const nag = (m: SynthesisMessage) => PACKS.test(String(m.entry.data));
  return {
    stack,
    errors: annotations.findError('*', Match.anyValue()).filter(nag).map(label).sort(),
    warnings: annotations.findWarning('*', Match.anyValue()).filter(nag).map(label).sort(),
    acknowledged: annotations.findInfo('*', Match.stringLikeRegexp('^CdkNagSuppression'))
      .map((m) => ({ path: m.id, message: String(m.entry.data).split('\n')[0] })),
  };
}

function relativePath(stack: Stack, id: string): string {
  return id.replace(`/${stack.node.path}/`, '');
}

/** A resource path for the report: without the trailing `/Resource` and the hash of generated ids. */
function shortPath(p: string): string {
  return p.replace(/\/Resource$/, '').replace(/-?[0-9a-f]{32,}/g, '');
}

/** Matches a finding against an EXPECTED_WARNINGS key, where `*` stands for a hash in generated ids. */
export function matchesWarning(pattern: string, finding: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\*/g, '[0-9a-f]+')}$`);
  return re.test(finding);
}

/** The acknowledgements (cdk_nag metadata) on the stack's own resources, by rule. */
export function acknowledgedRules(stack: Stack): AcknowledgedRule[] {
  const byRule = new Map<string, Map<string, string[]>>();
  for (const construct of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(construct) || Stack.of(construct) !== stack) continue;
    const rules: Array<{ id: string; reason: string; applies_to?: unknown[] }> = construct.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
    for (const { id, reason, applies_to: appliesTo } of rules) {
      // A rule cdk-nag could not evaluate is named with the rule it stands for.
      const rule = id === 'CdkNagValidationFailure' && appliesTo?.length ? `${id}[${appliesTo.join(', ')}]` : id;
      const reasons = byRule.get(rule) ?? new Map<string, string[]>();
      byRule.set(rule, reasons);
      // One reason per resource and rule (an IAM5 acknowledgement lists each wildcard with the same reason).
      const text = reason.replace(/^\[[^\]]*\] /, '');
      const resources = reasons.get(text) ?? [];
      const where = shortPath(construct.node.path.replace(`${stack.node.path}/`, ''));
      if (!resources.includes(where)) resources.push(where);
      reasons.set(text, resources);
    }
  }
  return [...byRule.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([rule, reasons]) => ({
    rule,
    reasons: [...reasons.entries()].map(([reason, resources]) => ({ reason, resources })),
  }));
}

/** The review as Markdown: each stack's acknowledged rules with their resources and reasons, and the warnings. */
export function renderSecurityReview(reviews: StackReview[]): string {
  const lines = [
    '# Security review of the example app',
    '',
    '<!-- Generated by `npm run security:review` (examples/security-review.ts); test/security-review.test.ts checks it is current. -->',
    '',
    'cdk-nag\'s `AwsSolutionsChecks` and `HIPAASecurityChecks` run on every stack of the example app',
    '(`test/security-review.test.ts`). No error is left unacknowledged. What the design accepts is',
    'acknowledged narrowly, one rule on one resource with its reason: on the library\'s resources inside',
    'the constructs (`Store`, `Ingestion`, `Api`, `Jobs`, `Analyzer`, `Notifier`, the shared VPC endpoints,',
    'CDK\'s singleton functions they add), on the example\'s own resources in the example.',
    '',
  ];
  for (const review of reviews) {
    const rules = acknowledgedRules(review.stack);
    const resources = new Set(rules.flatMap((r) => r.reasons.flatMap((x) => x.resources.map((p) => `${r.rule} ${p}`))));
    lines.push(`## Stack \`${review.stack.stackName}\``, '');
    lines.push(`${rules.length} rules acknowledged, ${resources.size} acknowledgements (rule × resource); ${review.errors.length} unacknowledged errors.`, '');
    lines.push('| Rule | Resources | Why |', '| --- | ---: | --- |');
    for (const r of rules) {
      const count = new Set(r.reasons.flatMap((x) => x.resources)).size;
      const why = r.reasons.map((x) => `${x.reason} (${x.resources.map((p) => `\`${p}\``).join(', ')})`).join('<br>');
      lines.push(`| \`${r.rule}\` | ${count} | ${why.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
    lines.push(review.warnings.length === 0 ? 'Warnings: none.' : `Warnings (${review.warnings.length}), each kept for the reason given:`, '');
    if (review.warnings.length > 0) {
      lines.push('| Warning | Why it stays |', '| --- | --- |');
      for (const w of review.warnings) {
        const why = Object.entries(EXPECTED_WARNINGS).find(([p]) => matchesWarning(p, w))?.[1] ?? '(not reviewed)';
        lines.push(`| \`${shortPath(w.split(': ')[0])}\`: ${w.split(': ')[1]} | ${why} |`);
      }
      lines.push('');
    }
  }
  return lines.join('\n');
}

export const SECURITY_REVIEW_DOC = path.join(__dirname, '..', 'docs', 'security-review.md');

if (require.main === module) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'security-review-'));
  try {
    const { system, pipeline } = reviewExampleApp(new App({ outdir, context: REVIEW_CONTEXT }));
    fs.writeFileSync(SECURITY_REVIEW_DOC, renderSecurityReview([system, pipeline]));
    const errors = [...system.errors, ...pipeline.errors];
    console.log(`Wrote ${path.relative(process.cwd(), SECURITY_REVIEW_DOC)}; unacknowledged errors: ${errors.length}`);
    for (const e of errors) console.log(`  ${e}`);
    process.exitCode = errors.length > 0 ? 1 : 0;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
