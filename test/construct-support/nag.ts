/**
 * cdk-nag in tests and in the security review: the AwsSolutions pack (and optionally HIPAA Security)
 * under cdk-nag 3 (what `npm i cdk-nag` installs: a policy-validation plugin) and under cdk-nag 2
 * (the alias package `cdk-nag-v2`: aspects), what each reports that the constructs did not
 * acknowledge, and which acknowledgements covered no finding.
 */
import { Aspects, CfnResource, IPolicyValidationContext, PolicyValidationPluginReport, Stack, Stage, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks, HIPAASecurityChecks, NagPack } from 'cdk-nag';
import { AwsSolutionsChecks as AwsSolutionsChecksV2, HIPAASecurityChecks as HIPAASecurityChecksV2 } from 'cdk-nag-v2';
import { IConstruct } from 'constructs';

/** Which cdk-nag reported a finding. */
export type NagVersion = 'v3' | 'v2';

/** One cdk-nag message on one resource. */
export interface NagFinding {
  /** The resource's construct path, with a leading `/`. */
  readonly path: string;
  /** `<rule>: <description>`; a rule that could not be evaluated is named `CdkNagValidationFailure[<rule>]` in both versions. */
  readonly message: string;
  readonly nag: NagVersion;
}

/** What one cdk-nag 3 pack validated. */
export interface NagPackRun {
  readonly pack: string;
  /** Templates (stacks) whose resources the pack checked. */
  readonly templates: number;
  /** CloudFormation resources the pack checked. */
  readonly resources: number;
}

/** What the packs reported. */
export interface NagReport {
  /** Unacknowledged errors, cdk-nag 3's and cdk-nag 2's. */
  readonly errors: NagFinding[];
  /** Unacknowledged warnings (cdk-nag 2: including rules it could not evaluate). */
  readonly warnings: NagFinding[];
  /** cdk-nag 3: what each pack validated. */
  readonly packs: NagPackRun[];
  /** cdk-nag 2's suppression messages: which acknowledgement covered which finding. */
  readonly acknowledgedV2: Array<{ path: string; message: string }>;
  /** cdk-nag 3: the acknowledgements found, as `<resource path>\n<id>`. */
  readonly acknowledgedV3: Set<string>;
  /** Rule id prefixes of the packs that ran (acknowledgements of other packs are not judged). */
  readonly rulePrefixes: string[];
}

/** Options of `runNagChecks`. */
export interface NagCheckOptions {
  /** Also run the HIPAA Security pack. @default false */
  readonly hipaa?: boolean;
}

const VALIDATION_FAILURE = 'CdkNagValidationFailure';

/**
 * A cdk-nag 3 pack that records what it saw: the resources it checked (and their stacks), the
 * acknowledgements it found, and the report it returned. Relies on NagPack's `checkResource` and
 * `isAcknowledged` (3.0.x): fails loudly if cdk-nag renames them.
 */
export class RecordingNagPack {
  public readonly stacks = new Set<string>();
  public resources = 0;
  public readonly acknowledged = new Set<string>();
  public templatePaths?: string[];
  public report?: PolicyValidationPluginReport;

  constructor(public readonly pack: NagPack) {
    const internals = pack as any;
    for (const method of ['checkResource', 'isAcknowledged', 'validate', 'validateScope']) {
      if (typeof internals[method] !== 'function') throw new Error(`cdk-nag's NagPack has no ${method}(): update test/construct-support/nag.ts`);
    }
    const checkResource = internals.checkResource.bind(pack);
    internals.checkResource = (node: CfnResource) => {
      this.resources += 1;
      this.stacks.add(Stack.of(node).node.path);
      checkResource(node);
    };
    const isAcknowledged = internals.isAcknowledged.bind(pack);
    internals.isAcknowledged = (resource: CfnResource, ruleId: string) => {
      const found: boolean = isAcknowledged(resource, ruleId);
      if (found) this.acknowledged.add(`${resource.node.path}\n${ruleId}`);
      return found;
    };
    const validate = internals.validate.bind(pack);
    internals.validate = (context: IPolicyValidationContext) => {
      this.templatePaths = context.templatePaths;
      this.report = validate(context);
      return this.report;
    };
  }

