/**
 * JSON documents, streamed: an array of records, or an object with the records array at a dot
 * path. The stream-json tokenizer never holds the document; only one record is assembled at a time.
 *
 * Damage (a file cut off, trailing garbage, a syntax error) cannot be skipped over in JSON: the
 * complete records before it are kept and the rest of the file is one rejection, with the byte
 * offset where it starts. To make that exact whatever the chunking, the text is fed to the
 * tokenizer one record at a time (RecordSplitter finds where each record of the records array
 * ends), and a tokenizer error ends the token stream cleanly instead of tearing down the stages
 * that still hold complete records. The splitter also keeps each record's text, so a rejected
 * record shows what was sent (`1e400`, not the `null` that JSON.stringify(Infinity) gives).
 */
import { Readable, Transform } from 'stream';
import { bomLength, byteLengthIn, DecodeProgress } from './decode';
import { composeStreams, FILE_START, FileReadError, ORIGINAL_LIMIT, SourceRecord, TextOrigin } from './source-record';
import { arrayElements, pickPath, tokenizerFunction } from './stream-json';

export interface JsonOptions {
  /** Dot path of the records array inside a top-level object; omitted for a top-level array. */
  readonly recordsPath?: string;
  readonly progress: DecodeProgress;
  readonly origin?: TextOrigin;
}

export interface RecordText {
  /** Byte offset in the (decompressed) file just after the record. */
  readonly end: number;
  readonly text: string;
  readonly truncated: boolean;
}

/**
 * Tracks the JSON structure (containers, strings, keys) well enough to know where each element
 * of the records array ends; it does not validate (the tokenizer does).
 */
export class RecordSplitter {
  /** The records array was opened; byte offset just after its `[`. */
  opened = false;
  openedAt = 0;
  private readonly path: string[];
  /** Open containers: 'o' or 'a', and whether it is the records array. */
  private readonly stack: Array<{ type: 'o' | 'a'; records: boolean; key: string | null }> = [];
  private inString = false;
  private escape = false;
  private stringIsKey = false;
  private key = '';
  private lastKey: string | null = null;
  private expectKey = false;
  private scalar = false;
  private recordStart = -1;
  private recordParts: string[] = [];
  private recordLength = 0;
  private bytes = -1;
  private byteLength: (text: string) => number;

  constructor(recordsPath: string | undefined, private readonly progress: DecodeProgress, private readonly onRecord: (r: RecordText) => void) {
    this.path = recordsPath ? recordsPath.split('.') : [];
    this.byteLength = byteLengthIn(progress);
  }

  /** Text of a record started and not finished (at the end: the cut-off record). */
  get partial(): string {
    return this.recordParts.join('').slice(0, ORIGINAL_LIMIT);
  }

  private atRecords(): boolean {
    return this.stack.length > 0 && this.stack[this.stack.length - 1].records;
  }

  private opens(type: 'o' | 'a'): boolean {
    const parentIsObject = this.stack.length > 0 && this.stack[this.stack.length - 1].type === 'o';
    const key = parentIsObject ? this.lastKey : null;
    const keys = [...this.stack.slice(1).map((s) => s.key ?? ''), ...(this.stack.length > 0 ? [key ?? ''] : [])];
    const records = type === 'a' && keys.length === this.path.length && keys.every((k, i) => k === this.path[i])
      && (this.path.length > 0 ? this.stack[0]?.type === 'o' : this.stack.length === 0);
    this.stack.push({ type, records, key });
    // An object's first string is a key (later ones follow a comma).
    this.expectKey = type === 'o';
    return records;
  }

  /** Splits a text chunk into pieces that end where records end; calls onRecord for each record. */
  split(chunk: string): string[] {
    if (this.bytes < 0) {
      // The decoder has told the encoding by the time the first text arrives.
      this.byteLength = byteLengthIn(this.progress);
      this.bytes = bomLength(this.progress);
    }
    const pieces: string[] = [];
    let cut = 0;
    const finishRecord = (at: number) => {
      const piece = chunk.slice(cut, at);
      this.bytes += this.byteLength(piece);
      this.collect(chunk, at);
      pieces.push(piece);
      cut = at;
      this.onRecord({ end: this.bytes, text: this.recordParts.join(''), truncated: this.recordLength > ORIGINAL_LIMIT });
      this.recordParts = [];
      this.recordLength = 0;
      this.recordStart = -1;
      this.scalar = false;
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escape) {
          this.escape = false;
        } else if (c === 0x5c) {
          this.escape = true;
        } else if (c === 0x22) {
          this.inString = false;
          if (this.stringIsKey) {
            this.lastKey = this.key;
            this.expectKey = false;
          }
        } else if (this.stringIsKey && this.key.length < 256) {
          this.key += chunk[i];
        }
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      const startsValue = c !== 0x2c && c !== 0x5d && c !== 0x7d && c !== 0x3a;
      if (startsValue && this.atRecords() && this.recordStart < 0) {
        this.recordStart = i;
        this.scalar = c !== 0x7b && c !== 0x5b;
      }
      if (c === 0x22) {
        this.inString = true;
        this.stringIsKey = this.expectKey && this.stack[this.stack.length - 1]?.type === 'o';
        this.key = '';
      } else if (c === 0x7b || c === 0x5b) {
        if (this.opens(c === 0x7b ? 'o' : 'a') && !this.opened) {
          this.opened = true;
          this.openedAt = this.bytes + this.byteLength(chunk.slice(cut, i + 1));
        }
      } else if (c === 0x7d || c === 0x5d) {
        if (this.atRecords() && this.scalar && this.recordStart >= 0) finishRecord(i);
        this.stack.pop();
        if (this.atRecords() && this.recordStart >= 0) finishRecord(i + 1);
      } else if (c === 0x2c) {
        if (this.atRecords() && this.scalar && this.recordStart >= 0) finishRecord(i);
        this.expectKey = this.stack[this.stack.length - 1]?.type === 'o';
      }
    }
    const rest = chunk.slice(cut);
    this.bytes += this.byteLength(rest);
    this.collect(chunk, chunk.length);
    if (rest) pieces.push(rest);
    return pieces;
  }

  /** Keeps the text of the current record (up to ORIGINAL_LIMIT) from this chunk, up to `to`. */
  private collect(chunk: string, to: number): void {
    if (this.recordStart < 0 && this.recordParts.length === 0) return;
    const from = this.recordParts.length === 0 ? Math.max(0, this.recordStart) : 0;
    const piece = chunk.slice(from, to);
    this.recordLength += piece.length;
    const room = ORIGINAL_LIMIT + 1 - this.recordParts.reduce((n, p) => n + p.length, 0);
    if (room > 0) this.recordParts.push(piece.slice(0, room));
    // The next chunk continues the same record from its start.
    this.recordStart = this.recordStart >= 0 ? 0 : this.recordStart;
  }

}

