/**
 * UTF-8 bytes → text, strictly, for the part planner and the part reader. Unlike decodeText (which
 * reads a whole object as stored: gzip, BOM-told encodings), this reads bytes that are already
 * UTF-8 and may start anywhere in the file: a byte-order mark is only one when the bytes start at
 * the file's first byte; elsewhere U+FEFF is a character like any other.
 */
import { FileReadError } from '../readers';

export interface Utf8Progress {
  /** Bytes read so far. */
  bytes: number;
  /** The bytes started with a UTF-8 byte-order mark (known before the first text is yielded). */
  bom: boolean;
}

const BOM = [0xef, 0xbb, 0xbf];

export async function* utf8Text(bytes: AsyncIterable<Uint8Array>, atFileStart: boolean, progress: Utf8Progress): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: !atFileStart });
  let sniffing = atFileStart;
  for await (const chunk of bytes) {
    // The decoder holds back a BOM's first bytes, so this is settled before any text comes out.
    for (let i = 0; sniffing && progress.bytes + i < 3 && i < chunk.length; i++) {
      if (chunk[i] !== BOM[progress.bytes + i]) sniffing = false;
      else if (progress.bytes + i === 2) progress.bom = true;
    }
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new FileReadError('not_utf8', `The bytes are not valid UTF-8 (an invalid byte sequence within bytes ${progress.bytes}–${progress.bytes + chunk.length} `
        + 'of the range read); files are split into parts after decoding to UTF-8.');
    }
    progress.bytes += chunk.length;
    if (text) yield text;
  }
  let tail: string;
  try {
    tail = decoder.decode();
  } catch {
    throw new FileReadError('truncated', 'The bytes end in the middle of a UTF-8 character.');
  }
  if (tail) yield tail;
}
