/**
 * NDJSON / JSON Lines: one record per line. A bad line is rejected on its own; a line longer
 * than the limit is skipped without being held in memory (only an excerpt is kept).
 */
import { FILE_START, ORIGINAL_LIMIT, SourceRecord, TextOrigin } from './source-record';
import type { RejectionReason } from '../../shared/ingestion-contract';

export interface NdjsonOptions {
  readonly maxLineLength: number;
  readonly origin?: TextOrigin;
}

export async function* readNdjson(text: AsyncIterable<string>, options: NdjsonOptions): AsyncGenerator<SourceRecord> {
  let parts: string[] = [];
  let length = 0;
  const origin = options.origin ?? FILE_START;
  let lineNumber = 1 + origin.lines;
  let recordNumber = origin.records;
  let tooLong = false;

  function* emit(line: string): Generator<SourceRecord> {
    const number = lineNumber++;
    if (tooLong) {
      tooLong = false;
      recordNumber++;
      yield {
        recordNumber,
        line: number,
        original: () => line,
        reasons: [{ code: 'line_too_long', message: `line is longer than the limit of ${options.maxLineLength} characters` }],
      };
      return;
    }
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (trimmed.trim() === '') return;
    recordNumber++;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      const reason: RejectionReason = { code: 'invalid_json', message: `not valid JSON (${(error as Error).message.replace(/ in JSON at position \d+.*$/, '')})` };
      yield { recordNumber, line: number, original: () => trimmed, reasons: [reason] };
      return;
    }
    yield { recordNumber, line: number, value, original: () => trimmed };
  }

  for await (const chunk of text) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      const piece = nl < 0 ? chunk.slice(start) : chunk.slice(start, nl);
      if (!tooLong) {
        length += piece.length;
        if (length > options.maxLineLength) {
          // Keep an excerpt only: the rest of the line is dropped as it streams by.
          tooLong = true;
          parts = [[...parts, piece].join('').slice(0, ORIGINAL_LIMIT)];
        } else if (piece) {
          parts.push(piece);
        }
      } else {
        length += piece.length;
      }
      if (nl < 0) break;
      const line = parts.length === 1 ? parts[0] : parts.join('');
      parts = [];
      yield* emit(line);
      length = 0;
      start = nl + 1;
    }
  }
  if (parts.length > 0 || tooLong) yield* emit(parts.join(''));
}
