/**
 * The functions' runtime: Node.js 24 by default, the major the tests and the sandbox run the
 * handlers on (.node-version, which tools/use-node.sh installs); `lambdaTuning.runtime` pins another
 * Node.js runtime the bundles support (22 and later), and anything else is refused at synth.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AiAnalyzer, LambdaTuning } from '../src';
import { createTestStack, removeTestAppDirs } from './construct-support/app';
import { DEFAULT_RUNTIME } from '../src/common/lambda-tuning';
import { MIN_NODE_MAJOR } from '../src/common/node-runtime';

afterAll(removeTestAppDirs);

function analyzer(lambdaTuning?: LambdaTuning): Stack {
  const stack = createTestStack();
  new AiAnalyzer(stack, 'Analyzer', {
    eventBus: new events.EventBus(stack, 'Bus'),
    dataBucket: new s3.Bucket(stack, 'Data'),
    lambdaTuning,
  });
  return stack;
}

function runtimeOf(stack: Stack): string {
  const functions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  return functions[0].Properties.Runtime;
}

test('the default runtime is Node.js of .node-version\'s major (what the tests run the handlers on)', () => {
  const nodeVersion = fs.readFileSync(path.join(__dirname, '..', '.node-version'), 'utf8').trim();
  expect(DEFAULT_RUNTIME.name).toBe(`nodejs${nodeVersion.split('.')[0]}.x`);
  expect(runtimeOf(analyzer())).toBe(DEFAULT_RUNTIME.name);
});

test.each([lambda.Runtime.NODEJS_22_X, lambda.Runtime.NODEJS_24_X])('lambdaTuning.runtime %s is used', (runtime) => {
  expect(runtimeOf(analyzer({ runtime }))).toBe(runtime.name);
});

test.each([lambda.Runtime.NODEJS_20_X, lambda.Runtime.NODEJS_18_X, lambda.Runtime.PYTHON_3_13])(
  'lambdaTuning.runtime %s is refused at synth, naming the prop', (runtime) => {
    expect(() => analyzer({ runtime })).toThrow(new RegExp(
      `^lambdaTuning\\.runtime must be a Node\\.js runtime, nodejs${MIN_NODE_MAJOR}\\.x or later .*got ${runtime.name.replace(/\./g, '\\.')}$`,
    ));
  });
