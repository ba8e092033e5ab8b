/**
 * The distributed path's part planner and part reader: for generated files of every format that is
 * split (clean and damaged), read whole by the single-file reader and part by part for several
 * target sizes, both fed in small random chunks, the parts yield exactly the single reader's
 * records (numbers, lines, values, texts, reasons, byte offsets), cover the file without gaps or
 * overlap, and the plan's hash is the single path's.
 */
import { createHash } from 'crypto';
import * as v8 from 'v8';
import * as vm from 'vm';
import { useCommonJsStreamJson } from './support/ingest-harness';
import { prng } from './support/prng';

useCommonJsStreamJson();
/* eslint-disable @typescript-eslint/no-require-imports */
const { planParts, readPart } = require('../lambda/ingestion-pipeline/parts') as typeof import('../lambda/ingestion-pipeline/parts');
const { decodeText, readRecords, FileReadError } = require('../lambda/ingestion-pipeline/readers') as typeof import('../lambda/ingestion-pipeline/readers');
/* eslint-enable @typescript-eslint/no-require-imports */
const MB = 1024 * 1024;
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

async function readSingle(bytes: Uint8Array, c: Case, rng: Rng, maxChunk: number): Promise<Outcome & { sha256?: string }> {
  const hash = createHash('sha256');
  const progress = { bytes: 0, ended: false };
  const records: Seen[] = [];
  const error = await collect(readRecords(decodeText(chunks(bytes, rng, maxChunk), hash, progress), {
    format: c.format, csvDelimiter: c.delimiter, maxRecordLength: c.maxRecordLength, progress,
  }), records);
  return {
    records,
    ...(error ? { error } : {}),
    // The single path's hash (run.ts digests decodeText's hash after reading, unless the file is
    // refused): the reader reads to the end, also after damage it cannot parse past.
    sha256: error ? undefined : hash.digest('hex'),
  };
}

