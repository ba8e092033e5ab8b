/**
 * src/common/json-schema.ts: the dialect a schema declares, the ajv instance both the construct
 * and the ingestion handler compile it with, the strict checks with JSON paths, and which dot
 * paths a schema defines (the mapping check).
 */
import { ajvFor, schemaDefinesPath, schemaDialect, schemaProblems } from '../src/common/json-schema';

describe('dialects', () => {
  test.each([
    [undefined, '2020-12'],
    ['https://json-schema.org/draft/2020-12/schema', '2020-12'],
    ['https://json-schema.org/draft/2020-12/schema#', '2020-12'],
    ['http://json-schema.org/draft-07/schema#', 'draft-07'],
    ['http://json-schema.org/draft-07/schema', 'draft-07'],
  ])('$schema %s is %s', (declared, dialect) => {
    expect(schemaDialect(declared === undefined ? {} : { $schema: declared })).toBe(dialect);
  });

  test('other drafts are refused with the supported ones named', () => {
    expect(() => schemaDialect({ $schema: 'https://json-schema.org/draft/2019-09/schema' })).toThrow(/is not supported: omit it or use .*2020-12.*draft-07/);
  });

  test('the instance validates in the declared dialect: prefixItems in 2020-12, items tuples in draft-07', () => {
    const s2020 = { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false };
    const v2020 = ajvFor(s2020).compile(s2020);
    expect([v2020(['a', 1]), v2020(['a', 'b']), v2020(['a', 1, 2])]).toEqual([true, false, false]);
    const s07 = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'array', items: [{ type: 'string' }, { type: 'number' }], additionalItems: false };
    const v07 = ajvFor(s07).compile(s07);
    expect([v07(['a', 1]), v07(['a', 'b']), v07(['a', 1, 2])]).toEqual([true, false, false]);
  });

  test('coerceTypes (CSV text) is an option of the same instance maker', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' } } };
    const record = { n: '42' };
    expect(ajvFor(schema).compile(schema)({ n: '42' })).toBe(false);
    expect(ajvFor(schema, { coerceTypes: true }).compile(schema)(record)).toBe(true);
    expect(record.n).toBe(42);
  });

  test('two schemas with the same $id compile (one instance per schema)', () => {
    const a = { $id: 'https://example.com/s', type: 'object' };
    expect(() => [ajvFor(a).compile(a), ajvFor({ ...a }).compile({ ...a })]).not.toThrow();
  });
});

describe('strict problems, with JSON paths', () => {
  test.each([
    ['a typo', { type: 'object', requird: ['a'] }, 'has an unknown draft 2020-12 keyword "requird" at #'],
    ['an annotation ajv does not know', { type: 'object', properties: { a: { 'type': 'string', 'x-note': 'n' } } }, 'has an unknown draft 2020-12 keyword "x-note" at #/properties/a'],
    ['a typo inside allOf', { type: 'object', allOf: [{ type: 'object', propertys: {} }] }, 'has an unknown draft 2020-12 keyword "propertys" at #/allOf/0'],
    ['a typo inside $defs, under an escaped name', { type: 'object', $defs: { 'a/b': { type: 'string', minLenght: 1 } } }, 'has an unknown draft 2020-12 keyword "minLenght" at #/$defs/a~1b'],
    ['a draft-07 tuple without $schema', { type: 'object', properties: { t: { type: 'array', items: [{ type: 'string' }] } } }, 'is not a valid draft 2020-12 schema: #/properties/t/items must be object,boolean'],
    ['a bad value', { type: 'object', properties: { a: { type: 'strnig' } } }, 'is not a valid draft 2020-12 schema: #/properties/a/type must be equal to one of the allowed values'],
  ])('%s', (_name, schema, problem) => {
    expect(schemaProblems(schema)[0]).toContain(problem);
  });

  test('every unknown keyword is listed', () => {
    expect(schemaProblems({ type: 'object', requird: [], properties: { a: { type: 'string', maxLenght: 1 } } })).toEqual([
      'has an unknown draft 2020-12 keyword "requird" at #',
      'has an unknown draft 2020-12 keyword "maxLenght" at #/properties/a',
    ]);
  });

  test('valid schemas of both dialects have no problems', () => {
    expect(schemaProblems({ type: 'object', required: ['a'], properties: { a: { type: ['string', 'null'], format: 'email', description: 'd', $comment: 'c' } } })).toEqual([]);
    expect(schemaProblems({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', definitions: { x: { type: 'string' } }, properties: { a: { $ref: '#/definitions/x' } } })).toEqual([]);
  });
});

describe('schemaDefinesPath', () => {
  const schema = {
    type: 'object',
    $defs: { address: { type: 'object', properties: { city: { type: 'string' } } } },
    properties: {
      name: { type: 'string' },
      address: { $ref: '#/$defs/address' },
      lines: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } } } },
      pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false },
      meta: { type: 'object' },
      tags: { type: 'object', additionalProperties: true },
      remote: { $ref: 'https://example.com/other.json' },
    },
    patternProperties: { '^x_': { type: 'string' } },
    anyOf: [{ type: 'object', properties: { alt: { type: 'string' } } }],
    if: { type: 'object' },
    then: { type: 'object', properties: { fromThen: { type: 'string' } } },
  };
  test.each([
    ['name', true], ['nmae', false],
    ['address.city', true], ['address.zip', false],
    ['lines.0.sku', true], ['lines.7.sku', true], ['lines.0.qty', false], ['lines.first', false],
    ['pair.1', true], ['pair.2', false],
    ['meta.anything', false], ['tags.anything', true],
    ['remote.anything.below', true],
    ['x_custom', true], ['alt', true], ['fromThen', true],
    ['__proto__', false], ['constructor', false],
  ])('%s: %s', (path, defined) => {
    expect(schemaDefinesPath(schema, path)).toBe(defined);
  });

  test('a recursive $ref terminates', () => {
    const tree = { type: 'object', $defs: { node: { type: 'object', properties: { child: { $ref: '#/$defs/node' }, v: { type: 'string' } } } }, $ref: '#/$defs/node' };
    expect(schemaDefinesPath(tree, 'child.child.v')).toBe(true);
    expect(schemaDefinesPath(tree, 'child.w')).toBe(false);
  });
});
