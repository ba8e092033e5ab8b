/**
 * No warning at synth: with deprecated APIs made fatal (`JSII_DEPRECATED=fail`, which aws-cdk-lib
 * reads each time a deprecated API is called), the example app (the system stack, the CI/CD
 * pipeline stack and the stack of its stage) synthesizes with no warning annotation in any stack
 * of the cloud assembly and nothing written to console.warn.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { createTestApp, removeTestAppDirs } from './construct-support/app';
import { buildExampleApp } from '../examples/example-app';
import { REVIEW_CONTEXT } from '../examples/security-review';

const previous = process.env.JSII_DEPRECATED;

beforeAll(() => {
  process.env.JSII_DEPRECATED = 'fail';
});

afterAll(() => {
  if (previous === undefined) delete process.env.JSII_DEPRECATED;
  else process.env.JSII_DEPRECATED = previous;
  removeTestAppDirs();
});

test('deprecated APIs are fatal in this test (a deprecated prop throws)', () => {
  const stack = new Stack(new App(), 'Deprecated');
  expect(() => new dynamodb.Table(stack, 'Table', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    pointInTimeRecovery: true,
  })).toThrow(/pointInTimeRecovery is deprecated/);
});

test('the example app, every stack and the pipeline stage\'s, synthesizes with no warning', () => {
  const warn = jest.spyOn(console, 'warn');
  try {
    const app = createTestApp({ context: REVIEW_CONTEXT });
    buildExampleApp(app);
    const assembly = new CloudAssembly(app.synth().directory);
    const stacks = assembly.stacksRecursively;
    expect(stacks.map((s) => s.displayName)).toEqual(expect.arrayContaining([
      'ServerlessDataPipelineExample', 'ServerlessDataPipelineCicd', expect.stringMatching(/^ServerlessDataPipelineCicd\/Deploy\/DataPipeline/),
    ]));
    const warnings = stacks.flatMap((s) => s.messages.filter((m) => m.level === 'warning').map((m) => `${m.id}: ${m.entry.data}`));
    expect(warnings).toEqual([]);
    expect(warn.mock.calls).toEqual([]);
  } finally {
    warn.mockRestore();
  }
});
