/**
 * The tests' S3: the sandbox's own (sandbox/src/s3.ts: s3rver in a child process behind the
 * versioning front, aws-chunked bodies decoded, delimited listings fixed), so what is fixed in
 * one is fixed for both. Clients: credentials S3RVER/S3RVER, path-style addressing, checksums
 * WHEN_REQUIRED. Buckets named in `versioned` keep object versions (VersionId), as in the cloud.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { S3Client } from '@aws-sdk/client-s3';
import { s3NotificationRecord, startLocalS3 as startSandboxS3, localS3ClientConfig } from '../../sandbox/src/s3';

export interface LocalS3 {
  readonly endpoint: string;
  /** The first bucket. */
  readonly bucket: string;
  /** A client configured for the local S3. */
  client(): S3Client;
  /** Environment for handlers talking to it (merge into process.env). */
  environment(): Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalS3(buckets: string[], options: { versioned?: string[] } = {}): Promise<LocalS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-s3-'));
  const server = await startSandboxS3({ directory: path.join(directory, 's3'), buckets, versionedBuckets: options.versioned });
  const clients: S3Client[] = [];
  return {
    endpoint: server.endpoint,
    bucket: buckets[0],
    client: () => {
      const client = new S3Client(localS3ClientConfig(server.endpoint));
      clients.push(client);
      return client;
    },
    environment: () => ({
      AWS_ENDPOINT_URL_S3: server.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    }),
    close: async () => {
      for (const c of clients) c.destroy();
      await server.stop();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The S3 event notification for an object, as S3 sends it: the sandbox's record (key URL-encoded, spaces as +). */
export function s3Notification(bucket: string, key: string, options: { versionId?: string; eventTime?: string; size?: number } = {}) {
  const at = options.eventTime ? Date.parse(options.eventTime) : Date.now();
  return {
    Records: [s3NotificationRecord({ eventName: 'ObjectCreated:Put', bucket, key, size: options.size ?? 0, eTag: 'etag', versionId: options.versionId, at }, 'us-east-1', 'raw-data')],
  };
}
