/**
 * Malformed and hostile requests through real API Gateway events: bad JSON, unknown operations,
 * wrong types, injection attempts in every parameter, huge and deeply nested bodies. None may
 * answer 500, none may leak an SQL error as a 500, and every one answers in the error shape.
 */
import type { EventInit } from './fixtures/analytics/harness';
import { Harness, startHarness } from './fixtures/analytics/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

const post = (body: unknown, extra: Partial<EventInit> = {}): EventInit => ({ method: 'POST', path: '/analytics', body: body as string | object, ...extra });
const op = (operation: unknown, parameters?: unknown) => post({ operation, parameters });
const get = (query: Record<string, string | string[]>): EventInit => ({ path: '/analytics', query });
const INJECTION = "x'; DROP TABLE canonical.entities; --";
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** [name, request, expected status, expected error code (optional)] */
const CASES: Array<[string, EventInit, number, string?]> = [
  // malformed bodies
  ['truncated JSON', post('{"operation": "simple_demo"'), 400, 'INVALID_JSON'],
  ['trailing comma', post('{"operation": "simple_demo",}'), 400, 'INVALID_JSON'],
  ['single quotes', post("{'operation': 'simple_demo'}"), 400, 'INVALID_JSON'],
  ['not JSON at all', post('operation=simple_demo'), 400, 'INVALID_JSON'],
  ['empty body', post(''), 400, 'BAD_REQUEST'],
  ['whitespace body', post('   \n '), 400, 'BAD_REQUEST'],
  ['JSON null', post('null'), 400, 'VALIDATION_FAILED'],
  ['JSON array', post('[{"operation":"simple_demo"}]'), 400, 'VALIDATION_FAILED'],
  ['JSON string', post('"simple_demo"'), 400, 'VALIDATION_FAILED'],
  ['JSON number', post('42'), 400, 'VALIDATION_FAILED'],
  ['invalid base64 body', post('%%%not base64%%%', { base64: true }), 400, 'INVALID_JSON'],
  ['Latin-1 bytes', { method: 'POST', path: '/analytics', body: Buffer.from([0x7b, 0xe9, 0xff, 0x7d]).toString('base64'), base64: false }, 400, 'INVALID_JSON'],
  ['deeply nested JSON', post(`{"operation":"simple_demo","parameters":{"x":${nested(20_000)}}}`), 400],
  ['deeply nested parameters within the size limit', post(`{"operation":"custom_complex_query","parameters":{"sql":"select 1","x":${nested(100)}}}`), 400, 'VALIDATION_FAILED'],
  ['huge body', post({ operation: 'simple_demo', parameters: { pad: 'x'.repeat(200_000) } }), 413, 'PAYLOAD_TOO_LARGE'],
  ['unknown top-level field', post({ operation: 'simple_demo', parameters: {}, sql: 'DROP TABLE x' }), 400, 'VALIDATION_FAILED'],
  ['__proto__ at the top level', post('{"operation":"simple_demo","__proto__":{"polluted":true}}'), 400, 'VALIDATION_FAILED'],

  // operation name
  ['missing operation', post({ parameters: {} }), 400, 'VALIDATION_FAILED'],
  ['unknown operation', op('drop_everything'), 400, 'UNKNOWN_OPERATION'],
  ['operation as a number', op(123), 400, 'VALIDATION_FAILED'],
  ['operation as an object', op({ name: 'simple_demo' }), 400, 'VALIDATION_FAILED'],
  ['operation null', op(null), 400, 'VALIDATION_FAILED'],
  ['operation __proto__', op('__proto__'), 400, 'UNKNOWN_OPERATION'],
  ['operation constructor', op('constructor'), 400, 'UNKNOWN_OPERATION'],
  ['operation with SQL', op(INJECTION), 400, 'UNKNOWN_OPERATION'],
  ['operation very long', op('a'.repeat(10_000)), 400, 'UNKNOWN_OPERATION'],

  // parameters container
  ['parameters as a string', op('simple_demo', 'limit=5'), 400, 'VALIDATION_FAILED'],
  ['parameters as an array', op('simple_demo', [1, 2]), 400, 'VALIDATION_FAILED'],
  ['unknown parameter', op('simple_demo', { limitt: 5 }), 400, 'VALIDATION_FAILED'],
  ['__proto__ parameter', post('{"operation":"simple_demo","parameters":{"__proto__":{"limit":1}}}'), 400, 'VALIDATION_FAILED'],
  ['cache flag not boolean', post({ operation: 'simple_demo', cache: 'maybe' }), 400, 'VALIDATION_FAILED'],

  // wrong types and ranges
  ['limit as a string (POST is strict)', op('simple_demo', { limit: '5' }), 400, 'VALIDATION_FAILED'],
  ['limit fractional', op('simple_demo', { limit: 1.5 }), 400, 'VALIDATION_FAILED'],
  ['limit negative', op('simple_demo', { limit: -1 }), 400, 'VALIDATION_FAILED'],
  ['limit huge', op('simple_demo', { limit: 1e308 }), 400, 'VALIDATION_FAILED'],
  ['limit overflowing to Infinity', post('{"operation":"simple_demo","parameters":{"limit":1e999}}'), 400, 'VALIDATION_FAILED'],
  ['min_group_size zero', op('customer_analysis', { min_group_size: 0 }), 400, 'VALIDATION_FAILED'],
  ['similarity out of range', op('data_integrity_analysis', { similarity_threshold: 5 }), 400, 'VALIDATION_FAILED'],
  ['exclude_statuses numbers', op('revenue_analysis', { exclude_statuses: [1, 2] }), 400, 'VALIDATION_FAILED'],
  ['exclude_statuses too many', op('revenue_analysis', { exclude_statuses: Array.from({ length: 50 }, (_, i) => `s${i}`) }), 400, 'VALIDATION_FAILED'],
  ['dimensions empty', op('multi_dimensional_analytics', { dimensions: [] }), 400, 'VALIDATION_FAILED'],
  ['dimensions repeated', op('multi_dimensional_analytics', { dimensions: ['segment', 'segment'] }), 400, 'VALIDATION_FAILED'],
  ['dimensions as a string', op('multi_dimensional_analytics', { dimensions: 'segment' }), 400, 'VALIDATION_FAILED'],
  ['as_of impossible date', op('multi_dimensional_analytics', { as_of: '2024-13-45' }), 400, 'VALIDATION_FAILED'],
  ['timeframe too long', op('multi_dimensional_analytics', { timeframe: '100 years' }), 400, 'VALIDATION_FAILED'],
  ['sql as a number', op('custom_complex_query', { sql: 42 }), 400, 'VALIDATION_FAILED'],
  ['sql missing', op('custom_complex_query', {}), 400, 'VALIDATION_FAILED'],
  ['sql empty', op('custom_complex_query', { sql: '' }), 400, 'VALIDATION_FAILED'],
  ['sql too long', op('custom_complex_query', { sql: `SELECT ${'1,'.repeat(15_000)}1` }), 400, 'VALIDATION_FAILED'],
  ['sql with a NUL character', op('custom_complex_query', { sql: 'SELECT 1\u0000; DROP TABLE x' }), 400],
  ['relationship root_source_system without root_id', op('relationship_analysis', { root_source_system: 'crm' }), 400, 'VALIDATION_FAILED'],

  // injection attempts in every parameter: enums refuse them, free text is bound as a value
  ['injection in metric', op('customer_analysis', { metric: INJECTION }), 400, 'VALIDATION_FAILED'],
  ['injection in group_by', op('customer_analysis', { group_by: 'industry) UNION SELECT usename FROM pg_user --' }), 400, 'VALIDATION_FAILED'],
  ['injection in exclude_statuses (bound, harmless)', op('customer_analysis', { exclude_statuses: [INJECTION] }), 200],
  ['injection in period', op('revenue_analysis', { period: "month', now()) --" }), 400, 'VALIDATION_FAILED'],
  ['injection in segment_by', op('revenue_analysis', { segment_by: INJECTION }), 400, 'VALIDATION_FAILED'],
  ['injection in from', op('revenue_analysis', { from: "2024-01-01' OR '1'='1" }), 400, 'VALIDATION_FAILED'],
  ['injection in currency (bound, harmless)', op('revenue_analysis', { currency: "' OR 1=1--" }), 200],
  ['injection in timeframe', op('multi_dimensional_analytics', { timeframe: "3 months'::interval; SELECT pg_sleep(10); --" }), 400, 'VALIDATION_FAILED'],
  ['injection in dimensions', op('multi_dimensional_analytics', { dimensions: ['segment", (SELECT 1) AS "x'] }), 400, 'VALIDATION_FAILED'],
  ['injection in grouping', op('multi_dimensional_analytics', { grouping: 'cube (d0); DROP TABLE x; --' }), 400, 'VALIDATION_FAILED'],
  ['injection in entity_type', op('relationship_analysis', { entity_type: INJECTION }), 400, 'VALIDATION_FAILED'],
  ['injection in root_id (bound: no such entity)', op('relationship_analysis', { root_id: "C1' OR '1'='1" }), 404, 'NOT_FOUND'],
  ['injection in duplicate_entity_type', op('data_integrity_analysis', { duplicate_entity_type: INJECTION }), 400, 'VALIDATION_FAILED'],
  ['injection in entity_types', op('data_integrity_analysis', { entity_types: [INJECTION] }), 400, 'VALIDATION_FAILED'],
  ['injection in simple_demo entity_type (bound, harmless)', op('simple_demo', { entity_type: INJECTION }), 200],
  ['stacked query in custom SQL', op('custom_complex_query', { sql: 'SELECT 1; DROP TABLE canonical.entities' }), 400, 'QUERY_REFUSED'],
  ['bind placeholder in custom SQL', op('custom_complex_query', { sql: 'SELECT $1' }), 400, 'QUERY_REFUSED'],

  // query strings
  ['GET without operation', get({ metric: 'revenue' }), 400, 'VALIDATION_FAILED'],
  ['GET operation twice', get({ operation: ['simple_demo', 'database_info'] }), 400, 'VALIDATION_FAILED'],
  ['GET cache=maybe', get({ operation: 'simple_demo', cache: 'maybe' }), 400, 'VALIDATION_FAILED'],
  ['GET limit=abc', get({ operation: 'simple_demo', limit: 'abc' }), 400, 'VALIDATION_FAILED'],
  ['GET injection as a parameter name', get({ 'operation': 'simple_demo', "limit'; DROP TABLE x; --": '1' }), 400, 'VALIDATION_FAILED'],
  ['GET injection in limit', get({ operation: 'simple_demo', limit: '5; DROP TABLE canonical.entities' }), 400, 'VALIDATION_FAILED'],
  ['GET huge value', get({ operation: 'customer_analysis', metric: 'x'.repeat(50_000) }), 400, 'VALIDATION_FAILED'],

  // other routes
  ['download with path traversal', { path: '/download/..%2F..%2Fetc%2Fpasswd' }, 404, 'NOT_FOUND'],
  ['download with a huge key', { path: `/download/${'k'.repeat(5000)}` }, 404, 'NOT_FOUND'],
  ['unknown path', { path: '/analytics/../../admin' }, 404, 'NOT_FOUND'],
  ['wrong method on health', { method: 'POST', path: '/health', body: '{}' }, 405, 'METHOD_NOT_ALLOWED'],
];

