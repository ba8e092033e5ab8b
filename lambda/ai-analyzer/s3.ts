/** S3 access of the analyzer: streamed NDJSON lines (gzip too), small JSON documents. */
import * as readline from 'readline';
import { Readable } from 'stream';
import { createGunzip } from 'zlib';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PermanentAnalysisError, permanentS3Error } from './errors';

const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });

async function get(bucket: string, key: string) {
  try {
    return await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    throw permanentS3Error(error, bucket, key) ?? error;
  }
}

/** The object's lines, streamed (memory stays flat whatever the size). Opens the object anew on each call. */
export async function* objectLines(bucket: string, key: string): AsyncGenerator<string> {
  const response = await get(bucket, key);
  const body = response.Body as Readable;
  const gzip = key.endsWith('.gz') || response.ContentEncoding === 'gzip';
  const input = gzip ? body.pipe(createGunzip()) : body;
  if (gzip) body.on('error', (e) => input.destroy(e));
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } finally {
    lines.close();
    body.destroy();
  }
}

export async function readJson<T>(bucket: string, key: string): Promise<T> {
  const response = await get(bucket, key);
  const text = await response.Body!.transformToString('utf-8');
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PermanentAnalysisError('invalid_request', `s3://${bucket}/${key} is not valid JSON`);
  }
}

export async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
  await s3.send(new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: JSON.stringify(value, null, 2),
    ContentType: 'application/json',
  }));
}
