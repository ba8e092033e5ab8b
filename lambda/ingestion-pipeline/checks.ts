/**
 * Structural checks on a parsed record, before validation: things a JSON Schema does not catch
 * but that would hurt later (prototype keys, nesting that overflows the stack of JSON.stringify,
 * numbers JSON cannot carry exactly, text PostgreSQL refuses, spreadsheet formulas).
 * Iterative, so a record nested 100,000 levels deep is rejected, not a stack overflow.
 */
import type { RejectionReason } from '../shared/ingestion-contract';

export interface CheckOptions {
  readonly maxDepth: number;
  readonly rejectFormulaCells: boolean;
}

// A cell a spreadsheet would evaluate: =, @, tab/CR, or +/- not followed by a plain number or phone number.
const FORMULA = /^(?:[=@\t\r]|[+-](?![\d\s().,/-]*$))/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function child(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

export function structuralReasons(value: unknown, options: CheckOptions): RejectionReason[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ code: 'not_an_object', message: 'record is not a JSON object' }];
  }
  const reasons: RejectionReason[] = [];
  const seen = new Set<string>();
  const add = (reason: RejectionReason) => {
    const key = `${reason.code}|${reason.field}`;
    if (!seen.has(key)) {
      seen.add(key);
      reasons.push(reason);
    }
  };
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const field = path;
      if (v.includes('\u0000') || LONE_SURROGATE.test(v)) {
        add({ code: 'not_storable', message: `${field} contains a NUL character or broken Unicode that PostgreSQL cannot store`, field });
      }
      if (options.rejectFormulaCells && FORMULA.test(v)) {
        add({ code: 'formula_injection', message: `${field} starts like a spreadsheet formula (=, +, -, @)`, field });
      }
    } else if (typeof v === 'number') {
      const field = path;
      if (!Number.isFinite(v)) {add({ code: 'non_finite_number', message: `${field} is not a finite number`, field });} else if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        add({ code: 'unsafe_integer', message: `${field} is an integer beyond 2^53 that cannot be kept exactly; send it as a string`, field });
      }
    } else if (v !== null && typeof v === 'object') {
      if (depth >= options.maxDepth) {
        add({ code: 'too_deep', message: `record is nested deeper than ${options.maxDepth} levels` });
        continue;
      }
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: child(path, i), depth: depth + 1 });
      } else {
        for (const key of Object.keys(v)) {
          if (key === '__proto__') {
            add({ code: 'forbidden_key', message: `${child(path, key)} is not an allowed field name`, field: child(path, key) });
            continue;
          }
          stack.push({ value: (v as Record<string, unknown>)[key], path: child(path, key), depth: depth + 1 });
        }
      }
    }
  }
  return reasons;
}

/** Safe excerpt of a record whose JSON form may be too deep to serialize. */
export function safeOriginal(original: () => string): string {
  try {
    return original();
  } catch {
    return '(record too deeply nested to reproduce; see the raw object)';
  }
}
