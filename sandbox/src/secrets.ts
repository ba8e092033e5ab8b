/**
 * Secrets Manager, locally: the template's secrets with values generated as CloudFormation would
 * (GenerateSecretString), plus the connection fields a SecretTargetAttachment adds. Handlers
 * read them through the real SDK (GetSecretValue / DescribeSecret).
 */
import { randomInt } from 'crypto';
import { AwsError, LocalAwsApi } from './aws-api';

interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  value: string;
  version: number;
  readonly created: number;
}

export interface GenerateSecretString {
  readonly PasswordLength?: number;
  readonly ExcludeCharacters?: string;
  readonly ExcludePunctuation?: boolean;
  readonly ExcludeUppercase?: boolean;
  readonly ExcludeLowercase?: boolean;
  readonly ExcludeNumbers?: boolean;
  readonly IncludeSpace?: boolean;
  readonly RequireEachIncludedType?: boolean;
  readonly SecretStringTemplate?: string;
  readonly GenerateStringKey?: string;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = LOWER.toUpperCase();
const DIGITS = '0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** A random password under the same rules as GetRandomPassword / GenerateSecretString. */
export function generatePassword(spec: GenerateSecretString = {}): string {
  const exclude = new Set(spec.ExcludeCharacters ?? '');
  const classes = [
    spec.ExcludeLowercase ? '' : LOWER,
    spec.ExcludeUppercase ? '' : UPPER,
    spec.ExcludeNumbers ? '' : DIGITS,
    spec.ExcludePunctuation ? '' : PUNCTUATION,
    spec.IncludeSpace ? ' ' : '',
  ].map((c) => [...c].filter((ch) => !exclude.has(ch)).join('')).filter((c) => c.length > 0);
  const all = classes.join('');
  const length = spec.PasswordLength ?? 32;
  for (;;) {
    let out = '';
    for (let i = 0; i < length; i++) out += all[randomInt(all.length)];
    if (spec.RequireEachIncludedType === false || length < classes.length || classes.every((c) => [...out].some((ch) => c.includes(ch)))) return out;
  }
}

export function generateSecretString(spec: GenerateSecretString | undefined): string {
  if (!spec) return generatePassword();
  const password = generatePassword(spec);
  if (spec.SecretStringTemplate && spec.GenerateStringKey) {
    return JSON.stringify({ ...JSON.parse(spec.SecretStringTemplate), [spec.GenerateStringKey]: password });
  }
  return password;
}

export class LocalSecrets {
  private readonly secrets = new Map<string, StoredSecret>();
  /** GetSecretValue calls, by secret id. */
  readonly reads: string[] = [];

  put(name: string, arn: string, value: string): void {
    const existing = this.find(arn) ?? this.find(name);
    if (existing) {
      existing.value = value;
      existing.version++;
      return;
    }
    const secret = { arn, name, value, version: 1, created: Date.now() / 1000 };
    this.secrets.set(arn, secret);
  }

  find(id: string): StoredSecret | undefined {
    const direct = this.secrets.get(id);
    if (direct) return direct;
    // By name, or by a partial ARN (without the random suffix).
    return [...this.secrets.values()].find((s) => s.name === id || s.arn.startsWith(`${id}-`));
  }

  value(id: string): string | undefined {
    return this.find(id)?.value;
  }

  /** Merges fields into a JSON secret (what a SecretTargetAttachment does). */
  merge(id: string, fields: Record<string, unknown>): void {
    const secret = this.find(id);
    if (!secret) return;
    secret.value = JSON.stringify({ ...JSON.parse(secret.value), ...fields });
  }

  /** `{{resolve:secretsmanager:id:SecretString:key:stage:version}}` */
  dynamicReference(reference: string): string | undefined {
    // The id may be an ARN containing colons: the known part names are at the end.
    const m = /^(.*?)(?::SecretString(?::([^:]*))?(?::([^:]*))?(?::([^:]*))?)?$/.exec(reference);
    if (!m) return undefined;
    const secret = this.find(m[1]);
    if (!secret) return undefined;
    const key = m[2];
    if (!key) return secret.value;
    const parsed = JSON.parse(secret.value);
    return parsed[key] === undefined ? undefined : String(parsed[key]);
  }

  names(): string[] {
    return [...this.secrets.values()].map((s) => s.name);
  }

  register(api: LocalAwsApi): void {
    const get = (id: string) => {
      const secret = this.find(id);
      if (!secret) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      return secret;
    };
    api.jsonService('secretsmanager', '1.1', {
      GetSecretValue: ({ SecretId }) => {
        const s = get(SecretId);
        this.reads.push(SecretId);
        return { ARN: s.arn, Name: s.name, SecretString: s.value, VersionId: `v${s.version}-0000-4000-8000-000000000000`, VersionStages: ['AWSCURRENT'], CreatedDate: s.created };
      },
      DescribeSecret: ({ SecretId }) => {
        const s = get(SecretId);
        return { ARN: s.arn, Name: s.name, RotationEnabled: false, VersionIdsToStages: { [`v${s.version}-0000-4000-8000-000000000000`]: ['AWSCURRENT'] } };
      },
      ListSecrets: () => ({ SecretList: [...this.secrets.values()].map((s) => ({ ARN: s.arn, Name: s.name })) }),
      PutSecretValue: ({ SecretId, SecretString }) => {
        const s = get(SecretId);
        s.value = SecretString;
        s.version++;
        return { ARN: s.arn, Name: s.name, VersionId: `v${s.version}-0000-4000-8000-000000000000`, VersionStages: ['AWSCURRENT'] };
      },
      GetRandomPassword: (input) => ({ RandomPassword: generatePassword(input) }),
    });
  }
}