async function readByParts(bytes: Uint8Array, c: Case, targetBytes: number, rng: Rng, maxChunk: number) {
  const plan = await planParts(chunks(bytes, rng, maxChunk), {
    format: c.format, csvDelimiter: c.delimiter, maxRecordLength: c.maxRecordLength, targetBytes,
  });
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

interface Totals {
  parts: number;
  records: number;
  /** Files by what the single reader found wrong in them (reason codes; `file:` codes of refused files). */
  readonly problems: Record<string, number>;
  bom: number;
}

/** Reads the file whole and by parts for each target size; checks they agree. Returns the single read and part counts. */
async function checkFile(text: string, c: Case, targets: number[], rng: Rng, maxChunks: readonly number[], label: string) {
  const bytes = Buffer.from(text, 'utf8');
  const single = await readSingle(bytes, c, rng, pick(rng, maxChunks));
  let parts = 0;
  for (const targetBytes of targets) {
    const { plan, outcome, perPart } = await readByParts(bytes, c, targetBytes, rng, pick(rng, maxChunks));
    try {
      checkCover(plan, bytes.length);
      expect(outcome).toEqual({ records: single.records, ...(single.error ? { error: single.error } : {}) });
      expect(plan.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      if (!single.error) expect(single.sha256).toBe(plan.sha256);
      expect(plan.records).toBe(single.error ? 0 : single.records.length);
      plan.parts.forEach((p, i) => {
        if (outcome.error) return;
        expect(perPart[i].length).toBe(p.records);
        if (p.records > 0) expect(perPart[i][0].recordNumber).toBe(p.firstRecord);
      });
    } catch (error) {
      (error as Error).message = `${label}, target ${targetBytes}: ${JSON.stringify(text.slice(0, 400))}\n${(error as Error).message}`;
      throw error;
    }
    parts += plan.parts.length;
  }
  return { single, parts };
}

async function compare(format: InputFormat, seed: number, files: number): Promise<Totals> {
  const rng = prng(seed);
  const totals: Totals = { parts: 0, records: 0, problems: {}, bom: 0 };
  for (let f = 0; f < files; f++) {
    const delimiter = format === 'csv' ? pick(rng, [',', ',', ';', '\t']) : ',';
    const c: Case = { format, delimiter, maxRecordLength: pick(rng, [1024 * 1024, 250]) };
    const text = generators[format](rng, delimiter);
    const size = Buffer.byteLength(text);
    const targets = [1, 1 + int(rng, 40), 200, Math.ceil(size / 3) || 1, size + 10];
    const { single, parts } = await checkFile(text, c, targets, rng, [1, 3, 7, 64, 4096], `${format} file ${f} (seed ${seed})`);
    const codes = new Set(single.records.flatMap((r) => (r.reasons as Array<{ code: string }> | undefined ?? []).map((reason) => reason.code)));
    if (single.error) codes.add(`file:${single.error.code}`);
    for (const code of codes) totals.problems[code] = (totals.problems[code] ?? 0) + 1;
    if (text.startsWith('\ufeff')) totals.bom++;
    totals.parts += parts;
    totals.records += single.records.length;
  }
  return totals;
}

describe('part plan and part reader equal the single-file reader', () => {
  test.each([
    ['ndjson', 101, ['invalid_json', 'line_too_long']],
    ['csv', 202, ['csv_column_count', 'truncated', 'csv_malformed']],
    ['json_array', 303, ['truncated', 'invalid_json']],
  ] as Array<[InputFormat, number, string[]]>)('%s, 60 generated files, 5 target sizes each', async (format, seed, problems) => {
    const totals = await compare(format, seed, 60);
    // The generated files do exercise what they are meant to: many parts, each kind of damage, BOMs.
    expect(totals.parts).toBeGreaterThan(300);
    expect(totals.records).toBeGreaterThan(500);
    expect(totals.bom).toBeGreaterThan(2);
    for (const code of problems) expect(totals.problems[code] ?? 0).toBeGreaterThan(1);
    console.log(`${format}: ${JSON.stringify(totals)}`);
  }, 120_000);
});

describe('edge cases, each read whole and by parts', () => {
  const csv: Case = { format: 'csv', delimiter: ',', maxRecordLength: 1024 * 1024 };
  const ndjson: Case = { format: 'ndjson', delimiter: ',', maxRecordLength: 1024 * 1024 };
  const json: Case = { format: 'json_array', delimiter: ',', maxRecordLength: 1024 * 1024 };
  test.each([
    ['an empty NDJSON file', ndjson, ''],
    ['an empty CSV file', csv, ''],
    ['an empty JSON file', json, ''],
    ['NDJSON of blank lines only', ndjson, '\n  \r\n\n'],
    ['a CSV header only', csv, 'a,b\r\n'],
    ['a CSV header that is one column by another delimiter (refused)', csv, 'a;b;c\n1;2;3\n4;5;6\n'],
    ['a CSV header naming a column twice (refused)', csv, 'a,a\n1,2\n'],
    ['a CSV quote never closed in the header (refused)', csv, '"a,b\n1,2\n'],
    ['CSV with bare CR line ends', csv, 'a,b\r1,2\r"x\ry",4\r5,6'],
    ['CSV whose header ends in CRLF and rows in LF (one record for csv-parse)', csv, 'a,b\r\n1,2\n3,4\r\n5,6\r\n'],
    ['a CSV record over the length limit mid-file', { ...csv, maxRecordLength: 20 }, 'a,b\n1,2\n3,4\n"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",5\n6,7\n'],
    ['JSON that is an object (refused)', json, '{"a": [1, 2]}'],
    ['JSON of whitespace only (refused)', json, ' \n '],
    ['an empty JSON array', json, ' [ ] '],
    ['JSON array of strings, literals and numbers', json, '["a,]", true, null, 12, -0.5e3, "\\"]", {"a":1}]'],
    ['JSON: a second document after the array', json, '[{"a":1},{"a":2}] [{"a":3}]'],
    ['JSON: a missing comma between elements', json, '[{"a":1},{"a":2}{"a":3},{"a":4}]'],
  ] as Array<[string, Case, string]>)('%s', async (label, c, text) => {
    const size = Buffer.byteLength(text);
    // One chunk for the whole file and for each part, then small ones.
    for (const maxChunks of [[MB], [1, 2, 5]]) {
      await checkFile(text, c, [1, 2, 5, 12, size + 1], prng(size), maxChunks, label);
    }
  });

  test('JSON with garbage before the array: equal when read in one chunk (the single reader itself varies with its chunks)', async () => {
    // Whether the single reader sees the `[` after the garbage (a rejection) or not (the file is
    // refused) depends on whether both came in the same chunk.
    const text = 'x[{"a":1},{"a":2}]';
    await checkFile(text, json, [1, 5, 100], prng(7), [MB], 'garbage before the array');
  });

  test('a record bigger than the target is a part of its own; a target past the end gives one part', async () => {
    const text = '{"a":1}\n{"big":"' + 'x'.repeat(1000) + '"}\n{"b":2}\n';
    const bytes = Buffer.from(text);
    const small = await planParts(chunks(bytes, prng(1), 50), { format: 'ndjson', maxRecordLength: MB, targetBytes: 100 });
    expect(small.parts.map((p) => [p.start, p.end, p.firstRecord, p.records, p.firstLine])).toEqual([
      [0, 8 + 1011, 1, 2, 1],
      [8 + 1011, bytes.length, 3, 1, 3],
    ]);
    const whole = await planParts(chunks(bytes, prng(1), 50), { format: 'ndjson', maxRecordLength: MB, targetBytes: 1024 * MB });
    expect(whole.parts).toEqual([{ index: 0, start: 0, end: bytes.length, firstRecord: 1, records: 3, firstLine: 1, last: true }]);
  });

  test('bytes that are not UTF-8 are refused: the planner needs decoded text', async () => {
    const plan = (bytes: Buffer) => planParts(chunks(bytes, prng(1), 4), { format: 'ndjson', maxRecordLength: MB, targetBytes: 10 });
    await expect(plan(Buffer.from('{"a":"caf\xe9"}\n', 'latin1'))).rejects.toMatchObject({ code: 'not_utf8' });
    await expect(plan(Buffer.from([0x1f, 0x8b, 0x08, 0x00]))).rejects.toMatchObject({ code: 'not_utf8' });
    await expect(plan(Buffer.from('\ufeff{"a":1}\n', 'utf16le'))).rejects.toMatchObject({ code: 'not_utf8' });
    await expect(plan(Buffer.from('{"a":"é"}\n').subarray(0, 7))).rejects.toMatchObject({ code: 'truncated' });
  });

  test('JSON objects with a records path are not split (yet): the planner says so', async () => {
    await expect(planParts(chunks(Buffer.from('{"r":[]}'), prng(1), 4), { format: 'json_object', maxRecordLength: 1, targetBytes: 1 }))
      .rejects.toThrow('json_object sources are not split into parts');
  });
});

describe('memory', () => {
  test('planning a ~200 MB NDJSON stream (generated as it is read) keeps the live heap within 32 MB of where it started', async () => {
    // A garbage collection before each measurement, so the figure is what the planner keeps, not
    // what V8 has not collected yet.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const target = 200 * 1024 * 1024;
    const rng = prng(42);
    let records = 0;
    let size = 0;
    let peak = 0;
    let peakUncollected = 0;
    let measured = 0;
    // 16 different blocks of whole lines (~64 KB each), cycled: 200 MB pass through, a megabyte is held.
    const blocks = Array.from({ length: 16 }, () => {
      const lines = Array.from({ length: 300 }, () => JSON.stringify({
        id: `r-${int(rng, 1e9)}`, name: word(rng), city: 'Zürich 中文 😀', amount: int(rng, 1e6), note: 'n'.repeat(int(rng, 200)),
      }));
      return { bytes: Buffer.from(lines.join('\n') + '\n'), records: lines.length };
    });
    const expectedHash = createHash('sha256');
    gc();
    const base = process.memoryUsage().heapUsed;
    async function* generated(): AsyncGenerator<Uint8Array> {
      for (let i = 0; size < target; i++) {
        const block = blocks[i % blocks.length];
        records += block.records;
        size += block.bytes.length;
        peakUncollected = Math.max(peakUncollected, process.memoryUsage().heapUsed - base);
        if (size - measured > 8 * MB) {
          measured = size;
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        }
        expectedHash.update(block.bytes);
        yield block.bytes;
      }
    }
    const started = Date.now();
    const plan = await planParts(generated(), { format: 'ndjson', maxRecordLength: MB, targetBytes: 16 * 1024 * 1024 });
    const seconds = (Date.now() - started) / 1000;
    console.log(`planned ${(size / 1024 ** 2).toFixed(0)} MB, ${records} records, ${plan.parts.length} parts in ${seconds.toFixed(1)} s (forced GCs included); `
      + `live heap growth at most ${(peak / 1024 ** 2).toFixed(1)} MB (measured after a GC every 8 MB), `
      + `heap used without forcing GC up to ${(peakUncollected / 1024 ** 2).toFixed(1)} MB over the start`);
    expect(plan.bytes).toBe(size);
    expect(plan.records).toBe(records);
    expect(plan.sha256).toBe(expectedHash.digest('hex'));
    expect(plan.parts.length).toBeGreaterThanOrEqual(12);
    expect(plan.parts.every((p) => p.last || p.end - p.start >= 16 * 1024 * 1024)).toBe(true);
    expect(peak).toBeLessThan(32 * 1024 * 1024);
  }, 300_000);
});
