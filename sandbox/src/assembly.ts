/**
 * The synthesized app: runs the CDK app into a cloud assembly (cdk.out) and reads its stacks,
 * templates and file assets. Nothing here knows the library's constructs: the sandbox runs
 * whatever the templates declare.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

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
  /** The artifact id (the construct id of the stack). */
  readonly id: string;
  /** The CloudFormation stack name. */
  readonly stackName: string;
  readonly template: CfnTemplate;
  /** Stack artifact ids this one depends on (deployment order). */
  readonly dependencies: string[];
}

export interface CloudAssembly {
  readonly directory: string;
  /** Stacks in deployment order. */
  readonly stacks: AssemblyStack[];
  /** Folder of a file asset by its hash (the S3 object key without `.zip`). */
  assetDirectory(hash: string): string | undefined;
}

/** Reads a synthesized cloud assembly (a cdk.out folder). */
export function readCloudAssembly(directory: string): CloudAssembly {
  const manifest = JSON.parse(fs.readFileSync(path.join(directory, 'manifest.json'), 'utf8'));
  const artifacts: Record<string, any> = manifest.artifacts ?? {};
  const assets = new Map<string, string>();
  const stacks: AssemblyStack[] = [];
  for (const [id, artifact] of Object.entries(artifacts)) {
    if (artifact.type === 'cdk:asset-manifest') {
      const assetManifest = JSON.parse(fs.readFileSync(path.join(directory, artifact.properties.file), 'utf8'));
      for (const [hash, asset] of Object.entries<any>(assetManifest.files ?? {})) {
        const source = path.join(directory, asset.source.path);
        if (asset.source.packaging === 'zip' || fs.existsSync(source) && fs.statSync(source).isDirectory()) assets.set(hash, source);
      }
    } else if (artifact.type === 'aws:cloudformation:stack') {
      const template = JSON.parse(fs.readFileSync(path.join(directory, artifact.properties.templateFile), 'utf8'));
      stacks.push({
        id,
        stackName: artifact.properties.stackName ?? artifact.displayName ?? id,
        template: { Resources: {}, ...template },
        dependencies: (artifact.dependencies ?? []).filter((d: string) => artifacts[d]?.type === 'aws:cloudformation:stack'),
      });
    }
    // Nested assemblies (stages, e.g. a CDK Pipelines deployment stage) are not run: they repeat
    // the app's stacks for another environment.
  }
  return {
    directory,
    stacks: deploymentOrder(stacks),
    assetDirectory(hash) {
      return assets.get(hash);
    },
  };
}

function deploymentOrder(stacks: AssemblyStack[]): AssemblyStack[] {
  const byId = new Map(stacks.map((s) => [s.id, s]));
  const ordered: AssemblyStack[] = [];
  const seen = new Set<string>();
  const visit = (s: AssemblyStack) => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    for (const d of s.dependencies) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    ordered.push(s);
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
  return readCloudAssembly(options.outdir);
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
