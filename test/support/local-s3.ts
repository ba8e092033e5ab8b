/**
 * s3rver as a child process, so it can run with --openssl-legacy-provider (paged listings fail
 * without it on Node 17+). Clients must not use streamed checksums (aws-chunked bodies would be
 * stored verbatim): set AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, credentials S3RVER/S3RVER,
 * path-style addressing. No versioning: objects have no VersionId.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { S3Client } from '@aws-sdk/client-s3';

export interface LocalS3 {
  readonly endpoint: string;
  /** A client configured for s3rver. */
  client(): S3Client;
  /** Environment for handlers talking to it (merge into process.env). */
  environment(): Record<string, string>;
  close(): Promise<void>;
}

const SERVER = `
const S3rver = require('s3rver');
const [directory, buckets] = [process.argv[1], JSON.parse(process.argv[2])];
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
server.run().then((address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'), (error) => { console.error(error); process.exit(1); });
`;

export async function startLocalS3(buckets: string[]): Promise<LocalS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER, directory, JSON.stringify(buckets)], {
    cwd: path.join(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(JSON.parse(line).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    client: () => new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    environment: () => ({
      AWS_ENDPOINT_URL_S3: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    }),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The S3 event notification for an object, as S3 sends it (key URL-encoded, spaces as +). */
export function s3Notification(bucket: string, key: string, options: { versionId?: string; eventTime?: string; size?: number } = {}) {
  const encodedKey = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  return {
    Records: [{
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: options.eventTime ?? new Date().toISOString(),
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'local' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'raw-data',
        bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
        object: { key: encodedKey, size: options.size ?? 0, eTag: 'etag', ...(options.versionId ? { versionId: options.versionId } : {}), sequencer: '0' },
      },
    }],
  };
}
