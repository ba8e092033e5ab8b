/**
 * S3, locally: s3rver (the real S3 REST protocol, objects on disk) in a child process, which
 * runs with --openssl-legacy-provider (paged listings fail without it on Node 17+) and reports
 * object events to the sandbox over IPC. In front of it, the child decodes `aws-chunked` upload
 * bodies (sent by newer SDKs and CLIs with default checksums, which s3rver would store
 * verbatim) and accepts any access key, so any S3 client works with the documented settings.
 * Clients talk to the versioning front (./s3-versions.ts, in the sandbox's process), which keeps
 * the versions of versioned buckets and passes everything else to s3rver.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { S3Versioning } from './s3-versions';

/** The sandbox's S3 accepts any access key; these are the ones the docs and `info` show. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * Settings of an SDK v3 S3 client for the sandbox's S3 at `endpoint`: path-style addressing,
 * checksums only when an operation requires them (s3rver checks none).
 */
export function localS3ClientConfig(endpoint: string): S3ClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

export interface S3ObjectEvent {
  /** ObjectCreated:Put | ObjectCreated:Post | ObjectCreated:Copy | ObjectRemoved:Delete */
  readonly eventName: string;
  readonly bucket: string;
  /** The key as stored (not URL-encoded). */
  readonly key: string;
  readonly size: number;
  readonly eTag?: string;
  /** The object's version id, in a versioned bucket. */
  readonly versionId?: string;
  readonly at: number;
}

export interface LocalS3 {
  readonly endpoint: string;
  readonly port: number;
  /** The process that serves it. */
  readonly pid: number | undefined;
  onEvent(listener: (e: S3ObjectEvent) => void): void;
  stop(): Promise<void>;
}

