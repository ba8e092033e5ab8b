/**
 * NDJSON outputs streamed to S3 with lib-storage (multipart, bounded buffers), optionally gzip.
 * Started on the first line, so nothing is written for an empty output; aborted (no object at
 * all) when the run does not commit, so a skipped or crashed run leaves no half output behind.
 */
import { once } from 'events';
import { PassThrough } from 'stream';
import { createGzip } from 'zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export type Compression = 'none' | 'gzip';

const PART_SIZE = 8 * 1024 * 1024;

export class NdjsonUpload {
  private input?: NodeJS.WritableStream & PassThrough;
  private upload?: Upload;
  private finished?: Promise<unknown>;
  private failure?: unknown;
  private count = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly key: string,
    private readonly compression: Compression,
  ) {}

  get lines(): number {
    return this.count;
  }

  private start(): PassThrough {
    const input = new PassThrough({ highWaterMark: 1024 * 1024 });
    const body = this.compression === 'gzip' ? input.pipe(createGzip()) : input;
    this.upload = new Upload({
      client: this.s3,
      params: {
        Bucket: this.bucket,
        Key: this.key,
        Body: body,
        ContentType: 'application/x-ndjson',
        ...(this.compression === 'gzip' ? { ContentEncoding: 'gzip' } : {}),
      },
      partSize: PART_SIZE,
      queueSize: 2,
    });
    this.finished = this.upload.done().catch((error) => {
      this.failure = error;
      throw error;
    });
    this.finished.catch(() => undefined);
    this.input = input;
    return input;
  }

  /** Appends lines; waits when the upload is behind (backpressure keeps memory flat). */
  async write(objects: readonly unknown[]): Promise<void> {
    if (objects.length === 0) return;
    const input = this.input ?? this.start();
    if (this.failure) throw this.failure;
    this.count += objects.length;
    let text = '';
    for (const o of objects) text += `${JSON.stringify(o)}\n`;
    if (!input.write(text)) await Promise.race([once(input, 'drain'), this.finished]);
  }

  /** Finishes the object; returns its key, or null when nothing was written. */
  async complete(): Promise<string | null> {
    if (!this.input) return null;
    this.input.end();
    await this.finished;
    return this.key;
  }

  async abort(): Promise<void> {
    if (!this.upload) return;
    this.input?.destroy();
    await this.upload.abort().catch(() => undefined);
    await this.finished?.catch(() => undefined);
  }
}
