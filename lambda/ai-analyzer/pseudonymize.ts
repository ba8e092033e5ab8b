/**
 * Pseudonymization of personal-data fields before anything leaves for the model: a keyed HMAC
 * (SHA-256) of the value, so the same person gets the same pseudonym across records and runs
 * (patterns stay visible) while nobody without the key — kept in Secrets Manager, never in the
 * environment — can link a pseudonym back to a value by hashing candidates.
 */
import { createHmac } from 'crypto';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

export const PSEUDONYM_PREFIX = 'anon_';

/** Reads the HMAC key (cached for 5 minutes per execution environment). */
export async function loadPseudonymKey(secretArn: string): Promise<string> {
  const value = await getSecret<string>(secretArn, { maxAge: 300 });
  if (typeof value !== 'string' || value.length < 16) {
    throw new Error('The pseudonymization secret must be a string of at least 16 characters');
  }
  return value;
}

/** `anon_` + 16 hex characters of HMAC-SHA256(key, value). */
export function pseudonym(key: string, value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return PSEUDONYM_PREFIX + createHmac('sha256', key).update(text, 'utf8').digest('hex').slice(0, 16);
}

/**
 * The function that shows a record's personal-data fields: pseudonyms with a key, the values
 * themselves when pseudonymization is turned off (`key` null). Missing/null values are left out.
 */
export function subjectFunction(
  personalDataFields: readonly string[], key: string | null,
): (attributes: Record<string, unknown>) => Record<string, string> {
  return (attributes) => {
    const subject: Record<string, string> = {};
    for (const field of personalDataFields) {
      const value = attributes[field];
      if (value === undefined || value === null || value === '') continue;
      subject[field] = key === null ? (typeof value === 'string' ? value : JSON.stringify(value)) : pseudonym(key, value);
    }
    return subject;
  };
}
