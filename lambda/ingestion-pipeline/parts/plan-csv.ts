/**
 * CSV record ends for the part planner: csv-parse with the reader's own options (CsvRows) finds
 * them, so quoted line ends, escaped quotes, CRLF, the line-end style it detects from the header
 * and the records it skips (empty lines) are the reader's. The header row is the plan's header
 * range. An error of csv-parse (a quote never closed, a record over the length limit) ends the
 * cutting: the rest of the file is the damaged last part, one rejection; an error before or in the
 * header (the reader throws for the whole file) leaves one part with no records.
 */
import { CsvError } from 'csv-parse';
import type { PartCutter } from './part-plan';
import { checkHeader, CsvRows, rawText } from '../readers/csv';

export interface CsvScanOptions {
  /** The byte-order mark's length, known once the first text has come. */
  readonly bomLength: () => number;
  readonly delimiter: string;
  readonly maxRecordLength: number;
}

export async function scanCsv(text: AsyncIterable<string>, cutter: PartCutter, options: CsvScanOptions): Promise<void> {
  const rows = new CsvRows({ delimiter: options.delimiter, maxRecordLength: options.maxRecordLength });
  let unreadable = false;
  const take = () => {
    for (const row of rows.take()) {
      if (unreadable) return;
      // csv-parse counts bytes of the text it gets (after the BOM), up to and with the line end.
      const end = options.bomLength() + row.info.bytes;
      // csv-parse counts the record's line end as a line once the next character comes.
      const nextLine = row.info.lines + 1;
      if (cutter.header) {
        cutter.recordEnd(end, nextLine);
        continue;
      }
      try {
        checkHeader(row.record, rawText(row), options.delimiter);
      } catch {
        unreadable = true;
        cutter.rest(0);
        return;
      }
      cutter.header = { start: 0, end, nextLine };
    }
  };
  for await (const chunk of text) {
    if (unreadable || rows.failure) continue;
    await rows.write(chunk);
    take();
  }
  if (!unreadable && !rows.failure) {
    await rows.end();
    take();
  }
  if (!unreadable && rows.failure) cutter.rest(cutter.header && rows.failure instanceof CsvError ? 1 : 0);
}
