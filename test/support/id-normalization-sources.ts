/** The sources the idNormalization tests load: CRM customers keyed by `id`, and NDJSON text of records. */
import { IdNormalization, InputFormat, SourceDefinition } from '../../src/ingestion-pipeline/source-definition';

/** CRM customers (prefix `cust/`) with the given normalisation and declared re-key. */
export const customersSource = (idNormalization?: IdNormalization, rekeyIdsFrom?: IdNormalization): SourceDefinition => ({
  name: 'customers',
  prefix: 'cust/',
  sourceSystem: 'crm',
  entityType: 'customer',
  format: InputFormat.NDJSON,
  sourceIdField: 'id',
  idNormalization,
  rekeyIdsFrom,
  fields: [{ source: 'name', target: 'name' }],
});

/** NDJSON text of the records, one per line. */
export const ndjson = (...records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
