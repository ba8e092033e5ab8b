/**
 * A local stand-in for Secrets Manager's GetSecretValue / DescribeSecret (JSON 1.1 protocol),
 * so handlers read their database credentials through the real AWS SDK, exactly as in the cloud.
 * Point clients at it with AWS_ENDPOINT_URL_SECRETS_MANAGER.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface LocalSecretsManager {
  readonly endpoint: string;
  /** GetSecretValue calls received, by secret id. */
  readonly reads: string[];
  /** Adds or replaces a secret; returns its ARN. */
  put(name: string, value: unknown): string;
  close(): Promise<void>;
}

export async function startLocalSecretsManager(region = 'us-east-1', account = '123456789012'): Promise<LocalSecretsManager> {
  const secrets = new Map<string, { arn: string; name: string; value: string; version: number }>();
  const reads: string[] = [];
  const find = (id: string) => secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      const { SecretId } = JSON.parse(body || '{}');
      const secret = find(SecretId);
      if (!secret) return reply(400, { __type: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret: ${SecretId}` });
      if (target.endsWith('.GetSecretValue')) {
        reads.push(SecretId);
        return reply(200, {
          ARN: secret.arn,
          Name: secret.name,
          SecretString: secret.value,
          VersionId: `v${secret.version}`,
          VersionStages: ['AWSCURRENT'],
          CreatedDate: Date.now() / 1000,
        });
      }
      if (target.endsWith('.DescribeSecret')) return reply(200, { ARN: secret.arn, Name: secret.name });
      return reply(400, { __type: 'InvalidRequestException', message: `Unsupported operation ${target}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads,
    put(name, value) {
      const existing = secrets.get(name);
      const arn = existing?.arn ?? `arn:aws:secretsmanager:${region}:${account}:secret:${name}-AbCdEf`;
      secrets.set(name, { arn, name, value: typeof value === 'string' ? value : JSON.stringify(value), version: (existing?.version ?? 0) + 1 });
      return arn;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Environment every handler test sets: a region, fake credentials, no real AWS. */
export function fakeAwsEnvironment(): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    POWERTOOLS_DEV: 'false',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  };
}
