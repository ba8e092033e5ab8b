/** DynamoDB: the template's tables (keys, GSIs, LSIs) in dynalite. */
import { LocalDynamoDb, startLocalDynamoDb } from '../dynamodb';
import { plural, resourcesOfType, SandboxService, ServiceContext } from './service';

export class DynamoDbService implements SandboxService {
  readonly name = 'dynamodb';
  readonly resourceTypes = ['AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable'];
  readonly tables: string[] = [];
  private server: LocalDynamoDb | undefined;

  constructor(private readonly ctx: ServiceContext) {}

  get endpoint(): string {
    if (!this.server) throw new Error('DynamoDB is not running');
    return this.server.endpoint;
  }

  async provision(): Promise<void> {
    this.server = await this.ctx.progress.step('Starting DynamoDB (dynalite)', async () => {
      const d = await startLocalDynamoDb();
      for (const type of this.resourceTypes) {
        for (const { model, id } of resourcesOfType(this.ctx.models, type)) {
          const name = String(model.ref(id));
          await d.createTable(name, model.properties(id));
          this.tables.push(name);
        }
      }
      return d;
    }, (d) => `${d.endpoint}, ${plural(this.tables.length, 'table')}`);
  }

  describe(): unknown {
    return { endpoint: this.endpoint, tables: this.tables };
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}
