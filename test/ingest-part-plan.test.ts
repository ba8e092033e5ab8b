/**
 * The distributed path's part planner and part reader: for generated files of every format that is
 * split (clean and damaged), read whole by the single-file reader and part by part for several
 * target sizes, both fed in small random chunks, the parts yield exactly the single reader's
 * records (numbers, lines, values, texts, reasons, byte offsets), cover the file without gaps or
 * overlap, and the plan's hash is the single path's.
 */
import { createHash } from 'crypto';
import { prng } from './support/prng';
import { useCommonJsStreamJson } from './support/ingest-harness';

useCommonJsStreamJson();
/* eslint-disable @typescript-eslint/no-require-imports */
const { planParts, readPart } = require('../lambda/ingestion-pipeline/parts') as typeof import('../lambda/ingestion-pipeline/parts');
const { decodeText, readRecords, FileReadError } = require('../lambda/ingestion-pipeline/readers') as typeof import('../lambda/ingestion-pipeline/readers');
/* eslint-enable @typescript-eslint/no-require-imports */
type InputFormat = 'ndjson' | 'csv' | 'json_array';
type Rng = () => number;

// ---------- generated files ----------

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

/** Text with what breaks naive splitters: quotes, backslashes, brackets, delimiters, multi-byte UTF-8. */
function word(rng: Rng): string {
  const pieces = ['a', 'bc', 'Zürich', 'é', '中文', '😀', '"', '\\', '[', ']', '{', '}', ',', ';', ' ', '\t', 'x'.repeat(20), '\u00a0', '\ufeff', "'", '\u2028'];
  let s = '';
  for (let i = int(rng, 6); i > 0; i--) s += pick(rng, pieces);
  return s;
}

function jsonValue(rng: Rng, depth: number): unknown {
  const r = rng();
  if (depth > 2 || r < 0.4) return pick(rng, [word(rng), int(rng, 100000) - 500, rng() * 1e6, true, false, null, '', 1e-7]);
  if (r < 0.7) return Array.from({ length: int(rng, 4) }, () => jsonValue(rng, depth + 1));
  return Object.fromEntries(Array.from({ length: int(rng, 4) }, (_, i) => [`${word(rng)}${i}`, jsonValue(rng, depth + 1)]));
}

function jsonRecord(rng: Rng): Record<string, unknown> {
  return { id: `r-${int(rng, 1e6)}`, name: word(rng), nested: jsonValue(rng, 0), amount: int(rng, 1000) };
}

function ndjsonFile(rng: Rng): string {
  const eol = rng() < 0.3 ? '\r\n' : '\n';
  let s = rng() < 0.15 ? '\ufeff' : '';
  for (let i = int(rng, 40); i > 0; i--) {
    const r = rng();
    if (r < 0.08) s += '';
    else if (r < 0.14) s += pick(rng, ['   ', '\t', '\u00a0 \u3000', '\ufeff']);
    else if (r < 0.2) s += `{"id": "bad", ${word(rng)}`;
    else if (r < 0.24) s += JSON.stringify({ long: 'y'.repeat(150 + int(rng, 200)) });
    else s += JSON.stringify(jsonRecord(rng), null, rng() < 0.2 ? undefined : 0);
    s += eol;
  }
  // A damaged tail (a cut-off last line), or no line end after the last line.
  if (rng() < 0.3) s += JSON.stringify(jsonRecord(rng)).slice(0, 1 + int(rng, 20));
  else if (rng() < 0.3) s = s.replace(/\r?\n$/, '');
  return s;
}