const SERVER = String.raw`
const http = require('http');
const { Transform } = require('stream');
const [s3rverPath, directory, bucketsJson, host, portText] = process.argv.slice(1);
const S3rver = require(s3rverPath);
const Account = require(require('path').join(require('path').dirname(s3rverPath), 'models', 'account.js'));
// Any access key is accepted (SigV4 signatures are not verified by s3rver anyway).
const registry = Account.registry;
const originalGet = registry.get.bind(registry);
registry.get = (key) => originalGet(key) || Account.DUMMY_ACCOUNT;

// s3rver prunes the folders beneath a common prefix before it has seen an object in them, so a
// prefix holding only deeper keys (processed/crm/2024/…) is missing from a delimited listing: list
// without the delimiter and group the keys here. As in s3rver, keys count to MaxKeys; a truncated
// page ends at its last key (the next page starts after it), so no prefix is lost or repeated.
const Store = require(require('path').join(require('path').dirname(s3rverPath), 'stores', 'filesystem.js'));
const listObjects = Store.prototype.listObjects;
Store.prototype.listObjects = async function (bucket, options) {
  const { delimiter, prefix = '', maxKeys = Infinity } = options;
  if (!delimiter) return listObjects.call(this, bucket, options);
  const all = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const objects = [], commonPrefixes = [];
  let isTruncated = false;
  for (const object of all.objects) {
    const idx = object.key.slice(prefix.length).indexOf(delimiter);
    const common = idx === -1 ? undefined : object.key.slice(0, prefix.length + idx + delimiter.length);
    if (common !== undefined) {
      if (commonPrefixes[commonPrefixes.length - 1] !== common) commonPrefixes.push(common);
      continue;
    }
    if (objects.length >= maxKeys) { isTruncated = true; break; }
    objects.push(object);
  }
  const last = objects.length ? objects[objects.length - 1].key : '';
  return { objects, commonPrefixes: isTruncated ? commonPrefixes.filter((p) => p < last) : commonPrefixes, isTruncated };
};

/** Decodes an aws-chunked body: <hex size>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n[trailers]\r\n\r\n */
class AwsChunkedDecoder extends Transform {
  constructor() { super(); this.buf = Buffer.alloc(0); this.remaining = -1; this.done = false; }
  _transform(chunk, _enc, cb) {
    this.buf = Buffer.concat([this.buf, chunk]);
    try { this.drain(); cb(); } catch (e) { cb(e); }
  }
  drain() {
    for (;;) {
      if (this.done) { this.buf = Buffer.alloc(0); return; }
      if (this.remaining < 0) {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error('malformed aws-chunked body');
        this.buf = this.buf.subarray(nl + 2);
        if (size === 0) { this.done = true; continue; }
        this.remaining = size;
      }
      if (this.remaining > 0) {
        if (this.buf.length === 0) return;
        const take = Math.min(this.remaining, this.buf.length);
        this.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        this.remaining -= take;
      }
      if (this.remaining === 0) {
        if (this.buf.length < 2) return;
        this.buf = this.buf.subarray(2);
        this.remaining = -1;
      }
    }
  }
  _flush(cb) { cb(); }
}

const app = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: JSON.parse(bucketsJson).map((name) => ({ name })) });
app.on('event', (e) => {
  const r = e.Records[0];
  process.send && process.send({ type: 'event', eventName: r.eventName, bucket: r.s3.bucket.name, key: r.s3.object.key, size: r.s3.object.size || 0, eTag: r.s3.object.eTag, at: Date.now() });
});
function s3Error(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>' + code + '</Code><Message>' + message + '</Message></Error>');
}

// UploadPartCopy (PUT ?partNumber&uploadId with x-amz-copy-source, s3rver answers NotImplemented):
// the source's range read from s3rver (x-amz-copy-source-if-match checked against its ETag) and
// stored as the part, answered with S3's CopyPartResult.
function uploadPartCopy(inner, req, res) {
  const source = String(req.headers['x-amz-copy-source']);
  const [sourcePath, sourceQuery] = source.replace(/^\//, '').split('?');
  if (sourceQuery && /(^|&)versionId=/.test(sourceQuery)) return s3Error(res, 501, 'NotImplemented', 'UploadPartCopy from a specific version is not supported locally');
  const range = req.headers['x-amz-copy-source-range'];
  if (range !== undefined && !/^bytes=\d+-\d+$/.test(String(range))) return s3Error(res, 400, 'InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy');
  const getHeaders = {};
  if (range !== undefined) getHeaders.range = String(range);
  const ifMatch = req.headers['x-amz-copy-source-if-match'];
  const partHeaders = { ...req.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
  for (const h of Object.keys(partHeaders)) if (/^x-amz-copy-source|^content-(length|type|md5)$|^transfer-encoding$/.test(h)) delete partHeaders[h];
  const get = http.request({ host: '127.0.0.1', port: inner.port, method: 'GET', path: '/' + sourcePath, headers: getHeaders }, (from) => {
    if (from.statusCode === 416) { from.resume(); return s3Error(res, 400, 'InvalidRange', 'The requested range is not satisfiable'); }
    if (from.statusCode >= 300) { res.writeHead(from.statusCode, from.headers); return from.pipe(res); }
    if (ifMatch !== undefined && String(ifMatch) !== from.headers.etag) { from.resume(); return s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'); }
    const put = http.request({
      host: '127.0.0.1', port: inner.port, method: 'PUT', path: req.url,
      headers: { ...partHeaders, 'content-length': from.headers['content-length'] },
    }, (part) => {
      const chunks = [];
      part.on('data', (c) => chunks.push(c));
      part.on('end', () => {
        if (part.statusCode >= 300) { res.writeHead(part.statusCode, part.headers); return res.end(Buffer.concat(chunks)); }
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><LastModified>' + new Date().toISOString() + '</LastModified><ETag>' + part.headers.etag + '</ETag></CopyPartResult>');
      });
    });
    put.on('error', (e) => s3Error(res, 502, 'InternalError', e.message));
    from.pipe(put);
  });
  get.on('error', (e) => s3Error(res, 502, 'InternalError', e.message));
  get.end();
}

app.run().then((inner) => {
  const proxy = http.createServer((req, res) => {
    const query = new URL(req.url, 'http://s3.local').searchParams;
    if (req.method === 'PUT' && query.has('uploadId') && query.has('partNumber') && req.headers['x-amz-copy-source'] !== undefined) {
      req.resume();
      return uploadPartCopy(inner, req, res);
    }
    const headers = { ...req.headers };
    const encoding = String(headers['content-encoding'] || '');
    const sha = String(headers['x-amz-content-sha256'] || '');
    const chunked = encoding.split(',').map((s) => s.trim()).includes('aws-chunked') || sha.startsWith('STREAMING-');
    let body = req;
    if (chunked) {
      const rest = encoding.split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked');
      if (rest.length) headers['content-encoding'] = rest.join(','); else delete headers['content-encoding'];
      if (headers['x-amz-decoded-content-length'] !== undefined) headers['content-length'] = headers['x-amz-decoded-content-length'];
      else { delete headers['content-length']; headers['transfer-encoding'] = 'chunked'; }
      headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      delete headers['x-amz-trailer'];
      body = req.pipe(new AwsChunkedDecoder());
    }
    const upstream = http.request({ host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (e) => { res.writeHead(502); res.end(String(e.message)); });
    body.pipe(upstream);
  });
  proxy.keepAliveTimeout = 5000;
  proxy.listen(Number(portText), host, () => process.send({ type: 'ready', port: proxy.address().port }));
  proxy.on('error', (e) => { process.send({ type: 'error', message: e.message }); process.exit(1); });
}, (error) => { console.error(error); process.exit(1); });
process.on('disconnect', () => process.exit(0));
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
`;

