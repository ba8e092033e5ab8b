/**
 * Large results: streamed (gzip JSON) into the results bucket under an opaque random id, downloaded
 * through `GET /download/{id}` (a redirect to a short-lived presigned URL after checking the object).
 *
 * Object layout: {"operation", "dataGeneration", "generatedAt", "columns"?, "data": [rows…] | {…},
 * "rowCount", "truncated"}, stored with Content-Type application/json and Content-Encoding gzip, so
 * HTTP clients that accept gzip get the JSON transparently.
 *
 * Environment: RESULTS_BUCKET, RESULTS_PREFIX (default `results/`), RESULT_EXPIRY_DAYS (default 7;
 * the bucket's lifecycle rule deletes them), DOWNLOAD_URL_TTL_SECONDS (default 300).
 */
import { randomBytes } from 'crypto';
import { PassThrough } from 'stream';
import { createGzip } from 'zlib';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ApiError, ErrorCode } from './errors';

let s3: S3Client | undefined;
function client(): S3Client {
  s3 ??= new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
  return s3;
}

/** Opaque ids: 32 characters of base64url (192 random bits). */
const RESULT_ID = /^[A-Za-z0-9_-]{32}$/;

export interface LargeResultRef {
  /** The opaque id (the `{key}` of `GET /download/{key}`). */
  readonly key: string;
  readonly rowCount: number;
  /** Uncompressed JSON bytes. */
  readonly bytes: number;
  /** When the object is deleted by the bucket's lifecycle (ISO 8601). */
  readonly expiresAt: string;
  readonly format: 'json';
  readonly contentEncoding: 'gzip';
}

function bucket(): string {
  const name = process.env.RESULTS_BUCKET;
  if (!name) throw new ApiError(ErrorCode.INTERNAL_ERROR, 'The function is not configured for large results (RESULTS_BUCKET is not set)');
  return name;
}

export function objectKeyFor(id: string): string {
  return `${process.env.RESULTS_PREFIX ?? 'results/'}${id}.json`;
}

export function resultExpiry(now = Date.now()): Date {
  const days = Number(process.env.RESULT_EXPIRY_DAYS ?? 7);
  // Lifecycle expiration runs at midnight UTC after `days`; promise the earlier bound.
  return new Date(now + days * 86_400_000);
}

export function isResultId(id: unknown): id is string {
  return typeof id === 'string' && RESULT_ID.test(id);
}

/** A streaming upload of one result: write JSON text in order, then finish() (or abort()). */
export class ResultUpload {
  readonly id = randomBytes(24).toString('base64url');
  readonly expiresAt = resultExpiry();
  private readonly gzip = createGzip({ level: 6 });
  private readonly body = new PassThrough();
  private readonly upload: Upload;
  private readonly done: Promise<unknown>;
  private bytes = 0;
  private failed: unknown;

  constructor(operation: string) {
    this.gzip.pipe(this.body);
    this.upload = new Upload({
      client: client(),
      params: {
        Bucket: bucket(),
        Key: objectKeyFor(this.id),
        Body: this.body,
        ContentType: 'application/json',
        ContentEncoding: 'gzip',
        Metadata: { operation, 'expires-at': this.expiresAt.toISOString() },
      },
      queueSize: 2,
      partSize: 5 * 1024 * 1024,
    });
    this.done = this.upload.done();
    this.done.catch((error) => (this.failed = error));
  }

  /** Writes text, waiting when the compressor's buffer is full (flat memory for any size). */
  async write(text: string): Promise<void> {
    if (this.failed) throw this.failed;
    this.bytes += Buffer.byteLength(text);
    if (!this.gzip.write(text)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => { this.gzip.off('error', onError); resolve(); };
        const onError = (e: Error) => { this.gzip.off('drain', onDrain); reject(e); };
        this.gzip.once('drain', onDrain);
        this.gzip.once('error', onError);
      });
    }
  }

  async finish(rowCount: number): Promise<LargeResultRef> {
    this.gzip.end();
    await this.done;
    return { key: this.id, rowCount, bytes: this.bytes, expiresAt: this.expiresAt.toISOString(), format: 'json', contentEncoding: 'gzip' };
  }

  async abort(): Promise<void> {
    await this.upload.abort().catch(() => undefined);
    this.gzip.destroy();
  }
}

/** Whether a stored result exists and has not expired (HeadObject). */
export async function resultExists(id: string): Promise<boolean> {
  try {
    const head = await client().send(new HeadObjectCommand({ Bucket: bucket(), Key: objectKeyFor(id) }));
    const expiresAt = head.Metadata?.['expires-at'];
    return !(expiresAt && Date.parse(expiresAt) < Date.now());
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404 || e.$metadata?.httpStatusCode === 403) return false;
    throw error;
  }
}

/** A short-lived presigned GET URL of a stored result. */
export async function presignedDownloadUrl(id: string): Promise<{ url: string; expiresInSeconds: number }> {
  const expiresInSeconds = Number(process.env.DOWNLOAD_URL_TTL_SECONDS ?? 300);
  const url = await getSignedUrl(client(), new GetObjectCommand({
    Bucket: bucket(),
    Key: objectKeyFor(id),
    ResponseContentDisposition: `attachment; filename="${id}.json"`,
  }), { expiresIn: expiresInSeconds });
  return { url, expiresInSeconds };
}
