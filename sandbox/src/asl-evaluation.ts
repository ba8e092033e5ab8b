/**
 * Payload templates and paths evaluated as a state evaluates them, by aws-local-stepfunctions
 * itself (one Pass state), so the Distributed Map layer (./map-run.ts) has the interpreter's exact
 * JSONPath, `$$` Context and intrinsic-function semantics, and its errors (`States.Runtime` for a
 * path that matches nothing). `$` is the given state input; `$$` the given Context object, whose
 * `Execution.Input` stays the execution's input. The interpreter sets `$$.Execution.StartTime` to
 * the evaluation's own start: ./distributed-map.ts refuses templates that read it.
 */

type Evaluator = { run(input: unknown, options: unknown): { result: Promise<unknown> } };

const machines = new WeakMap<object, Evaluator>();

function evaluatorFor(template: object): Evaluator {
  let machine = machines.get(template);
  if (!machine) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { StateMachine } = require('aws-local-stepfunctions');
    machine = new StateMachine({
      StartAt: 'Evaluate',
      States: { Evaluate: { Type: 'Pass', InputPath: '$$.SandboxStateInput', Parameters: template, End: true } },
    }, { validationOptions: { noValidate: true } }) as Evaluator;
    machines.set(template, machine);
  }
  return machine;
}

/** The value of a payload template (an ItemSelector, a Parameters object) for a state input and Context. */
export async function evaluateTemplate(template: unknown, stateInput: unknown, context: Record<string, any>): Promise<unknown> {
  if (typeof template !== 'object' || template === null) return template;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ExecutionError } = require('aws-local-stepfunctions');
  const run = evaluatorFor(template).run(context.Execution?.Input ?? {}, { context: { ...context, SandboxStateInput: stateInput } });
  try {
    return await run.result;
  } catch (error) {
    throw error instanceof ExecutionError ? (error as Error & { cause: Error }).cause : error;
  }
}

const pathTemplates = new Map<string, object>();

/** The value at a path (`$.x`, `$$.Map.Item.Value`) for a state input and Context. */
export async function evaluatePath(path: string, stateInput: unknown, context: Record<string, any>): Promise<unknown> {
  let template = pathTemplates.get(path);
  if (!template) pathTemplates.set(path, template = { 'value.$': path });
  return ((await evaluateTemplate(template, stateInput, context)) as { value: unknown }).value;
}
