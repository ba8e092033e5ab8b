/**
 * cdk-nag in tests: run the AwsSolutions pack (and optionally HIPAA Security) on a stack and
 * collect what it reports that the constructs did not acknowledge, and which acknowledgements were used.
 */
import { Aspects, CfnResource, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag-v2';

/** One cdk-nag message on one resource. */
export interface NagFinding {
  readonly path: string;
  readonly message: string;
}

/** What the AwsSolutions pack reported on a stack. */
export interface NagReport {
  /** Unacknowledged errors. */
  readonly errors: NagFinding[];
  /** Unacknowledged warnings (including rules cdk-nag could not evaluate). */
  readonly warnings: NagFinding[];
  /** Findings that an acknowledgement covered. */
  readonly acknowledged: NagFinding[];
  /** Rule id prefixes of the packs that ran (acknowledgements of other packs are not judged). @default - all */
  readonly rulePrefixes?: string[];
}

/** Options of `runNagChecks`. */
export interface NagCheckOptions {
  /** Also run the HIPAA Security pack. @default false */
  readonly hipaa?: boolean;
}

function findings(messages: ReturnType<Annotations['findError']>): NagFinding[] {
  return messages.map((m) => ({ path: m.id, message: String(m.entry.data).split('\n')[0] }));
}

/**
 * Adds `AwsSolutionsChecks` to a stack that has not been synthesized yet and returns what it
 * reported. Call it once per stack, after building the stack.
 */
export function runNagChecks(stack: Stack, options: NagCheckOptions = {}): NagReport {
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true, logIgnores: true }));
  if (options.hipaa) Aspects.of(stack).add(new HIPAASecurityChecks({ verbose: true, logIgnores: true }));
  const rule = options.hipaa ? '(AwsSolutions|HIPAA\\.Security)-.*' : 'AwsSolutions-.*';
  const annotations = Annotations.fromStack(stack);
  return {
    errors: findings(annotations.findError('*', Match.stringLikeRegexp(rule))),
    warnings: findings(annotations.findWarning('*', Match.stringLikeRegexp(rule))),
    acknowledged: findings(annotations.findInfo('*', Match.stringLikeRegexp('^CdkNagSuppression'))),
    rulePrefixes: ['AwsSolutions-', 'CdkNagValidationFailure', ...(options.hipaa ? ['HIPAA.Security-'] : [])],
  };
}

/** One line per finding, for test output. */
export function formatNagFindings(list: NagFinding[]): string {
  return list.map((f) => `${f.path}: ${f.message}`).join('\n');
}

interface Acknowledgement {
  readonly id: string;
  readonly applies_to?: Array<string | { regex: string }>;
}

/** `/pattern/flags` as cdk-nag writes regular expressions. */
function toRegExp(pattern: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  return match ? new RegExp(match[1], match[2]) : new RegExp(pattern);
}

function isCovered(messages: string[], id: string, finding: string | { regex: string } | undefined): boolean {
  return messages.some((m) => {
    const parsed = /^CdkNagSuppression(?:\[(.*)\])?: (\S+) was triggered/.exec(m);
    if (!parsed || parsed[2] !== id) return false;
    if (finding === undefined) return parsed[1] === undefined;
    return typeof finding === 'string' ? parsed[1] === finding : toRegExp(finding.regex).test(parsed[1] ?? '');
  });
}

/**
 * Acknowledgements (cdk_nag metadata) in the stack that covered no finding: each should be
 * removed, or it hides a finding that no longer exists. Entries: `<path>: <rule> <finding>`.
 */
export function unusedNagAcknowledgements(stack: Stack, report: NagReport): string[] {
  const unused: string[] = [];
  for (const construct of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(construct)) continue;
    const rules: Acknowledgement[] = construct.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
    const path = `/${construct.node.path}`;
    const messages = report.acknowledged.filter((f) => f.path === path).map((f) => f.message);
    for (const rule of rules) {
      if (report.rulePrefixes && !report.rulePrefixes.some((prefix) => rule.id.startsWith(prefix))) continue;
      const covered = rule.applies_to?.length ? rule.applies_to : [undefined];
      for (const finding of covered) {
        if (!isCovered(messages, rule.id, finding)) unused.push(`${path}: ${rule.id}${finding ? ` ${JSON.stringify(finding)}` : ''}`);
      }
    }
  }
  return unused;
}
