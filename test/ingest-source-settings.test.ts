/**
 * The ingest handler with source settings checked at synth: schemas validated at run time in the
 * dialect their `$schema` declares (the same ajv instance maker as the construct), and source ids
 * normalised per source (relationships to those entities too). Real PostgreSQL, s3rver, local
 * EventBridge.
 */
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { normalizeId } from '../lambda/ingestion-pipeline/mapping';
import { validateSources } from '../src/ingestion-pipeline/source-config';
import { IdNormalization, InputFormat, SourceDefinition } from '../src/ingestion-pipeline/source-definition';

const CUSTOMERS: SourceDefinition = {
  name: 'customers-lower',
  prefix: 'lower/',
  sourceSystem: 'crm',
  entityType: 'customer',
  format: InputFormat.NDJSON,
  sourceIdField: 'id',
  idNormalization: IdNormalization.TRIM_AND_LOWERCASE,
  fields: [{ source: 'name', target: 'name' }, { source: 'pair.1', target: 'score' }],
  schema: {
    type: 'object',
    required: ['id', 'name'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false },
    },
  },
};

const ORDERS: SourceDefinition = {
  name: 'orders-draft07',
  prefix: 'orders/',
  sourceSystem: 'erp',
  entityType: 'order',
  format: InputFormat.NDJSON,
  sourceIdField: 'order_id',
  fields: [{ source: 'customer', target: 'customer_id' }],
  relationships: [{ attribute: 'customer_id', type: 'placed_by', targetEntityType: 'customer', targetSourceSystem: 'crm' }],
  schema: {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    required: ['order_id'],
    properties: {
      order_id: { type: 'string' },
      customer: { type: 'string' },
      lines: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false },
    },
  },
};

const ndjson = (...records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('ingest handler: schema dialects and id normalisation', () => {
  let h: IngestHarness;

  beforeAll(async () => {
    validateSources([CUSTOMERS, ORDERS]); // what the construct checks at synth
    h = await startIngestHarness([CUSTOMERS, ORDERS]);
  });
  afterAll(async () => h.close());

  async function ingest(key: string, body: string): Promise<{ counts: any; rejected: any[] }> {
    await h.put(key, body);
    expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detail.objectKey === key)!;
    expect(event.detailType).toBe('Ingestion Succeeded');
    return { counts: event.detail.counts, rejected: event.detail.rejectedKey ? await h.getJsonLines(event.detail.rejectedKey) : [] };
  }

  test('draft 2020-12 (no $schema): prefixItems validates positions, items: false refuses more', async () => {
    const { counts, rejected } = await ingest('lower/1.ndjson', ndjson(
      { id: 'C00011', name: 'Ada', pair: ['a', 1] },
      { id: 'C00012', name: 'Bob', pair: ['a', 'not a number'] },
      { id: 'C00013', name: 'Cy', pair: ['a', 1, 'extra'] },
    ));
    expect(counts).toMatchObject({ received: 3, inserted: 1, rejected: 2 });
    expect(rejected.map((r) => r.reasons.map((x: any) => x.message))).toEqual([['pair.1 must be of type number'], ['pair must NOT have more than 2 items']]);
  });

  test('TRIM_AND_LOWERCASE: C00011 and " c00011 " are one customer, keyed c00011', async () => {
    const { counts } = await ingest('lower/2.ndjson', ndjson({ id: ' c00011 ', name: 'Ada L.', pair: ['a', 2] }));
    expect(counts).toMatchObject({ received: 1, inserted: 0, updated: 1 });
    const { rows } = await h.db.pool.query("SELECT source_id, attributes->>'name' AS name, version FROM canonical.entities WHERE entity_type = 'customer' ORDER BY source_id");
    expect(rows).toEqual([{ source_id: 'c00011', name: 'Ada L.', version: 2 }]);
  });

  test('draft-07 (declared): an items tuple with additionalItems: false; relationships use the target source\'s normalisation', async () => {
    const { counts, rejected } = await ingest('orders/1.ndjson', ndjson(
      { order_id: ' O-1 ', customer: ' C00011', lines: ['sku', 2] },
      { order_id: 'O-2', customer: 'C00011', lines: ['sku', 2, 3] },
    ));
    expect(counts).toMatchObject({ received: 2, inserted: 1, rejected: 1 });
    expect(rejected[0].reasons.map((x: any) => x.message)).toEqual(['lines must NOT have more than 2 items']);
    const { rows } = await h.db.pool.query("SELECT from_source_id, to_source_id FROM canonical.relationships WHERE rel_type = 'placed_by'");
    expect(rows).toEqual([{ from_source_id: 'O-1', to_source_id: 'c00011' }]);
  });
});

describe('normalizeId', () => {
  test.each([
    ['trim', ' C00011 ', 'C00011'], ['trim', 'c00011', 'c00011'],
    ['trim_and_lowercase', ' C00011 ', 'c00011'], ['trim_and_uppercase', ' c00011\t', 'C00011'],
    ['none', ' C00011 ', ' C00011 '],
    ['none', '   ', undefined], ['trim', '', undefined], ['trim', 42, '42'], ['trim', 1.5, undefined], ['trim', 2 ** 60, undefined], ['trim', null, undefined],
  ] as const)('%s %j -> %j', (normalization, raw, id) => {
    expect(normalizeId(raw, normalization)).toBe(id);
  });
});
