/**
 * The security review: cdk-nag's AwsSolutions and HIPAA Security packs
 * - under cdk-nag 3 (a policy-validation plugin, registered as a user registers it), on the whole
 *   example app (the system stack, the CI/CD pipeline stack and the stack of the pipeline's stage)
 *   and on each construct alone with its defaults;
 * - under cdk-nag 2 (aspects), on the example app's system and pipeline stacks;
 * and the report of what they accepted by design (docs/security-review.md).
 *
 *   npm run security:review       prints what each pack validated, rewrites docs/security-review.md
 *
 * test/security-review.test.ts runs the same review and fails on any unacknowledged finding, on any
 * acknowledgement that covers no finding, and when docs/security-review.md no longer matches.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import {
  AiAnalyzer, AnalyticsApi, AnomalyThresholds, AsyncJobWorkflow, BuiltInSources, CanonicalStore, IngestionPipeline,
  PipelineMonitoring, ReportNotifier,
} from '../src';
import { buildExampleApp } from './example-app';
import {
  addNagV2Packs, NagFinding, NagPackRun, nagV2Messages, nagV3Packs, unusedNagV2Acknowledgements, unusedNagV3Acknowledgements,
} from '../test/construct-support/nag';

/** The context the review builds the app with: the system stack and the CI/CD pipeline stack. */
export const REVIEW_CONTEXT = {
  pipeline: 'true',
  connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/00000000-0000-0000-0000-000000000000',
  repo: 'example/cdk-serverless-data-pipeline',
};

const RULE_PREFIXES = ['AwsSolutions-', 'HIPAA.Security-'];

/**
 * Context of the reviewed apps: violations do not interrupt synthesis (nor print CDK's report);
 * the review reads what each pack returned.
 */
const REPORT_ONLY = { '@aws-cdk/core:failSynthOnValidationErrors': false };

/** What cdk-nag 3 reported on one app. */
export interface NagV3Review {
  readonly name: string;
  readonly app: App;
  /** What each pack validated. */
  readonly packs: NagPackRun[];
  /** Unacknowledged errors and warnings. */
  readonly findings: NagFinding[];
  /** Acknowledgements that covered no finding. */
  readonly unused: string[];
}

/** What cdk-nag 2 reported on one stack of the example. */
export interface NagV2Review {
  readonly stack: Stack;
  /** Unacknowledged errors and warnings. */
  readonly findings: NagFinding[];
  /** The library's cdk-nag 2 acknowledgements (cdk_nag metadata) that covered no finding. */
  readonly unused: string[];
}

/** The whole review. */
export interface SecurityReview {
  readonly example: NagV3Review;
  readonly constructsAlone: NagV3Review[];
  readonly exampleV2: NagV2Review[];
}

/**
 * Registers the cdk-nag 3 packs on an app built by `build` (as a user does:
 * `Validations.of(app).addPlugins(...)`), synthesizes it and returns what they reported.
 */
export function reviewWithNagV3(name: string, app: App, judged: (path: string) => boolean = () => true): NagV3Review {
  const packs = nagV3Packs(app, { hipaa: true });
  Validations.of(app).addPlugins(...packs.map((p) => p.pack));
  try {
    app.synth();
  } catch (e) {
    // A violation interrupts synthesis: what the packs reported is read below.
    if (packs.every((p) => p.report?.success !== false)) throw e;
  }
  const findings = packs.flatMap((p) => [...p.findings('error'), ...p.findings('warning')]).filter((f) => judged(f.path));
  const acknowledgedV3 = new Set(packs.flatMap((p) => [...p.acknowledged]));
  const unused = unusedNagV3Acknowledgements(app, { acknowledgedV3, rulePrefixes: RULE_PREFIXES });
  return { name, app, packs: packs.map((p) => p.run), findings, unused };
}

/** One construct alone, with its defaults: what it needs, and the construct. */
interface ConstructAlone {
  readonly name: string;
  /** Builds the construct (and what it needs) in the stack; returns what it needs, whose findings are judged in their own review. */
  readonly build: (stack: Stack) => IConstruct[];
}

