/**
 * Promotion of staged outputs (lambda/ingestion-pipeline/outputs.ts) against the local S3: objects
 * up to CopyObject's limit are copied in one request, larger ones by a multipart upload of
 * server-side range copies (UploadPartCopy). The limit is lowered here (S3's is 5 GiB) so the
 * multipart path runs for real on a 12 MiB object: every byte, the content type, encoding and
 * metadata arrive, the staged object is gone, and a staged object that changes during the copy
 * fails the copy (the upload aborted) without creating the final key.
 */
import { createHash, randomBytes } from 'crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalS3, startLocalS3 } from './support/local-s3';
import { copyRanges, CopySettings, promoteOutputs, S3_COPY, stagingKey } from '../lambda/ingestion-pipeline/outputs';

const BUCKET = 'outputs';
const MiB = 1024 ** 2;
/** Parts of 5 MiB (S3's minimum but for the last) over a 1 MiB single-copy limit. */
const SMALL_LIMITS: CopySettings = { singleCopyLimit: MiB, partSize: 5 * MiB, concurrency: 2 };

describe('promoting staged outputs', () => {
  let local: LocalS3;
  let s3: S3Client;

  beforeAll(async () => {
    local = await startLocalS3([BUCKET]);
    s3 = local.client();
  });
  afterAll(async () => {
    await local?.close();
  });

  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const read = async (key: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  };
  const exists = (key: string) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
    .then(() => true, (e) => (e.name === 'NotFound' ? false : Promise.reject(e)));
  /** The client, recording the name of every command sent through it; `before` runs first. */
  const recording = (before: (name: string) => Promise<void> = async () => undefined) => {
    const sent: string[] = [];
    const client: S3Client = Object.create(s3);
    client.send = (async (command: any) => {
      const name = command.constructor.name.replace(/Command$/, '');
      sent.push(name);
      await before(name);
      return s3.send(command);
    }) as S3Client['send'];
    return { client, sent };
  };
  const stage = (key: string, body: Buffer) => s3.send(new PutObjectCommand({
    Bucket: BUCKET, Key: stagingKey(key), Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip', Metadata: { run: 'r-1' },
  }));

  test('S3\'s limits: one CopyObject up to 5 GiB, then parts of 512 MiB, wider when 10,000 parts would not do', () => {
    expect(S3_COPY).toEqual({ singleCopyLimit: 5 * 1024 ** 3, partSize: 512 * MiB, concurrency: 4 });
    const sixGiB = copyRanges(6 * 1024 ** 3, S3_COPY.partSize);
    expect(sixGiB).toHaveLength(12);
    expect(sixGiB[11]).toEqual([11 * 512 * MiB, 6 * 1024 ** 3 - 1]);
    const fiveTiB = 5 * 1024 ** 4;
    const ranges = copyRanges(fiveTiB, S3_COPY.partSize);
    expect(ranges.length).toBeLessThanOrEqual(10_000);
    expect(ranges[ranges.length - 1][1]).toBe(fiveTiB - 1);
    // Contiguous, no gap or overlap.
    expect(ranges.every(([first], i) => i === 0 || first === ranges[i - 1][1] + 1)).toBe(true);
  });

  test('an object over the single-copy limit is copied in parts (UploadPartCopy): same bytes, type, encoding, metadata', async () => {
    const key = 'processed/crm/big.ndjson.gz';
    const body = randomBytes(12 * MiB + 12345);
    await stage(key, body);
    const { client, sent } = recording();
    await promoteOutputs(client, BUCKET, [key, null], SMALL_LIMITS);
    // 12 MiB in parts of 5 MiB: three range copies, two at a time.
    expect(sent.sort()).toEqual(['CompleteMultipartUpload', 'CreateMultipartUpload', 'DeleteObject', 'HeadObject', 'UploadPartCopy', 'UploadPartCopy', 'UploadPartCopy']);
    const copied = await read(key);
    expect(copied.length).toBe(body.length);
    expect(sha(copied)).toBe(sha(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head).toMatchObject({ ContentType: 'application/x-ndjson', ContentEncoding: 'gzip', Metadata: { run: 'r-1' } });
    expect(await exists(stagingKey(key))).toBe(false);
    // Promoting again (a redelivery after the promotion) finds nothing staged and changes nothing.
    await promoteOutputs(s3, BUCKET, [key], SMALL_LIMITS);
    expect(sha(await read(key))).toBe(sha(body));
  });

  test('an object at or under the limit is copied in one request', async () => {
    const key = 'rejected/crm/small.ndjson';
    const body = randomBytes(MiB);
    await stage(key, body);
    const { client, sent } = recording();
    await promoteOutputs(client, BUCKET, [key], SMALL_LIMITS);
    expect(sent).toEqual(['HeadObject', 'CopyObject', 'DeleteObject']);
    expect(sha(await read(key))).toBe(sha(body));
    expect(await exists(stagingKey(key))).toBe(false);
  });

  test('a staged object replaced during the copy fails it: no final key, the upload aborted, the staged object kept', async () => {
    const key = 'processed/crm/changing.ndjson';
    await stage(key, randomBytes(11 * MiB));
    // The staged object changes after promoteOutputs read its ETag (between its HEAD and the part copies).
    let replaced = false;
    const { client, sent } = recording(async (name) => {
      if (name !== 'UploadPartCopy' || replaced) return;
      replaced = true;
      await stage(key, randomBytes(11 * MiB));
    });
    await expect(promoteOutputs(client, BUCKET, [key], SMALL_LIMITS)).rejects.toMatchObject({ name: 'PreconditionFailed' });
    expect(sent).toContain('AbortMultipartUpload');
    expect(sent).not.toContain('CompleteMultipartUpload');
    expect(await exists(key)).toBe(false);
    expect(await exists(stagingKey(key))).toBe(true);
  });
});
