/**
 * Bytes → text: hashes every byte (SHA-256 of the object as stored) and decodes UTF-8 strictly,
 * so Latin-1 or binary input stops the file with a clear reason instead of loading U+FFFD.
 * A leading BOM is dropped by the decoder.
 */
import type { Hash } from 'crypto';
import { FileReadError } from './source-record';

export interface DecodeProgress {
  bytes: number;
  /** Set once the byte source ended. */
  ended: boolean;
  /** Last non-blank character seen: a JSON document that does not end in ] or } was cut off. */
  lastChar?: string;
}

function noteLastChar(text: string, progress: DecodeProgress): void {
  const trimmed = text.trimEnd();
  if (trimmed) progress.lastChar = trimmed[trimmed.length - 1];
}

export async function* decodeUtf8(body: AsyncIterable<Uint8Array>, hash: Hash, progress: DecodeProgress): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const chunk of body) {
    hash.update(chunk);
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new FileReadError('not_utf8', `The file is not valid UTF-8 (invalid byte sequence within bytes ${progress.bytes}–${progress.bytes + chunk.length}); re-export it as UTF-8.`);
    }
    progress.bytes += chunk.length;
    if (text) {
      noteLastChar(text, progress);
      yield text;
    }
  }
  let tail: string;
  try {
    tail = decoder.decode();
  } catch {
    throw new FileReadError('truncated', 'The file ends in the middle of a UTF-8 character (truncated upload?).');
  }
  progress.ended = true;
  if (tail) {
    noteLastChar(tail, progress);
    yield tail;
  }
}