const analyzerProps = (stack: Stack) => ({
  eventBus: new events.EventBus(stack, 'Bus'),
  dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'pipeline-data'),
  thresholds: AnomalyThresholds.vitalSigns(),
});

/** The constructs, each alone with its defaults (and the constructs it needs). */
export const CONSTRUCTS_ALONE: ConstructAlone[] = [
  { name: 'CanonicalStore', build: (stack) => { new CanonicalStore(stack, 'Store'); return []; } },
  {
    name: 'IngestionPipeline',
    build: (stack) => {
      const store = new CanonicalStore(stack, 'Store');
      new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers(), BuiltInSources.healthReadings()] });
      return [store];
    },
  },
  {
    name: 'AnalyticsApi',
    build: (stack) => {
      const store = new CanonicalStore(stack, 'Store');
      new AnalyticsApi(stack, 'Api', { store });
      return [store];
    },
  },
  {
    name: 'AsyncJobWorkflow',
    build: (stack) => {
      const store = new CanonicalStore(stack, 'Store');
      const api = new AnalyticsApi(stack, 'Api', { store });
      new AsyncJobWorkflow(stack, 'Jobs', { api, store });
      return [store, api];
    },
  },
  { name: 'AiAnalyzer', build: (stack) => { new AiAnalyzer(stack, 'Analyzer', analyzerProps(stack)); return []; } },
  {
    name: 'ReportNotifier',
    build: (stack) => {
      const props = analyzerProps(stack);
      const analyzer = new AiAnalyzer(stack, 'Analyzer', props);
      new ReportNotifier(stack, 'Notifier', { eventBus: props.eventBus, analyzer, fromAddress: 'reports@example.com', toAddresses: ['ops@example.com'] });
      return [analyzer];
    },
  },
  {
    name: 'PipelineMonitoring',
    build: (stack) => {
      const store = new CanonicalStore(stack, 'Store');
      new PipelineMonitoring(stack, 'Monitoring', { store });
      return [store];
    },
  },
];

/** Each construct alone, in its own app (from `createApp`), under cdk-nag 3. */
export function reviewConstructsAlone(createApp: () => App): NagV3Review[] {
  return CONSTRUCTS_ALONE.map(({ name, build }) => {
    const app = createApp();
    const stack = new Stack(app, `${name}Alone`);
    const needs = build(stack).map((c) => `/${c.node.path}/`);
    return reviewWithNagV3(`${name} alone, with defaults`, app, (p) => !needs.some((n) => p.startsWith(n)));
  });
}

/** The example app (system, CI/CD pipeline and its stage) under cdk-nag 3. */
export function reviewExampleApp(app: App): NagV3Review {
  buildExampleApp(app);
  return reviewWithNagV3('Example app', app);
}

/**
 * The example app's system and pipeline stacks under cdk-nag 2. The library's resources carry
 * cdk-nag 2 acknowledgements too; the example acknowledges its own resources with cdk-nag 3's API
 * only, so a finding cdk-nag 3 acknowledgements cover (the same rule and finding, on the resource
 * or above it) is not counted.
 */
export function reviewExampleAppV2(app: App): NagV2Review[] {
  const example = buildExampleApp(app);
  addNagV2Packs(app, { hipaa: true });
  const acknowledgedForV3 = acknowledgementsV3(app);
  return [example.dataPipeline, example.pipeline!].map((stack) => {
    const messages = nagV2Messages(stack);
    const covered = (f: NagFinding) => {
      const rule = f.message.split(': ')[0].replace(/^CdkNagValidationFailure\[(.*)\]$/, '$1');
      return [...acknowledgedForV3.get(rule) ?? []].some((p) => f.path === p || f.path.startsWith(`${p}/`));
    };
    const findings = [...messages.errors, ...messages.warnings].filter((f) => !covered(f));
    const own = (u: string) => !stack.node.findAll().some((c) => Stack.isStack(c) && c !== stack && u.startsWith(`/${c.node.path}/`));
    const unused = unusedNagV2Acknowledgements(stack, { acknowledgedV2: messages.acknowledged, rulePrefixes: [...RULE_PREFIXES, 'CdkNagValidationFailure'] }).filter(own);
    return { stack, findings, unused };
  });
}

