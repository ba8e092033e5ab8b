/**
 * S3 versioning, locally. s3rver keeps one object per key; this front (in the sandbox's process,
 * before s3rver) keeps every version of the objects of versioned buckets (the template's
 * `VersioningConfiguration: Enabled`): a version id on each PUT, copy and completed multipart
 * upload (`x-amz-version-id`, and `versionId` in the S3 event record), GET/HEAD/DELETE by
 * `versionId`, delete markers, ListObjectVersions (`GET /bucket?versions`) and
 * GetBucketVersioning. s3rver holds the current version; older ones are kept under
 * `<dir>/<versionId>`. Other buckets pass straight through. Path-style addressing only.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { xml } from './aws-api';

interface Version {
  readonly versionId: string;
  readonly deleteMarker: boolean;
  readonly lastModified: Date;
  readonly etag?: string;
  readonly size?: number;
  /** content-type, etag, x-amz-meta-* …: what GET answers for this version. */
  readonly headers?: Record<string, string>;
}

const KEPT_HEADERS = /^(content-type|content-encoding|content-disposition|content-language|cache-control|expires|etag|last-modified|x-amz-meta-.*)$/;

/** An S3 version id: 32 URL-safe characters, like S3's. */
function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

function s3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xml(message)}</Message></Error>`);
}

export class S3Versioning {
  private readonly versions = new Map<string, Version[]>();
  /** Writes in flight, by `bucket/key`: the S3 event carries their version id; a read of it waits for them. */
  private readonly pending = new Map<string, { versionId: string; done: Promise<void> }>();
  /** Writes the front makes itself (restoring a version): their S3 events are not the user's. */
  private readonly quiet = new Set<string>();
  private server: http.Server | undefined;

  constructor(private readonly upstream: { host: string; port: number }, private readonly buckets: Set<string>, private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** The version id an S3 event of `bucket/key` carries; false when the event is the front's own. */
  eventVersion(bucket: string, key: string): string | undefined | false {
    const id = `${bucket}/${key}`;
    if (this.quiet.delete(id)) return false;
    return this.pending.get(id)?.versionId ?? this.latest(bucket, key)?.versionId;
  }

  async listen(port: number, host: string): Promise<number> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) s3Error(res, 500, 'InternalError', error.message);
        else res.destroy(error);
      });
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private latest(bucket: string, key: string): Version | undefined {
    const list = this.versions.get(`${bucket}/${key}`);
    return list?.[list.length - 1];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    if (!this.buckets.has(bucket)) return this.forward(req, res);
    if (!key) {
      if (method === 'GET' && q.has('versions')) return this.listVersions(res, bucket, q.get('prefix') ?? '');
      if (method === 'GET' && q.has('versioning')) {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>');
        return;
      }
      return this.forward(req, res);
    }
    const versionId = q.get('versionId');
    const creates = (method === 'PUT' && !q.has('partNumber') && !q.has('uploadId')) || (method === 'POST' && q.has('uploadId'));
    if (creates) return this.write(req, res, bucket, key);
    if (method === 'GET' || method === 'HEAD') {
      // The S3 event of a write can reach a function before the write is kept: a read of that version waits.
      const inFlight = this.pending.get(`${bucket}/${key}`);
      if (versionId && inFlight?.versionId === versionId) await inFlight.done;
      const latest = this.latest(bucket, key);
      const current = latest && !latest.deleteMarker ? latest.versionId : undefined;
      // s3rver serves the current version (ranges, conditions); the front serves older ones.
      if (versionId && versionId !== current) return this.readVersion(req, res, bucket, key, versionId);
      q.delete('versionId');
      req.url = `${url.pathname}${q.size ? `?${q}` : ''}`;
      return this.forward(req, res, current ? { 'x-amz-version-id': current } : {});
    }
    if (method === 'DELETE') return versionId ? this.deleteVersion(res, bucket, key, versionId) : this.addDeleteMarker(req, res, bucket, key);
    return this.forward(req, res);
  }

  /** Passes a request to s3rver as it is, adding `extra` headers to the answer. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, extra: Record<string, string> = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const up = http.request({ ...this.upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...(answer.statusCode! < 300 ? extra : {}) });
        answer.pipe(res);
        answer.on('end', () => resolve());
      });
      up.on('error', reject);
      req.pipe(up);
    });
  }

  /** Requests the current object from s3rver (for a version's copy, or to restore one). */
  private upstreamRequest(
    method: string, bucket: string, key: string, body?: fs.ReadStream, headers: Record<string, string> = {},
  ): Promise<http.IncomingMessage> {
    const objectPath = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    return new Promise((resolve, reject) => {
      const up = http.request({ ...this.upstream, method, path: objectPath, headers }, resolve);
      up.on('error', reject);
      if (body) body.pipe(up);
      else up.end();
    });
  }

  /** PUT, copy or completed multipart upload: a new version, kept once s3rver stored it. */
  private async write(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    const id = `${bucket}/${key}`;
    const versionId = newVersionId();
    let finished!: () => void;
    this.pending.set(id, { versionId, done: new Promise((resolve) => (finished = resolve)) });
    try {
      let status = 0;
      const body: Buffer[] = [];
      // Buffer the (small, XML or empty) answer: the version is kept before the client hears of it.
      await new Promise<void>((resolve, reject) => {
        const up = http.request({ ...this.upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          status = answer.statusCode ?? 502;
          answer.on('data', (c: Buffer) => body.push(c));
          answer.on('end', () => {
            if (status < 300) res.setHeader('x-amz-version-id', versionId);
            for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && k !== 'content-length') res.setHeader(k, v);
            resolve();
          });
        });
        up.on('error', reject);
        req.pipe(up);
      });
      if (status < 300) await this.keep(bucket, key, versionId);
      res.writeHead(status);
      res.end(Buffer.concat(body));
    } finally {
      this.pending.delete(id);
      finished();
    }
  }

  /** Copies the current object into the version store as `versionId`. */
  private async keep(bucket: string, key: string, versionId: string): Promise<void> {
    const answer = await this.upstreamRequest('GET', bucket, key);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers)) if (KEPT_HEADERS.test(k) && typeof v === 'string') headers[k] = v;
    await pipeline(answer, fs.createWriteStream(path.join(this.dir, versionId)));
    const size = fs.statSync(path.join(this.dir, versionId)).size;
    const list = this.versions.get(`${bucket}/${key}`) ?? [];
    list.push({ versionId, deleteMarker: false, lastModified: new Date(), etag: headers.etag, size, headers });
    this.versions.set(`${bucket}/${key}`, list);
  }

  private async readVersion(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, versionId: string): Promise<void> {
    const version = this.versions.get(`${bucket}/${key}`)?.find((v) => v.versionId === versionId);
    if (!version) return s3Error(res, 404, 'NoSuchVersion', 'The specified version does not exist.');
    if (version.deleteMarker) {
      res.writeHead(405, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': versionId });
      res.end();
      return;
    }
    const file = path.join(this.dir, versionId);
    res.writeHead(200, { ...version.headers, 'content-length': String(version.size ?? 0), 'x-amz-version-id': versionId, 'accept-ranges': 'bytes' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(fs.createReadStream(file), res);
  }

  /** DELETE without a version id: the object goes, a delete marker becomes the latest version. */
  private async addDeleteMarker(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    const versionId = newVersionId();
    this.pending.set(`${bucket}/${key}`, { versionId, done: Promise.resolve() });
    try {
      await this.forward(req, res, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': versionId });
    } finally {
      this.pending.delete(`${bucket}/${key}`);
    }
    const list = this.versions.get(`${bucket}/${key}`) ?? [];
    list.push({ versionId, deleteMarker: true, lastModified: new Date() });
    this.versions.set(`${bucket}/${key}`, list);
  }

  /** DELETE of one version: gone for good; when it was the latest, the one before becomes current. */
  private async deleteVersion(res: http.ServerResponse, bucket: string, key: string, versionId: string): Promise<void> {
    const id = `${bucket}/${key}`;
    const list = this.versions.get(id) ?? [];
    const index = list.findIndex((v) => v.versionId === versionId);
    const removed = index >= 0 ? list.splice(index, 1)[0] : undefined;
    if (removed && !removed.deleteMarker) fs.rmSync(path.join(this.dir, versionId), { force: true });
    if (removed && index === list.length) {
      const current = list[list.length - 1];
      this.quiet.add(id);
      if (current && !current.deleteMarker) {
        (await this.upstreamRequest('PUT', bucket, key, fs.createReadStream(path.join(this.dir, current.versionId)),
          { ...current.headers, 'content-length': String(current.size ?? 0) })).resume();
      } else {
        (await this.upstreamRequest('DELETE', bucket, key)).resume();
      }
    }
    res.writeHead(204, { 'x-amz-version-id': versionId, ...(removed?.deleteMarker ? { 'x-amz-delete-marker': 'true' } : {}) });
    res.end();
  }

  private listVersions(res: http.ServerResponse, bucket: string, prefix: string): void {
    const entries: string[] = [];
    const keys = [...this.versions.keys()].filter((id) => id.startsWith(`${bucket}/${prefix}`)).sort();
    for (const id of keys) {
      const key = id.slice(bucket.length + 1);
      const list = this.versions.get(id)!;
      for (let i = list.length - 1; i >= 0; i--) {
        const v = list[i];
        const common = `<Key>${xml(key)}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${i === list.length - 1}</IsLatest><LastModified>${v.lastModified.toISOString()}</LastModified>`;
        const owner = '<Owner><ID>000000000000</ID><DisplayName>sandbox</DisplayName></Owner>';
        entries.push(v.deleteMarker
          ? `<DeleteMarker>${common}${owner}</DeleteMarker>`
          : `<Version>${common}<ETag>${xml(v.etag ?? '')}</ETag><Size>${v.size ?? 0}</Size><StorageClass>STANDARD</StorageClass>${owner}</Version>`);
      }
    }
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix>`
      + `<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${entries.join('')}</ListVersionsResult>`);
  }
}