interface Damage {
  readonly error: Error;
  /** True when the input ended inside the document (cut off), false for invalid text. */
  readonly atEnd: boolean;
}

export async function* readJson(text: AsyncIterable<string>, options: JsonOptions): AsyncGenerator<SourceRecord> {
  const origin = options.origin ?? FILE_START;
  const ends: RecordText[] = [];
  const splitter = new RecordSplitter(options.recordsPath, options.progress, (r) => ends.push(r));
  const tokenizer = tokenizerFunction();
  let damage: Damage | undefined;
  let picked = 0;
  // Feeds the tokenizer record by record; on its first error, stops and ends the token stream cleanly.
  const tokens = new Transform({
    readableObjectMode: true,
    writableObjectMode: true,
    transform(chunk: string, _enc, done) {
      if (damage) return done();
      for (const piece of splitter.split(chunk)) {
        try {
          for (const t of tokenizer.feed(piece)) this.push(t);
        } catch (error) {
          damage = { error: error as Error, atEnd: false };
          break;
        }
      }
      done();
    },
    flush(done) {
      if (!damage) {
        try {
          for (const t of tokenizer.finish()) this.push(t);
        } catch (error) {
          damage = { error: error as Error, atEnd: true };
        }
      }
      done();
    },
  });
  const stages: Array<NodeJS.ReadWriteStream> = [tokens];
  if (options.recordsPath) {
    stages.push(pickPath(options.recordsPath), new Transform({
      objectMode: true,
      transform(token, _enc, done) {
        picked++;
        done(null, token);
      },
    }));
  }
  stages.push(arrayElements());
  const items = composeStreams(Readable.from(text), ...stages) as AsyncIterable<{ key: number; value: unknown }>;
  let count = 0;
  let lastEnd: number | undefined;
  try {
    for await (const { key, value } of items) {
      count++;
      const raw = ends.shift();
      lastEnd = raw?.end ?? lastEnd;
      const original = raw && !raw.truncated ? raw.text.trim() : undefined;
      yield { recordNumber: key + 1 + origin.records, line: null, value, original: () => original ?? JSON.stringify(value) };
    }
  } catch (error) {
    if (error instanceof FileReadError) throw error;
    if (/should be an array/i.test((error as Error)?.message ?? '')) {
      throw new FileReadError('invalid_format', 'The JSON document is not an array of records (the source expects a top-level array).');
    }
    throw error;
  }
  // A zero-byte file is an empty delivery, in every format: no records, nothing wrong.
  if (damage && options.progress.bytes === 0) return;
  if (damage && !splitter.opened) {
    const where = options.recordsPath ? `an array of records at "${options.recordsPath}"` : 'an array of records';
    throw new FileReadError(damage.atEnd ? 'truncated' : 'invalid_format',
      `Not a JSON document with ${where}: ${damage.error.message} before the records began.`);
  }
  if (damage) {
    // The splitter saw no record end past the last kept record: its unfinished text is the damaged part.
    const partial = ends.length === 0 ? splitter.partial : '';
    yield damageRecord(damage, count + origin.records, (lastEnd ?? splitter.openedAt) + origin.bytes, partial);
    return;
  }
  if (options.recordsPath && picked === 0 && options.progress.bytes > 0) {
    throw new FileReadError('invalid_format', `The JSON document has no array of records at "${options.recordsPath}".`);
  }
}

/** The damaged rest of the file: one rejection, after the `kept` complete records. */
function damageRecord(damage: Damage, kept: number, offset: number, partial: string): SourceRecord {
  const records = `${kept} complete record${kept === 1 ? '' : 's'} kept`;
  const message = damage.atEnd
    ? `the JSON document ends early (truncated upload?): everything from byte ${offset}, just after the last complete record, is set aside (${records}; ${damage.error.message})`
    : `the JSON document is invalid after its last complete record (${damage.error.message}): everything from byte ${offset} is set aside (${records})`;
  return {
    recordNumber: kept + 1,
    line: null,
    byteOffset: offset,
    original: () => partial,
    reasons: [{ code: damage.atEnd ? 'truncated' : 'invalid_json', message }],
  };
}
