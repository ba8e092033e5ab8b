/**
 * The src/ <-> lambda/ contracts (EventBridge sources and detail types, the metrics namespace and
 * metric names) are defined once, in src/common/contracts.ts. This test reads both trees' source
 * and fails when a side writes its own copy of a name (a string literal where the contract's
 * constant belongs), when a construct's metric*() reads a metric no handler emits, or when the
 * contract lists a metric nobody emits.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import * as contracts from '../src/common/contracts';

const root = path.join(__dirname, '..');
const CONTRACT_FILE = path.join(root, 'src', 'common', 'contracts.ts');
const METRIC_GROUPS = ['INGESTION_METRICS', 'ANALYZER_METRICS', 'ANALYTICS_METRICS'] as const;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Event sources, detail types and the namespace: specific enough that no other code writes them. */
const EVENT_AND_NAMESPACE_NAMES = new Set<string>([
  contracts.INGESTION_EVENT_SOURCE, contracts.INGESTION_SUCCEEDED, contracts.INGESTION_FAILED,
  contracts.ANALYSIS_EVENT_SOURCE, contracts.ANALYSIS_COMPLETE, contracts.ANALYSIS_FAILED, contracts.METRICS_NAMESPACE,
]);

interface Scan {
  /** `file:line literal` of every copy of a contract name. */
  readonly copies: string[];
  /** `GROUP.KEY` of the metrics read (src) or emitted (lambda) through the contract. */
  readonly metrics: Set<string>;
}

/** Reads every file of a tree: copies of contract names, and metric names used through the contract. */
function scan(dir: string, metricCall: RegExp, handlerMetricsIn: (text: string) => boolean = () => true): Scan {
  const copies: string[] = [];
  const metrics = new Set<string>();
  for (const file of sourceFiles(dir).filter((f) => f !== CONTRACT_FILE)) {
    const text = fs.readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const readsHandlerMetrics = handlerMetricsIn(text);
    const aliases = new Map<string, string>();
    const where = (node: ts.Node) => `${path.relative(root, file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    const visit = (node: ts.Node, inMetricCall: boolean): void => {
      if (ts.isImportDeclaration(node) && /common\/contracts$/.test((node.moduleSpecifier as ts.StringLiteral).text)) {
        const named = node.importClause?.namedBindings;
        if (named && ts.isNamedImports(named)) for (const e of named.elements) aliases.set(e.name.text, (e.propertyName ?? e.name).text);
      }
      if (ts.isStringLiteral(node) && (EVENT_AND_NAMESPACE_NAMES.has(node.text) || inMetricCall)) copies.push(`${where(node)} '${node.text}'`);
      if (inMetricCall && ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
        const group = aliases.get(node.expression.text);
        if (group) metrics.add(`${group}.${node.name.text}`);
      }
      if (inMetricCall && ts.isConditionalExpression(node)) {
        // `cache === 'hit' ? M.CACHE_HIT : M.CACHE_MISS`: the condition is no metric name.
        visit(node.condition, false);
        visit(node.whenTrue, true);
        visit(node.whenFalse, true);
        return;
      }
      const isMetricCall = readsHandlerMetrics && ts.isCallExpression(node) && metricCall.test(node.expression.getText(source));
      if (isMetricCall) {
        const [first, ...rest] = (node as ts.CallExpression).arguments;
        visit(node.expression, inMetricCall);
        if (first) visit(first, true);
        rest.forEach((a) => visit(a, inMetricCall));
        return;
      }
      ts.forEachChild(node, (child) => visit(child, inMetricCall));
    };
    visit(source, false);
  }
  return { copies, metrics };
}

describe('src/ <-> lambda/ contracts', () => {
  const handlers = scan(path.join(root, 'lambda'), /\.addMetric$/);
  // A construct's metric() reads its handler's metrics where it is built on handlerMetric (the store's reads AWS/RDS).
  const constructs = scan(path.join(root, 'src'), /^(this\.metric|handlerMetric)$/, (text) => /\bhandlerMetric\(/.test(text));

  test('neither side writes its own copy of an event source, detail type, namespace or metric name', () => {
    expect(handlers.copies).toEqual([]);
    expect(constructs.copies).toEqual([]);
  });

  test('every metric a construct reads is one its handler emits, and the contract lists only emitted metrics', () => {
    const listed = METRIC_GROUPS.flatMap((group) => Object.keys(contracts[group]).map((key) => `${group}.${key}`)).sort();
    expect(constructs.metrics.size).toBeGreaterThan(10);
    expect([...constructs.metrics].filter((m) => !handlers.metrics.has(m))).toEqual([]);
    expect([...handlers.metrics].sort()).toEqual(listed);
  });

  test('the scan finds copies: a literal metric name and a literal source are reported', () => {
    const dir = fs.mkdtempSync(path.join(root, '.tmp-contracts-'));
    try {
      fs.writeFileSync(path.join(dir, 'h.ts'), `metrics.addMetric('RecordsReceived', 'Count', 1);\nput({ Source: '${contracts.INGESTION_EVENT_SOURCE}' });\n`);
      expect(scan(dir, /\.addMetric$/).copies).toEqual([expect.stringMatching(/h\.ts:1 'RecordsReceived'/), expect.stringMatching(/h\.ts:2 'cdk-serverless/)]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
