/**
 * The ingest handler publishes which id normalisation keyed the stored ids of an identity space to
 * its SSM parameter (sources.json idNormalizationParameter), for the synth-time check: after the
 * first committed run and after a re-key, through the real SDK against the sandbox's local
 * Parameter Store; read once per execution environment, never rewritten while current; a failed
 * write is logged and counted and the run still succeeds. Real PostgreSQL, s3rver, local EventBridge.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { customersSource, ndjson } from './support/id-normalization-sources';
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { LocalSsm, startLocalSsm } from './support/local-ssm';
import { captureEmf, captureLogLines } from './support/log-capture';
import { NO_STORED_RUNS } from '../src/common/contracts';
import { renderSourcesConfig, validateSources } from '../src/ingestion-pipeline/source-config';
import { IdNormalization, InputFormat, SourceDefinition } from '../src/ingestion-pipeline/source-definition';

const PARAMETER = '/cdk-serverless-data-pipeline/TestStack/Ingestion/id-normalization/crm/customer';
/** A name SSM refuses (spaces): every write fails. */
const BROKEN_PARAMETER = '/cdk-serverless-data-pipeline/TestStack/Ingestion/id-normalization/erp/not a name';

const customers = customersSource;
const orders: SourceDefinition = {
  name: 'orders',
  prefix: 'ord/',
  sourceSystem: 'erp',
  entityType: 'order',
  format: InputFormat.NDJSON,
  sourceIdField: 'order_id',
  fields: [{ source: 'total', target: 'total' }],
};

describe('ingest handler: the stored id normalisation is published to the identity space\'s SSM parameter', () => {
  let h: IngestHarness;
  let ssm: LocalSsm;
  let configDir: string;
  let emf: ReturnType<typeof captureEmf>;
  let n = 0;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const forget = () => (require('../lambda/ingestion-pipeline/id-normalization-parameter') as typeof import('../lambda/ingestion-pipeline/id-normalization-parameter'))
    .forgetPublishedIdNormalizations();
  /* eslint-enable @typescript-eslint/no-require-imports */

  /** A deployment: the handler reads sources.json with the parameter names the construct gives it. */
  function deploy(sources: SourceDefinition[]): void {
    validateSources(sources);
    const file = path.join(configDir, `sources-${++n}.json`);
    fs.writeFileSync(file, JSON.stringify(renderSourcesConfig(sources, (s) => (s.entityType === 'customer' ? PARAMETER : BROKEN_PARAMETER))));
    process.env.SOURCES_CONFIG_PATH = file;
  }
  async function ingest(key: string, ...records: unknown[]) {
    await h.put(key, ndjson(...records));
    expect((await h.deliver(key, { refresh: false })).batchItemFailures).toEqual([]);
    return h.eventBridge.events.find((e) => e.detail.objectKey === key)!;
  }
  const value = () => ssm.parameters.get(PARAMETER)?.value;

  beforeAll(async () => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-idparam-'));
    ssm = await startLocalSsm();
    // As deployed by CloudFormation: the construct's initial value.
    ssm.parameters.put(PARAMETER, NO_STORED_RUNS);
    h = await startIngestHarness([customers(), orders], {
      AWS_ENDPOINT_URL_SSM: ssm.endpoint, POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_SERVICE_NAME: 'ingestion-test',
    });
    emf = captureEmf();
    deploy([customers(), orders]);
  });
  afterAll(async () => {
    emf.restore();
    await h.close();
    await ssm.close();
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  test('the first committed run writes the stored normalisation (trim, the default); a later run reads nothing and writes nothing', async () => {
    expect((await ingest('cust/1.ndjson', { id: 'C1', name: 'a' })).detailType).toBe('Ingestion Succeeded');
    expect(value()).toBe('trim');
    expect(ssm.parameters.writes).toEqual([{ name: PARAMETER, value: 'trim' }]);
    expect(ssm.parameters.reads).toEqual([PARAMETER]);
    await ingest('cust/2.ndjson', { id: 'C2', name: 'b' });
    expect(ssm.parameters.writes).toHaveLength(1);
    expect(ssm.parameters.reads).toHaveLength(1);
  });

  test('a new execution environment reads the parameter once and, being current, does not write it', async () => {
    forget();
    await ingest('cust/3.ndjson', { id: 'C3', name: 'c' });
    await ingest('cust/4.ndjson', { id: 'C4', name: 'd' });
    expect(ssm.parameters.reads).toEqual([PARAMETER, PARAMETER]);
    expect(ssm.parameters.writes).toHaveLength(1);
  });

  test('a file set aside (changed normalisation, no re-key declared) publishes nothing', async () => {
    deploy([customers(IdNormalization.TRIM_AND_LOWERCASE), orders]);
    expect((await ingest('cust/5.ndjson', { id: 'E5', name: 'e' })).detail.error.code).toBe('id_normalization_changed');
    expect(value()).toBe('trim');
    expect(ssm.parameters.writes).toHaveLength(1);
  });

  test('after the re-key commits, the parameter says the new normalisation', async () => {
    deploy([customers(IdNormalization.TRIM_AND_LOWERCASE, IdNormalization.TRIM), orders]);
    expect((await ingest('cust/6.ndjson', { id: 'F6', name: 'f' })).detailType).toBe('Ingestion Succeeded');
    expect((await h.db.pool.query("SELECT id_normalization FROM canonical.source_id_normalization WHERE entity_type = 'customer'")).rows[0].id_normalization)
      .toBe('trim_and_lowercase');
    expect(value()).toBe('trim_and_lowercase');
    expect(ssm.parameters.writes).toEqual([{ name: PARAMETER, value: 'trim' }, { name: PARAMETER, value: 'trim_and_lowercase' }]);
  });

  test('a deleted parameter is written again by the next committed run', async () => {
    forget();
    expect(ssm.parameters.delete(PARAMETER)).toBe(true);
    await ingest('cust/7.ndjson', { id: 'G7', name: 'g' });
    expect(value()).toBe('trim_and_lowercase');
  });

  test('a write SSM refuses is logged and counted; the run still succeeds, and the next run tries again', async () => {
    const { result, lines } = await captureLogLines(() => ingest('ord/1.ndjson', { order_id: 'O1', total: 5 }));
    expect(result!.detailType).toBe('Ingestion Succeeded');
    expect(ssm.parameters.get(BROKEN_PARAMETER)).toBeUndefined();
    expect(lines.find((l) => l.level === 'WARN' && l.parameter === BROKEN_PARAMETER)).toMatchObject({
      message: expect.stringContaining('Could not publish the stored id normalization'), idNormalization: 'trim', source: 'orders',
    });
    expect(emf.documents.filter((d) => d.IdNormalizationPublishFailures !== undefined).map((d) => d.IdNormalizationPublishFailures)).toEqual([1]);
    const readsBefore = ssm.parameters.reads.filter((r) => r === BROKEN_PARAMETER).length;
    await ingest('ord/2.ndjson', { order_id: 'O2', total: 6 });
    expect(ssm.parameters.reads.filter((r) => r === BROKEN_PARAMETER).length).toBe(readsBefore + 1);
  });
});
