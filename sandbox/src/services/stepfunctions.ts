/**
 * Step Functions: the synthesized ASL of each state machine run by aws-local-stepfunctions
 * (../step-functions.ts), its tasks bound to the local services; status changes printed.
 */
import { seconds } from '../progress';
import { LocalStepFunctions, StepFunctionsDependencies } from '../step-functions';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

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
      const p = model.properties(id);
      let text = typeof p.DefinitionString === 'string' ? p.DefinitionString : JSON.stringify(p.Definition ?? {});
      for (const [k, v] of Object.entries(p.DefinitionSubstitutions ?? {})) text = text.split(`\${${k}}`).join(String(v));
      const name = String(model.getAtt(id, 'Name'));
      this.stepFunctions.addMachine(String(model.ref(id)), name, JSON.parse(text), String(p.StateMachineType ?? 'STANDARD'));
      this.machines.push(name);
    }
  }

  describe(): unknown {
    return this.machines;
  }

  async stop(): Promise<void> {
    // executions end with the functions they call
  }
}