export interface LocalS3Options {
  readonly directory: string;
  readonly buckets: string[];
  /** Buckets that keep every version of their objects (the template's VersioningConfiguration). */
  readonly versionedBuckets?: string[];
  readonly port?: number;
  readonly host?: string;
}

/** Starts s3rver in its child process on a free port; the versioning front (in this process) serves `options.port`. */
export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  fs.mkdirSync(options.directory, { recursive: true });
  const s3rverPath = require.resolve('s3rver');
  const host = options.host ?? '127.0.0.1';
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER, s3rverPath, options.directory, JSON.stringify(options.buckets), '127.0.0.1', '0'], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const listeners: Array<(e: S3ObjectEvent) => void> = [];
  let versioning: S3Versioning | undefined;
  const innerPort = await new Promise<number>((resolve, reject) => {
    child.on('message', (msg: any) => {
      if (msg.type === 'ready') {resolve(msg.port);} else if (msg.type === 'error') {reject(new Error(`S3 (s3rver) could not start: ${msg.message}`));} else if (msg.type === 'event') {
        const versionId = versioning?.eventVersion(msg.bucket, msg.key);
        if (versionId === false) return; // the front restoring a version: not an upload
        for (const l of listeners) l({ ...msg, ...(versionId ? { versionId } : {}) } as S3ObjectEvent);
      }
    });
    child.once('exit', (code) => reject(new Error(`S3 (s3rver) exited with code ${code}: ${stderr.slice(-2000)}`)));
  });
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    await exited;
  };
  versioning = new S3Versioning({ host: '127.0.0.1', port: innerPort }, new Set(options.versionedBuckets ?? []), `${options.directory}.versions`);
  const port = await versioning.listen(options.port ?? 0, host).catch(async (e: Error) => {
    await stopChild();
    throw new Error(`S3 could not listen on ${host}:${options.port}: ${e.message}`);
  });
  return {
    endpoint: `http://${host}:${port}`,
    port,
    pid: child.pid,
    onEvent: (l) => listeners.push(l),
    async stop() {
      await versioning?.close();
      await stopChild();
    },
  };
}

/** The S3 event notification record for an object, as S3 sends it (key URL-encoded, spaces as +). */
export function s3NotificationRecord(e: S3ObjectEvent, region: string, configurationId: string): Record<string, unknown> {
  const encodedKey = encodeURIComponent(e.key).replace(/%2F/g, '/').replace(/%20/g, '+');
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: new Date(e.at).toISOString(),
    eventName: e.eventName,
    userIdentity: { principalId: 'AWS:SANDBOX' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'SANDBOX', 'x-amz-id-2': 'SANDBOX' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId,
      bucket: { name: e.bucket, ownerIdentity: { principalId: 'SANDBOX' }, arn: `arn:aws:s3:::${e.bucket}` },
      object: {
        key: encodedKey,
        size: e.size,
        ...(e.eTag ? { eTag: e.eTag } : {}),
        ...(e.versionId ? { versionId: e.versionId } : {}),
        sequencer: e.at.toString(16).toUpperCase().padStart(16, '0'),
      },
    },
  };
}
