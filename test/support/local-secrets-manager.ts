/**
 * The tests' Secrets Manager: the sandbox's own (sandbox/src/secrets.ts: GetSecretValue,
 * DescribeSecret, PutSecretValue… behind the sandbox's local AWS endpoint), so handlers read
 * their database credentials through the real AWS SDK, exactly as in the cloud. Point clients at
 * it with AWS_ENDPOINT_URL_SECRETS_MANAGER.
 */
import { LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalSecrets } from '../../sandbox/src/secrets';

export interface LocalSecretsManager {
  readonly endpoint: string;
  /** GetSecretValue calls received, by secret id. */
  readonly reads: string[];
  /** Adds or replaces a secret; returns its ARN. */
  put(name: string, value: unknown): string;
  close(): Promise<void>;
}

export async function startLocalSecretsManager(region = 'us-east-1', account = '123456789012'): Promise<LocalSecretsManager> {
  const secrets = new LocalSecrets();
  const api = new LocalAwsApi();
  secrets.register(api);
  const endpoint = await api.listen(0);
  return {
    endpoint,
    reads: secrets.reads,
    put(name, value) {
      const arn = secrets.find(name)?.arn ?? `arn:aws:secretsmanager:${region}:${account}:secret:${name}-AbCdEf`;
      secrets.put(name, arn, typeof value === 'string' ? value : JSON.stringify(value));
      return arn;
    },
    close: () => api.close(),
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
