/**
 * Format readers: text chunks in, SourceRecords out, one record in memory at a time. A reader reads
 * its text to the end unless it throws (a FileReadError: the file is set aside), also after damage
 * it cannot read past: the SHA-256 decodeText computes is then of the whole object, whatever the
 * chunking (exactly-once by object version and hash relies on it).
 */
import type { InputFormat } from '../config';
import { readCsv } from './csv';
import type { DecodeProgress } from './decode';
import { readJson } from './json';
import { readNdjson } from './ndjson';
import type { SourceRecord, TextOrigin } from './source-record';

export { decodeText, DEFAULT_DECODE_LIMITS } from './decode';
export type { DecodeLimits, DecodeProgress } from './decode';
export { FileReadError, ORIGINAL_LIMIT } from './source-record';
export type { SourceRecord, TextOrigin } from './source-record';

export interface ReaderOptions {
  readonly format: InputFormat;
  readonly recordsPath?: string;
  readonly csvDelimiter?: string;
  readonly maxRecordLength: number;
  readonly progress: DecodeProgress;
  /** For a reader of one part of the file: where the text starts (see TextOrigin). */
  readonly origin?: TextOrigin;
}

export function readRecords(text: AsyncIterable<string>, options: ReaderOptions): AsyncGenerator<SourceRecord> {
  switch (options.format) {
    case 'ndjson':
      return readNdjson(text, { maxLineLength: options.maxRecordLength, origin: options.origin });
    case 'csv':
      return readCsv(text, {
        delimiter: options.csvDelimiter, maxRecordLength: options.maxRecordLength, progress: options.progress, origin: options.origin,
      });
    case 'json_array':
      return readJson(text, { progress: options.progress, origin: options.origin });
    case 'json_object':
      return readJson(text, { recordsPath: options.recordsPath, progress: options.progress, origin: options.origin });
  }
}
