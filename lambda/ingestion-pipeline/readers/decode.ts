/**
 * Bytes → text. Hashes every byte as stored (SHA-256 of the object), then:
 * - gzip (by `Content-Encoding: gzip` or the magic bytes 1f 8b) is decompressed, within a bound on
 *   the decompressed size and on the ratio decompressed/compressed (a zip bomb stops the file);
 * - the text encoding is told by the byte-order mark: UTF-8 (BOM optional), UTF-16 LE/BE and
 *   UTF-32 LE/BE (BOM required) are transcoded; the BOM is dropped;
 * - decoding is strict, so Latin-1 or binary input stops the file with a clear reason instead of
 *   loading U+FFFD.
 */
import type { Hash } from 'crypto';
import { createGunzip } from 'zlib';
import { FileReadError } from './source-record';

export type TextEncodingName = 'utf-8' | 'utf-16le' | 'utf-16be' | 'utf-32le' | 'utf-32be';

export interface DecodeProgress {
  /** Bytes read of the object as stored. */
  bytes: number;
  /** Set once the byte source ended. */
  ended: boolean;
  /** Last non-blank character seen: a JSON document that does not end in ] or } was cut off. */
  lastChar?: string;
  /** What the decoder found (for the manifest). */
  encoding?: TextEncodingName;
  bom?: boolean;
  compression?: 'none' | 'gzip';
  /** Bytes after decompression (gzip only). */
  decompressedBytes?: number;
}

export interface DecodeLimits {
  /** Largest decompressed size of a gzip object, in bytes. */
  readonly maxDecompressedBytes: number;
  /** Largest ratio decompressed/compressed, checked once the output passes `ratioGraceBytes`. */
  readonly maxRatio: number;
  readonly ratioGraceBytes: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxDecompressedBytes: 8 * 1024 ** 3,
  maxRatio: 200,
  ratioGraceBytes: 16 * 1024 ** 2,
};

function noteLastChar(text: string, progress: DecodeProgress): void {
  const trimmed = text.trimEnd();
  if (trimmed) progress.lastChar = trimmed[trimmed.length - 1];
}

/** Hashes and counts the stored bytes; yields them unchanged. */
async function* stored(body: AsyncIterable<Uint8Array>, hash: Hash, progress: DecodeProgress): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    hash.update(chunk);
    progress.bytes += chunk.length;
    yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

/** Reads the first bytes (up to n) without losing them. */
async function peek(source: AsyncIterator<Buffer>, n: number): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const parts: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const next = await source.next();
    if (next.done) break;
    parts.push(next.value);
    length += next.value.length;
  }
  return { head: Buffer.concat(parts), rest: source };
}

async function* prepend(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function* gunzip(compressed: AsyncIterable<Buffer>, progress: DecodeProgress, limits: DecodeLimits): AsyncGenerator<Buffer> {
  const gz = createGunzip();
  const feeding = (async () => {
    try {
      for await (const chunk of compressed) {
        if (gz.destroyed) return;
        if (!gz.write(chunk)) {
          await new Promise((resolve) => {
            gz.once('drain', resolve);
            gz.once('close', resolve);
          });
        }
      }
      gz.end();
    } catch (error) {
      gz.destroy(error as Error);
    }
  })();
  let out = 0;
  try {
    for await (const chunk of gz as AsyncIterable<Buffer>) {
      out += chunk.length;
      progress.decompressedBytes = out;
      if (out > limits.maxDecompressedBytes) {
        throw new FileReadError('decompression_limit',
          `The gzip object decompresses to more than ${limits.maxDecompressedBytes} bytes (the limit against zip bombs); split the file.`);
      }
      if (out > limits.ratioGraceBytes && out > limits.maxRatio * Math.max(1, progress.bytes)) {
        throw new FileReadError('decompression_limit',
          `The gzip object decompresses more than ${limits.maxRatio} times its compressed size (${out} bytes from ${progress.bytes}): refused as a likely zip bomb.`);
      }
      yield chunk;
    }
  } catch (error) {
    if (error instanceof FileReadError) throw error;
    const code = (error as { code?: string }).code ?? '';
    throw new FileReadError(code === 'Z_BUF_ERROR' ? 'truncated' : 'invalid_format',
      `The gzip object cannot be decompressed (${code === 'Z_BUF_ERROR' ? 'it ends early: truncated upload?' : (error as Error).message}).`);
  } finally {
    gz.destroy();
    await feeding;
  }
}

const BOMS: Array<{ bytes: number[]; encoding: TextEncodingName }> = [
  { bytes: [0xff, 0xfe, 0x00, 0x00], encoding: 'utf-32le' },
  { bytes: [0x00, 0x00, 0xfe, 0xff], encoding: 'utf-32be' },
  { bytes: [0xef, 0xbb, 0xbf], encoding: 'utf-8' },
  { bytes: [0xff, 0xfe], encoding: 'utf-16le' },
  { bytes: [0xfe, 0xff], encoding: 'utf-16be' },
];

function sniffBom(head: Buffer): { encoding: TextEncodingName; length: number } | undefined {
  const bom = BOMS.find((b) => b.bytes.every((x, i) => head[i] === x));
  return bom && { encoding: bom.encoding, length: bom.bytes.length };
}

/** Length of the byte-order mark the decoder found (0 without one). */
export function bomLength(progress: DecodeProgress): number {
  if (!progress.bom) return 0;
  return BOMS.find((b) => b.encoding === (progress.encoding ?? 'utf-8'))!.bytes.length;
}

/** Byte length of text in the file's own encoding (before transcoding). */
export function byteLengthIn(progress: DecodeProgress): (text: string) => number {
  switch (progress.encoding) {
    case 'utf-16le':
    case 'utf-16be':
      return (text) => text.length * 2;
    case 'utf-32le':
    case 'utf-32be':
      return (text) => {
        let n = 0;
        for (const _ of text) n++;
        return n * 4;
      };
    default:
      return (text) => Buffer.byteLength(text, 'utf8');
  }
}

/** UTF-32 (not in the WHATWG TextDecoder): 4-byte code units, strict. */
class Utf32Decoder {
  private pending = Buffer.alloc(0);
  constructor(private readonly bigEndian: boolean) {}

  decode(chunk: Buffer, offset: number): string {
    const bytes = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % 4);
    let text = '';
    for (let i = 0; i < whole; i += 4) {
      const cp = this.bigEndian ? bytes.readUInt32BE(i) : bytes.readUInt32LE(i);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw new FileReadError('invalid_encoding', `The file is not valid UTF-32 (code point 0x${cp.toString(16)} near byte ${offset + i - this.pending.length}).`);
      }
      text += String.fromCodePoint(cp);
    }
    this.pending = Buffer.from(bytes.subarray(whole));
    return text;
  }

  end(): void {
    if (this.pending.length) throw new FileReadError('truncated', 'The file ends in the middle of a UTF-32 character (truncated upload?).');
  }
}