  /** The pack's name (`AwsSolutions`, `HIPAA.Security`). */
  public get name(): string {
    return this.pack.name;
  }

  /** What it validated: templates handed to it by CDK (plugin) or stacks it walked (validateScope). */
  public get run(): NagPackRun {
    return { pack: this.name, templates: this.templatePaths?.length ?? this.stacks.size, resources: this.resources };
  }

  /** The violations of its last report, as findings. */
  public findings(severity: 'error' | 'warning'): NagFinding[] {
    return (this.report?.violations ?? []).filter((v) => (severity === 'error' ? v.severity !== 'warning' : v.severity === 'warning'))
      .flatMap((v) => {
        const rule = v.description.startsWith('Rule threw an error during validation') ? `${VALIDATION_FAILURE}[${v.ruleName}]` : v.ruleName;
        return v.violatingResources.map((r) => ({ path: `/${r.constructPath}`, message: `${rule}: ${v.description}`, nag: 'v3' as const }));
      });
  }

  /** Runs the pack on a construct tree directly (after synthesis: see `runNagChecks`). */
  public validateScope(scope: IConstruct): void {
    this.report = this.pack.validateScope(scope);
  }
}

/** The cdk-nag 3 packs, recording. */
export function nagV3Packs(scope: IConstruct, options: NagCheckOptions = {}): RecordingNagPack[] {
  return [
    new RecordingNagPack(new AwsSolutionsChecks(scope)),
    ...(options.hipaa ? [new RecordingNagPack(new HIPAASecurityChecks(scope))] : []),
  ];
}

/** Adds the cdk-nag 2 packs as aspects (verbose, logging the suppressions it applied). */
export function addNagV2Packs(scope: IConstruct, options: NagCheckOptions = {}): void {
  Aspects.of(scope).add(new AwsSolutionsChecksV2({ verbose: true, logIgnores: true }));
  if (options.hipaa) Aspects.of(scope).add(new HIPAASecurityChecksV2({ verbose: true, logIgnores: true }));
}

/** What cdk-nag 2's aspects annotated on a (synthesized) stack. */
export function nagV2Messages(stack: Stack, rule = '(AwsSolutions|HIPAA\\.Security|CdkNagValidationFailure).*') {
  const annotations = Annotations.fromStack(stack);
  const first = (m: SynthesisMessage) => ({ path: m.id, message: String(m.entry.data).split('\n')[0], nag: 'v2' as const });
  return {
    errors: annotations.findError('*', Match.stringLikeRegexp(rule)).map(first),
    warnings: annotations.findWarning('*', Match.stringLikeRegexp(rule)).map(first),
    acknowledged: annotations.findInfo('*', Match.stringLikeRegexp('^CdkNagSuppression')).map(first),
  };
}

/**
 * Runs the packs on a stack that has been built, under cdk-nag 2 (aspects, annotations) and then
 * cdk-nag 3 (`validateScope` on the synthesized tree, as the plugin sees it: acknowledgements of
 * findings given as patterns are recorded at synthesis). Call it once per stack.
 */
export function runNagChecks(stack: Stack, options: NagCheckOptions = {}): NagReport {
  addNagV2Packs(stack, options);
  const rule = options.hipaa ? '(AwsSolutions|HIPAA\\.Security)-.*' : 'AwsSolutions-.*';
  const v2 = nagV2Messages(stack, rule); // synthesizes the app
  const packs = nagV3Packs(Stage.of(stack)!, options);
  for (const pack of packs) pack.validateScope(stack);
  return {
    errors: [...packs.flatMap((p) => p.findings('error')), ...v2.errors],
    warnings: [...packs.flatMap((p) => p.findings('warning')), ...v2.warnings],
    packs: packs.map((p) => p.run),
    acknowledgedV2: v2.acknowledged,
    acknowledgedV3: new Set(packs.flatMap((p) => [...p.acknowledged])),
    rulePrefixes: ['AwsSolutions-', VALIDATION_FAILURE, ...(options.hipaa ? ['HIPAA.Security-'] : [])],
  };
}

