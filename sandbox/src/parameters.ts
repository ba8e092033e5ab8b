/**
 * Systems Manager Parameter Store, locally: the template's String parameters and the values
 * handlers write, behind the local AWS endpoint (JSON 1.1, `AmazonSSM.<Operation>`), so handlers
 * read and write them through the real SDK (GetParameter / PutParameter).
 */
import { AwsError, LocalAwsApi } from './aws-api';

export interface StoredParameter {
  readonly name: string;
  readonly type: string;
  value: string;
  version: number;
  modified: number;
}

/** Parameter names as SSM accepts them: letters, digits, `_ . - /`, a leading `/` for a path. */
const NAME = /^\/?[A-Za-z0-9_.\-/]{1,1011}$/;

export class LocalParameters {
  private readonly parameters = new Map<string, StoredParameter>();
  /** PutParameter calls received, in order (name and value). */
  readonly writes: Array<{ name: string; value: string }> = [];
  /** GetParameter calls received, by name. */
  readonly reads: string[] = [];

  constructor(private readonly region: string, private readonly accountId: string) {}

  /** Creates or overwrites a parameter (what CloudFormation and PutParameter with Overwrite do). */
  put(name: string, value: string, type = 'String'): StoredParameter {
    const existing = this.parameters.get(name);
    if (existing) {
      existing.value = value;
      existing.version++;
      existing.modified = Date.now() / 1000;
      return existing;
    }
    const parameter = { name, type, value, version: 1, modified: Date.now() / 1000 };
    this.parameters.set(name, parameter);
    return parameter;
  }

  delete(name: string): boolean {
    return this.parameters.delete(name);
  }

  get(name: string): StoredParameter | undefined {
    return this.parameters.get(name);
  }

  names(): string[] {
    return [...this.parameters.keys()];
  }

  arn(name: string): string {
    return `arn:aws:ssm:${this.region}:${this.accountId}:parameter/${name.replace(/^\//, '')}`;
  }

  register(api: LocalAwsApi): void {
    api.jsonService('AmazonSSM', '1.1', {
      GetParameter: ({ Name }) => {
        this.reads.push(Name);
        const p = this.parameters.get(Name);
        if (!p) throw new AwsError('ParameterNotFound', `Parameter ${Name} not found.`);
        return { Parameter: { Name: p.name, Type: p.type, Value: p.value, Version: p.version, LastModifiedDate: p.modified, ARN: this.arn(p.name), DataType: 'text' } };
      },
      DeleteParameter: ({ Name }) => {
        if (!this.delete(Name)) throw new AwsError('ParameterNotFound', `Parameter ${Name} not found.`);
        return {};
      },
      PutParameter: ({ Name, Value, Type, Overwrite }) => {
        if (typeof Name !== 'string' || !NAME.test(Name)) throw new AwsError('ValidationException', `Parameter name ${JSON.stringify(Name)} is not valid.`);
        if (typeof Value !== 'string' || Value === '') throw new AwsError('ValidationException', 'Value must not be empty.');
        const existing = this.parameters.get(Name);
        if (existing && !Overwrite) {
          throw new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
        }
        if (existing && Type !== undefined && Type !== existing.type) throw new AwsError('HierarchyTypeMismatchException', `Parameter ${Name} is a ${existing.type}.`);
        this.writes.push({ name: Name, value: Value });
        const p = this.put(Name, Value, Type ?? 'String');
        return { Version: p.version, Tier: 'Standard' };
      },
    });
  }
}
