/** Systems Manager: the template's parameters (AWS::SSM::Parameter) with their values, behind the local API. */
import { LocalParameters } from '../parameters';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

export class SsmService implements SandboxService {
  readonly name = 'ssm';
  readonly resourceTypes = ['AWS::SSM::Parameter'];
  readonly parameters: LocalParameters;

  constructor(private readonly ctx: ServiceContext) {
    this.parameters = new LocalParameters(ctx.region, ctx.accountId);
    this.parameters.register(ctx.api);
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SSM::Parameter')) {
      const p = model.properties(id);
      // Ref of a parameter is its name; CloudFormation generates one when the template has none.
      const name = p.Name !== undefined ? String(p.Name) : `CFN-${id}-local`;
      const type = String(p.Type ?? 'String');
      model.setAttributes(id, { Type: type, Value: String(p.Value) }, name);
      this.parameters.put(name, String(p.Value), type);
    }
  }

  describe(): unknown {
    return { parameters: this.parameters.names() };
  }

  async stop(): Promise<void> {
    // in memory: nothing to stop
  }
}
