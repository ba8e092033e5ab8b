/**
 * stream-json 3 is ESM-only; handlers are CommonJS. esbuild bundles these requires into the
 * asset; TypeScript gets the types through import-mode type queries. One module, so tests can
 * substitute a CommonJS build of it (Jest cannot require ESM on Node 20).
 */
import type { Duplex } from 'stream';

type PickModule = typeof import('stream-json/filters/pick.js', { with: { 'resolution-mode': 'import' } });
type StreamArrayModule = typeof import('stream-json/streamers/stream-array.js', { with: { 'resolution-mode': 'import' } });
type CoreParserModule = typeof import('stream-json/core/parser.js', { with: { 'resolution-mode': 'import' } });

/* eslint-disable @typescript-eslint/no-require-imports */
const { pick } = require('stream-json/filters/pick.js') as PickModule;
const { streamArray } = require('stream-json/streamers/stream-array.js') as StreamArrayModule;
const { jsonParser } = require('stream-json/core/parser.js') as CoreParserModule;
/* eslint-enable @typescript-eslint/no-require-imports */

/** stream-chain's marker for "end of input" (flush) and its wrapper of several outputs. */
const NONE = Symbol.for('object-stream.none');
const MANY = Symbol.for('object-stream.many');

/**
 * The tokenizer as a plain function, for a caller that feeds it itself: `feed(text)` returns the
 * tokens of that text, `finish()` those at the end of input; both throw on invalid JSON.
 */
export function tokenizerFunction(): { feed(text: string): unknown[]; finish(): unknown[] } {
  const fn = jsonParser({}) as unknown as (input: unknown) => unknown;
  const tokens = (out: unknown): unknown[] => {
    if (out === NONE || out === undefined) return [];
    if (out && (out as Record<symbol, unknown>)[MANY] === 1) return (out as { values: unknown[] }).values;
    return [out];
  };
  return { feed: (text) => tokens(fn(text)), finish: () => tokens(fn(NONE)) };
}

/** Keeps only the value at a dot path (no depth limit here: deep records are rejected one by one later). */
export function pickPath(path: string): Duplex {
  return pick.asStream({ filter: path, maxDepth: Infinity });
}

/** Emits `{ key, value }` for each element of the (single) top-level array. */
export function arrayElements(): Duplex {
  return streamArray.asStream();
}
