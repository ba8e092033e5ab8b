/**
 * The runtime gate: every `AWS::Lambda::Function` of a template must run on a runtime that AWS
 * lets you create functions on for at least six more months, by AWS's published lifecycle (the
 * pinned cfn-lint's runtime data). A runtime given through `Fn::FindInMap` (e.g. CDK's per-region
 * runtime maps) counts with every value the mapping can give, in every region; `Fn::If`, with both
 * branches. A runtime the gate cannot resolve, or that the data does not know, fails it too.
 *
 * Date-sensitive by design: a runtime that passes today fails once its block date comes within six
 * months (see docs/template-lint.md, "When a runtime finding fires").
 */
import { RuntimeLifecycle } from './cfn-lint';

/** How far ahead the gate looks: a runtime blocked for new functions within this many months fails. */
export const RUNTIME_GATE_MONTHS = 6;

/** A function's runtime, as the template can resolve it. */
export interface FunctionRuntime {
  /** Logical id of the function. */
  readonly logicalId: string;
  /** Every runtime the function can get (several through a mapping or a condition). */
  readonly runtimes: string[];
}

/** What the gate found wrong with one function. */
export interface RuntimeProblem {
  readonly logicalId: string;
  readonly runtime?: string;
  readonly problem: string;
}

/** Every value `value` can take in the template (literals, `Fn::FindInMap` over all keys a non-literal key can be, `Fn::If`). */
export function possibleValues(template: any, value: unknown, where: string): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const [fn, args] = Object.entries(value)[0] ?? [];
    if (Object.keys(value).length === 1 && fn === 'Fn::FindInMap' && Array.isArray(args)) return findInMap(template, args, where);
    if (Object.keys(value).length === 1 && fn === 'Fn::If' && Array.isArray(args) && args.length === 3) {
      return [...possibleValues(template, args[1], where), ...possibleValues(template, args[2], where)];
    }
  }
  throw new Error(`${where}: cannot resolve ${JSON.stringify(value)} (a literal, Fn::FindInMap or Fn::If is expected)`);
}

/** Values of a `Fn::FindInMap`: a key that is not a literal (e.g. `{ Ref: 'AWS::Region' }`) stands for every key of its level. */
function findInMap(template: any, args: unknown[], where: string): string[] {
  const [mapName, topKey, secondKey] = args;
  if (typeof mapName !== 'string') throw new Error(`${where}: Fn::FindInMap with a computed map name cannot be resolved`);
  const mapping = template.Mappings?.[mapName];
  if (!mapping) throw new Error(`${where}: Fn::FindInMap names a mapping the template does not have: ${mapName}`);
  const level = (obj: any, key: unknown) => (typeof key === 'string' ? [obj[key]] : Object.values(obj)).filter((v) => v !== undefined);
  const values = level(mapping, topKey).flatMap((inner) => level(inner, secondKey));
  if (values.length === 0) throw new Error(`${where}: Fn::FindInMap ${JSON.stringify(args)} gives no value`);
  return [...new Set(values.flatMap((v) => possibleValues(template, v, where)))];
}

/** The runtimes of every zip-packaged `AWS::Lambda::Function` of the template. */
export function functionRuntimes(template: any): FunctionRuntime[] {
  return Object.entries<any>(template.Resources ?? {})
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties?.PackageType !== 'Image')
    .map(([logicalId, r]) => {
      if (r.Properties?.Runtime === undefined) throw new Error(`${logicalId}: a zip-packaged function without a Runtime`);
      return { logicalId, runtimes: [...new Set(possibleValues(template, r.Properties.Runtime, `${logicalId}.Runtime`))] };
    });
}

/** `date` plus `months` calendar months (ISO date). */
export function addMonths(date: Date, months: number): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, date.getUTCDate()));
  return d.toISOString().slice(0, 10);
}

/** Problems of the template's functions against the lifecycle data, as of `today`. */
export function runtimeProblems(template: any, lifecycle: { [runtime: string]: RuntimeLifecycle }, today: Date): RuntimeProblem[] {
  const horizon = addMonths(today, RUNTIME_GATE_MONTHS);
  const problems: RuntimeProblem[] = [];
  for (const { logicalId, runtimes } of functionRuntimes(template)) {
    for (const runtime of runtimes) {
      const dates = lifecycle[runtime];
      if (!dates) {
        problems.push({ logicalId, runtime, problem: `${runtime} is not in cfn-lint's runtime lifecycle data (a typo, or newer than the pinned cfn-lint: raise its pin)` });
      } else if (dates['create-block'] && dates['create-block'] <= horizon) {
        problems.push({
          logicalId,
          runtime,
          problem: `AWS blocks creating functions on ${runtime} from ${dates['create-block']}, within ${RUNTIME_GATE_MONTHS} months (by ${horizon})`
            + (dates.successor ? `; its successor is ${dates.successor}` : ''),
        });
      }
    }
  }
  return problems;
}
