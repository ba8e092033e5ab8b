/**
 * Source definitions as the construct writes them to sources.json next to the handler
 * (versioned with the code; no runtime lookup). One source per raw-data prefix.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { InputFormatValue, SourceConfig, SourcesFile } from '../../src/ingestion-pipeline/sources-file';
import { SOURCES_FILE_NAME } from '../../src/ingestion-pipeline/sources-file';

/** The shape of sources.json is the construct's contract (src/ingestion-pipeline/sources-file.ts). */
export type {
  FieldConfig, IdNormalizationValue as IdNormalization, RelationshipConfig, SourceConfig, TransformConfig, TransformTypeValue as TransformType,
} from '../../src/ingestion-pipeline/sources-file';
export type InputFormat = InputFormatValue;
export type PipelineConfig = SourcesFile;

export const DEFAULT_MAX_RECORD_LENGTH = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

const cache = new Map<string, PipelineConfig>();

/** Read once per execution environment (per file, so tests can switch files). */
export function loadConfig(file = process.env.SOURCES_CONFIG_PATH ?? path.join(__dirname, SOURCES_FILE_NAME)): PipelineConfig {
  let config = cache.get(file);
  if (!config) {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as PipelineConfig;
    if (!Array.isArray(config.sources)) throw new Error(`${file}: "sources" must be an array`);
    cache.set(file, config);
  }
  return config;
}

/** The source whose prefix is the longest match for the key. */
export function sourceForKey(config: PipelineConfig, key: string): SourceConfig | undefined {
  return config.sources
    .filter((s) => key.startsWith(s.prefix))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
}

export function formatFor(source: SourceConfig, key: string): InputFormat | undefined {
  if (source.format) return source.format;
  // A gzip object is told by its extension once `.gz` is taken off (its bytes are decompressed whatever the name).
  const name = key.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson';
  if (name.endsWith('.json')) return source.recordsPath ? 'json_object' : 'json_array';
  return undefined;
}
