/**
 * The template lint: the pinned cfn-lint on every template of the checked apps (checked-apps.ts),
 * plus the runtime gate (runtime-gate.ts).
 *
 *   npx projen cfn-lint:install     once: the pinned cfn-lint from PyPI into .tools/cfn-lint-venv
 *   npm run lint:templates          prints the report; exits non-zero when the gate fails
 *
 * The gate fails on any cfn-lint error, on any finding about a function's `Runtime` (warnings
 * included), on any runtime blocked for new functions within six months, and on any warning not in
 * docs/template-lint-allowlist.json (each entry there says why it stays). An entry no template needs
 * any more fails it too, so the list stays true. test/template-lint.test.ts runs the same gate.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CfnLintFinding, lambdaRuntimeLifecycle, pinnedCfnLintVersion, runCfnLint } from './cfn-lint';
import { CheckedTemplate, synthesizeCheckedApps } from './checked-apps';
import { addMonths, functionRuntimes, RUNTIME_GATE_MONTHS, runtimeProblems } from './runtime-gate';

/** One accepted finding: the rule, a regular expression its message must match, and why it stays. */
export interface AllowedFinding {
  readonly rule: string;
  readonly message: string;
  readonly reason: string;
}

/** docs/template-lint-allowlist.json: accepted warnings, and errors that cfn-lint misreports (not template errors). */
export interface Allowlist {
  readonly warnings: AllowedFinding[];
  readonly misreportedErrors: AllowedFinding[];
}

export const ALLOWLIST_FILE = path.join(__dirname, '..', 'docs', 'template-lint-allowlist.json');

/** cfn-lint's rules about Lambda runtimes: any of their findings fails the gate, whatever its level. */
const RUNTIME_RULES = new Set(['E2531', 'W2531', 'E2533']);

/** The result of the gate on the checked apps. */
export interface TemplateLintReport {
  readonly cfnLintVersion: string;
  readonly templates: CheckedTemplate[];
  /** Every function's runtime(s), `<app> <stack> <logical id>: <runtimes>`. */
  readonly runtimes: string[];
  /** What fails the gate, one line each. */
  readonly failures: string[];
  /** Findings the allow-list accepts (warnings, and errors cfn-lint misreports), with the reason. */
  readonly allowed: Array<{ finding: string; reason: string }>;
  /** cfn-lint's counts: errors (misreported ones excluded), warnings. */
  readonly counts: { errors: number; misreportedErrors: number; warnings: number };
}

export function readAllowlist(): Allowlist {
  const { warnings, misreportedErrors } = JSON.parse(fs.readFileSync(ALLOWLIST_FILE, 'utf8'));
  return { warnings: warnings ?? [], misreportedErrors: misreportedErrors ?? [] };
}

function matching(entries: AllowedFinding[], f: CfnLintFinding): AllowedFinding | undefined {
  return entries.find((a) => a.rule === f.rule && new RegExp(a.message).test(f.message));
}

function describe(f: CfnLintFinding, templates: CheckedTemplate[]): string {
  const t = templates.find((x) => x.templateFile === f.file);
  return `${f.rule} [${t ? `${t.app} ${t.stack}` : f.file}] ${f.path}: ${f.message}`;
}

function isRuntimeFinding(f: CfnLintFinding): boolean {
  return RUNTIME_RULES.has(f.rule) || /(^|\/)Runtime(\/|$)/.test(f.path);
}

/** What the gate makes of cfn-lint's findings, given the allow-list. */
export interface JudgedFindings {
  readonly failures: string[];
  readonly allowed: Array<{ finding: string; reason: string }>;
  readonly counts: { errors: number; misreportedErrors: number; warnings: number };
}

/**
 * Errors fail unless the allow-list says cfn-lint misreports them; findings on a Runtime always
 * fail; warnings fail unless allowed; allow-list entries no finding needs fail too.
 */
