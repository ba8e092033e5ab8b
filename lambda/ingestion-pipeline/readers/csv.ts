/**
 * CSV with a header row, via csv-parse. Quoted newlines and a BOM are valid input; a row with a
 * different number of columns is rejected on its own. Broken quoting (a file cut inside a quoted
 * field) and oversized records stop the parsing: csv-parse cannot find the next record boundary
 * after them. The complete records before are kept and the rest of the file is one rejection with
 * its byte offset in the file: records are taken from csv-parse as it parses them (on_record), so
 * how many are kept does not depend on how the file was chunked. The rest is still read (not
 * parsed), so the whole object is hashed and decoded, as in the other formats. A header that does
 * not parse with the configured delimiter (one column, while another delimiter would split it)
 * stops the file with a reason naming the likely delimiter.
 */
import { CsvError, Info, parse, Parser } from 'csv-parse';
import { bomLength, byteLengthIn, DecodeProgress } from './decode';
import { FILE_START, FileReadError, ORIGINAL_LIMIT, SourceRecord, TextOrigin } from './source-record';

export interface CsvOptions {
  readonly delimiter?: string;
  readonly maxRecordLength: number;
  readonly progress: DecodeProgress;
  readonly origin?: TextOrigin;
}

export interface ParsedRow {
  readonly record: string[];
  readonly info: Info & { readonly raw?: string };
}

const CANDIDATE_DELIMITERS = [',', ';', '\t', '|'];

/**
 * csv-parse with the reader's options, fed text chunk by chunk; rows are taken as parsed (on_record),
 * and the first error stops it (kept in `failure`). Shared by the reader and the part planner, so
 * both split a file into records the same way.
 */
export class CsvRows {
  failure: unknown;
  private readonly parsed: ParsedRow[] = [];
  private readonly parser: Parser;

  constructor(options: { readonly delimiter: string; readonly maxRecordLength: number }) {
    this.parser = parse({
      bom: true,
      delimiter: options.delimiter,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      raw: true,
      max_record_size: options.maxRecordLength,
      // Taken as parsed (nothing goes through the stream's buffers, where an error would drop them).
      on_record: (record: string[] | { record: string[]; raw: string }, info: Info) => {
        // With `raw`, csv-parse hands over { record, raw }.
        const row = Array.isArray(record) ? { record, raw: undefined } : record;
        this.parsed.push({ record: row.record, info: { ...info, raw: row.raw ?? (info as ParsedRow['info']).raw } });
        return null;
      },
    });
    this.parser.on('error', (error) => {
      this.failure ??= error;
    });
    this.parser.resume();
  }

  write(chunk: string): Promise<void> {
    return this.settle((done) => this.parser.write(chunk, () => done()));
  }

  end(): Promise<void> {
    return this.settle((done) => this.parser.end(() => done()));
  }

  /** The rows parsed since the last call. */
  take(): ParsedRow[] {
    return this.parsed.splice(0);
  }

  private settle(start: (done: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const onError = () => resolve();
      this.parser.once('error', onError);
      start(() => {
        this.parser.off('error', onError);
        resolve();
      });
    });
  }
}

/**
 * Byte offsets in the file of positions csv-parse gives in UTF-8 bytes of the text it was fed:
 * the same plus the BOM for a UTF-8 file; for a transcoded one (UTF-16/32) the text fed since the
 * last position asked for is kept, to measure it in the file's encoding.
 */
class FileOffsets {
  private readonly pending: string[] = [];
  private utf8 = 0;
  private file = 0;

  constructor(private readonly progress: DecodeProgress) {}

  fed(chunk: string): void {
    if (this.transcoded()) this.pending.push(chunk);
  }

  /** The file offset of the position `utf8` bytes into the text (positions asked for never decrease). */
  at(utf8: number): number {
    if (!this.transcoded()) return bomLength(this.progress) + utf8;
    const byteLength = byteLengthIn(this.progress);
    while (this.utf8 < utf8 && this.pending.length > 0) {
      const chunk = this.pending[0];
      const n = Buffer.byteLength(chunk);
      if (this.utf8 + n <= utf8) {
        this.pending.shift();
        this.utf8 += n;
        this.file += byteLength(chunk);
      } else {
        // csv-parse positions are record ends, so they never fall inside a character.
        const head = Buffer.from(chunk).subarray(0, utf8 - this.utf8).toString();
        this.pending[0] = chunk.slice(head.length);
        this.utf8 = utf8;
        this.file += byteLength(head);
      }
    }
    return bomLength(this.progress) + this.file;
  }

  private transcoded(): boolean {
    return (this.progress.encoding ?? 'utf-8') !== 'utf-8';
  }
}

/** A row's text as in the file, without its line end. */
export function rawText(row: ParsedRow): string {
  return (row.info.raw ?? '').replace(/\r?\n$|\r$/, '');
}