/** cdk-nag 3 acknowledgements in the app: rule id (with its finding) -> paths of the constructs they are on. */
function acknowledgementsV3(scope: IConstruct): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const id of Object.keys(entry.data).map((k) => k.replace(/^annotation::/i, ''))) {
        const paths = result.get(id) ?? new Set<string>();
        paths.add(`/${construct.node.path}`);
        result.set(id, paths);
      }
    }
  }
  return result;
}

/** The whole review; `createApp` makes each app (a temporary output directory). */
export function securityReview(createApp: (context: { [key: string]: unknown }) => App): SecurityReview {
  return {
    example: reviewExampleApp(createApp({ ...REVIEW_CONTEXT, ...REPORT_ONLY })),
    constructsAlone: reviewConstructsAlone(() => createApp(REPORT_ONLY)),
    exampleV2: reviewExampleAppV2(createApp(REVIEW_CONTEXT)),
  };
}

/** One acknowledged rule of a stack: on how many resources, for which reasons. */
export interface AcknowledgedRule {
  readonly rule: string;
  /** The reasons, each with the resources (paths in the stack) it is given for. */
  readonly reasons: Array<{ reason: string; resources: string[] }>;
}

/** A resource path for the report: without the trailing `/Resource` and the hash of generated ids. */
function shortPath(p: string): string {
  return p.replace(/\/Resource$/, '').replace(/-?[0-9a-f]{32,}/g, '');
}

/** The cdk-nag 3 acknowledgements on the stack's own constructs, by rule (granular findings under their rule). */
export function acknowledgedRules(stack: Stack): AcknowledgedRule[] {
  const byRule = new Map<string, Map<string, string[]>>();
  for (const construct of stack.node.findAll()) {
    if (construct.node.scopes.slice().reverse().find((c) => Stack.isStack(c)) !== stack) continue;
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [key, reason] of Object.entries<string>(entry.data)) {
        const rule = key.replace(/^annotation::/i, '').replace(/\[.*\]$/, '');
        if (!RULE_PREFIXES.some((p) => rule.startsWith(p))) continue;
        const reasons = byRule.get(rule) ?? new Map<string, string[]>();
        byRule.set(rule, reasons);
        const resources = reasons.get(reason) ?? [];
        const where = shortPath(construct.node.path.replace(`${stack.node.path}/`, ''));
        if (!resources.includes(where)) resources.push(where);
        reasons.set(reason, resources);
      }
    }
  }
  return [...byRule.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([rule, reasons]) => ({
    rule,
    reasons: [...reasons.entries()].map(([reason, resources]) => ({ reason, resources })),
  }));
}

