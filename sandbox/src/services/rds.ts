/**
 * RDS (PostgreSQL): one real local server for every DB instance or cluster of the templates, a
 * database per DB resource and its master user (a `CREATEROLE CREATEDB` owner like RDS's, not a
 * superuser), TLS required where `openssl` exists, like `rds.force_ssl`.
 */
import { randomUUID } from 'crypto';
import { Client } from 'pg';
import { LocalPostgres, startLocalPostgres } from '../local-postgres';
import { generateSecretString } from '../secrets';
import type { SecretsManagerService } from './secretsmanager';
import { resourcesOfType, SandboxService, ServiceContext, TemplateResource } from './service';

export type DatabaseTls = 'auto' | 'require' | 'disable';

export class RdsService implements SandboxService {
  readonly name = 'rds';
  readonly resourceTypes = ['AWS::RDS::DBInstance', 'AWS::RDS::DBCluster'];
  readonly databases: string[] = [];
  postgres: LocalPostgres | undefined;
  /** Ports written into the templates for the databases (a literal DB_PORT follows the local port). */
  readonly declaredPorts = new Set<string>();

  constructor(private readonly ctx: ServiceContext, private readonly secrets: SecretsManagerService, private readonly tls: DatabaseTls) {}

  /** The DB resources the local server runs: PostgreSQL instances and clusters (not a cluster's instances). */
  private dbResources(): TemplateResource[] {
    return [...resourcesOfType(this.ctx.models, 'AWS::RDS::DBInstance'), ...resourcesOfType(this.ctx.models, 'AWS::RDS::DBCluster')].filter(({ model, id }) => {
      const r = model.resources[id];
      const engine = String(model.resolve(r.Properties?.Engine ?? 'postgres'));
      return engine.includes('postgres') && !(r.Type === 'AWS::RDS::DBInstance' && r.Properties?.DBClusterIdentifier);
    });
  }

  async provision(): Promise<void> {
    const dbs = this.dbResources();
    for (const { model, id } of dbs) this.declaredPorts.add(String(model.resolve(model.resources[id].Properties?.Port ?? '5432')));
    if (dbs.length === 0) return;
    const pg = await this.ctx.progress.step('Starting PostgreSQL', () => startLocalPostgres({
      fast: true, baseDir: this.ctx.runDir, tls: this.tls === 'auto' ? 'auto' : this.tls === 'require',
    }), (p) => `${p.description.replace(/ in .*/, '')} on ${p.host}:${p.port}, TLS ${p.tls ? 'required (DB_TLS=require)' : 'off (DB_TLS=disable)'}`);
    this.postgres = pg;
    this.ctx.recordProcess({ what: 'PostgreSQL', postgresDataDir: pg.dataDir });
    this.ctx.endpoints.database = { host: pg.host, port: pg.port };
    await this.ctx.progress.step('Creating the databases and master users', async () => {
      const admin = new Client({ connectionString: pg.adminUrl, ssl: pg.tls ? { rejectUnauthorized: false } : false });
      await admin.connect();
      try {
        for (const db of dbs) await this.createDatabase(admin, db);
      } finally {
        await admin.end();
      }
    }, () => this.databases.join(', '));
    this.secrets.attachDatabase(pg.host, pg.port);
  }

  private async createDatabase(admin: Client, { model, id }: TemplateResource): Promise<void> {
    const p = model.properties(id);
    const dbName = String(p.DBName ?? p.DatabaseName ?? 'postgres');
    const username = p.MasterUsername ? String(p.MasterUsername) : 'postgres_admin';
    let password = p.MasterUserPassword ? String(p.MasterUserPassword) : undefined;
    if (p.ManageMasterUserPassword) {
      const arn = String(model.getAtt(id, 'MasterUserSecret.SecretArn'));
      password = generateSecretString({ PasswordLength: 30, ExcludeCharacters: '"@/\\ \'' });
      this.secrets.secrets.put(arn.split(':secret:')[1], arn, JSON.stringify({ username, password }));
    }
    if (!password) {
      this.ctx.warnings.push(`${model.stackName}/${id}: no master password in the template; using a generated one`);
      password = randomUUID();
    }
    const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
    const verb = exists.rowCount ? 'ALTER' : 'CREATE';
    await admin.query(`${verb} ROLE ${admin.escapeIdentifier(username)} LOGIN CREATEROLE CREATEDB PASSWORD ${admin.escapeLiteral(password)}`);
    if (!(await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount) {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)} OWNER ${admin.escapeIdentifier(username)}`);
    }
    this.databases.push(dbName);
  }

  /** A superuser connection URL of a local database. */
  databaseUrl(database = this.databases[0]): string {
    if (!this.postgres) throw new Error('The app has no PostgreSQL database');
    const u = new URL(this.postgres.adminUrl);
    u.pathname = `/${database}`;
    return u.toString();
  }

  describe(): unknown {
    const pg = this.postgres;
    if (!pg) return undefined;
    const { host, port, adminUrl, tls, description: server, dataDir } = pg;
    return { host, port, databases: this.databases, adminUrl, tls, server, dataDir };
  }

  async stop(): Promise<void> {
    await this.postgres?.stop();
  }
}
