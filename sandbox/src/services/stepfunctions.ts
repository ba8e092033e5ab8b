/**
 * Step Functions: the synthesized ASL of each state machine run by aws-local-stepfunctions
 * (../step-functions.ts), its tasks bound to the local services; status changes printed.
 */
import { seconds } from '../progress';
import type { StackModel } from '../resolver';
import { LocalStepFunctions, StepFunctionsDependencies } from '../step-functions';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

/** Adds a state machine of the template (its ASL with every reference resolved); returns its name. */
export function addStateMachine(stepFunctions: LocalStepFunctions, model: StackModel, logicalId: string): string {
  const p = model.properties(logicalId);
  let text = typeof p.DefinitionString === 'string' ? p.DefinitionString : JSON.stringify(p.Definition ?? {});
  for (const [k, v] of Object.entries(p.DefinitionSubstitutions ?? {})) text = text.split(`\${${k}}`).join(String(v));
  const name = String(model.getAtt(logicalId, 'Name'));
  stepFunctions.addMachine(String(model.ref(logicalId)), name, JSON.parse(text), String(p.StateMachineType ?? 'STANDARD'));
  return name;
}

export class StepFunctionsService implements SandboxService {
  readonly name = 'stepfunctions';
  readonly resourceTypes = ['AWS::StepFunctions::StateMachine', 'AWS::StepFunctions::Activity'];
  readonly stepFunctions: LocalStepFunctions;
  readonly machines: string[] = [];

  constructor(private readonly ctx: ServiceContext, deps: StepFunctionsDependencies) {
    this.stepFunctions = new LocalStepFunctions(deps);
    this.stepFunctions.register(ctx.api);
    this.stepFunctions.onStatus((e) => {
      if (e.status !== 'RUNNING') ctx.print(`  ⇢ execution ${e.name}: ${e.status}${e.error ? ` (${e.error})` : ''} in ${seconds((e.stopDate ?? Date.now()) - e.startDate)}`);
    });
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::StepFunctions::StateMachine')) {
      this.machines.push(addStateMachine(this.stepFunctions, model, id));
    }
  }

  describe(): unknown {
    return this.machines;
  }

  async stop(): Promise<void> {
    // executions end with the functions they call
  }
}
