/**
 * The template lint (npm run lint:templates) as part of the test command: the pinned cfn-lint and
 * the runtime gate on every checked app (examples/checked-apps.ts: the example with its pipeline
 * stage, each construct alone, store and API in two stacks, Aurora Serverless v2 with the proxy).
 * No cfn-lint error, no finding on a Runtime, no warning outside docs/template-lint-allowlist.json
 * (and no entry there that nothing needs), no function on a runtime AWS blocks within six months.
 *
 * Needs the pinned cfn-lint: `npx projen cfn-lint:install` (the test fails saying so otherwise).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHECKED_APPS } from '../examples/checked-apps';
import { lintTemplates, renderReport, TemplateLintReport } from '../examples/lint-templates';

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'template-lint-'));
let report: TemplateLintReport;

beforeAll(() => {
  report = lintTemplates(outdir);
  // The report in the test output: templates, runtimes, accepted findings and why.
  console.log(renderReport(report));
}, 600_000);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

test('every checked app is linted, the pipeline stage\'s stack included', () => {
  expect([...new Set(report.templates.map((t) => t.app))]).toEqual(CHECKED_APPS.map((a) => a.name));
  expect(report.templates.map((t) => t.stack)).toEqual(expect.arrayContaining([
    'ServerlessDataPipelineExample', 'ServerlessDataPipelineCicd', expect.stringMatching(/^ServerlessDataPipelineCicd\/Deploy\/DataPipeline/),
    'StoreStack', 'ApiStack', 'AuroraStore',
  ]));
});

test('no function runs on a runtime AWS blocks for new functions within six months', () => {
  expect(report.runtimes.length).toBeGreaterThan(0);
  expect(report.failures.filter((f) => f.startsWith('runtime gate'))).toEqual([]);
});

test('cfn-lint: no error, no finding on a Runtime, only the listed warnings, no stale entry', () => {
  expect(report.counts.errors).toBe(0);
  expect(report.failures).toEqual([]);
});