function csvCell(rng: Rng, delimiter: string): string {
  const r = rng();
  if (r < 0.15) return '';
  if (r < 0.25) return '""';
  let value = word(rng);
  if (rng() < 0.2) value += pick(rng, ['\n', '\r\n', '""', `${delimiter}`, '"\n"']) + word(rng);
  const needsQuotes = /["\r\n]/.test(value) || value.includes(delimiter) || rng() < 0.2;
  return needsQuotes ? `"${value.replace(/"/g, '""')}"` : value.replace(/^"/, 'q');
}

function csvFile(rng: Rng, delimiter: string): string {
  const eol = pick(rng, ['\n', '\r\n', '\r\n', '\n']);
  const columns = 2 + int(rng, 3);
  let s = rng() < 0.15 ? '\ufeff' : '';
  if (rng() < 0.1) s += eol;
  s += Array.from({ length: columns }, (_, i) => (i === 1 && rng() < 0.3 ? `"col ${i}"` : `col${i}`)).join(delimiter) + eol;
  for (let i = int(rng, 40); i > 0; i--) {
    const r = rng();
    if (r < 0.06) {
      s += eol;
      continue;
    }
    const n = r < 0.12 ? columns + pick(rng, [-1, 1]) : columns;
    const cells = Array.from({ length: Math.max(1, n) }, () => csvCell(rng, delimiter));
    if (rng() < 0.04) cells[0] = `"${'z'.repeat(300)}"`;
    s += cells.join(delimiter) + eol;
  }
  // Damaged tail: a quoted field never closed; or no line end after the last record.
  if (rng() < 0.25) s += `${csvCell(rng, delimiter)}${delimiter}"never closed ${word(rng)}${eol}and on`;
  else if (rng() < 0.3) s = s.replace(/\r?\n$/, '');
  return s;
}

function jsonArrayFile(rng: Rng): string {
  const indent = pick(rng, [undefined, 0, 2]);
  const elements: string[] = [];
  for (let i = int(rng, 30); i > 0; i--) {
    const r = rng();
    // Elements are containers: see 'top-level scalars' below for why.
    if (r < 0.08) elements.push(pick(rng, ['[]', '{}', '[{"a":[1,"]"]}]']));
    else elements.push(JSON.stringify(jsonRecord(rng), null, indent));
  }
  const sep = pick(rng, [',', ', ', ',\n', '\n, ']);
  let s = `${rng() < 0.15 ? '\ufeff' : ''}${pick(rng, ['', ' ', '\n'])}[${pick(rng, ['', '\n  '])}${elements.join(sep)}${pick(rng, ['', '\n'])}]${pick(rng, ['', '\n'])}`;
  const damage = rng();
  if (damage < 0.12 && s.length > 2) {
    // Cut off somewhere after the opening bracket.
    const open = s.indexOf('[');
    s = s.slice(0, open + 1 + int(rng, s.length - open - 1));
  } else if (damage < 0.2) {
    s += pick(rng, ['garbage', ' {"x":1}', ',']);
  } else if (damage < 0.28 && elements.length > 2) {
    // An invalid element in the middle; elements after it are set aside with it.
    const k = 1 + int(rng, elements.length - 2);
    elements[k] = pick(rng, ['{"a": tru}', '{"a" 1}', '{"a":1}{"b":2}', '{"a": "x"]', 'nope']);
    s = `[${elements.join(sep)}]`;
  }
  return s;
}

const generators: Record<InputFormat, (rng: Rng, delimiter: string) => string> = {
  ndjson: (rng) => ndjsonFile(rng),
  csv: (rng, delimiter) => csvFile(rng, delimiter),
  json_array: (rng) => jsonArrayFile(rng),
};

// ---------- reading it both ways ----------

/** Bytes in chunks of random sizes (multi-byte characters straddle chunk ends). */
async function* chunks(bytes: Uint8Array, rng: Rng, maxChunk: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length;) {
    const n = 1 + int(rng, maxChunk);
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

interface Seen {
  readonly recordNumber: number;
  readonly line: number | null;
  readonly value?: unknown;
  readonly original: string;
  readonly reasons?: unknown;
  readonly byteOffset?: number;
}

interface Outcome {
  readonly records: Seen[];
  readonly error?: { code: string; message: string };
}

/**
 * Two excerpts depend on where the single reader's own input chunks end, so they are compared only
 * as far as they are fixed: the excerpt of an NDJSON line over the length limit (the line's start,
 * up to the chunk that crossed the limit), and that of invalid JSON (the damaged element's text when
 * the splitter had not seen its end in the chunk where the tokenizer failed, else empty).
 */
function comparableOriginal(r: import('../lambda/ingestion-pipeline/readers').SourceRecord): string {
  const codes = (r.reasons ?? []).map((reason) => reason.code);
  if (codes.includes('line_too_long')) return `starts with ${r.original().slice(0, 100)}`;
  if (codes.includes('invalid_json') && r.byteOffset !== undefined) return '(excerpt of the invalid rest)';
  return r.original();
}

async function collect(records: AsyncIterable<import('../lambda/ingestion-pipeline/readers').SourceRecord>, into: Seen[]): Promise<Outcome['error']> {
  try {
    for await (const r of records) {
      into.push({
        recordNumber: r.recordNumber,
        line: r.line,
        ...(r.value !== undefined ? { value: r.value } : {}),
        original: comparableOriginal(r),
        ...(r.reasons ? { reasons: r.reasons } : {}),
        ...(r.byteOffset !== undefined ? { byteOffset: r.byteOffset } : {}),
      });
    }
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    return { code: error.code, message: error.message };
  }
  return undefined;
}

interface Case {
  readonly format: InputFormat;
  readonly delimiter: string;
  readonly maxRecordLength: number;
}

async function readSingle(bytes: Uint8Array, c: Case, rng: Rng, maxChunk: number): Promise<Outcome & { sha256: string }> {
  const hash = createHash('sha256');
  const progress = { bytes: 0, ended: false };
  const records: Seen[] = [];
  const error = await collect(readRecords(decodeText(chunks(bytes, rng, maxChunk), hash, progress), {
    format: c.format, csvDelimiter: c.delimiter, maxRecordLength: c.maxRecordLength, progress,
  }), records);
  // The hash of every byte, whatever the reader made of them (as the run computes it).
  return { records, ...(error ? { error } : {}), sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function readByParts(bytes: Uint8Array, c: Case, targetBytes: number, rng: Rng, maxChunk: number) {
  const plan = await planParts(chunks(bytes, rng, maxChunk), { format: c.format, csvDelimiter: c.delimiter, maxRecordLength: c.maxRecordLength, targetBytes });
  const records: Seen[] = [];
  let error: Outcome['error'];
  const perPart: Seen[][] = [];
  for (const part of plan.parts) {
    const own: Seen[] = [];
    const header = plan.header && part.start > 0 ? { range: plan.header, bytes: bytes.subarray(plan.header.start, plan.header.end) } : undefined;
    error = await collect(readPart(chunks(bytes.subarray(part.start, part.end), rng, maxChunk), {
      format: c.format, csvDelimiter: c.delimiter, maxRecordLength: c.maxRecordLength, part, header,
    }), own);
    perPart.push(own);
    records.push(...own);
    if (error) break;
  }
  return { plan, outcome: { records, ...(error ? { error } : {}) } as Outcome, perPart };
}

function checkCover(plan: Awaited<ReturnType<typeof planParts>>, size: number): void {
  expect(plan.bytes).toBe(size);
  if (size === 0) {
    expect(plan.parts).toEqual([]);
    return;
  }
  expect(plan.parts[0].start).toBe(0);
  plan.parts.forEach((p, i) => {
    expect(p.index).toBe(i);
    expect(p.end).toBeGreaterThan(p.start);
    if (i > 0) expect(p.start).toBe(plan.parts[i - 1].end);
    expect(p.last).toBe(i === plan.parts.length - 1);
    if (plan.parts.length > 1) expect(p.records).toBeGreaterThan(0);
  });
  expect(plan.parts[plan.parts.length - 1].end).toBe(size);
}

async function compare(format: InputFormat, seed: number, files: number): Promise<{ parts: number; records: number; damaged: number }> {
  const rng = prng(seed);
  const totals = { parts: 0, records: 0, damaged: 0 };
  for (let f = 0; f < files; f++) {
    const delimiter = format === 'csv' ? pick(rng, [',', ',', ';', '\t']) : ',';
    const c: Case = { format, delimiter, maxRecordLength: pick(rng, [1024 * 1024, 250]) };
    const text = generators[format](rng, delimiter);
    const bytes = Buffer.from(text, 'utf8');
    const maxChunk = pick(rng, [1, 3, 7, 64, 4096]);
    const single = await readSingle(bytes, c, rng, maxChunk);
    if (single.records.some((r) => r.reasons) || single.error) totals.damaged++;
    for (const targetBytes of [1, 1 + int(rng, 40), 200, Math.ceil(bytes.length / 3) || 1, bytes.length + 10]) {
      const { plan, outcome, perPart } = await readByParts(bytes, c, targetBytes, rng, pick(rng, [1, 5, 4096]));
      const where = `${format} file ${f} (seed ${seed}), target ${targetBytes}: ${JSON.stringify(text.slice(0, 400))}`;
      try {
        checkCover(plan, bytes.length);
        expect(outcome).toEqual({ records: single.records, ...(single.error ? { error: single.error } : {}) });
        expect(plan.sha256).toBe(single.sha256);
        expect(plan.records).toBe(single.error ? 0 : single.records.length);
        plan.parts.forEach((p, i) => {
          if (outcome.error) return;
          expect(perPart[i].length).toBe(p.records);
          if (p.records > 0) expect(perPart[i][0].recordNumber).toBe(p.firstRecord);
        });
      } catch (error) {
        (error as Error).message = `${where}\n${(error as Error).message}`;
        throw error;
      }
      totals.parts += plan.parts.length;
    }
    totals.records += single.records.length;
  }
  return totals;
}

describe('part plan and part reader equal the single-file reader', () => {
  test.each([
    ['ndjson', 101],
    ['csv', 202],
    ['json_array', 303],
  ] as Array<[InputFormat, number]>)('%s, 60 generated files, 5 target sizes each', async (format, seed) => {
    const totals = await compare(format, seed, 60);
    // The generated files do exercise what they are meant to: many parts, files with rejections.
    expect(totals.parts).toBeGreaterThan(300);
    expect(totals.damaged).toBeGreaterThan(5);
    expect(totals.records).toBeGreaterThan(500);
  }, 120_000);
});
