/**
 * The processor's embedded metrics (EMF) match what the construct's metric*() methods read:
 * namespace ServerlessDataPipeline, dimension set [service] (and [service, Source]).
 */
import { App, Stack } from 'aws-cdk-lib';
import { BuiltInSources, CanonicalStore, IngestionPipeline } from '../src';
import { IngestHarness, startIngestHarness } from './support/ingest-harness';
import { captureEmf } from './support/log-capture';

describe('ingest handler: embedded metrics', () => {
  let h: IngestHarness;
  let capture: ReturnType<typeof captureEmf>;

  beforeAll(async () => {
    h = await startIngestHarness([BuiltInSources.erpProducts()], {
      POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_SERVICE_NAME: 'ingestion-test', POWERTOOLS_METRICS_NAMESPACE: 'ServerlessDataPipeline',
    });
    capture = captureEmf();
  });
  afterAll(async () => {
    capture.restore();
    await h.close();
  });

  test('one EMF document per file with the counts, per pipeline and per source', async () => {
    await h.put('erp-data/products/p.ndjson', '{"sku": "A", "name": "A"}\n{"sku": "B"}\n{"sku": "A", "name": "again"}\n');
    expect((await h.deliver('erp-data/products/p.ndjson')).batchItemFailures).toEqual([]);
    const emf = capture.documents.find((d) => d.RecordsReceived !== undefined)!;
    expect(emf).toBeDefined();
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe('ServerlessDataPipeline');
    expect(directive.Dimensions).toEqual([['service'], ['service', 'Source']]);
    expect(emf).toMatchObject({
      service: 'ingestion-test',
      Source: 'erp-products',
      RecordsReceived: 3,
      RecordsLoaded: 1,
      RecordsChanged: 1,
      RecordsRejected: 1,
      RecordsDuplicate: 1,
      FilesProcessed: 1,
      FileFailures: 0,
    });
    expect(directive.Metrics.map((m: any) => m.Name)).toEqual(expect.arrayContaining(['ProcessingDuration', 'IngestionLatency']));

    // The construct reads the same namespace, metric names and dimension.
    const stack = new Stack(new App(), 'S');
    const pipeline = new IngestionPipeline(stack, 'I', { store: new CanonicalStore(stack, 'Store'), sources: [BuiltInSources.erpProducts()] });
    const methods = [
      pipeline.metricRecordsReceived(), pipeline.metricRecordsLoaded(), pipeline.metricRecordsRejected(), pipeline.metricFileFailures(),
      pipeline.metricIngestionLatency(), pipeline.metricProcessingDuration(),
    ];
    for (const metric of methods) {
      expect(metric.namespace).toBe(directive.Namespace);
      expect(Object.keys(metric.dimensions!)).toEqual(['service']);
      expect(emf[metric.metricName]).toBeDefined();
    }
  });
});
