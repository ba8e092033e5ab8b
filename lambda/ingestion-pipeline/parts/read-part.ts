/**
 * Reads one part of a planned file (a worker of the distributed path): the existing reader reads
 * the part's bytes, told where they start in the file (TextOrigin), so it yields the records the
 * single-file reader yields for them: the same record numbers, lines, values, reasons and byte
 * offsets. How each format's part is made readable on its own:
 * - NDJSON: as it is (lines are independent).
 * - CSV: after the file's header bytes (the plan's header range), so csv-parse sees the same
 *   header, line-end style and BOM handling; the first part starts with the header itself.
 * - JSON array: see plan-json.ts (`[{}` before a later part, `]` after a part that is not last).
 */
import type { InputFormat } from '../config';
import { DecodeProgress, readRecords, SourceRecord, TextOrigin } from '../readers';
import type { HeaderRange, PlannedPart } from './part-plan';
import { utf8Text, Utf8Progress } from './utf8-text';

export interface PartReadOptions {
  readonly format: InputFormat;
  readonly csvDelimiter?: string;
  readonly maxRecordLength: number;
  readonly part: PlannedPart;
  /** CSV, for every part but the first: the plan's header range and its bytes. */
  readonly header?: { readonly range: HeaderRange; readonly bytes: Uint8Array };
}

/** The element put before a later part of a JSON array; its record is dropped. */
const JSON_LEAD = '[{}';

async function* concat(...sources: Array<AsyncIterable<Uint8Array> | Uint8Array[]>): AsyncGenerator<Uint8Array> {
  for (const source of sources) for await (const chunk of source) yield chunk;
}

async function* around(prefix: string, text: AsyncIterable<string>, suffix: string): AsyncGenerator<string> {
  if (prefix) yield prefix;
  yield* text;
  if (suffix) yield suffix;
}

interface PartText {
  readonly text: AsyncIterable<string>;
  readonly origin: TextOrigin;
  /** Records the reader yields first that are not the part's (the JSON lead element). */
  readonly lead: number;
}

function partText(bytes: AsyncIterable<Uint8Array>, options: PartReadOptions, decoded: Utf8Progress): PartText {
  const { part } = options;
  const first = part.start === 0;
  switch (options.format) {
    case 'ndjson':
      return {
        text: utf8Text(bytes, first, decoded),
        origin: { records: part.firstRecord - 1, lines: (part.firstLine ?? 1) - 1, bytes: part.start },
        lead: 0,
      };
    case 'csv': {
      if (first) return { text: utf8Text(bytes, true, decoded), origin: { records: 0, lines: 0, bytes: 0 }, lead: 0 };
      const header = options.header;
      if (!header) throw new Error(`readPart: part ${part.index} of a CSV file needs the file's header bytes.`);
      if (header.bytes.length !== header.range.end - header.range.start) throw new Error('readPart: the header bytes do not match the header range.');
      return {
        text: utf8Text(concat([header.bytes], bytes), true, decoded),
        // The reader's byte offsets count the header's bytes (with the file's BOM, as the single-file
        // reader counts it) before the part's: the header range's end is taken off.
        origin: { records: part.firstRecord - 1, lines: (part.firstLine ?? 1) - header.range.nextLine, bytes: part.start - header.range.end },
        lead: 0,
      };
    }
    case 'json_array': {
      const close = part.last ? '' : ']';
      if (first) return { text: around('', utf8Text(bytes, true, decoded), close), origin: { records: 0, lines: 0, bytes: 0 }, lead: 0 };
      return {
        text: around(JSON_LEAD, utf8Text(bytes, false, decoded), close),
        origin: { records: part.firstRecord - 2, lines: 0, bytes: part.start - JSON_LEAD.length },
        lead: 1,
      };
    }
    default:
      throw new Error(`readPart: ${options.format} sources are not split into parts.`);
  }
}

/** Yields the records of one part; `bytes` are the part's bytes [part.start, part.end) of the UTF-8 file. */
export async function* readPart(bytes: AsyncIterable<Uint8Array>, options: PartReadOptions): AsyncGenerator<SourceRecord> {
  const decoded: Utf8Progress = { bytes: 0, bom: false };
  const { text, origin, lead } = partText(bytes, options, decoded);
  // What the readers learn from decodeText, told the same way: as the text comes.
  const progress: DecodeProgress = { bytes: 0, ended: false, encoding: 'utf-8', compression: 'none' };
  async function* tracked(): AsyncGenerator<string> {
    for await (const chunk of text) {
      progress.bytes = decoded.bytes;
      progress.bom = decoded.bom;
      yield chunk;
    }
    progress.bytes = decoded.bytes;
    progress.ended = true;
  }
  let skip = lead;
  const records = readRecords(tracked(), {
    format: options.format, csvDelimiter: options.csvDelimiter, maxRecordLength: options.maxRecordLength, progress, origin,
  });
  for await (const record of records) {
    if (skip > 0) {
      skip--;
      if (record.reasons || record.recordNumber !== origin.records + 1) throw new Error(`readPart: the lead element of part ${options.part.index} was not read as expected.`);
      continue;
    }
    yield record;
  }
}