test(`at least 50 hostile requests are covered (${CASES.length})`, () => {
  expect(CASES.length).toBeGreaterThanOrEqual(50);
});

test.each(CASES.map(([name, request, status, code]) => ({ name, request, status, code })))('$name', async ({ request, status, code }) => {
  const r = await h.call(request);
  expect(r.statusCode).not.toBe(500);
  expect(r.statusCode).toBe(status);
  expect(r.headers!['content-type']).toMatch(/^application\/json/);
  if (status >= 400) {
    const shape = { error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }), requestId: expect.any(String) };
    expect(r.json).toEqual(shape);
    if (code) expect(r.json.error.code).toBe(code);
    expect(r.json.error.message.length).toBeLessThan(2000);
    expect(r.body).not.toMatch(/\bat \/|node_modules|stack/);
  } else {
    expect(r.json.meta).toBeDefined();
  }
});

test('validation errors name the problem', async () => {
  const r = await h.call(op('customer_analysis', { metric: 'profit', min_group_size: 'two', bogus: 1 }));
  expect(r.statusCode).toBe(400);
  const messages = r.json.error.details.map((d: { message: string }) => d.message);
  expect(messages).toEqual(expect.arrayContaining([
    expect.stringMatching(/'metric' must be one of: "lifetime_value"/),
    "'min_group_size' must be integer",
    "unknown parameter 'bogus'",
  ]));
  const missing = await h.call(op('custom_complex_query', {}));
  expect(missing.json.error.message).toContain("missing required parameter 'sql'");
  const unknown = await h.call(op('nope'));
  expect(unknown.json.error.details[0].operations).toEqual(expect.arrayContaining(['simple_demo', 'custom_complex_query']));
});

test('the store is intact afterwards', async () => {
  const { rows } = await h.db.pool.query('SELECT count(*)::int AS n FROM canonical.entities');
  expect(rows[0].n).toBe(68);
});
