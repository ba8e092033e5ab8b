/**
 * Security review (examples/security-review.ts): cdk-nag's AwsSolutions and HIPAA Security packs
 * under cdk-nag 3 on the whole example app (system, CI/CD pipeline and the pipeline stage's stack)
 * and on each construct alone with its defaults, and under cdk-nag 2 on the example's stacks. No
 * finding may go unacknowledged; every acknowledgement must be narrow (one rule or finding on one
 * construct, with a reason) and still needed; docs/security-review.md must match.
 *
 * The apps are built and checked once; the tests read the shared results.
 */
import * as fs from 'fs';
import { Stack, Validations } from 'aws-cdk-lib';
import { renderSecurityReview, SECURITY_REVIEW_DOC, securityReview, SecurityReview } from '../examples/security-review';
import { createTestApp, removeTestAppDirs } from './construct-support/app';
import { isFloorRun } from './construct-support/floor';
import { formatNagFindings } from './construct-support/nag';

let review: SecurityReview;

beforeAll(() => {
  review = securityReview((context) => createTestApp({ context }));
}, 600_000);

afterAll(removeTestAppDirs);

describe('cdk-nag 3', () => {
  test('the example app: every stack, the pipeline stage\'s too, validated by both packs', () => {
    const stacks = review.example.app.node.findAll().filter((c) => Stack.isStack(c));
    expect(stacks.length).toBe(3);
    for (const pack of review.example.packs) {
      expect(pack.templates).toBe(stacks.length);
      expect(pack.resources).toBeGreaterThan(300);
    }
    expect(review.example.packs.map((p) => p.pack)).toEqual(['AwsSolutions', 'HIPAA.Security']);
  });

  test('the example app: no unacknowledged finding, every acknowledgement used', () => {
    expect(formatNagFindings(review.example.findings)).toBe('');
    expect(review.example.unused).toEqual([]);
  });

  test.each(['CanonicalStore', 'IngestionPipeline', 'AnalyticsApi', 'AsyncJobWorkflow', 'AiAnalyzer', 'ReportNotifier', 'PipelineMonitoring'])(
    '%s alone, with defaults: no unacknowledged finding, every acknowledgement used', (name) => {
      const r = review.constructsAlone.find((x) => x.name.startsWith(`${name} alone`))!;
      expect(r.packs.every((p) => p.templates === 1 && p.resources > 0)).toBe(true);
      expect(formatNagFindings(r.findings)).toBe('');
      expect(r.unused).toEqual([]);
    });

  test('each acknowledgement names one rule or finding of the packs, with a reason', () => {
    for (const construct of review.example.app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [key, reason] of Object.entries<string>(entry.data)) {
          const id = key.replace(/^annotation::/i, '');
          if (/^[\w.-]+::/.test(id)) continue; // another plugin's rule (e.g. CDK's CloudFormation-Validate)
          expect(id).toMatch(/^(AwsSolutions-[A-Z]+\d+|HIPAA\.Security-\w+)(\[.+\])?$/);
          expect(reason.trim().length).toBeGreaterThanOrEqual(20);
        }
      }
    }
  });
});

describe('cdk-nag 2', () => {
  test('the example\'s system and pipeline stacks: no unacknowledged finding, every library acknowledgement used', () => {
    expect(review.exampleV2.map((r) => r.stack.stackName)).toEqual(['ServerlessDataPipelineExample', 'ServerlessDataPipelineCicd']);
    for (const r of review.exampleV2) {
      expect(formatNagFindings(r.findings)).toBe('');
      expect(r.unused).toEqual([]);
    }
  });
});

test('runs on the aws-cdk-lib of its jest project (`floor`: the peer floor, mapped onto aws-cdk-lib)', () => {
  const version = (JSON.parse(fs.readFileSync(require.resolve('aws-cdk-lib/package.json'), 'utf8')) as { version: string }).version;
  const floor = (JSON.parse(fs.readFileSync(require.resolve('aws-cdk-lib-floor/package.json'), 'utf8')) as { version: string }).version;
  if (isFloorRun()) expect(version).toBe(floor);
  else expect(version).not.toBe(floor);
});

// The report names generated ids of the current aws-cdk-lib: not compared on the floor version.
(isFloorRun() ? test.skip : test)('docs/security-review.md is the review of the current app (npm run security:review rewrites it)', () => {
  expect(fs.readFileSync(SECURITY_REVIEW_DOC, 'utf8')).toBe(renderSecurityReview(review));
});
