/**
 * The apps whose templates the pre-deployment checks read (the template lint, `npm run
 * lint:templates`, and the runtime gate, test/runtime-gate.test.ts): the example app with its CI/CD
 * pipeline (and the pipeline stage's stacks), each construct alone with its defaults, the store and
 * the API in two stacks sharing the store's VPC, the async job workflow in a stack of its own on
 * another stack's API and on an imported one, and Aurora Serverless v2 behind an RDS Proxy.
 *
 * Each app is synthesized into its own folder; the templates are read back from the cloud
 * assembly (`stacksRecursively`, so the nested assemblies of CDK Pipelines stages are included).
 */
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildExampleApp } from './example-app';
import { buildJobsOnAnotherStacksApi, buildJobsOnImportedApi } from './jobs-in-two-stacks';
import { REVIEW_CONTEXT } from './security-review';
import {
  AiAnalyzer, AnalyticsApi, AsyncJobWorkflow, BuiltInSources, CanonicalStore, IngestionPipeline, PipelineMonitoring,
  ReportNotifier, StoreEngine,
} from '../src';

/** One synthesized template of a checked app. */
export interface CheckedTemplate {
  /** The app it belongs to, e.g. `example`, `construct:CanonicalStore`. */
  readonly app: string;
  /** The stack's display name (`Stage/Stack` inside a stage). */
  readonly stack: string;
  /** Absolute path of the template file. */
  readonly templateFile: string;
  /** The template. */
  readonly template: any;
}

/** A checked app: its name and how to build it into an App. */
interface CheckedApp {
  readonly name: string;
  readonly build: (app: App) => void;
}

/** A stack holding one construct and the least it needs (everything with defaults). */
function constructAlone(name: string, add: (stack: Stack) => void): CheckedApp {
  return { name: `construct:${name}`, build: (app) => add(new Stack(app, name)) };
}

/** An AiAnalyzer with its required inputs (an event bus and a data bucket). */
function analyzerWithInputs(stack: Stack): AiAnalyzer {
  const dataBucket = new s3.Bucket(stack, 'DataBucket', { enforceSSL: true });
  return new AiAnalyzer(stack, 'Analyzer', { eventBus: new events.EventBus(stack, 'Bus'), dataBucket });
}

export const CHECKED_APPS: CheckedApp[] = [
  { name: 'example', build: (app) => buildExampleApp(app) },
  constructAlone('CanonicalStore', (stack) => new CanonicalStore(stack, 'Store')),
  constructAlone('IngestionPipeline', (stack) => new IngestionPipeline(stack, 'Ingestion', {
    store: new CanonicalStore(stack, 'Store'),
    sources: [BuiltInSources.crmCustomers()],
  })),
  constructAlone('AnalyticsApi', (stack) => new AnalyticsApi(stack, 'Api', { store: new CanonicalStore(stack, 'Store') })),
  constructAlone('AsyncJobWorkflow', (stack) => {
    const store = new CanonicalStore(stack, 'Store');
    new AsyncJobWorkflow(stack, 'Jobs', { store, api: new AnalyticsApi(stack, 'Api', { store }) });
  }),
  constructAlone('AiAnalyzer', (stack) => analyzerWithInputs(stack)),
  constructAlone('ReportNotifier', (stack) => {
    const analyzer = analyzerWithInputs(stack);
    new ReportNotifier(stack, 'Notifier', {
      eventBus: analyzer.eventBus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'],
    });
  }),
  constructAlone('PipelineMonitoring', (stack) => new PipelineMonitoring(stack, 'Monitoring', { store: new CanonicalStore(stack, 'Store') })),
  {
    name: 'store-and-api-in-two-stacks',
    build: (app) => {
      const store = new CanonicalStore(new Stack(app, 'StoreStack'), 'Store');
      new AnalyticsApi(new Stack(app, 'ApiStack'), 'Api', { store });
    },
  },
  { name: 'jobs-on-another-stacks-api', build: (app) => buildJobsOnAnotherStacksApi(app) },
  { name: 'jobs-on-an-imported-api', build: (app) => buildJobsOnImportedApi(app) },
  {
    name: 'aurora-serverless-v2-with-proxy',
    build: (app) => new CanonicalStore(new Stack(app, 'AuroraStore'), 'Store', { engine: StoreEngine.AURORA_POSTGRES_SERVERLESS_V2, proxy: true }),
  },
];

/** Synthesizes every checked app into `<outdir>/<app>/` and returns all their templates. */
export function synthesizeCheckedApps(outdir: string): CheckedTemplate[] {
  return CHECKED_APPS.flatMap(({ name, build }) => {
    const app = new App({ outdir: path.join(outdir, name.replace(/[^\w-]/g, '_')), context: name === 'example' ? REVIEW_CONTEXT : {} });
    build(app);
    const assembly = new CloudAssembly(app.synth().directory);
    return assembly.stacksRecursively.map((stack) => ({
      app: name,
      stack: stack.displayName,
      templateFile: stack.templateFullPath,
      template: stack.template,
    }));
  });
}
