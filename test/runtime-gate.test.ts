/**
 * The runtime gate's logic (examples/runtime-gate.ts) on AWS's published lifecycle as the pinned
 * cfn-lint ships it, with templates that show what it must catch: a runtime behind a per-region
 * mapping, a condition, a runtime blocked within six months, one the data does not know. The gate
 * itself runs on every checked app in test/template-lint.test.ts.
 */
import { lambdaRuntimeLifecycle, pinnedCfnLintVersion, RuntimeLifecycle } from '../examples/cfn-lint';
import { addMonths, functionRuntimes, possibleValues, runtimeProblems } from '../examples/runtime-gate';

let lifecycle: { [runtime: string]: RuntimeLifecycle };

beforeAll(() => {
  lifecycle = lambdaRuntimeLifecycle();
});

function fn(runtime: unknown, extra: object = {}) {
  return { Type: 'AWS::Lambda::Function', Properties: { Runtime: runtime, Handler: 'index.handler', ...extra } };
}

/** CDK's shape of a per-region runtime: Fn::FindInMap on the region. */
const REGION_MAP = {
  Mappings: {
    LatestNodeRuntimeMap: {
      'eu-west-1': { value: 'nodejs24.x' },
      'us-east-1': { value: 'nodejs24.x' },
      'cn-north-1': { value: 'nodejs20.x' },
    },
  },
};
const BY_REGION = { 'Fn::FindInMap': ['LatestNodeRuntimeMap', { Ref: 'AWS::Region' }, 'value'] };

describe('the lifecycle data', () => {
  test('comes from the pinned cfn-lint and knows the Node.js and Python runtimes', () => {
    expect(pinnedCfnLintVersion()).toMatch(/^\d+\.\d+\.\d+$/);
    for (const runtime of ['nodejs20.x', 'nodejs22.x', 'nodejs24.x', 'python3.11', 'python3.13']) {
      expect(lifecycle[runtime]?.['create-block']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });
});

describe('resolving a runtime', () => {
  test('a Fn::FindInMap on the region gives the values of every region', () => {
    expect(possibleValues(REGION_MAP, BY_REGION, 'Fn').sort()).toEqual(['nodejs20.x', 'nodejs24.x']);
  });

  test('a Fn::FindInMap with literal keys gives that one value', () => {
    expect(possibleValues(REGION_MAP, { 'Fn::FindInMap': ['LatestNodeRuntimeMap', 'cn-north-1', 'value'] }, 'Fn')).toEqual(['nodejs20.x']);
  });

  test('a Fn::If gives both branches', () => {
    expect(possibleValues(REGION_MAP, { 'Fn::If': ['IsChina', BY_REGION, 'python3.13'] }, 'Fn').sort()).toEqual(['nodejs20.x', 'nodejs24.x', 'python3.13']);
  });

  test('anything else cannot be resolved, and says so', () => {
    expect(() => possibleValues({}, { Ref: 'RuntimeParameter' }, 'Fn.Runtime')).toThrow(/Fn.Runtime: cannot resolve \{"Ref":"RuntimeParameter"\}/);
    expect(() => possibleValues({}, BY_REGION, 'Fn.Runtime')).toThrow(/mapping the template does not have: LatestNodeRuntimeMap/);
  });

  test('image functions have no runtime; a zip function without one is an error', () => {
    const template = { Resources: { Image: { Type: 'AWS::Lambda::Function', Properties: { PackageType: 'Image' } }, Zip: fn('nodejs24.x') } };
    expect(functionRuntimes(template)).toEqual([{ logicalId: 'Zip', runtimes: ['nodejs24.x'] }]);
    expect(() => functionRuntimes({ Resources: { Zip: { Type: 'AWS::Lambda::Function', Properties: {} } } })).toThrow(/Zip: a zip-packaged function without a Runtime/);
  });
});

describe('the gate', () => {
  const today = new Date();

  test('fails a runtime that one region of a mapping blocks within six months, naming the function and the date', () => {
    const template = { ...REGION_MAP, Resources: { Provider: fn(BY_REGION) } };
    const asOf = new Date(`${lifecycle['nodejs20.x']['create-block']}T00:00:00Z`);
    asOf.setUTCMonth(asOf.getUTCMonth() - 1);
    expect(runtimeProblems(template, lifecycle, asOf)).toEqual([{
      logicalId: 'Provider',
      runtime: 'nodejs20.x',
      problem: expect.stringMatching(new RegExp(`^AWS blocks creating functions on nodejs20\\.x from ${lifecycle['nodejs20.x']['create-block']}, within 6 months`)),
    }]);
  });

  test('fails a runtime that becomes blocked within six months, not one blocked later', () => {
    const blockDate = new Date(`${lifecycle['nodejs24.x']['create-block']}T00:00:00Z`);
    const template = { Resources: { Fn: fn('nodejs24.x') } };
    const sevenMonthsBefore = new Date(`${addMonths(blockDate, -7)}T00:00:00Z`);
    const fiveMonthsBefore = new Date(`${addMonths(blockDate, -5)}T00:00:00Z`);
    expect(runtimeProblems(template, lifecycle, sevenMonthsBefore)).toEqual([]);
    expect(runtimeProblems(template, lifecycle, fiveMonthsBefore).map((p) => p.runtime)).toEqual(['nodejs24.x']);
  });

  test('fails a runtime the data does not know', () => {
    expect(runtimeProblems({ Resources: { Fn: fn('nodejs99.x') } }, lifecycle, today)).toEqual([{
      logicalId: 'Fn', runtime: 'nodejs99.x', problem: expect.stringMatching(/not in cfn-lint's runtime lifecycle data/),
    }]);
  });

  test('fails nodejs20.x (CDK 2.176\'s provider and log-retention functions), today', () => {
    const template = { Resources: { Provider: fn('nodejs20.x') } };
    expect(runtimeProblems(template, lifecycle, today).map((p) => p.runtime)).toEqual(['nodejs20.x']);
  });
});
