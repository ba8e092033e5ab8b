/**
 * sources.json, the contract between the construct (renderSourcesConfig) and the ingestion
 * handler (lambda/ingestion-pipeline/config.ts), both typed by src/ingestion-pipeline/sources-file.ts:
 * a source that sets every option renders exactly the contract's keys, and the handler reads back
 * what was written. Fails when a side adds, drops or renames a key without the other.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadConfig, sourceForKey } from '../lambda/ingestion-pipeline/config';
import { mapRecord } from '../lambda/ingestion-pipeline/mapping';
import { renderSourcesConfig, validateSources } from '../src/ingestion-pipeline/source-config';
import { IdNormalization, InputFormat, SourceDefinition, TransformType } from '../src/ingestion-pipeline/source-definition';
import { CONTRACT_KEYS, SOURCES_FILE_NAME } from '../src/ingestion-pipeline/sources-file';

/** Every optional prop of SourceDefinition, FieldMapping, FieldTransform and RelationshipMapping set. */
const EVERY_OPTION: SourceDefinition = {
  name: 'everything',
  prefix: 'everything/',
  sourceSystem: 'crm',
  entityType: 'customer',
  format: InputFormat.JSON_OBJECT,
  recordsPath: 'data.customers',
  sourceIdField: 'id',
  idNormalization: IdNormalization.TRIM_AND_UPPERCASE,
  rekeyIdsFrom: IdNormalization.TRIM,
  canonicalKeyField: 'email',
  sourceTimestampField: 'updated_at',
  fields: [
    { source: 'email', target: 'email', transforms: [{ type: TransformType.DATE, format: 'yyyy-MM-dd', value: 'x' }] },
    { source: 'parent', target: 'parent_id' },
  ],
  relationships: [{ attribute: 'parent_id', type: 'parent', targetEntityType: 'customer', targetSourceSystem: 'crm' }],
  personalDataFields: ['email'],
  loadToStore: false,
  schema: { type: 'object', properties: { id: { type: 'string' }, email: { type: 'string' }, parent: { type: 'string' }, updated_at: { type: 'string' } } },
  csvDelimiter: ';',
  maxRecordLength: 2048,
  maxDepth: 8,
  rejectFormulaCells: false,
};

function keysOf(value: object): string[] {
  return Object.keys(value).sort();
}

describe('sources.json contract', () => {
  const rendered = renderSourcesConfig([EVERY_OPTION], (s) => `/cdk-serverless-data-pipeline/Stack/Pipeline/id-normalization/${s.sourceSystem}/${s.entityType}`);
  const source = rendered.sources[0];

  test('a source with every option renders exactly the contract keys, at every level', () => {
    validateSources([EVERY_OPTION]);
    expect(keysOf(rendered)).toEqual(keysOf(CONTRACT_KEYS.file));
    expect(keysOf(source)).toEqual(keysOf(CONTRACT_KEYS.source));
    expect(Object.values(source).every((v) => v !== undefined)).toBe(true);
    expect(keysOf(source.fields[0])).toEqual(keysOf(CONTRACT_KEYS.field));
    expect(keysOf(source.fields[0].transforms[0])).toEqual(keysOf(CONTRACT_KEYS.transform));
    expect(keysOf(source.relationships[0])).toEqual(keysOf(CONTRACT_KEYS.relationship));
  });

  test('defaults are written out, so the handler never guesses them', () => {
    const minimal = renderSourcesConfig([{ name: 'm', prefix: 'm/', sourceSystem: 's', entityType: 'e', sourceIdField: 'id', fields: [{ source: 'a', target: 'a' }] }]).sources[0];
    expect(minimal).toMatchObject({ idNormalization: 'trim', loadToStore: true, relationships: [], personalDataFields: [], fields: [{ source: 'a', target: 'a', transforms: [] }] });
  });

  test('the handler reads back what the construct wrote, and maps with it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-contract-'));
    try {
      const file = path.join(dir, SOURCES_FILE_NAME);
      fs.writeFileSync(file, JSON.stringify(rendered, null, 2));
      const config = loadConfig(file);
      expect(config).toEqual(JSON.parse(JSON.stringify(rendered)));
      const read = sourceForKey(config, 'everything/2024/file.json')!;
      expect(read.name).toBe('everything');
      const mapped = mapRecord({ id: ' c1 ', email: 'not a date', parent: ' p1 ' }, { ...read, fields: [read.fields[1]] });
      expect(mapped).toMatchObject({ entity: { sourceId: 'C1', relationships: [{ targetSourceId: 'P1' }] } });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
