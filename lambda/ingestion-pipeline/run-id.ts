import { createHash } from 'crypto';

/**
 * The run id: a UUID (RFC 9562 version 8, name-based) derived from the object version — or its
 * ETag in an unversioned bucket — and the forced re-ingest token. A redelivered event therefore
 * maps to the same run, and its outputs to the same keys.
 */
export function runIdFor(bucket: string, key: string, versionId: string | null, etag: string | null, forceToken?: string): string {
  const name = JSON.stringify([bucket, key, versionId ? `v:${versionId}` : `e:${etag ?? ''}`, forceToken ?? '']);
  const hex = createHash('sha256').update(name).digest('hex').slice(0, 32);
  // Version 8 in the 13th hex digit, variant 10xx in the 17th.
  const variant = ((parseInt(hex[16], 16) % 4) + 8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
