/**
 * The pinned cfn-lint (tools/cfn-lint-requirements.txt), installed from PyPI into
 * .tools/cfn-lint-venv by `npx projen cfn-lint:install`: running it on templates, and reading its
 * Lambda runtime lifecycle data (AWS's published deprecation and block dates) without internet.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const VENV = path.join(ROOT, '.tools', 'cfn-lint-venv');
const REQUIREMENTS = path.join(ROOT, 'tools', 'cfn-lint-requirements.txt');

/** The cfn-lint version the project pins. */
export function pinnedCfnLintVersion(): string {
  const pin = /^cfn-lint==(\S+)$/m.exec(fs.readFileSync(REQUIREMENTS, 'utf8'));
  if (!pin) throw new Error(`${path.relative(ROOT, REQUIREMENTS)} pins no cfn-lint version (cfn-lint==X.Y.Z)`);
  return pin[1];
}

/** The pinned cfn-lint's executable; throws, saying how to install it, when it is missing or another version. */
export function cfnLintExecutable(): string {
  const exe = path.join(VENV, 'bin', 'cfn-lint');
  const wanted = pinnedCfnLintVersion();
  const howTo = 'install it with `npx projen cfn-lint:install` (from PyPI into .tools/cfn-lint-venv; needs python3 with venv)';
  if (!fs.existsSync(exe)) throw new Error(`cfn-lint ${wanted} is not installed: ${howTo}`);
  const version = spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (version !== `cfn-lint ${wanted}`) throw new Error(`.tools/cfn-lint-venv has ${version || 'a broken cfn-lint'}, the project pins ${wanted}: ${howTo}`);
  return exe;
}

/** AWS's dates for one Lambda runtime (ISO dates, or null when none is announced). */
export interface RuntimeLifecycle {
  readonly 'deprecated'?: string | null;
  readonly 'create-block'?: string | null;
  readonly 'update-block'?: string | null;
  readonly 'successor'?: string | null;
}

/** The pinned cfn-lint's Lambda runtime lifecycle data (cfnlint/data/AdditionalSpecs/LmbdRuntimeLifecycle.json). */
export function lambdaRuntimeLifecycle(): { [runtime: string]: RuntimeLifecycle } {
  cfnLintExecutable();
  const lib = path.join(VENV, 'lib');
  const file = fs.readdirSync(lib)
    .map((python) => path.join(lib, python, 'site-packages', 'cfnlint', 'data', 'AdditionalSpecs', 'LmbdRuntimeLifecycle.json'))
    .find((f) => fs.existsSync(f));
  if (!file) throw new Error(`cfn-lint's LmbdRuntimeLifecycle.json is not in ${path.relative(ROOT, lib)}: reinstall with \`npx projen cfn-lint:install\``);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** One finding of cfn-lint. */
export interface CfnLintFinding {
  /** `Error`, `Warning` or `Informational`. */
  readonly level: string;
  /** Rule id, e.g. `W3005`. */
  readonly rule: string;
  readonly message: string;
  /** Template file, as given to cfn-lint. */
  readonly file: string;
  /** Path in the template, e.g. `Resources/Fn/Properties/Runtime`. */
  readonly path: string;
}

/** Runs the pinned cfn-lint on the templates (all regions of its default set: us-east-1). */
export function runCfnLint(templateFiles: string[]): CfnLintFinding[] {
  const result = spawnSync(cfnLintExecutable(), ['--format', 'json', '--', ...templateFiles], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // Exit codes are a sum of the levels found (2 error, 4 warning, 8 informational); an odd one is a crash.
  if (result.status === null || result.status % 2 === 1 || !result.stdout.trim().startsWith('[')) {
    throw new Error(`cfn-lint failed (exit ${result.status}): ${result.stderr || result.stdout}`);
  }
  type Raw = { Level: string; Rule: { Id: string }; Message: string; Filename: string; Location: { Path?: Array<string | number> } };
  const raw: Raw[] = JSON.parse(result.stdout);
  return raw.map((f) => ({
    level: f.Level,
    rule: f.Rule.Id,
    message: f.Message,
    file: f.Filename,
    path: (f.Location.Path ?? []).join('/'),
  }));
}