export async function* readCsv(text: AsyncIterable<string>, options: CsvOptions): AsyncGenerator<SourceRecord> {
  const delimiter = options.delimiter ?? ',';
  const origin = options.origin ?? FILE_START;
  const parser = new CsvRows({ delimiter, maxRecordLength: options.maxRecordLength });

  let header: string[] | undefined;
  let recordNumber = origin.records;
  // csv-parse's position (UTF-8 bytes of the text) just after the last record.
  let lastBytes = 0;
  const offsets = new FileOffsets(options.progress);
  function* rows(): Generator<SourceRecord> {
    for (const row of parser.take()) {
      const raw = rawText(row);
      const line = row.info.lines - (raw.match(/\n/g)?.length ?? 0) + origin.lines;
      lastBytes = row.info.bytes;
      if (!header) {
        header = checkHeader(row.record, raw, delimiter);
        continue;
      }
      recordNumber++;
      const original = () => raw.slice(0, ORIGINAL_LIMIT);
      if (row.record.length !== header.length) {
        yield {
          recordNumber,
          line,
          original,
          reasons: [{ code: 'csv_column_count', message: `row has ${row.record.length < header.length ? 'fewer' : 'more'} columns than the header (${header.length})` }],
        };
        continue;
      }
      // An empty cell is a missing value (so `required` catches it); fromEntries keeps __proto__ an own key.
      const value = Object.fromEntries(header.map((name, i) => [name, row.record[i]]).filter(([, v]) => v !== ''));
      yield { recordNumber, line, value, original };
    }
  }

  for await (const chunk of text) {
    // After damage the rest is read but not parsed: the hash (and decoding) cover the whole object.
    if (parser.failure) continue;
    offsets.fed(chunk);
    await parser.write(chunk);
    yield* rows();
    offsets.at(lastBytes);
  }
  if (!parser.failure) await parser.end();
  yield* rows();
  const failure = parser.failure;
  if (failure) {
    const error = asFileError(failure, options, origin.lines);
    // Before any record (the header itself): the file cannot be read as CSV at all.
    if (!header || !(failure instanceof CsvError)) throw error;
    const offset = offsets.at(lastBytes) + origin.bytes;
    yield {
      recordNumber: recordNumber + 1,
      line: error.line ?? null,
      byteOffset: offset,
      original: () => '',
      reasons: [{
        code: error.code === 'truncated' ? 'truncated' : 'csv_malformed',
        message: `${error.message.replace(/\.$/, '')}: everything from byte ${offset}, just after the last complete record, is set aside `
          + `(${recordNumber} complete record${recordNumber === 1 ? '' : 's'} kept)`,
      }],
    };
  }
}

export function checkHeader(names: string[], raw: string, delimiter: string): string[] {
  const trimmed = names.map((n) => n.trim());
  if (trimmed.length === 1) {
    const likely = CANDIDATE_DELIMITERS.filter((d) => d !== delimiter && raw.split(d).length > 1)
      .sort((a, b) => raw.split(b).length - raw.split(a).length)[0];
    if (likely) {
      const shown = likely === '\t' ? 'a tab' : `"${likely}"`;
      throw new FileReadError('invalid_format', `The CSV header does not parse with the delimiter ${JSON.stringify(delimiter)} (it is one column: `
        + `${JSON.stringify(raw.slice(0, 80))}); it looks delimited by ${shown}: set the source's csvDelimiter to ${JSON.stringify(likely)}, or re-export with ${JSON.stringify(delimiter)}.`, 1);
    }
  }
  if (trimmed.some((n) => n === '')) throw new FileReadError('invalid_format', 'The CSV header has an empty column name.', 1);
  const dup = trimmed.find((n, i) => trimmed.indexOf(n) !== i);
  if (dup) throw new FileReadError('invalid_format', `The CSV header names the column "${dup}" twice.`, 1);
  return trimmed;
}

function asFileError(error: unknown, options: CsvOptions, lineShift: number): FileReadError {
  if (error instanceof FileReadError) return error;
  if (error instanceof CsvError || (error as { code?: string })?.code?.startsWith('CSV_')) {
    const csvError = error as CsvError & { lines?: number };
    const e = { code: csvError.code, message: csvError.message, lines: csvError.lines ? csvError.lines + lineShift : csvError.lines };
    const at = e.lines ? ` (line ${e.lines})` : '';
    switch (e.code) {
      case 'CSV_QUOTE_NOT_CLOSED':
        return new FileReadError('truncated', `A quoted CSV field is never closed${at}: the file is truncated or its quoting is broken.`, e.lines);
      case 'CSV_MAX_RECORD_SIZE':
        return new FileReadError('invalid_format', `A CSV record is longer than the limit of ${options.maxRecordLength} characters${at}.`, e.lines);
      default:
        return new FileReadError('invalid_format', `Not a readable CSV file${at}: ${e.message}`, e.lines);
    }
  }
  throw error;
}
