import * as stream from 'stream';
import type { Duplex } from 'stream';
import type { FileErrorCode, RejectionReason } from '../../shared/ingestion-contract';

/** One record as read from the file, before validation. */
export interface SourceRecord {
  /** 1-based position among the records of the file. */
  readonly recordNumber: number;
  /** 1-based line where the record starts (NDJSON, CSV); null for JSON documents. */
  readonly line: number | null;
  /** The parsed record; absent when the reader already rejected it. */
  readonly value?: unknown;
  /** The record's original text (computed only when needed). */
  readonly original: () => string;
  /** Reasons the reader rejected the record (bad JSON line, wrong column count, …). */
  readonly reasons?: RejectionReason[];
  /** For the damaged rest of a file (cut off, garbage): the byte offset in the (decompressed) file where it starts. */
  readonly byteOffset?: number;
}

/**
 * Where the text a reader is given starts within the file, for a reader of one part of it (the
 * distributed path): numbers in the records it yields and in their reasons are the file's, not
 * the part's. Omitted: the text is the whole file.
 */
export interface TextOrigin {
  /** Records of the file before the text (added to record numbers and counts of kept records). */
  readonly records: number;
  /** Added to line numbers. */
  readonly lines: number;
  /** Added to byte offsets. */
  readonly bytes: number;
}

export const FILE_START: TextOrigin = { records: 0, lines: 0, bytes: 0 };

/** The file cannot be read on: the run is set aside as a whole. */
export class FileReadError extends Error {
  constructor(readonly code: FileErrorCode, message: string, readonly line?: number) {
    super(message);
    this.name = 'FileReadError';
  }
}

/** Longest excerpt of a record kept in rejected/ output. */
export const ORIGINAL_LIMIT = 64 * 1024;

/** stream.compose (Node ≥ 16.9; missing from @types/node): one stream whose errors come from any stage. */
export const composeStreams = (stream as unknown as { compose(...streams: unknown[]): Duplex }).compose;
