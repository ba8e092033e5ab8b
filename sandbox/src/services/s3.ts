/**
 * S3: the template's buckets served by s3rver (../s3.ts), and their event notifications (the
 * CDK's `Custom::S3BucketNotifications` or the bucket's own) delivered to queues, functions,
 * topics or EventBridge with the S3 event record as in the cloud.
 */
import * as path from 'path';
import type { LocalEventBridge } from '../eventbridge';
import type { LambdaRuntime } from '../lambda-runtime';
import type { LocalSns } from '../messaging';
import type { LocalQueues } from '../queues';
import type { StackModel } from '../resolver';
import { LocalS3, S3ObjectEvent, s3NotificationRecord, startLocalS3 } from '../s3';
import type { UploadTracker } from '../uploads';
import { plural, resourcesOfType, SandboxService, ServiceContext } from './service';

export interface NotificationRule {
  readonly bucket: string;
  readonly id: string;
  readonly events: string[];
  readonly prefix: string;
  readonly suffix: string;
  readonly kind: 'queue' | 'lambda' | 'topic' | 'eventbridge';
  readonly arn: string;
}

/** What notifications are delivered to (bound once those services exist). */
export interface NotificationTargets {
  readonly queues: LocalQueues;
  readonly lambdas: LambdaRuntime;
  readonly sns: LocalSns;
  readonly events: LocalEventBridge;
}

export class S3Service implements SandboxService {
  readonly name = 's3';
  readonly resourceTypes = ['AWS::S3::Bucket', 'Custom::S3BucketNotifications'];
  /** Buckets by `stack/logicalId`. */
  readonly buckets: Record<string, string> = {};
  /** Buckets whose template enables versioning: they keep every version locally too. */
  readonly versionedBuckets: string[] = [];
  notifications: NotificationRule[] = [];
  private server: LocalS3 | undefined;
  private targets: NotificationTargets | undefined;

  constructor(private readonly ctx: ServiceContext, private readonly port: number, private readonly uploads: UploadTracker) {}

  get endpoint(): string {
    if (!this.server) throw new Error('S3 is not running');
    return this.server.endpoint;
  }

  /** Buckets whose notifications start processing (the raw-data buckets). */
  get notifiedBuckets(): string[] {
    return [...new Set(this.notifications.map((n) => n.bucket))];
  }

  bindTargets(targets: NotificationTargets): void {
    this.targets = targets;
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::S3::Bucket')) {
      const name = String(model.ref(id));
      this.buckets[`${model.stackName}/${id}`] = name;
      if (model.properties(id).VersioningConfiguration?.Status === 'Enabled') this.versionedBuckets.push(name);
    }
    const count = Object.keys(this.buckets).length;
    this.server = await this.ctx.progress.step('Starting S3 (s3rver)', () => startLocalS3({
      directory: path.join(this.ctx.runDir, 's3'), buckets: Object.values(this.buckets), versionedBuckets: this.versionedBuckets, port: this.port,
    }).catch((e: Error) => {
      throw /EADDRINUSE|could not listen/.test(e.message) ? new Error(`${e.message}: stop what uses the port, or start the sandbox with --s3-port <another>`) : e;
    }), (x) => `${x.endpoint}, ${plural(count, 'bucket')} (${this.versionedBuckets.length} versioned)`);
    this.ctx.recordProcess({ what: 'S3 (s3rver)', pid: this.server.pid });
    this.notifications = collectNotifications(this.ctx.models);
    if (this.notifications.some((r) => !r.arn && r.kind !== 'eventbridge')) this.ctx.warnings.push('a bucket notification has no target ARN');
    this.server.onEvent((e) => this.notify(e));
  }

  private notify(e: S3ObjectEvent): void {
    const matching = this.notifications.filter((n) => n.bucket === e.bucket && n.events.some((ev) => eventMatches(ev, e.eventName))
      && e.key.startsWith(n.prefix) && e.key.endsWith(n.suffix));
    if (matching.length === 0 || !this.targets) return;
    const origin = `${e.bucket}/${e.key}`;
    if (e.eventName.startsWith('ObjectCreated')) this.uploads.started(e.bucket, e.key, e.at);
    const { queues, lambdas, sns, events } = this.targets;
    for (const n of matching) {
      const record = s3NotificationRecord(e, this.ctx.region, n.id);
      if (n.kind === 'queue') {
        queues.byArn(n.arn)?.send(JSON.stringify({ Records: [record] }), origin);
      } else if (n.kind === 'lambda') {
        void lambdas.invoke(n.arn, { Records: [record] }).then((r) => this.uploads.finished(origin, n.arn.split(':').pop()!, r.error ? `${r.error.errorType}: ${r.error.errorMessage}` : undefined));
      } else if (n.kind === 'topic') {
        sns.publish(n.arn, JSON.stringify({ Records: [record] }), 'Amazon S3 Notification');
      } else {
        events.put('default', {
          source: 'aws.s3',
          detailType: e.eventName.startsWith('ObjectCreated') ? 'Object Created' : 'Object Deleted',
          resources: [`arn:aws:s3:::${e.bucket}`],
          detail: { 'version': '0', 'bucket': { name: e.bucket }, 'object': { 'key': e.key, 'size': e.size, 'etag': e.eTag, 'version-id': e.versionId, 'sequencer': e.at.toString(16) }, 'request-id': 'SANDBOX', 'requester': this.ctx.accountId, 'source-ip-address': '127.0.0.1', 'reason': 'PutObject' },
        });
      }
    }
  }

  describe(consumerOf: (queueArn: string) => string | undefined = () => undefined): unknown {
    return {
      endpoint: this.endpoint.replace('127.0.0.1', 'localhost'),
      buckets: this.buckets,
      versionedBuckets: this.versionedBuckets,
      notifiedBuckets: this.notifiedBuckets,
      notifications: this.notifications.map((n) => {
        const short = (name: string) => name.split(':').pop()!.replace(/^[^-]+-/, '').replace(/-[0-9A-F]{12}$/, '');
        const consumer = n.kind === 'queue' ? consumerOf(n.arn) : undefined;
        const target = n.kind === 'eventbridge' ? 'EventBridge' : `${n.kind} ${short(n.arn)}${consumer ? ` → ${short(consumer)}` : ''}`;
        return { bucket: n.bucket, prefix: n.prefix, suffix: n.suffix, target };
      }),
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      checksums: 'WHEN_REQUIRED',
    };
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}