export function judgeFindings(findings: CfnLintFinding[], allowlist: Allowlist, label: (f: CfnLintFinding) => string): JudgedFindings {
  const used = new Set<AllowedFinding>();
  const failures: string[] = [];
  const allowed: Array<{ finding: string; reason: string }> = [];
  const counts = { errors: 0, misreportedErrors: 0, warnings: 0 };
  for (const f of findings) {
    const text = label(f);
    const entry = isRuntimeFinding(f) ? undefined
      : matching(f.level === 'Error' ? allowlist.misreportedErrors : f.level === 'Warning' ? allowlist.warnings : [], f);
    if (f.level === 'Error') entry ? counts.misreportedErrors++ : counts.errors++;
    if (f.level === 'Warning') counts.warnings++;
    if (entry) {
      used.add(entry);
      allowed.push({ finding: text, reason: entry.reason });
    } else if (f.level === 'Error' || isRuntimeFinding(f)) {
      failures.push(`cfn-lint ${f.level.toLowerCase()}${f.level !== 'Error' ? ' on a Runtime (counts as an error)' : ''}: ${text}`);
    } else if (f.level === 'Warning') {
      failures.push(`cfn-lint warning not in docs/template-lint-allowlist.json: ${text}`);
    }
  }
  for (const a of [...allowlist.warnings, ...allowlist.misreportedErrors].filter((x) => !used.has(x))) {
    failures.push(`docs/template-lint-allowlist.json entry matches no finding any more (remove it): ${a.rule} ${a.message}`);
  }
  return { failures, allowed, counts };
}

/** Synthesizes the checked apps into `outdir` and runs the gate on them, as of `today`. */
export function lintTemplates(outdir: string, today: Date = new Date()): TemplateLintReport {
  const lifecycle = lambdaRuntimeLifecycle();
  const templates = synthesizeCheckedApps(outdir);
  const failures: string[] = [];
  const runtimes: string[] = [];
  for (const t of templates) {
    const where = `${t.app} ${t.stack}`;
    try {
      for (const fn of functionRuntimes(t.template)) runtimes.push(`${where} ${fn.logicalId}: ${fn.runtimes.join(', ')}`);
      for (const p of runtimeProblems(t.template, lifecycle, today)) failures.push(`runtime gate [${where}] ${p.logicalId}: ${p.problem}`);
    } catch (e) {
      failures.push(`runtime gate [${where}]: ${(e as Error).message}`);
    }
  }

  const judged = judgeFindings(runCfnLint(templates.map((t) => t.templateFile)), readAllowlist(), (f) => describe(f, templates));
  failures.push(...judged.failures);
  const { allowed, counts } = judged;
  return { cfnLintVersion: pinnedCfnLintVersion(), templates, runtimes, failures, allowed, counts };
}

/** The report as text. */
export function renderReport(report: TemplateLintReport, today: Date = new Date()): string {
  const apps = [...new Set(report.templates.map((t) => t.app))];
  const byReason = new Map<string, string[]>();
  for (const a of report.allowed) byReason.set(a.reason, [...byReason.get(a.reason) ?? [], a.finding]);
  const lines = [
    `cfn-lint ${report.cfnLintVersion}: ${report.templates.length} templates of ${apps.length} apps (${apps.join(', ')})`,
    ...report.templates.map((t) => `  ${t.app}: ${t.stack}`),
    `runtime gate (AWS's lifecycle as of cfn-lint ${report.cfnLintVersion}; nothing blocked for new functions before ${addMonths(today, RUNTIME_GATE_MONTHS)}):`
      + ` ${report.runtimes.length} functions`,
    ...summarizeRuntimes(report.runtimes),
    `cfn-lint: ${report.counts.errors} errors, ${report.counts.misreportedErrors} misreported errors, ${report.counts.warnings} warnings;`
      + ` accepted by docs/template-lint-allowlist.json: ${report.allowed.length}`,
    ...[...byReason.entries()].map(([reason, findings]) => `  ${findings.length} x ${findings[0].split(' ')[0]}: ${reason}`),
    `failures: ${report.failures.length}`,
    ...report.failures.map((f) => `  ${f}`),
  ];
  return lines.join('\n');
}

function summarizeRuntimes(runtimes: string[]): string[] {
  const counts = new Map<string, number>();
  for (const r of runtimes) {
    for (const runtime of r.split(': ')[1].split(', ')) counts.set(runtime, (counts.get(runtime) ?? 0) + 1);
  }
  return [...counts.entries()].sort().map(([runtime, n]) => `  ${runtime}: ${n} functions`);
}

if (require.main === module) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-templates-'));
  try {
    const report = lintTemplates(outdir);
    console.log(renderReport(report));
    process.exitCode = report.failures.length > 0 ? 1 : 0;
  } catch (e) {
    console.error(`lint:templates: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
