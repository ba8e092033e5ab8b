/**
 * Security review of the whole example app: cdk-nag's AwsSolutions and HIPAA Security packs on
 * every stack (the system, and the CI/CD pipeline). No error may go unacknowledged; every
 * acknowledgement must be narrow (one rule on one resource, with a reason) and still needed; the
 * warnings are listed here, so that a new one fails the test until a person has looked at it.
 *
 * The app is built and checked once; the tests read the shared results.
 */
import { Aspects, CfnResource, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag';
import { buildExampleApp, ExampleApp } from '../examples/example-app';
import { createTestApp, removeTestAppDirs } from './construct-support/app';
import { NagFinding, unusedNagAcknowledgements } from './construct-support/nag';


const PACKS = /^(AwsSolutions|HIPAA\.Security|CdkNagValidationFailure)/;

interface StackReview {
  readonly stack: Stack;
  readonly errors: string[];
  readonly warnings: string[];
  readonly acknowledged: NagFinding[];
}

/** `<path relative to the stack>: <rule>[finding]`, the form of the lists below. */
function findingLabel(stack: Stack, f: SynthesisMessage): string {
  const rule = String(f.entry.data).split(': ')[0];
  return `${f.id.replace(`/${stack.node.path}/`, '')}: ${rule}`;
}

function review(stack: Stack): StackReview {
  const annotations = Annotations.fromStack(stack);
  const nag = (m: SynthesisMessage) => PACKS.test(String(m.entry.data));
  return {
    stack,
    errors: annotations.findError('*', Match.anyValue()).filter(nag).map((f) => findingLabel(stack, f)).sort(),
    warnings: annotations.findWarning('*', Match.anyValue()).filter(nag).map((f) => findingLabel(stack, f)).sort(),
    acknowledged: annotations.findInfo('*', Match.stringLikeRegexp('^CdkNagSuppression'))
      .map((m) => ({ path: m.id, message: String(m.entry.data).split('\n')[0] })),
  };
}

/** Warnings, each looked at by a person: why it stays a warning. */
const EXPECTED_WARNINGS: { [finding: string]: string } = {
  // Each interface endpoint's security group allows HTTPS from the VPC's CIDR block, a token
  // cdk-nag cannot resolve: port 443 only, from inside the VPC (no SSH, no common ports).
  ...endpointWarnings('SecretsManager', 'Eventbridge', 'BedrockRuntime', 'Ses', 'Sns', 'StepFunctions'),
  // CloudFormation always creates a VPC's default security group open; nothing uses it (every
  // resource has its own security group). Closing it needs a custom resource (CDK's
  // restrictDefaultSecurityGroup), i.e. one more Lambda function: kept as a warning.
  'Store/Vpc/Resource: HIPAA.Security-VPCDefaultSecurityGroupClosed': 'default SG',
};

function endpointWarnings(...endpoints: string[]): { [finding: string]: string } {
  const result: { [finding: string]: string } = {};
  for (const endpoint of endpoints) {
    for (const rule of ['EC2RestrictedCommonPorts', 'EC2RestrictedSSH']) {
      result[`PipelineVpcEndpoints-*/${endpoint}/SecurityGroup/Resource: CdkNagValidationFailure[HIPAA.Security-${rule}]`] = 'HTTPS from the VPC CIDR';
    }
  }
  return result;
}

/** Matches a finding against a list entry, where `*` stands for a hash in generated ids. */
function matches(pattern: string, finding: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\*/g, '[0-9a-f]+')}$`);
  return re.test(finding);
}

/** Paths of the stacks nested in `stack`'s construct tree (e.g. a pipeline's stages), as `/a/b`. */
function otherStackPaths(stack: Stack): string[] {
  return stack.node.findAll().filter((c) => Stack.isStack(c) && c !== stack).map((c) => `/${c.node.path}`);
}

let example: ExampleApp;
let system: StackReview;
let pipeline: StackReview;

beforeAll(() => {
  const app = createTestApp({
    context: {
      pipeline: 'true',
      connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/00000000-0000-0000-0000-000000000000',
      repo: 'example/cdk-serverless-data-pipeline',
    },
  });
  example = buildExampleApp(app);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true, logIgnores: true }));
  Aspects.of(app).add(new HIPAASecurityChecks({ verbose: true, logIgnores: true }));
  system = review(example.dataPipeline);
  pipeline = review(example.pipeline!);
});

afterAll(removeTestAppDirs);

describe('the system stack', () => {
  test('has no unacknowledged error', () => {
    expect(system.errors).toEqual([]);
  });

  test('has exactly the listed warnings', () => {
    const patterns = Object.keys(EXPECTED_WARNINGS);
    expect(system.warnings.filter((w) => !patterns.some((p) => matches(p, w)))).toEqual([]);
    expect(patterns.filter((p) => !system.warnings.some((w) => matches(p, w)))).toEqual([]);
  });
});

describe('the CI/CD pipeline stack', () => {
  test('has no unacknowledged error and no warning', () => {
    expect(pipeline.errors).toEqual([]);
    expect(pipeline.warnings).toEqual([]);
  });
});

describe('acknowledgements', () => {
  test('each one is still needed', () => {
    for (const r of [system, pipeline]) {
      // Resources of this stack only (a pipeline stack also holds its stage's stacks).
      const own = unusedNagAcknowledgements(r.stack, { errors: [], warnings: [], acknowledged: r.acknowledged })
        .filter((u) => !otherStackPaths(r.stack).some((p) => u.startsWith(`${p}/`)));
      expect(own).toEqual([]);
    }
  });

  test('each one names one rule, on one resource, with a reason', () => {
    for (const r of [system, pipeline]) {
      for (const construct of r.stack.node.findAll()) {
        if (!CfnResource.isCfnResource(construct) || Stack.of(construct) !== r.stack) continue;
        const rules: Array<{ id: string; reason: string }> = construct.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
        for (const rule of rules) {
          expect(rule.id).toMatch(/^(AwsSolutions-[A-Z]+\d+|HIPAA\.Security-\w+|CdkNagValidationFailure)$/);
          expect(rule.reason.trim().length).toBeGreaterThanOrEqual(20);
        }
      }
    }
  });
});
