/**
 * The synthesized app: runs the CDK app into a cloud assembly (cdk.out) and reads it with the
 * CDK's own cloud-assembly library (`aws-cdk-lib/cx-api`), nested Stage assemblies included
 * (a CDK Pipelines stage, say). Which stacks run is a selection (`--stack`, `--stage`). Nothing
 * here knows the library's constructs: the sandbox runs whatever the templates declare.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as cxapi from 'aws-cdk-lib/cx-api';

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
  readonly DependsOn?: string | string[];
  readonly Condition?: string;
  readonly Metadata?: Record<string, any>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown }; Description?: string }>;
  readonly Parameters?: Record<string, { Type: string; Default?: unknown }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

export interface AssemblyStack {
  /** The stack's path in the app (`Stage/Stack` for a stack in a stage). */
  readonly id: string;
  /** The CloudFormation stack name. */
  readonly stackName: string;
  /** The stage the stack is in (its nested assembly), if any. */
  readonly stage?: string;
  readonly template: CfnTemplate;
}

/** Which stacks of the app run. */
export interface StackSelection {
  /** Stacks by path (`Stage/Stack`), artifact id or stack name; `*` matches any characters. */
  readonly stacks?: string[];
  /** Only the stacks of this stage (its path in the app, e.g. `Prod`). */
  readonly stage?: string;
}

export interface CloudAssembly {
  readonly directory: string;
  /** The selected stacks, in deployment order. */
  readonly stacks: AssemblyStack[];
  /** Stacks of the app that were not selected, with the reason. */
  readonly notSelected: Array<{ id: string; reason: string }>;
  /** Folder of a file asset by its hash (the S3 object key without `.zip`). */
  assetDirectory(hash: string): string | undefined;
}

