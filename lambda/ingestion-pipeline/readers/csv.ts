/**
 * CSV with a header row, via csv-parse. Quoted newlines and a BOM are valid input; a row with a
 * different number of columns is rejected on its own. Broken quoting and oversized records stop
 * the file: csv-parse cannot find the next record boundary reliably after them.
 */
import { Readable } from 'stream';
import { CsvError, parse } from 'csv-parse';
import type { DecodeProgress } from './decode';
import { composeStreams, FileReadError, ORIGINAL_LIMIT, SourceRecord } from './source-record';

export interface CsvOptions {
  readonly delimiter?: string;
  readonly maxRecordLength: number;
  readonly progress: DecodeProgress;
}

interface ParsedRow {
  readonly record: string[];
  readonly info: { readonly lines: number };
  readonly raw: string;
}

export async function* readCsv(text: AsyncIterable<string>, options: CsvOptions): AsyncGenerator<SourceRecord> {
  const rows = composeStreams(Readable.from(text), parse({
    bom: true,
    delimiter: options.delimiter ?? ',',
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    raw: true,
    info: true,
    max_record_size: options.maxRecordLength,
  })) as AsyncIterable<ParsedRow>;

  let header: string[] | undefined;
  let recordNumber = 0;
  try {
    for await (const row of rows) {
      const raw = row.raw.replace(/\r?\n$|\r$/, '');
      const line = row.info.lines - (raw.match(/\n/g)?.length ?? 0);
      if (!header) {
        header = checkHeader(row.record);
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
  } catch (error) {
    throw asFileError(error, options, recordNumber);
  }
}

function checkHeader(names: string[]): string[] {
  const trimmed = names.map((n) => n.trim());
  if (trimmed.some((n) => n === '')) throw new FileReadError('invalid_format', 'The CSV header has an empty column name.', 1);
  const dup = trimmed.find((n, i) => trimmed.indexOf(n) !== i);
  if (dup) throw new FileReadError('invalid_format', `The CSV header names the column "${dup}" twice.`, 1);
  return trimmed;
}

function asFileError(error: unknown, options: CsvOptions, records: number): Error {
  if (error instanceof FileReadError) return error;
  if (error instanceof CsvError || (error as { code?: string })?.code?.startsWith('CSV_')) {
    const e = error as CsvError & { lines?: number };
    const at = e.lines ? ` (line ${e.lines})` : '';
    switch (e.code) {
      case 'CSV_QUOTE_NOT_CLOSED':
        return new FileReadError('truncated', `A quoted CSV field is never closed${at}: the file is truncated or its quoting is broken; ${records} records were read before it.`, e.lines);
      case 'CSV_MAX_RECORD_SIZE':
        return new FileReadError('invalid_format', `A CSV record is longer than the limit of ${options.maxRecordLength} characters${at}.`, e.lines);
      default:
        return new FileReadError('invalid_format', `Not a readable CSV file${at}: ${e.message}`, e.lines);
    }
  }
  return error as Error;
}
