/**
 * EventBridge event patterns: whether an event matches a rule's pattern. Supports what rules use:
 * exact values (a list means any of them), nested fields, arrays in the event (any element
 * matches), `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but` (a value, a
 * list, or `{prefix|suffix}`), `numeric` ranges, `exists`, `cidr`, and `$or`.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    throw new Error(`An event pattern must be a JSON object, not ${JSON.stringify(pattern)}`);
  }
  return matchObject(pattern as Record<string, unknown>, event);
}

function matchObject(pattern: Record<string, unknown>, value: unknown): boolean {
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(sub) || !sub.some((alt) => matchObject(alt as Record<string, unknown>, value))) return false;
      continue;
    }
    const field = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(sub)) {
      if (!matchLeaf(sub, field)) return false;
    } else if (sub !== null && typeof sub === 'object') {
      if (field === null || typeof field !== 'object' || !matchObject(sub as Record<string, unknown>, field)) return false;
    } else {
      throw new Error(`Event pattern field "${key}" must be an array or an object`);
    }
  }
  return true;
}

/** A leaf: a list of alternatives, against a value (an array in the event matches if any element does). */
function matchLeaf(alternatives: unknown[], field: unknown): boolean {
  const values: unknown[] = Array.isArray(field) ? field : [field];
  return alternatives.some((alt) => {
    if (alt !== null && typeof alt === 'object') {
      const [op, arg] = Object.entries(alt as Record<string, unknown>)[0] ?? [];
      if (op === 'exists') return arg ? field !== undefined : field === undefined;
      if (field === undefined) return false;
      if (op === 'anything-but') return values.every((v) => !matchAnythingBut(arg, v));
      return values.some((v) => matchOperator(op, arg, v));
    }
    if (field === undefined) return false;
    return values.some((v) => v === alt);
  });
}

/** True when v is one of the excluded values (so `anything-but` fails). */
function matchAnythingBut(arg: unknown, v: unknown): boolean {
  if (Array.isArray(arg)) return arg.includes(v as Json);
  if (arg !== null && typeof arg === 'object') {
    const [op, x] = Object.entries(arg as Record<string, unknown>)[0] ?? [];
    if (Array.isArray(x)) return x.some((y) => matchOperator(op, y, v));
    return matchOperator(op, x, v);
  }
  return v === arg;
}

function matchOperator(op: string | undefined, arg: unknown, v: unknown): boolean {
  switch (op) {
    case 'prefix':
      if (arg !== null && typeof arg === 'object') return typeof v === 'string' && v.toLowerCase().startsWith(String((arg as any)['equals-ignore-case']).toLowerCase());
      return typeof v === 'string' && v.startsWith(String(arg));
    case 'suffix':
      if (arg !== null && typeof arg === 'object') return typeof v === 'string' && v.toLowerCase().endsWith(String((arg as any)['equals-ignore-case']).toLowerCase());
      return typeof v === 'string' && v.endsWith(String(arg));
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return typeof v === 'string' && new RegExp(`^${String(arg).split('*').map(escapeRegex).join('.*')}$`, 's').test(v);
    case 'numeric':
      return typeof v === 'number' && matchNumeric(arg as unknown[], v);
    case 'cidr':
      return typeof v === 'string' && inCidr(String(arg), v);
    default:
      throw new Error(`Unsupported event pattern operator "${op}"`);
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function matchNumeric(conditions: unknown[], v: number): boolean {
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const op = conditions[i];
    const n = Number(conditions[i + 1]);
    const ok = op === '=' ? v === n : op === '<' ? v < n : op === '<=' ? v <= n : op === '>' ? v > n : op === '>=' ? v >= n : false;
    if (!ok) return false;
  }
  return true;
}

/* eslint-disable no-bitwise */
function inCidr(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(base)) return false;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}
/* eslint-enable no-bitwise */
