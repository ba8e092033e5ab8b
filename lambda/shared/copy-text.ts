/** Encoding of values for PostgreSQL's COPY text format (tab-separated, \N for NULL). */

const SPECIAL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

export function copyField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return String(value).replace(SPECIAL, (c) => ESCAPES[c]);
}

/** Fields of one row, tab-separated, without the line end. */
export function copyFields(values: Array<string | number | boolean | null | undefined>): string {
  return values.map(copyField).join('\t');
}

export function copyRow(values: Array<string | number | boolean | null | undefined>): string {
  return `${copyFields(values)}\n`;
}
