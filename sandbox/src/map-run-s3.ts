/**
 * The sandbox's Distributed Map layer, part 3: a Map Run's S3 side, through the real AWS SDK v3
 * client against the sandbox's S3. `readItems` is the ItemReader (`s3:getObject` of a JSON array,
 * JSON Lines or CSV; `s3:listObjectsV2`); `writeResults` is the ResultWriter (`s3:putObject`):
 * `SUCCEEDED_0.json`, `FAILED_0.json`, `PENDING_0.json` (each written when it has entries; AWS starts
 * a new file past 5 GB, the sandbox never does) and `manifest.json` under `<Prefix>/<map run id>/`.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse';
import type { ItemReaderSpec } from './distributed-map';

const DELIMITERS: Record<string, string> = { COMMA: ',', PIPE: '|', SEMICOLON: ';', SPACE: ' ', TAB: '\t' };

/** The items of an ItemReader, its Parameters already evaluated; at most `maxItems`. */
export async function readItems(s3: S3Client, reader: ItemReaderSpec, parameters: any, maxItems?: number): Promise<unknown[]> {
  if (reader.resource === 'listObjectsV2') return listObjects(s3, parameters, maxItems);
  const object = await s3.send(new GetObjectCommand({ Bucket: parameters.Bucket, Key: parameters.Key, VersionId: parameters.VersionId }));
  const where = `s3://${parameters.Bucket}/${parameters.Key}`;
  switch (reader.readerConfig.InputType) {
    case 'CSV':
      return readCsv(object.Body as NodeJS.ReadableStream, reader.readerConfig, maxItems);
    case 'JSONL':
      return readJsonLines(await object.Body!.transformToString(), where, maxItems);
    default: {
      const items = JSON.parse(await object.Body!.transformToString());
      if (!Array.isArray(items)) throw new Error(`${where} does not hold a JSON array (ReaderConfig.InputType JSON)`);
      return maxItems === undefined ? items : items.slice(0, maxItems);
    }
  }
}

/** CSV rows as objects of strings, keyed by the first row or the given headers (as Step Functions gives them). */
async function readCsv(body: NodeJS.ReadableStream, config: Record<string, any>, maxItems?: number): Promise<unknown[]> {
  const parser = body.pipe(parse({
    bom: true,
    delimiter: DELIMITERS[config.CSVDelimiter ?? 'COMMA'],
    columns: config.CSVHeaderLocation === 'GIVEN' ? config.CSVHeaders : true,
    skip_empty_lines: true,
    ...(maxItems === undefined ? {} : { to: maxItems }),
  }));
  const rows: unknown[] = [];
  for await (const row of parser) rows.push(row);
  return rows;
}

function readJsonLines(text: string, where: string, maxItems?: number): unknown[] {
  const items: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length && (maxItems === undefined || items.length < maxItems); i++) {
    if (lines[i].trim() === '') continue;
    try {
      items.push(JSON.parse(lines[i]));
    } catch (error) {
      throw new Error(`${where} line ${i + 1} is not JSON: ${(error as Error).message}`);
    }
  }
  return items;
}

/** The objects under a prefix, each as Step Functions gives it to an item: Etag, Key, LastModified (epoch seconds), Size, StorageClass. */
async function listObjects(s3: S3Client, parameters: any, maxItems?: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: parameters.Bucket, Prefix: parameters.Prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (maxItems !== undefined && items.length >= maxItems) return items;
      items.push({ Etag: o.ETag, Key: o.Key, LastModified: Math.floor(o.LastModified!.getTime() / 1000), Size: o.Size, StorageClass: o.StorageClass ?? 'STANDARD' });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return items;
}

export type ResultFiles = Record<'SUCCEEDED' | 'FAILED' | 'PENDING', unknown[]>;

/** Writes a Map Run's result files and manifest; returns the state's result (MapRunArn, ResultWriterDetails). */
export async function writeResults(s3: S3Client, parameters: any, mapRunArn: string, results: ResultFiles): Promise<unknown> {
  const bucket = String(parameters.Bucket);
  const prefix = parameters.Prefix ? `${String(parameters.Prefix).replace(/\/$/, '')}/` : '';
  const base = `${prefix}${mapRunArn.split(':').pop()}/`;
  const files: Record<string, unknown[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  const manifest = { DestinationBucket: bucket, MapRunArn: mapRunArn, ResultFiles: files };
  for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
    if (results[status].length === 0) continue;
    const key = `${base}${status}_0.json`;
    const body = JSON.stringify(results[status]);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
    manifest.ResultFiles[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}manifest.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest), ContentType: 'application/json' }));
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
}
