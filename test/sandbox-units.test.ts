/**
 * Units of the sandbox: EventBridge pattern matching, the template environment made local,
 * generated secrets, the Bedrock stand-in's answer, gateway-response VTL string calls, the
 * Step Functions `$$.State` context.
 */
import { localizeEnvironment, matchesPattern, standInAnalysis, STAND_IN_LABEL } from '../sandbox/src';
import { applyStringCalls, escapeJavaScript } from '../sandbox/src/api-gateway';
import { applyTargetInput } from '../sandbox/src/eventbridge';
import { generatePassword, generateSecretString } from '../sandbox/src/secrets';
import { liveStateContext } from '../sandbox/src/step-functions';

const event = {
  'version': '0',
  'id': '1',
  'detail-type': 'Ingestion Succeeded',
  'source': 'cdk-serverless-data-pipeline.ingestion',
  'account': '0',
  'time': 't',
  'region': 'us-east-1',
  'resources': ['arn:aws:s3:::raw'],
  'detail': { sourceName: 'health-readings', counts: { received: 10, rejected: 0 }, tags: ['a', 'b'], ip: '10.0.1.7', key: 'health/raw/x.csv' },
};

describe('EventBridge event patterns', () => {
  test.each([
    [{ 'source': ['cdk-serverless-data-pipeline.ingestion'], 'detail-type': ['Ingestion Succeeded'] }, true],
    [{ source: ['other'] }, false],
    [{ detail: { sourceName: ['health-readings', 'crm'] } }, true],
    [{ detail: { counts: { received: [{ numeric: ['>', 5, '<=', 10] }] } } }, true],
    [{ detail: { counts: { received: [{ numeric: ['>', 10] }] } } }, false],
    [{ detail: { key: [{ prefix: 'health/' }] } }, true],
    [{ detail: { key: [{ suffix: '.json' }] } }, false],
    [{ detail: { sourceName: [{ 'anything-but': ['crm'] }] } }, true],
    [{ detail: { sourceName: [{ 'anything-but': { prefix: 'health' } }] } }, false],
    [{ detail: { missing: [{ exists: false }] } }, true],
    [{ detail: { missing: [{ exists: true }] } }, false],
    [{ detail: { tags: ['b'] } }, true],
    [{ detail: { sourceName: [{ 'equals-ignore-case': 'HEALTH-READINGS' }] } }, true],
    [{ detail: { key: [{ wildcard: 'health/*/x.csv' }] } }, true],
    [{ detail: { ip: [{ cidr: '10.0.0.0/16' }] } }, true],
    [{ detail: { ip: [{ cidr: '10.1.0.0/16' }] } }, false],
    [{ $or: [{ source: ['x'] }, { detail: { sourceName: ['health-readings'] } }] }, true],
    [{ detail: { counts: ['10'] } }, false],
  ])('%j → %s', (pattern, expected) => {
    expect(matchesPattern(pattern, event)).toBe(expected);
  });

  test('target input: Input, InputPath, InputTransformer', () => {
    expect(applyTargetInput({ Id: 't', Arn: 'a', Input: '{"x":1}' }, event as any)).toEqual({ x: 1 });
    expect(applyTargetInput({ Id: 't', Arn: 'a', InputPath: '$.detail.counts' }, event as any)).toEqual({ received: 10, rejected: 0 });
    expect(applyTargetInput({
      Id: 't',
      Arn: 'a',
      InputTransformer: { InputPathsMap: { s: '$.detail.sourceName', c: '$.detail.counts' }, InputTemplate: '{"source": <s>, "counts": <c>, "text": "from <s>"}' },
    }, event as any)).toEqual({ source: 'health-readings', counts: { received: 10, rejected: 0 }, text: 'from health-readings' });
  });
});

describe('local environment', () => {
  test('DB_TLS follows the local server; a literal database port follows the local port', () => {
    const env = localizeEnvironment({ DB_HOST: '127.0.0.1', DB_PORT: '5432', DB_TLS: 'verify-full', OTHER_PORT: '8080', N: 3 },
      { dbHost: '127.0.0.1', dbPort: 41234, dbTls: 'require', declaredDbPorts: new Set(['5432']) });
    expect(env).toEqual({ DB_HOST: '127.0.0.1', DB_PORT: '41234', DB_TLS: 'require', OTHER_PORT: '8080', N: '3' });
  });

  test('generated secrets follow GenerateSecretString', () => {
    const value = JSON.parse(generateSecretString({ SecretStringTemplate: '{"username":"u"}', GenerateStringKey: 'password', PasswordLength: 30, ExcludeCharacters: '/@" ' }));
    expect(value.username).toBe('u');
    expect(value.password).toHaveLength(30);
    expect(value.password).not.toMatch(/[/@" ]/);
    expect(generatePassword({ ExcludePunctuation: true, PasswordLength: 50 })).toMatch(/^[A-Za-z0-9]{50}$/);
  });
});

describe('Bedrock stand-in', () => {
  test('answers from the statistics in the prompt, labelled, in the analyzer\'s schema', () => {
    const prompt = 'Analyze\n<DATA>\n' + JSON.stringify({
      batch: { source: 'health-readings', recordsAnalyzed: 50, recordsWithAnomalies: 5, flaggedValues: 6 },
      flagsByField: [{ field: 'heart_rate', label: 'Heart rate', counts: { above_max: 4, z_score: 1 } }, { field: 'spo2', counts: { below_min: 1 } }],
    }) + '\n</DATA>';
    const a = standInAnalysis(prompt);
    expect(a.riskLevel).toBe('medium');
    expect(a.insights[0]).toContain('5 of 50 records (10.0%)');
    expect(a.insights[1]).toContain('Heart rate: 4 above max, 1 z score');
    expect([...a.insights, ...a.recommendations, a.executiveSummary].every((t) => t.startsWith(STAND_IN_LABEL))).toBe(true);
    expect(standInAnalysis('no data').riskLevel).toBe('low');
  });
});

describe('gateway response templates', () => {
  test('escapeJavaScript escapes quotes as API Gateway does, and the documented replaceAll turns \\\' back into \'', () => {
    const raw = 'Invalid JSON: Unexpected token \'}\' in "body"';
    const escaped = escapeJavaScript(raw);
    expect(escaped).toBe('Invalid JSON: Unexpected token \\\'}\\\' in \\"body\\"');
    // The template text as it appears in the synthesized gateway response: replaceAll("\\'", "'")
    const fixed = applyStringCalls(escaped, '.replaceAll("\\\\\'", "\'")');
    expect(JSON.parse(`{"v":"${fixed}"}`).v).toBe(raw);
  });

  test('replace takes a literal, replaceAll a regular expression, chained in order', () => {
    expect(applyStringCalls('a.b.c', '.replace(".", "-")')).toBe('a-b-c');
    expect(applyStringCalls('a.b.c', '.replaceAll(".", "-")')).toBe('-----');
    expect(applyStringCalls('abc', '.replace("a", "x").replaceAll("[bc]", "y")')).toBe('xyy');
    expect(applyStringCalls('abc', '')).toBe('abc');
  });
});

describe('Step Functions context object', () => {
  test('$$.State.EnteredTime is the time the state reads it', async () => {
    const state = liveStateContext() as { EnteredTime: string; RetryCount: number };
    const first = state.EnteredTime;
    await new Promise((r) => setTimeout(r, 5));
    expect(Date.parse(state.EnteredTime)).toBeGreaterThan(Date.parse(first));
    expect(Math.abs(Date.parse(first) - Date.now())).toBeLessThan(1000);
    expect(state.RetryCount).toBe(0);
  });
});
