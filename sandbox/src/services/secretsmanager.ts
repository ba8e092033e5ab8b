/** Secrets Manager: the template's secrets, generated as CloudFormation does, behind the local API. */
import { generateSecretString, LocalSecrets } from '../secrets';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

export class SecretsManagerService implements SandboxService {
  readonly name = 'secretsmanager';
  readonly resourceTypes = ['AWS::SecretsManager::Secret', 'AWS::SecretsManager::SecretTargetAttachment'];
  readonly secrets = new LocalSecrets();

  constructor(private readonly ctx: ServiceContext) {
    this.secrets.register(ctx.api);
    for (const m of ctx.models) m.resolveDynamicReferencesWith((service, ref) => service === 'secretsmanager' ? this.secrets.dynamicReference(ref) : undefined);
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SecretsManager::Secret')) {
      const p = model.properties(id);
      const arn = String(model.ref(id));
      const name = arn.split(':secret:')[1].replace(/-[A-Za-z0-9]{6}$/, '');
      this.secrets.put(name, arn, p.SecretString ?? generateSecretString(p.GenerateSecretString));
    }
  }

  /** The connection fields RDS adds to attached secrets (once the database runs). */
  attachDatabase(host: string, port: number): void {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SecretsManager::SecretTargetAttachment')) {
      const p = model.properties(id);
      const target = String(p.TargetId);
      this.secrets.merge(String(p.SecretId), {
        engine: 'postgres',
        host,
        port,
        ...(String(p.TargetType ?? '').includes('Cluster') ? { dbClusterIdentifier: target } : { dbInstanceIdentifier: target }),
      });
    }
  }

  describe(): unknown {
    return { secrets: this.secrets.names() };
  }

  async stop(): Promise<void> {
    // in memory: nothing to stop
  }
}
