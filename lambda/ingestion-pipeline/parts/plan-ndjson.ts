/**
 * NDJSON record ends for the part planner, by the reader's rules (readNdjson): a line is a record
 * when it is longer than the length limit or not blank (String.prototype.trim's whitespace, which
 * is /\s/); it ends after its `\n`, or at the end of the file.
 */
import type { PartCutter } from './part-plan';

export interface NdjsonScanOptions {
  /** The byte-order mark's length, known once the first text has come. */
  readonly bomLength: () => number;
  readonly maxLineLength: number;
}

export async function scanNdjson(text: AsyncIterable<string>, cutter: PartCutter, options: NdjsonScanOptions): Promise<void> {
  let bytes = -1;
  let line = 1;
  // The current line: length in UTF-16 code units (as the reader measures it), and what it holds.
  let length = 0;
  let tooLong = false;
  let blank = true;
  for await (const chunk of text) {
    if (bytes < 0) bytes = options.bomLength();
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      const piece = nl < 0 ? chunk.slice(start) : chunk.slice(start, nl);
      length += piece.length;
      if (length > options.maxLineLength) tooLong = true;
      if (blank && !tooLong && /\S/.test(piece)) blank = false;
      bytes += Buffer.byteLength(piece, 'utf8');
      if (nl < 0) break;
      bytes += 1;
      line++;
      if (tooLong || !blank) cutter.recordEnd(bytes, line);
      length = 0;
      tooLong = false;
      blank = true;
      start = nl + 1;
    }
  }
  // The last line, without a line end.
  if (length > 0 && (tooLong || !blank)) cutter.recordEnd(bytes, line);
}
