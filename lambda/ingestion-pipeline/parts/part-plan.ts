/**
 * Splits a big file into parts at record boundaries, in one streaming pass in constant memory, for
 * the distributed path: each part is read by its own worker (readPart) and together they yield
 * exactly what the single-file reader yields for the whole file.
 *
 * The input is the file's bytes as UTF-8 (a compressed or non-UTF-8 object is decoded to a
 * temporary object first); offsets are byte offsets in those bytes, end exclusive. Rules:
 * - A part ends only where a record ends (NDJSON: after the line's `\n`; CSV: after the record's
 *   line end outside quotes, as csv-parse finds it with the reader's own options; JSON array: just
 *   after a top-level element, as the reader's RecordSplitter finds it, once the reader's tokenizer
 *   has accepted the element). A part is closed at the first record end at or past the target size,
 *   so a record bigger than the target is a part of its own.
 * - Parts cover [0, bytes) without gaps or overlaps. What holds no record (leading blank lines, the
 *   CSV header, a BOM, the opening `[`) goes with the following part; what trails the last record
 *   (blank lines, the closing `]`) with the last part. Every part holds at least one record, but for
 *   a file without any: then it is one part with none. An empty file has no parts.
 * - Damage the reader cannot read past (a CSV quote never closed or a record over the length limit,
 *   JSON that is cut off or invalid, garbage after the array) ends the cutting: everything from the
 *   start of the part it is in to the end of the file is the last part, and its reader reports the
 *   damage as the single-file reader does (one rejection with the byte offset in the whole file).
 *   A file the reader refuses as a whole (a bad CSV header, JSON that is not an array) is one part
 *   with no records, whose reader throws the same FileReadError.
 * - `sha256` is the SHA-256 of the bytes planned, hex: the run's hash when the object was planned as
 *   stored (plain UTF-8); for a decoded temporary object the run's hash is the one decodeText
 *   computed over the stored object, as on the single path.
 */
import { createHash } from 'crypto';
import type { InputFormat } from '../config';
import { scanCsv } from './plan-csv';
import { scanJsonArray } from './plan-json';
import { scanNdjson } from './plan-ndjson';
import { utf8Text, Utf8Progress } from './utf8-text';

export interface PlannedPart {
  /** 0-based position of the part. */
  readonly index: number;
  /** First byte of the part. */
  readonly start: number;
  /** Byte just after the part (exclusive). */
  readonly end: number;
  /** 1-based record number (as the single-file reader numbers records) of the part's first record. */
  readonly firstRecord: number;
  /** Records the part's reader yields (a damaged rest counts as the one rejection it is). */
  readonly records: number;
  /** Line number (as the reader counts lines) at the part's first byte; null for JSON. */
  readonly firstLine: number | null;
  /** The part runs to the end of the file. */
  readonly last: boolean;
}

/** CSV: the header row's bytes (with a BOM and blank lines before it); every part is read with them. */
export interface HeaderRange {
  readonly start: number;
  readonly end: number;
  /** Line number (as the reader counts lines) just after the header. */
  readonly nextLine: number;
}

export interface PartPlan {
  readonly format: InputFormat;
  readonly targetBytes: number;
  readonly bytes: number;
  readonly records: number;
  readonly sha256: string;
  readonly header?: HeaderRange;
  readonly parts: PlannedPart[];
}

export interface PlanOptions {
  readonly format: InputFormat;
  /** A part is closed at the first record end at or past this many bytes from its start. */
  readonly targetBytes: number;
  readonly csvDelimiter?: string;
  /** The source's maxRecordLength, as the reader gets it (it decides which records are too long). */
  readonly maxRecordLength: number;
}

/** Collects record ends and cuts parts at them. */
export class PartCutter {
  readonly parts: PlannedPart[] = [];
  header?: HeaderRange;
  private start = 0;
  private records = 0;
  private total = 0;
  private frozen = false;

  constructor(private readonly targetBytes: number, private firstLine: number | null) {}

  /** A record ends just before byte `end`; the next one starts on line `nextLine`. */
  recordEnd(end: number, nextLine: number | null): void {
    this.records++;
    this.total++;
    if (!this.frozen && end - this.start >= this.targetBytes) {
      this.push(end);
      this.start = end;
      this.records = 0;
      this.firstLine = nextLine;
    }
  }

  /** The rest of the file stays in the current part (damage); it yields `records` more records. */
  rest(records: number): void {
    this.frozen = true;
    this.records += records;
    this.total += records;
  }

  finish(bytes: number): { parts: PlannedPart[]; records: number } {
    if (bytes > this.start) {
      const previous = this.parts[this.parts.length - 1];
      if (this.records === 0 && previous) this.parts[this.parts.length - 1] = { ...previous, end: bytes };
      else this.push(bytes);
    }
    const parts = this.parts.map((p, i) => ({ ...p, last: i === this.parts.length - 1 }));
    return { parts, records: this.total };
  }

  private push(end: number): void {
    const firstRecord = this.total - this.records + 1;
    this.parts.push({ index: this.parts.length, start: this.start, end, firstRecord, records: this.records, firstLine: this.firstLine, last: false });
  }
}

/** Hashes and counts the bytes as they stream by. */
async function* hashed(bytes: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>, seen: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of bytes) {
    hash.update(chunk);
    seen.bytes += chunk.length;
    yield chunk;
  }
}

export async function planParts(bytes: AsyncIterable<Uint8Array>, options: PlanOptions): Promise<PartPlan> {
  if (!(options.targetBytes >= 1)) throw new Error(`planParts: targetBytes must be at least 1 (got ${options.targetBytes}).`);
  const hash = createHash('sha256');
  const seen = { bytes: 0 };
  const progress: Utf8Progress = { bytes: 0, bom: false };
  const text = utf8Text(hashed(bytes, hash, seen), true, progress);
  const bomLength = () => (progress.bom ? 3 : 0);
  let cutter: PartCutter;
  switch (options.format) {
    case 'ndjson':
      cutter = new PartCutter(options.targetBytes, 1);
      await scanNdjson(text, cutter, { bomLength, maxLineLength: options.maxRecordLength });
      break;
    case 'csv':
      cutter = new PartCutter(options.targetBytes, 1);
      await scanCsv(text, cutter, { bomLength, delimiter: options.csvDelimiter ?? ',', maxRecordLength: options.maxRecordLength });
      break;
    case 'json_array':
      cutter = new PartCutter(options.targetBytes, null);
      await scanJsonArray(text, cutter, { bomLength });
      break;
    default:
      throw new Error(`planParts: ${options.format} sources are not split into parts (only ndjson, csv and json_array are).`);
  }
  const { parts, records } = cutter.finish(seen.bytes);
  return {
    format: options.format,
    targetBytes: options.targetBytes,
    bytes: seen.bytes,
    records,
    sha256: hash.digest('hex'),
    ...(cutter.header ? { header: cutter.header } : {}),
    parts,
  };
}
