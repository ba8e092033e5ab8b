/**
 * JSON documents, streamed: an array of records, or an object with the records array at a dot
 * path. The tokenizer never holds the document; only one record is assembled at a time. A syntax
 * error cannot be skipped over in JSON, so it stops the file (truncated vs malformed told apart).
 */
import { Readable, Transform } from 'stream';
import type { DecodeProgress } from './decode';
import { composeStreams, FileReadError, SourceRecord } from './source-record';
import { arrayElements, jsonTokenizer, pickPath } from './stream-json';

export interface JsonOptions {
  /** Dot path of the records array inside a top-level object; omitted for a top-level array. */
  readonly recordsPath?: string;
  readonly progress: DecodeProgress;
}

export async function* readJson(text: AsyncIterable<string>, options: JsonOptions): AsyncGenerator<SourceRecord> {
  let picked = 0;
  const stages: Array<NodeJS.ReadWriteStream> = [jsonTokenizer()];
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
  try {
    for await (const { key, value } of items) {
      count++;
      yield { recordNumber: key + 1, line: null, value, original: () => JSON.stringify(value) };
    }
  } catch (error) {
    // A zero-byte file is an empty delivery, in every format: no records, nothing wrong.
    if (options.progress.ended && options.progress.bytes === 0) return;
    throw asFileError(error, options.progress, count);
  }
  if (options.recordsPath && picked === 0 && options.progress.bytes > 0) {
    throw new FileReadError('invalid_format', `The JSON document has no array of records at "${options.recordsPath}".`);
  }
}

function asFileError(error: unknown, progress: DecodeProgress, records: number): Error {
  if (error instanceof FileReadError) return error;
  const message = (error as Error)?.message ?? String(error);
  const after = `after ${records} record${records === 1 ? '' : 's'}`;
  if (/should be an array/i.test(message)) {
    return new FileReadError('invalid_format', 'The JSON document is not an array of records (the source expects a top-level array).');
  }
  if (progress.ended && progress.lastChar !== ']' && progress.lastChar !== '}') {
    return new FileReadError('truncated', `The JSON document ends early ${after} (truncated upload?): ${message}.`);
  }
  return new FileReadError('invalid_format', `Not a valid JSON document ${after}: ${message}.`);
}
