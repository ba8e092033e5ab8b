/**
 * stream-json 3 is ESM-only; handlers are CommonJS. esbuild bundles these requires into the
 * asset; TypeScript gets the types through import-mode type queries. One module, so tests can
 * substitute a CommonJS build of it (Jest cannot require ESM on Node 20).
 */
import type { Duplex } from 'stream';

type ParserModule = typeof import('stream-json', { with: { 'resolution-mode': 'import' } });
type PickModule = typeof import('stream-json/filters/pick.js', { with: { 'resolution-mode': 'import' } });
type StreamArrayModule = typeof import('stream-json/streamers/stream-array.js', { with: { 'resolution-mode': 'import' } });

/* eslint-disable @typescript-eslint/no-require-imports */
const { parser } = require('stream-json') as ParserModule;
const { pick } = require('stream-json/filters/pick.js') as PickModule;
const { streamArray } = require('stream-json/streamers/stream-array.js') as StreamArrayModule;
/* eslint-enable @typescript-eslint/no-require-imports */

export function jsonTokenizer(): Duplex {
  return parser.asStream();
}

/** Keeps only the value at a dot path (no depth limit here: deep records are rejected one by one later). */
export function pickPath(path: string): Duplex {
  return pick.asStream({ filter: path, maxDepth: Infinity });
}

/** Emits `{ key, value }` for each element of the (single) top-level array. */
export function arrayElements(): Duplex {
  return streamArray.asStream();
}
