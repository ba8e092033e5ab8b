/**
 * The template lint's rules (examples/lint-templates.ts) on findings the pinned cfn-lint really
 * reports for small templates: an error fails, a finding on a Runtime fails even when the
 * allow-list would accept its rule, an unlisted warning fails, a listed one is accepted with its
 * reason, an entry that matches nothing fails, and a misreported error is accepted only as listed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CfnLintFinding, runCfnLint } from '../examples/cfn-lint';
import { Allowlist, judgeFindings, readAllowlist } from '../examples/lint-templates';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'template-lint-rules-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Lints one template (its resources) with the pinned cfn-lint. */
function lint(resources: object): CfnLintFinding[] {
  const file = path.join(dir, `t${fs.readdirSync(dir).length}.json`);
  fs.writeFileSync(file, JSON.stringify({ Resources: resources }));
  return runCfnLint([file]);
}

const ROLE = { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [] } } };
function fn(runtime: string, dependsOnRole = false) {
  return {
    Type: 'AWS::Lambda::Function',
    ...dependsOnRole ? { DependsOn: ['Role'] } : {},
    Properties: { Runtime: runtime, Handler: 'index.handler', Role: { 'Fn::GetAtt': ['Role', 'Arn'] }, Code: { ZipFile: 'x' } },
  };
}
const label = (f: CfnLintFinding) => `${f.rule} ${f.path}`;
const NONE: Allowlist = { warnings: [], misreportedErrors: [] };

test('a clean template has no finding and passes', () => {
  expect(judgeFindings(lint({ Role: ROLE, Fn: fn('nodejs24.x') }), NONE, label).failures).toEqual([]);
});

test('a warning fails unless listed; listed, it is accepted with its reason; an unused entry fails', () => {
  const findings = lint({ Role: ROLE, Fn: fn('nodejs24.x', true) });
  expect(findings.map((f) => f.rule)).toEqual(['W3005']);
  expect(judgeFindings(findings, NONE, label).failures).toEqual(['cfn-lint warning not in docs/template-lint-allowlist.json: W3005 Resources/Fn/DependsOn/0']);

  const listed = judgeFindings(findings, readAllowlist(), label);
  expect(listed.allowed).toEqual([{ finding: 'W3005 Resources/Fn/DependsOn/0', reason: expect.stringMatching(/aws-cdk-lib's lambda.Function/) }]);
  // The other entries of the real list match nothing in this template: each is reported as stale.
  expect(listed.failures).toHaveLength(readAllowlist().warnings.length + readAllowlist().misreportedErrors.length - 1);
  expect(listed.failures.every((f) => f.includes('matches no finding any more'))).toBe(true);
});

test('a finding on a Runtime fails, whatever its level and even if its rule is listed', () => {
  const findings = lint({ Role: ROLE, Fn: fn('nodejs20.x') });
  expect(findings.length).toBeGreaterThan(0);
  const everyRuleListed: Allowlist = { warnings: findings.map((f) => ({ rule: f.rule, message: '.*', reason: 'listed' })), misreportedErrors: [] };
  const judged = judgeFindings(findings, everyRuleListed, label);
  expect(judged.allowed).toEqual([]);
  expect(judged.failures.filter((f) => f.includes('Resources/Fn/Properties/Runtime'))).toHaveLength(findings.length);
});

test('an error fails; listed as misreported (rule and message), it is counted apart and accepted', () => {
  const findings = lint({ Fn: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'soon' } } });
  const error = findings.find((f) => f.level === 'Error')!;
  expect(error).toBeDefined();
  expect(judgeFindings([error], NONE, label)).toMatchObject({ counts: { errors: 1 }, failures: [`cfn-lint error: ${label(error)}`] });
  const misreported: Allowlist = { warnings: [], misreportedErrors: [{ rule: error.rule, message: '^not this message$', reason: 'r' }] };
  expect(judgeFindings([error], misreported, label).counts.errors).toBe(1);
  const listed: Allowlist = { warnings: [], misreportedErrors: [{ rule: error.rule, message: '.', reason: 'r' }] };
  expect(judgeFindings([error], listed, label)).toMatchObject({ counts: { errors: 0, misreportedErrors: 1 }, failures: [] });
});
