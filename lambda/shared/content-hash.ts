import * as crypto from 'crypto';

/** JSON with object keys sorted at every level, so equal content always serializes the same. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v === undefined ? null : v)).join(',')}]`;
  const flat = flatObjectText(value as Record<string, unknown>);
  if (flat !== undefined) return flat;
  const entries = Object.keys(value as object)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * The same text for the common case, a flat record of JSON primitives, at a fraction of the cost:
 * a copy with its keys inserted in sorted order, through the native JSON.stringify. Stored content
 * hashes depend on this text, so it only applies where both agree byte for byte: plain objects
 * whose values are strings, numbers, booleans, null or undefined, and whose keys do not start with
 * a digit (JavaScript puts integer-like keys first, whatever the insertion order) and are not
 * `__proto__` (assigning it would set the copy's prototype).
 */
function flatObjectText(value: Record<string, unknown>): string | undefined {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const keys = Object.keys(value);
  for (const k of keys) {
    const v = value[k];
    const t = typeof v;
    if (v !== null && t !== 'string' && t !== 'number' && t !== 'boolean' && t !== 'undefined') return undefined;
  }
  const sortedKeys = sortedKeysOf(keys);
  if (!sortedKeys) return undefined;
  const sorted: Record<string, unknown> = {};
  for (const k of sortedKeys) sorted[k] = value[k];
  return JSON.stringify(sorted);
}

// Records of one source share their keys: the last key list and its sorted order are kept.
let lastKeys: string[] = [];
let lastSorted: string[] | undefined;

function sortedKeysOf(keys: string[]): string[] | undefined {
  if (keys.length === lastKeys.length && keys.every((k, i) => k === lastKeys[i])) return lastSorted;
  const usable = keys.every((k) => {
    const c = k.charCodeAt(0);
    return !(c >= 48 && c <= 57) && k !== '__proto__';
  });
  lastKeys = keys;
  lastSorted = usable ? [...keys].sort() : undefined;
  return lastSorted;
}

// One-shot crypto.hash (Node ≥ 20.12 / 21.7) skips the Hash object: same digest as createHash.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
}
