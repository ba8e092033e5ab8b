/**
 * JSON array record ends for the part planner. The reader's RecordSplitter (a streamed scan of
 * strings, escapes and nesting) tells where each element of the top-level array ends; the reader's
 * tokenizer, fed the same pieces, tells whether it is valid: an element counts once the tokenizer
 * has completed it (a number only when the character after it has come). The first tokenizer error,
 * or input that ends inside the document, ends the cutting: the rest of the file is the damaged
 * last part. A document that is not an array leaves one part with no records (the reader throws).
 *
 * How a part is then read (readPart): the first part is the file's text with `]` added unless it is
 * also the last; every later part starts just after an element (at its `,` or whitespace), so it
 * is read as `[{}` + its text (+ `]` unless last): the `{}` element puts the tokenizer in the state
 * it is in after any element, and is dropped.
 */
import type { PartCutter } from './part-plan';
import { RecordSplitter } from '../readers/json';
import { tokenizerFunction } from '../readers/stream-json';

export interface JsonScanOptions {
  /** The byte-order mark's length, known once the first text has come. */
  readonly bomLength: () => number;
}

const VALUE_TOKENS = new Set(['stringValue', 'numberValue', 'trueValue', 'falseValue', 'nullValue']);

export async function scanJsonArray(text: AsyncIterable<string>, cutter: PartCutter, options: JsonScanOptions): Promise<void> {
  const ends: number[] = [];
  const progress = { bytes: 0, ended: false, encoding: 'utf-8' as const, bom: false };
  const splitter = new RecordSplitter(undefined, progress, (r) => ends.push(r.end));
  const tokenizer = tokenizerFunction();
  let depth = 0;
  let array: boolean | undefined;
  let stopped = false;
  const onTokens = (tokens: unknown[]) => {
    for (const token of tokens) {
      const name = (token as { name: string }).name;
      array ??= name === 'startArray';
      if (!array) {
        // Not an array of records: the reader refuses the file.
        stopped = true;
        cutter.rest(0);
        return;
      }
      if (name === 'startObject' || name === 'startArray') {
        depth++;
      } else if (name === 'endObject' || name === 'endArray') {
        depth--;
        if (depth === 1) completed();
      } else if (depth === 1 && VALUE_TOKENS.has(name)) {
        completed();
      }
    }
  };
  // A string or literal element is complete for the tokenizer at its last character, for the
  // splitter only at the `,` or `]` after it, which may come in a later chunk.
  let pending = 0;
  const match = () => {
    for (; pending > 0 && ends.length > 0; pending--) cutter.recordEnd(ends.shift()!, null);
  };
  const completed = () => {
    pending++;
    match();
  };
  const damaged = () => {
    stopped = true;
    cutter.rest(splitter.opened ? 1 : 0);
  };
  for await (const chunk of text) {
    if (stopped) continue;
    progress.bom = options.bomLength() > 0;
    const pieces = splitter.split(chunk);
    match();
    for (const piece of pieces) {
      let tokens: unknown[];
      try {
        tokens = tokenizer.feed(piece);
      } catch {
        damaged();
        break;
      }
      onTokens(tokens);
      if (stopped) break;
    }
  }
  if (stopped) return;
  let tokens: unknown[];
  try {
    tokens = tokenizer.finish();
  } catch {
    damaged();
    return;
  }
  onTokens(tokens);
  if (pending > 0) throw new Error('scanJsonArray: the tokenizer completed an element the splitter did not end.');
}