/** What each pack validated, one line per pack: for the console and the report. */
export function packSummary(review: NagV3Review): string[] {
  return review.packs.map((p) => `${review.name}: ${p.pack}: ${p.templates} templates, ${p.resources} resources validated; `
    + `${review.findings.filter((f) => f.message.startsWith(`${p.pack}-`) || f.message.includes(`[${p.pack}-`)).length} unacknowledged findings`);
}

/** The review as Markdown. */
export function renderSecurityReview(review: SecurityReview): string {
  const lines = [
    '# Security review',
    '',
    '<!-- Generated by `npm run security:review` (examples/security-review.ts); test/security-review.test.ts checks it is current. -->',
    '',
    'cdk-nag\'s `AwsSolutionsChecks` and `HIPAASecurityChecks` run under cdk-nag 3 (registered as a user',
    'registers them: `Validations.of(app).addPlugins(...)`) on the whole example app, including the stack',
    'the CDK Pipelines stage deploys, and on each construct alone with its defaults; and under cdk-nag 2',
    '(aspects) on the example\'s system and pipeline stacks (`test/security-review.test.ts`). No finding is',
    'left unacknowledged and every acknowledgement covers a finding. What the design accepts is',
    'acknowledged narrowly, one rule (or one finding of a granular rule) on one resource with its reason:',
    'inside the constructs for the library\'s resources (recorded for cdk-nag 3 and for cdk-nag 2), in the',
    'example for its own (cdk-nag 3\'s `Validations.of(x).acknowledge`).',
    '',
    '## What was validated (cdk-nag 3)',
    '',
    '| Review | Pack | Templates | Resources | Unacknowledged findings |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const r of [review.example, ...review.constructsAlone]) {
    for (const p of r.packs) {
      const count = r.findings.filter((f) => f.message.startsWith(`${p.pack}-`) || f.message.includes(`[${p.pack}-`)).length;
      lines.push(`| ${r.name} | ${p.pack} | ${p.templates} | ${p.resources} | ${count} |`);
    }
  }
  lines.push('', '## cdk-nag 2', '');
  lines.push('| Stack | Unacknowledged findings |', '| --- | ---: |');
  for (const r of review.exampleV2) lines.push(`| \`${r.stack.stackName}\` | ${r.findings.length} |`);
  lines.push('');
  const stacks = review.example.app.node.findAll().filter((c): c is Stack => Stack.isStack(c));
  for (const stack of stacks) {
    const rules = acknowledgedRules(stack);
    const resources = new Set(rules.flatMap((r) => r.reasons.flatMap((x) => x.resources.map((p) => `${r.rule} ${p}`))));
    lines.push(`## Stack \`${stack.stackName}\`${stack.node.path === stack.stackName ? '' : ` (\`${stack.node.path}\`)`}`, '');
    lines.push(`${rules.length} rules acknowledged, ${resources.size} acknowledgements (rule × resource).`, '');
    lines.push('| Rule | Resources | Why |', '| --- | ---: | --- |');
    for (const r of rules) {
      const count = new Set(r.reasons.flatMap((x) => x.resources)).size;
      const why = r.reasons.map((x) => `${x.reason} (${x.resources.map((p) => `\`${p}\``).join(', ')})`).join('<br>');
      lines.push(`| \`${r.rule}\` | ${count} | ${why.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export const SECURITY_REVIEW_DOC = path.join(__dirname, '..', 'docs', 'security-review.md');

if (require.main === module) {
  const dirs: string[] = [];
  const createApp = (context: { [key: string]: unknown }) => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'security-review-'));
    dirs.push(outdir);
    return new App({ outdir, context });
  };
  try {
    const review = securityReview(createApp);
    fs.writeFileSync(SECURITY_REVIEW_DOC, renderSecurityReview(review));
    for (const r of [review.example, ...review.constructsAlone]) {
      for (const line of packSummary(r)) console.log(`cdk-nag 3: ${line}`);
    }
    for (const r of review.exampleV2) console.log(`cdk-nag 2: ${r.stack.stackName}: ${r.findings.length} unacknowledged findings`);
    const problems = [
      ...[review.example, ...review.constructsAlone].flatMap((r) => [...r.findings.map((f) => `${r.name}: ${f.path}: ${f.message.split(': ')[0]}`), ...r.unused.map((u) => `${r.name}: unused ${u}`)]),
      ...review.exampleV2.flatMap((r) => [...r.findings.map((f) => `cdk-nag 2: ${f.path}: ${f.message.split(': ')[0]}`), ...r.unused.map((u) => `cdk-nag 2: unused ${u}`)]),
    ];
    console.log(`Wrote ${path.relative(process.cwd(), SECURITY_REVIEW_DOC)}; unacknowledged findings and unused acknowledgements: ${problems.length}`);
    for (const p of problems) console.log(`  ${p}`);
    process.exitCode = problems.length > 0 ? 1 : 0;
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
