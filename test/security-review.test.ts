/**
 * Security review of the whole example app: cdk-nag's AwsSolutions and HIPAA Security packs on
 * every stack (the system, and the CI/CD pipeline). No error may go unacknowledged; every
 * acknowledgement must be narrow (one rule on one resource, with a reason) and still needed; the
 * warnings are listed in examples/security-review.ts, so that a new one fails the test until a
 * person has looked at it; docs/security-review.md must match the app.
 *
 * The app is built and checked once; the tests read the shared results.
 */
import * as fs from 'fs';
import { CfnResource, Stack } from 'aws-cdk-lib';
import {
  EXPECTED_WARNINGS, matchesWarning, renderSecurityReview, REVIEW_CONTEXT, reviewExampleApp, SECURITY_REVIEW_DOC, StackReview,
} from '../examples/security-review';
import { createTestApp, removeTestAppDirs } from './construct-support/app';
import { unusedNagAcknowledgements } from './construct-support/nag';

/** Paths of the stacks nested in `stack`'s construct tree (e.g. a pipeline's stages), as `/a/b`. */
function otherStackPaths(stack: Stack): string[] {
  return stack.node.findAll().filter((c) => Stack.isStack(c) && c !== stack).map((c) => `/${c.node.path}`);
}

let system: StackReview;
let pipeline: StackReview;

beforeAll(() => {
  ({ system, pipeline } = reviewExampleApp(createTestApp({ context: REVIEW_CONTEXT })));
});

afterAll(removeTestAppDirs);

describe('the system stack', () => {
  test('has no unacknowledged error', () => {
    expect(system.errors).toEqual([]);
  });

  test('has exactly the listed warnings', () => {
    const patterns = Object.keys(EXPECTED_WARNINGS);
    expect(system.warnings.filter((w) => !patterns.some((p) => matchesWarning(p, w)))).toEqual([]);
    expect(patterns.filter((p) => !system.warnings.some((w) => matchesWarning(p, w)))).toEqual([]);
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

test('docs/security-review.md is the review of the current app (npm run security:review rewrites it)', () => {
  expect(fs.readFileSync(SECURITY_REVIEW_DOC, 'utf8')).toBe(renderSecurityReview([system, pipeline]));
});
