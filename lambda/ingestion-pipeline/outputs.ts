/**
 * A run's outputs (processed/, rejected/) become visible only if the run commits.
 *
 * Each output is streamed to a staging key (`staging/<final key>`) with lib-storage (multipart,
 * bounded buffers, optionally gzip) while the run's transaction is open, completed before the
 * commit, and promoted (server-side copy to the final key, then the staged object deleted) after
 * the commit, under the run row's lock with the manifest and the event. A run that does not commit
 * (skipped as a duplicate, failed, crashed) discards its staged objects; the final keys never exist.
 * Promotion is idempotent and needs only the final keys (the manifest has them), so a redelivery
 * after a crash between commit and promotion finishes it, and any other writer of staged outputs
 * (e.g. parts of a file processed in parallel) can reuse promoteOutputs/discardStaged.
 */
import { once } from 'events';
import { PassThrough } from 'stream';
import { createGzip } from 'zlib';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  HeadObjectCommand, HeadObjectCommandOutput, S3Client, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export type Compression = 'none' | 'gzip';

/** Where outputs wait for their run to commit (a prefix sources may not use; expired by a lifecycle rule). */
export const STAGING_PREFIX = 'staging/';
const PART_SIZE = 8 * 1024 * 1024;

/** How staged objects are copied to their final keys. */
export interface CopySettings {
  /** Largest object copied in one CopyObject request; larger ones are copied in parts (UploadPartCopy). */
  readonly singleCopyLimit: number;
  /** Size of each copied part (raised when the object would need more than S3's 10,000 parts). */
  readonly partSize: number;
  /** Parts copied at the same time. */
  readonly concurrency: number;
}

/** S3's limits: CopyObject copies up to 5 GiB; a multipart upload has at most 10,000 parts of 5 MiB to 5 GiB. */
export const S3_COPY: CopySettings = { singleCopyLimit: 5 * 1024 ** 3, partSize: 512 * 1024 ** 2, concurrency: 4 };
const MAX_PARTS = 10_000;

export function stagingKey(finalKey: string): string {
  return `${STAGING_PREFIX}${finalKey}`;
}

/** One NDJSON output, streamed to its staging key. */
export class NdjsonUpload {
  private input?: NodeJS.WritableStream & PassThrough;
  private upload?: Upload;
  private finished?: Promise<unknown>;
  private failure?: unknown;
  private completed = false;
  private count = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    /** The key the output gets once its run commits. */
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
        Key: stagingKey(this.key),
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

  /** Finishes the staged object; returns the final key, or null when nothing was written. */
  async complete(): Promise<string | null> {
    if (!this.input) return null;
    this.input.end();
    await this.finished;
    this.completed = true;
    return this.key;
  }

  /** Leaves nothing behind: aborts the upload, or deletes the staged object it completed. */
  async discard(): Promise<void> {
    if (!this.upload) return;
    if (this.completed) {
      await discardStaged(this.s3, this.bucket, [this.key]);
      return;
    }
    this.input?.destroy();
    await this.upload.abort().catch(() => undefined);
    await this.finished?.catch(() => undefined);
  }
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Makes committed outputs visible: each staged object is copied to its final key, then deleted.
 * Idempotent: a staged object already gone was promoted by an earlier attempt (it is deleted only
 * after its copy succeeded). `copy` is S3's limits; tests lower them to exercise the multipart copy.
 */
export async function promoteOutputs(
  s3: S3Client, bucket: string, finalKeys: ReadonlyArray<string | null>, copy: CopySettings = S3_COPY,
): Promise<void> {
  for (const key of finalKeys) {
    if (!key) continue;
    const staged = stagingKey(key);
    let head: HeadObjectCommandOutput;
    try {
      head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: staged }));
    } catch (error) {
      if (isMissing(error)) continue;
      throw error;
    }
    if ((head.ContentLength ?? 0) <= copy.singleCopyLimit) {
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, staged) }));
    } else {
      await copyInParts(s3, bucket, staged, key, head, copy);
    }
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: staged }));
  }
}

/** Deletes staged outputs of a run that did not commit (missing ones are fine). */
export async function discardStaged(s3: S3Client, bucket: string, finalKeys: ReadonlyArray<string | null>): Promise<void> {
  for (const key of finalKeys) {
    if (key) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: stagingKey(key) }));
  }
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

/** The byte ranges (inclusive) an object of `size` bytes is copied in: at most 10,000 parts. */
export function copyRanges(size: number, partSize: number): Array<[number, number]> {
  const step = Math.max(partSize, Math.ceil(size / MAX_PARTS));
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += step) ranges.push([start, Math.min(size, start + step) - 1]);
  return ranges;
}

/**
 * Objects over CopyObject's limit: a multipart upload whose parts are server-side copies of
 * ranges (UploadPartCopy), each tied to the staged object's ETag, with its content type, encoding
 * and metadata. A failure aborts the upload (no part is left billed).
 */
async function copyInParts(s3: S3Client, bucket: string, from: string, to: string, head: HeadObjectCommandOutput, copy: CopySettings): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({
    Bucket: bucket, Key: to, ContentType: head.ContentType, ContentEncoding: head.ContentEncoding, Metadata: head.Metadata,
  }));
  try {
    const ranges = copyRanges(head.ContentLength ?? 0, copy.partSize);
    const parts: Array<{ ETag: string; PartNumber: number }> = new Array(ranges.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < ranges.length; i = next++) {
        const [first, last] = ranges[i];
        const part = await s3.send(new UploadPartCopyCommand({
          Bucket: bucket,
          Key: to,
          UploadId,
          PartNumber: i + 1,
          CopySource: copySource(bucket, from),
          CopySourceRange: `bytes=${first}-${last}`,
          CopySourceIfMatch: head.ETag,
        }));
        parts[i] = { ETag: part.CopyPartResult!.ETag!, PartNumber: i + 1 };
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(copy.concurrency, ranges.length)) }, worker));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId })).catch(() => undefined);
    throw error;
  }
}
