/**
 * Date parsing by an explicit pattern (yyyy, MM/M, dd/d, HH/H, mm, ss, SSS and literal text),
 * or `iso`, `epoch_s`, `epoch_ms`. Strict: 31/02/2024 is refused, not rolled over to March.
 * Times without an offset are taken as UTC.
 */
const TOKENS: Record<string, string> = {
  yyyy: '(\\d{4})',
  MM: '(\\d{2})',
  M: '(\\d{1,2})',
  dd: '(\\d{2})',
  d: '(\\d{1,2})',
  HH: '(\\d{2})',
  H: '(\\d{1,2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
  SSS: '(\\d{3})',
};
const TOKEN = /yyyy|SSS|MM|dd|HH|mm|ss|M|d|H/g;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

interface CompiledPattern {
  readonly regex: RegExp;
  readonly fields: string[];
}
const patterns = new Map<string, CompiledPattern>();

function compile(format: string): CompiledPattern {
  let cached = patterns.get(format);
  if (cached) return cached;
  const fields: string[] = [];
  let source = '';
  let last = 0;
  for (const m of format.matchAll(TOKEN)) {
    source += format.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    source += TOKENS[m[0]];
    fields.push(m[0][0]);
    last = m.index! + m[0].length;
  }
  source += format.slice(last).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  cached = { regex: new RegExp(`^${source}$`), fields };
  patterns.set(format, cached);
  return cached;
}

/** The instant, or undefined when the value does not match the format or is not a real date. */
export function parseDate(value: unknown, format: string): Date | undefined {
  if (format === 'epoch_s' || format === 'epoch_ms') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isFinite(n)) return undefined;
    const date = new Date(format === 'epoch_s' ? n * 1000 : n);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (format === 'iso') return parseIso(text);
  const { regex, fields } = compile(format);
  const m = regex.exec(text);
  if (!m) return undefined;
  const part: Record<string, number> = { y: NaN, M: 1, d: 1, H: 0, m: 0, s: 0, S: 0 };
  fields.forEach((f, i) => (part[f] = Number(m[i + 1])));
  const date = new Date(Date.UTC(part.y, part.M - 1, part.d, part.H, part.m, part.s, part.S));
  const valid = date.getUTCFullYear() === part.y && date.getUTCMonth() === part.M - 1 && date.getUTCDate() === part.d
    && date.getUTCHours() === part.H && date.getUTCMinutes() === part.m && date.getUTCSeconds() === part.s;
  return valid ? date : undefined;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** ISO 8601 date or date-time; components are range-checked (V8 would roll 2024-02-30T10:00Z over to March). */
function parseIso(text: string): Date | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (m[4] === undefined) return new Date(Date.UTC(year, month - 1, day));
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  let time = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    if (offsetMinutes > 18 * 60) return undefined;
    time -= sign * offsetMinutes * 60_000;
  }
  return new Date(time);
}