function eventMatches(pattern: string, eventName: string): boolean {
  const p = pattern.replace(/^s3:/, '');
  return p.endsWith('*') ? eventName.startsWith(p.slice(0, -1)) : p === eventName;
}

function filterOf(f: any): { prefix: string; suffix: string } {
  const list: any[] = f?.Key?.FilterRules ?? f?.S3Key?.Rules ?? [];
  const get = (name: string) => String(list.find((r) => String(r.Name).toLowerCase() === name)?.Value ?? '');
  return { prefix: get('prefix'), suffix: get('suffix') };
}

const EVENTBRIDGE_EVENTS = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'];

/** Bucket notifications from the CDK custom resource or the bucket's own NotificationConfiguration. */
function collectNotifications(models: StackModel[]): NotificationRule[] {
  const rules: NotificationRule[] = [];
  for (const { model, id } of resourcesOfType(models, 'Custom::S3BucketNotifications')) {
    const p = model.properties(id);
    const bucket = String(p.BucketName);
    const config = p.NotificationConfiguration ?? {};
    for (const q of config.QueueConfigurations ?? []) rules.push({ bucket, id: q.Id ?? id, events: q.Events, ...filterOf(q.Filter), kind: 'queue', arn: q.QueueArn });
    for (const l of config.LambdaFunctionConfigurations ?? []) rules.push({ bucket, id: l.Id ?? id, events: l.Events, ...filterOf(l.Filter), kind: 'lambda', arn: l.LambdaFunctionArn });
    for (const t of config.TopicConfigurations ?? []) rules.push({ bucket, id: t.Id ?? id, events: t.Events, ...filterOf(t.Filter), kind: 'topic', arn: t.TopicArn });
    if (config.EventBridgeConfiguration) rules.push({ bucket, id: 'eventbridge', events: EVENTBRIDGE_EVENTS, prefix: '', suffix: '', kind: 'eventbridge', arn: '' });
  }
  for (const { model, id } of resourcesOfType(models, 'AWS::S3::Bucket')) {
    const own = model.resources[id].Properties?.NotificationConfiguration;
    if (!own) continue;
    const bucket = String(model.ref(id));
    const config = model.resolve(own);
    for (const q of config.QueueConfigurations ?? []) rules.push({ bucket, id, events: [q.Event], ...filterOf(q.Filter), kind: 'queue', arn: q.Queue });
    for (const l of config.LambdaConfigurations ?? []) rules.push({ bucket, id, events: [l.Event], ...filterOf(l.Filter), kind: 'lambda', arn: l.Function });
    for (const t of config.TopicConfigurations ?? []) rules.push({ bucket, id, events: [t.Event], ...filterOf(t.Filter), kind: 'topic', arn: t.Topic });
    if (config.EventBridgeConfiguration?.EventBridgeEnabled) rules.push({ bucket, id: 'eventbridge', events: EVENTBRIDGE_EVENTS, prefix: '', suffix: '', kind: 'eventbridge', arn: '' });
  }
  return rules;
}
