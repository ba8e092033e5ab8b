/**
 * The integ apps (test/integ/integ.*.ts, run against an account by integ-runner) in CI: each is
 * synthesized as integ-runner would (the file itself, writing to CDK_OUTDIR) and its templates and
 * integ manifest are compared with the committed snapshots (asset hashes masked). Also checked:
 * every resource of the stacks under test is deleted with them, except the few listed below.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';

const INTEG_APPS = fs.readdirSync(__dirname).filter((f) => /^integ\..*\.ts$/.test(f)).sort();

/**
 * What a test run leaves in the account after its stacks are destroyed (README "Integration tests
 * against an account"): API Gateway's account-wide CloudWatch role setting (aws-cdk-lib retains it:
 * other APIs of the account use it) and its IAM role. (Every log group of the constructs follows
 * their `removalPolicy`.)
 */
const LEFT_BEHIND = ['AWS::ApiGateway::Account', 'AWS::IAM::Role'];

const outdirs: string[] = [];
afterAll(() => outdirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Synthesizes the integ app `file` the way integ-runner runs it: the file itself, with CDK_OUTDIR set. */
function synthesize(file: string): CloudAssembly {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-integ-'));
  outdirs.push(outdir);
  const previous = process.env.CDK_OUTDIR;
  process.env.CDK_OUTDIR = outdir;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the app file runs on load, as under integ-runner
    jest.isolateModules(() => require(path.join(__dirname, file)));
  } finally {
    if (previous === undefined) delete process.env.CDK_OUTDIR;
    else process.env.CDK_OUTDIR = previous;
  }
  return new CloudAssembly(outdir);
}

/** The integ manifest (integ.json) IntegTest writes next to the cloud assembly: the test cases and their stacks. */
function integManifest(assembly: CloudAssembly): { testCases: Record<string, { stacks: string[] }> } {
  return JSON.parse(fs.readFileSync(path.join(assembly.directory, 'integ.json'), 'utf8'));
}

/**
 * The template with the `salt` of each assertion masked: integ-tests-alpha sets it to the synth time
 * so that CloudFormation runs every assertion on every deployment.
 */
function withoutSalts(template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }): unknown {
  const resources = Object.entries(template.Resources).map(([id, r]) => [id,
    r.Type.startsWith('Custom::DeployAssert@') && r.Properties?.salt !== undefined ? { ...r, Properties: { ...r.Properties, salt: '[SALT]' } } : r]);
  return { ...template, Resources: Object.fromEntries(resources) };
}

test('there are integ apps', () => {
  expect(INTEG_APPS).toEqual(expect.arrayContaining(['integ.core-path.ts']));
});

describe.each(INTEG_APPS)('%s', (file) => {
  let assembly: CloudAssembly;
  beforeAll(() => {
    assembly = synthesize(file);
  }, 300_000);

  test('its integ manifest and templates match the snapshots', () => {
    expect(integManifest(assembly)).toMatchSnapshot('integ manifest');
    for (const stack of assembly.stacks) expect(withoutSalts(stack.template)).toMatchSnapshot(stack.stackName);
  });

  test('the stacks under test are deleted with everything in them, but for what the README lists', () => {
    const stacks = Object.values(integManifest(assembly).testCases).flatMap((c) => c.stacks);
    expect(stacks.length).toBeGreaterThan(0);
    for (const name of stacks) {
      const resources = Object.values(assembly.getStackByName(name).template.Resources) as Array<{ Type: string; DeletionPolicy?: string }>;
      const kept = resources.filter((r) => r.DeletionPolicy !== undefined && r.DeletionPolicy !== 'Delete').map((r) => `${r.Type} (${r.DeletionPolicy})`);
      expect(kept.sort()).toEqual(LEFT_BEHIND.map((type) => `${type} (Retain)`).sort());
    }
  });
});