/** One line per finding, for test output. */
export function formatNagFindings(list: NagFinding[]): string {
  return list.map((f) => `[${f.nag}] ${f.path}: ${f.message}`).join('\n');
}

/**
 * Acknowledgements in the scope that covered no finding, under either version: each should be
 * removed, or it hides a finding that no longer exists. Entries: `<path>: <rule> <finding> (cdk-nag N)`.
 */
export function unusedNagAcknowledgements(scope: IConstruct, report: Pick<NagReport, 'acknowledgedV2' | 'acknowledgedV3' | 'rulePrefixes'>): string[] {
  return [...unusedNagV3Acknowledgements(scope, report), ...unusedNagV2Acknowledgements(scope, report)];
}

function judged(report: Pick<NagReport, 'rulePrefixes'>, id: string): boolean {
  return report.rulePrefixes.some((prefix) => id.startsWith(prefix));
}

/** cdk-nag 3 acknowledgements (`Validations.of(x).acknowledge`), on resources or on constructs above them, that covered no finding. */
export function unusedNagV3Acknowledgements(scope: IConstruct, report: Pick<NagReport, 'acknowledgedV3' | 'rulePrefixes'>): string[] {
  const found = [...report.acknowledgedV3].map((entry) => entry.split('\n'));
  const unused: string[] = [];
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const id of Object.keys(entry.data).map((k) => k.replace(/^annotation::/i, ''))) {
        if (!judged(report, id)) continue;
        const path = construct.node.path;
        const covered = found.some(([resource, rule]) => rule === id && (resource === path || resource.startsWith(`${path}/`)));
        if (!covered) unused.push(`/${path}: ${id} (cdk-nag 3)`);
      }
    }
  }
  return unused;
}

interface Acknowledgement {
  readonly id: string;
  readonly applies_to?: Array<string | { regex: string }>;
}

/** `/pattern/flags` as cdk-nag writes regular expressions. */
function toRegExp(pattern: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  return match ? new RegExp(match[1], match[2]) : new RegExp(pattern);
}

function isCovered(messages: string[], id: string, finding: string | { regex: string } | undefined): boolean {
  return messages.some((m) => {
    const parsed = /^CdkNagSuppression(?:\[(.*)\])?: (\S+) was triggered/.exec(m);
    if (!parsed || parsed[2] !== id) return false;
    if (finding === undefined) return parsed[1] === undefined;
    return typeof finding === 'string' ? parsed[1] === finding : toRegExp(finding.regex).test(parsed[1] ?? '');
  });
}

/** cdk-nag 2 acknowledgements (the `cdk_nag` metadata of CfnResources) that covered no finding. */
export function unusedNagV2Acknowledgements(scope: IConstruct, report: Pick<NagReport, 'acknowledgedV2' | 'rulePrefixes'>): string[] {
  const unused: string[] = [];
  for (const construct of scope.node.findAll()) {
    if (!CfnResource.isCfnResource(construct)) continue;
    const rules: Acknowledgement[] = construct.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
    const path = `/${construct.node.path}`;
    const messages = report.acknowledgedV2.filter((f) => f.path === path).map((f) => f.message);
    for (const rule of rules) {
      if (!judged(report, rule.id)) continue;
      const covered = rule.applies_to?.length ? rule.applies_to : [undefined];
      for (const finding of covered) {
        if (!isCovered(messages, rule.id, finding)) unused.push(`${path}: ${rule.id}${finding ? ` ${JSON.stringify(finding)}` : ''} (cdk-nag 2)`);
      }
    }
  }
  return unused;
}
