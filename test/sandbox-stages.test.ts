/**
 * The sandbox on the example's CI/CD app (`-c pipeline=true`: the system at the top, the pipeline
 * stack, and the pipeline's `Deploy` stage holding a second copy of the system in a nested
 * assembly): which stacks a `--stage` / `--stack` selection runs, what it leaves out and why, and
 * the pipeline's resources (CodePipeline, CodeBuild…) listed as skipped when the sandbox starts,
 * and the stage's system started with `--stage Deploy` (its API answers).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { buildExampleApp, EXAMPLE_STACK_NAME, PIPELINE_STACK_NAME } from '../examples/example-app';
import { startSandbox } from '../sandbox/src';
import { readCloudAssembly } from '../sandbox/src/assembly';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-stages-'));
const outdir = path.join(work, 'cdk.out');
const STAGE = `${PIPELINE_STACK_NAME}/Deploy`;
const STAGE_STACK = `${STAGE}/DataPipeline`;

beforeAll(() => {
  const app = new App({
    outdir,
    context: { pipeline: 'true', connectionArn: 'arn:aws:codeconnections:us-east-1:123456789012:connection/abc', repo: 'owner/name' },
  });
  buildExampleApp(app);
  app.synth();
}, 120_000);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const ids = (stacks: Array<{ id: string }>) => stacks.map((s) => s.id).sort();

test('without a selection: the top-level stacks; the stage\'s stack is left out with the option that runs it', () => {
  const assembly = readCloudAssembly(outdir);
  expect(ids(assembly.stacks)).toEqual([EXAMPLE_STACK_NAME, PIPELINE_STACK_NAME].sort());
  expect(assembly.notSelected).toEqual([{ id: STAGE_STACK, reason: `in stage ${STAGE}: run it with --stage ${STAGE}` }]);
});

test.each([STAGE, 'Deploy'])('--stage %s: only the stage\'s stack, the system as the pipeline deploys it', (stage) => {
  const assembly = readCloudAssembly(outdir, { stage });
  expect(assembly.stacks).toEqual([expect.objectContaining({ id: STAGE_STACK, stage: STAGE })]);
  expect(assembly.stacks[0].stackName).not.toBe(EXAMPLE_STACK_NAME);
  expect(Object.values(assembly.stacks[0].template.Resources).some((r) => r.Type === 'AWS::RDS::DBInstance' || r.Type === 'AWS::RDS::DBCluster')).toBe(true);
  expect(assembly.notSelected).toEqual(expect.arrayContaining([
    { id: EXAMPLE_STACK_NAME, reason: `not in stage ${STAGE} (--stage)` },
    { id: PIPELINE_STACK_NAME, reason: `not in stage ${STAGE} (--stage)` },
  ]));
  // Its assets are found in the nested assembly.
  const fn = Object.values(assembly.stacks[0].template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Code?.S3Key);
  const hash = String((fn!.Properties!.Code.S3Key as string).replace(/\.zip$/, ''));
  expect(fs.existsSync(assembly.assetDirectory(hash)!)).toBe(true);
});

test('--stack patterns select by path, id or name, with wildcards; --stage narrows them', () => {
  expect(ids(readCloudAssembly(outdir, { stacks: [PIPELINE_STACK_NAME] }).stacks)).toEqual([PIPELINE_STACK_NAME]);
  expect(ids(readCloudAssembly(outdir, { stacks: ['*/DataPipeline'] }).stacks)).toEqual([STAGE_STACK]);
  expect(ids(readCloudAssembly(outdir, { stacks: ['ServerlessDataPipeline*'] }).stacks)).toEqual([EXAMPLE_STACK_NAME, PIPELINE_STACK_NAME, STAGE_STACK].sort());
  expect(ids(readCloudAssembly(outdir, { stacks: ['ServerlessDataPipeline*'], stage: 'Deploy' }).stacks)).toEqual([STAGE_STACK]);
  expect(() => readCloudAssembly(outdir, { stage: 'Prod' })).toThrow(`The app has no stage "Prod" (its stages: ${STAGE})`);
  expect(() => readCloudAssembly(outdir, { stacks: ['Nothing*'] })).toThrow(/^No stack selected\. The app's stacks: /);
});

test('started with --stack on the pipeline stack: the pipeline\'s resources are listed as skipped, the other stacks as not run', async () => {
  const lines: string[] = [];
  const sandbox = await startSandbox({
    cwd: work, cloudAssembly: outdir, selection: { stacks: [PIPELINE_STACK_NAME] }, stateDir: path.join(work, 'state'), apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false,
  });
  try {
    expect(sandbox.info.stacks).toEqual([{ id: PIPELINE_STACK_NAME, stackName: PIPELINE_STACK_NAME }]);
    expect(sandbox.info.notSelected.map((n) => n.id).sort()).toEqual([EXAMPLE_STACK_NAME, STAGE_STACK].sort());
    expect(sandbox.info.skipped).toEqual(expect.objectContaining({ 'AWS::CodePipeline::Pipeline': 1, 'AWS::CodeBuild::Project': expect.any(Number) }));
  } finally {
    await sandbox.stop();
  }
}, 120_000);

test('started with --stage Deploy: the system the pipeline deploys runs, its API answers', async () => {
  const lines: string[] = [];
  const sandbox = await startSandbox({
    cwd: work, cloudAssembly: outdir, selection: { stage: 'Deploy' }, stateDir: path.join(work, 'state-stage'), apiPort: 0, s3Port: 0, print: (l) => lines.push(l), tty: false,
  });
  try {
    expect(sandbox.info.stacks).toEqual([{ id: STAGE_STACK, stackName: expect.any(String), stage: STAGE }]);
    expect(sandbox.info.notSelected.map((n) => n.id).sort()).toEqual([EXAMPLE_STACK_NAME, PIPELINE_STACK_NAME].sort());
    const health = await fetch(`${sandbox.apiUrl}/health`, { headers: { 'x-api-key': sandbox.apiKey ?? '' } });
    expect(health.status).toBe(200);
    console.log(`sandbox start-up (CI/CD app, --stage Deploy): ${(sandbox.info.startupMs / 1000).toFixed(1)} s`);
  } finally {
    await sandbox.stop();
  }
}, 180_000);