/** The stage of a stack: the path of its nested assembly (e.g. `Prod`), or undefined at the top. */
function stageOf(stack: cxapi.CloudFormationStackArtifact): string | undefined {
  const slash = stack.hierarchicalId.lastIndexOf('/');
  return slash > 0 ? stack.hierarchicalId.slice(0, slash) : undefined;
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

/**
 * The stacks to run. Without a selection: the app's top-level stacks (a stage's stacks repeat the
 * app for another environment: `--stage` runs them), or the stage's when the app has only one
 * stage and nothing at the top.
 */
export function selectStacks(all: cxapi.CloudFormationStackArtifact[], selection: StackSelection = {}) {
  const stages = [...new Set(all.map(stageOf).filter((s): s is string => s !== undefined))];
  const hasTopLevel = all.some((s) => stageOf(s) === undefined);
  // A stage by its path (`Pipeline/Deploy`) or, when that is unique, its own id (`Deploy`).
  const named = selection.stage === undefined ? undefined : stages.filter((s) => s === selection.stage || s.endsWith(`/${selection.stage}`));
  if (named && named.length !== 1) {
    const which = named.length ? `several stages named "${selection.stage}" (${named.join(', ')}): give the path` : `no stage "${selection.stage}"`;
    throw new Error(`The app has ${which}${stages.length ? ` (its stages: ${stages.join(', ')})` : ' (it has no stages)'}`);
  }
  const selectedStage = named?.[0];
  const wanted = (s: cxapi.CloudFormationStackArtifact): string | undefined => {
    const stage = stageOf(s);
    if (selection.stacks?.length) {
      const names = [s.hierarchicalId, s.id, s.stackName];
      return selection.stacks.some((p) => names.some((n) => globMatch(p, n))) && (selectedStage === undefined || stage === selectedStage)
        ? undefined : 'not selected by --stack';
    }
    if (selectedStage !== undefined) return stage === selectedStage ? undefined : `not in stage ${selectedStage} (--stage)`;
    if (stage === undefined || (!hasTopLevel && stages.length === 1)) return undefined;
    return `in stage ${stage}: run it with --stage ${stage}`;
  };
  const selected: cxapi.CloudFormationStackArtifact[] = [];
  const notSelected: Array<{ id: string; reason: string }> = [];
  for (const s of all) {
    const reason = wanted(s);
    if (reason) notSelected.push({ id: s.hierarchicalId, reason });
    else selected.push(s);
  }
  if (selected.length === 0) {
    throw new Error(`No stack selected. The app's stacks: ${all.map((s) => s.hierarchicalId).join(', ') || '(none)'}`);
  }
  return { selected, notSelected };
}

/** Reads a synthesized cloud assembly (a cdk.out folder), nested stage assemblies included. */
export function readCloudAssembly(directory: string, selection: StackSelection = {}): CloudAssembly {
  const root = new cxapi.CloudAssembly(directory);
  const { selected, notSelected } = selectStacks(root.stacksRecursively, selection);
  const assets = new Map<string, string>();
  for (const assembly of new Set(selected.map((s) => s.assembly))) {
    for (const artifact of assembly.artifacts) {
      if (!(artifact instanceof cxapi.AssetManifestArtifact)) continue;
      for (const [hash, asset] of Object.entries(artifact.contents.files ?? {})) {
        const source = path.join(assembly.directory, asset.source.path ?? '');
        if (asset.source.packaging === 'zip' || fs.existsSync(source) && fs.statSync(source).isDirectory()) assets.set(hash, source);
      }
    }
  }
  return {
    directory,
    stacks: deploymentOrder(selected).map((s) => ({
      id: s.hierarchicalId,
      stackName: s.stackName,
      stage: stageOf(s),
      template: { Resources: {}, ...s.template },
    })),
    notSelected,
    assetDirectory(hash) {
      return assets.get(hash);
    },
  };
}

function deploymentOrder(stacks: cxapi.CloudFormationStackArtifact[]): cxapi.CloudFormationStackArtifact[] {
  const ordered: cxapi.CloudFormationStackArtifact[] = [];
  const seen = new Set<cxapi.CloudArtifact>();
  const visit = (a: cxapi.CloudArtifact) => {
    if (seen.has(a)) return;
    seen.add(a);
    for (const d of a.dependencies) visit(d);
    if (a instanceof cxapi.CloudFormationStackArtifact && stacks.includes(a)) ordered.push(a);
  };
  stacks.forEach(visit);
  return ordered;
}

export interface SynthOptions {
  /** The app command (as in cdk.json's "app"), run with CDK_OUTDIR set. */
  readonly appCommand: string;
  readonly outdir: string;
  readonly cwd: string;
  /** Context values, passed as CDK_CONTEXT_JSON. */
  readonly context?: Record<string, unknown>;
  readonly selection?: StackSelection;
}
/** Runs the app command into `outdir` (as the CDK CLI does: CDK_OUTDIR, CDK_CONTEXT_JSON). */
export async function synthesize(options: SynthOptions): Promise<CloudAssembly> {
  fs.rmSync(options.outdir, { recursive: true, force: true });
  fs.mkdirSync(options.outdir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CDK_OUTDIR: options.outdir,
    CDK_CONTEXT_JSON: JSON.stringify(options.context ?? {}),
    // Type checking is the build's job: transpile only, which is several times faster.
    TS_NODE_TRANSPILE_ONLY: process.env.TS_NODE_TRANSPILE_ONLY ?? 'true',
  };
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(options.appCommand, { cwd: options.cwd, env, shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0 || !fs.existsSync(path.join(options.outdir, 'manifest.json'))) {
    throw new Error(`Synthesizing the app failed (\`${options.appCommand}\`, exit code ${code}):\n${output.join('').trim().slice(-4000)}`);
  }
  return readCloudAssembly(options.outdir, options.selection);
}

/**
 * The app command: `--app` when given; else cdk.json's "app" in cwd; else this repository's
 * example app.
 */
export function defaultAppCommand(cwd: string): string {
  const cdkJson = path.join(cwd, 'cdk.json');
  if (fs.existsSync(cdkJson)) {
    const app = JSON.parse(fs.readFileSync(cdkJson, 'utf8')).app;
    if (typeof app === 'string') return app;
  }
  if (fs.existsSync(path.join(cwd, 'examples', 'app.ts'))) {
    const project = fs.existsSync(path.join(cwd, 'tsconfig.dev.json')) ? ' --project tsconfig.dev.json' : '';
    return `npx ts-node${project} examples/app.ts`;
  }
  throw new Error('No app to run: pass --app "<command>" (as in cdk.json), or run where cdk.json is');
}