export interface DecodeOptions {
  /** The object's Content-Encoding (gzip is decompressed). */
  readonly contentEncoding?: string;
  readonly limits?: DecodeLimits;
}

export async function* decodeText(
  body: AsyncIterable<Uint8Array>, hash: Hash, progress: DecodeProgress, options: DecodeOptions = {},
): AsyncGenerator<string> {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  let source: AsyncIterator<Buffer> = stored(body, hash, progress)[Symbol.asyncIterator]();
  let peeked = await peek(source, 4);
  const gzip = /(^|,)\s*(x-)?gzip\s*$/i.test(options.contentEncoding ?? '') || (peeked.head[0] === 0x1f && peeked.head[1] === 0x8b);
  progress.compression = gzip ? 'gzip' : 'none';
  if (gzip) {
    source = gunzip(prepend(peeked.head, peeked.rest), progress, limits)[Symbol.asyncIterator]();
    peeked = await peek(source, 4);
  }
  const bom = sniffBom(peeked.head);
  const encoding = bom?.encoding ?? 'utf-8';
  progress.encoding = encoding;
  progress.bom = Boolean(bom);
  const utf32 = encoding.startsWith('utf-32') ? new Utf32Decoder(encoding === 'utf-32be') : undefined;
  // TextDecoder drops a leading BOM itself (ignoreBOM: false).
  const decoder = utf32 ? undefined : new TextDecoder(encoding, { fatal: true, ignoreBOM: false });
  // Byte position in the (decompressed) file, for error messages.
  let textBytes = utf32 !== undefined && bom ? 4 : 0;
  const first = utf32 && bom ? peeked.head.subarray(4) : peeked.head;
  for await (const chunk of prepend(Buffer.from(first), peeked.rest)) {
    let text: string;
    try {
      text = utf32 ? utf32.decode(chunk, textBytes) : decoder!.decode(chunk, { stream: true });
    } catch (error) {
      if (error instanceof FileReadError) throw error;
      const at = Math.max(0, textBytes);
      if (encoding === 'utf-8') {
        throw new FileReadError('not_utf8', `The file is not valid UTF-8 (invalid byte sequence within bytes ${at}–${at + chunk.length}); `
          + 're-export it as UTF-8, or as UTF-16/UTF-32 with a byte-order mark.');
      }
      throw new FileReadError('invalid_encoding', `The file has a ${encoding.toUpperCase()} byte-order mark but is not valid ${encoding.toUpperCase()} (within bytes ${at}–${at + chunk.length}).`);
    }
    textBytes += chunk.length;
    if (text) {
      noteLastChar(text, progress);
      yield text;
    }
  }
  let tail = '';
  try {
    if (utf32) utf32.end();
    else tail = decoder!.decode();
  } catch (error) {
    if (error instanceof FileReadError) throw error;
    throw new FileReadError('truncated', `The file ends in the middle of a ${encoding.toUpperCase()} character (truncated upload?).`);
  }
  progress.ended = true;
  if (tail) {
    noteLastChar(tail, progress);
    yield tail;
  }
}
