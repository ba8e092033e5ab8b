/**
 * What keyed the stored ids of each identity space (source system, entity type), published where
 * synth can read it: one SSM parameter per identity space, created by the construct with the value
 * NO_STORED_RUNS and overwritten by the processor after the first run that commits for it and after
 * each re-key (lambda/ingestion-pipeline/id-normalization-parameter.ts). At synth, in a stack with
 * a concrete account and region, the construct looks each parameter up (cached in cdk.context.json
 * by the CDK CLI) and refuses a changed `idNormalization` that declares no re-key of the stored ids.
 * docs/ingestion.md, "Source ids".
 */
import { createHash } from 'crypto';
import { Annotations, ContextProvider, Stack, Token } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as cxschema from 'aws-cdk-lib/cloud-assembly-schema';
import { Construct } from 'constructs';
import { IdNormalization, SourceDefinition } from './source-definition';
import { ID_NORMALIZATION_PARAMETER_ROOT, NO_STORED_RUNS } from '../common/contracts';

/** The value a lookup returns, without a default, before the CLI resolved it (aws-cdk-lib's StringParameter.valueFromLookup). */
const LOOKUP_DUMMY_PREFIX = 'dummy-value-for-';

/**
 * One level of an SSM parameter name: letters, digits, `_`, `.` and `-` only. Text with other
 * characters (or too long) is cleaned and suffixed with a hash of the original, so two different
 * texts never share a level.
 */
function nameLevel(text: string, maxLength: number): string {
  if (/^[A-Za-z0-9_.-]+$/.test(text) && !/^\.+$/.test(text) && text.length <= maxLength) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `${text.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, maxLength - hash.length - 1)}-${hash}`;
}

/** The deployed stack that holds `scope` (a nested stack's top-level parent: its name is concrete at synth). */
function topLevelStack(scope: Construct): Stack {
  let stack = Stack.of(scope);
  while (stack.nestedStackParent) stack = stack.nestedStackParent;
  return stack;
}

/**
 * `/cdk-serverless-data-pipeline/<stack name>/<construct path in the stack>/id-normalization/`: the
 * stack name is unique in its account and region, the path in its stack; both concrete at synth.
 */
export function idNormalizationParameterPrefix(pipeline: Construct): string {
  const stack = topLevelStack(pipeline);
  const stackName = Token.isUnresolved(stack.stackName) ? stack.artifactId : stack.stackName;
  const path = pipeline.node.scopes.slice(stack.node.scopes.length).map((c) => c.node.id).join('.');
  return `${ID_NORMALIZATION_PARAMETER_ROOT}/${nameLevel(stackName, 128)}/${nameLevel(path, 200)}/id-normalization/`;
}

/** Sources that share a source system and entity type share their ids, and their parameter. */
function identityKey(s: SourceDefinition): string {
  return JSON.stringify([s.sourceSystem, s.entityType]);
}

function normalizationOf(s: SourceDefinition): IdNormalization {
  return s.idNormalization ?? IdNormalization.TRIM;
}

const KNOWN = new Set<string>(Object.values(IdNormalization));

/** The SSM parameters of a pipeline's identity spaces. */
export class IdNormalizationParameters extends Construct {
  /** The parameters, one per (source system, entity type), in the order of their first source. */
  readonly parameters: ssm.StringParameter[] = [];
  /** Parameter names (literal: the construct's parameterName is a token) by identity space. */
  private readonly names = new Map<string, string>();

  constructor(scope: Construct, id: string, private readonly sources: SourceDefinition[]) {
    super(scope, id);
    const prefix = idNormalizationParameterPrefix(scope);
    for (const s of sources) {
      const key = identityKey(s);
      if (this.names.has(key)) continue;
      const group = (this.node.tryFindChild(s.sourceSystem) as Construct | undefined) ?? new Construct(this, s.sourceSystem);
      const parameterName = `${prefix}${nameLevel(s.sourceSystem, 100)}/${nameLevel(s.entityType, 100)}`;
      const parameter = new ssm.StringParameter(group, s.entityType, {
        parameterName,
        // The processor overwrites this value (ssm:PutParameter) once a run of the identity space
        // commits. CloudFormation updates a resource only when its template properties change, so
        // later deployments leave the written value alone as long as none of these properties
        // changes: keep them constant (no source names, settings or versions in them). Only a deploy
        // that reverts drift (a drift-aware change set, `cdk deploy --revert-drift`) resets it, which
        // leaves the synth check without a stored value until a new processor environment rewrites it.
        stringValue: NO_STORED_RUNS,
        // (SSM allows 1024 characters: entity types and source systems have no length limit.)
        description: `cdk-serverless-data-pipeline: the id normalization that keyed the stored ${s.entityType} entities of ${s.sourceSystem} (written by the ingestion processor)`
          .slice(0, 1024),
      });
      this.names.set(key, parameterName);
      this.parameters.push(parameter);
    }
  }

  /** The parameter name of the source's identity space. */
  nameFor(source: SourceDefinition): string {
    return this.names.get(identityKey(source))!;
  }

  /**
   * Compares each identity space's stored normalization (looked up) with its sources' setting, in a
   * stack with a concrete account and region; elsewhere, says that the check happens at run time only.
   *
   * @param propName the sources prop, for the error message
   */
  checkAtSynth(propName: string): void {
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)) {
      Annotations.of(this.node.scope!).addInfo(
        'The id normalization of the sources is checked against the stored ids at run time only (a file of a changed source is set aside '
        + 'with id_normalization_changed), since this stack has no concrete account and region to look the stored one up in. '
        + 'Give the stack an env (account and region) to have a change refused at synth (docs/ingestion.md, "Source ids").');
      return;
    }
    const checked = new Set<string>();
    this.sources.forEach((s, i) => {
      const key = identityKey(s);
      if (checked.has(key)) return;
      checked.add(key);
      const parameterName = this.nameFor(s);
      const stored = ssm.StringParameter.valueFromLookup(this, parameterName, NO_STORED_RUNS);
      if (stored === NO_STORED_RUNS || stored.startsWith(LOOKUP_DUMMY_PREFIX)) return;
      if (!KNOWN.has(stored)) {
        Annotations.of(this.node.scope!).addWarningV2('cdk-serverless-data-pipeline:idNormalizationParameter',
          `SSM parameter ${parameterName} holds ${JSON.stringify(stored)}, which is no id normalization: the change check of source "${s.name}" happens at run time only`);
        return;
      }
      const configured = normalizationOf(s);
      if (stored === configured || s.rekeyIdsFrom === stored) return;
      const contextKey = ContextProvider.getKey(this, { provider: cxschema.ContextProvider.SSM_PARAMETER_PROVIDER, props: { parameterName } }).key;
      const member = (n: string) => `IdNormalization.${n.toUpperCase()}`;
      const declared = s.rekeyIdsFrom ? `declares rekeyIdsFrom ${member(s.rekeyIdsFrom)}, but ` : 'has no rekeyIdsFrom, and ';
      throw new Error(`${propName}[${i}].idNormalization (source "${s.name}") is ${member(configured)}, ${declared}the stored ${s.entityType} entities `
        + `of ${s.sourceSystem} were keyed with ${member(stored)} (SSM parameter ${parameterName}): set rekeyIdsFrom: ${member(stored)} to re-key them `
        + `on the next run, or idNormalization back to ${member(stored)}. The stored value was looked up at synth and is cached in cdk.context.json `
        + `as "${contextKey}"; if the ids were re-keyed since, refresh it with: cdk context --reset "${contextKey}" (docs/ingestion.md, "Source ids")`);
    });
  }
}
