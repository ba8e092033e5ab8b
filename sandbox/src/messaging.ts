/**
 * SNS and SES, locally: nothing leaves the machine. Every SNS message and every e-mail is written
 * to the outbox folder (`.json` for SNS messages; `.eml` plus `.html`/`.txt` for e-mails) and
 * printed; SNS subscriptions from the template that point at local resources (Lambda, SQS) get
 * the message as in the cloud, e-mail subscriptions get an `.eml`.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AwsError, LocalAwsApi, xml } from './aws-api';

export interface Subscription {
  readonly topicArn: string;
  readonly protocol: string;
  readonly endpoint: string;
  readonly filterPolicy?: Record<string, unknown>;
  readonly rawMessageDelivery?: boolean;
}

export interface OutboxEntry {
  readonly kind: 'sns' | 'email';
  readonly file: string;
  readonly subject: string;
  readonly to: string[];
  readonly at: string;
}

export class Outbox {
  readonly entries: OutboxEntry[] = [];
  private readonly listeners: Array<(e: OutboxEntry) => void> = [];

  constructor(readonly directory: string) {
    fs.mkdirSync(directory, { recursive: true });
  }

  onEntry(listener: (e: OutboxEntry) => void): void {
    this.listeners.push(listener);
  }

  write(kind: 'sns' | 'email', subject: string, to: string[], files: Record<string, string | Buffer>): OutboxEntry {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const slug = subject.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 50) || 'message';
    const base = `${stamp}-${kind}-${slug}`;
    let main = '';
    for (const [ext, content] of Object.entries(files)) {
      const file = path.join(this.directory, `${base}${ext}`);
      fs.writeFileSync(file, content);
      if (!main) main = file;
    }
    const entry = { kind, file: main, subject, to, at: new Date().toISOString() };
    this.entries.push(entry);
    for (const l of this.listeners) l(entry);
    return entry;
  }
}

/** Delivers an SNS notification to a local subscriber (Lambda or SQS). */
export type SnsDelivery = (subscription: Subscription, notification: Record<string, unknown>, message: string) => Promise<void>;

export class LocalSns {
  readonly topics = new Map<string, { name: string; subscriptions: Subscription[] }>();

  constructor(private readonly outbox: Outbox, private readonly deliver: SnsDelivery, private readonly region: string) {}

  addTopic(arn: string, name: string): void {
    if (!this.topics.has(arn)) this.topics.set(arn, { name, subscriptions: [] });
  }

  subscribe(s: Subscription): void {
    this.topics.get(s.topicArn)?.subscriptions.push(s);
  }

  publish(topicArn: string, message: string, subject?: string, attributes: Record<string, { DataType: string; StringValue?: string }> = {}): string {
    const topic = this.topics.get(topicArn);
    if (!topic) throw new AwsError('NotFound', 'Topic does not exist', 404);
    if (message === '') throw new AwsError('InvalidParameter', 'Invalid parameter: Empty message');
    if (Buffer.byteLength(message) > 256 * 1024) throw new AwsError('InvalidParameter', 'Invalid parameter: Message too long');
    const messageId = randomUUID();
    const notification = {
      Type: 'Notification',
      MessageId: messageId,
      TopicArn: topicArn,
      Subject: subject ?? null,
      Message: message,
      Timestamp: new Date().toISOString(),
      SignatureVersion: '1',
      Signature: 'LOCAL',
      SigningCertUrl: 'https://sns.local/SimpleNotificationService.pem',
      UnsubscribeUrl: `https://sns.local/?Action=Unsubscribe&TopicArn=${topicArn}`,
      MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { Type: v.DataType, Value: v.StringValue }])),
    };
    const emails = topic.subscriptions.filter((s) => s.protocol === 'email' || s.protocol === 'email-json').map((s) => s.endpoint);
    this.outbox.write('sns', `${topic.name}: ${subject ?? firstLine(message)}`, emails, {
      '.json': JSON.stringify({ topic: topic.name, topicArn, subject: subject ?? null, message: tryJson(message), attributes, deliveredTo: topic.subscriptions.map((s) => `${s.protocol}:${s.endpoint}`) }, null, 2),
    });
    for (const s of topic.subscriptions) {
      if (!passesFilter(s.filterPolicy, attributes)) continue;
      if (s.protocol === 'lambda' || s.protocol === 'sqs') {
        void this.deliver(s, notification, message).catch(() => undefined);
      }
    }
    return messageId;
  }

  register(api: LocalAwsApi): void {
    api.queryService('http://sns.amazonaws.com/doc/2010-03-31/', {
      Publish: (p) => {
        const topicArn = p.get('TopicArn') ?? p.get('TargetArn') ?? '';
        const attributes: Record<string, { DataType: string; StringValue?: string }> = {};
        for (let i = 1; p.has(`MessageAttributes.entry.${i}.Name`); i++) {
          attributes[p.get(`MessageAttributes.entry.${i}.Name`)!] = {
            DataType: p.get(`MessageAttributes.entry.${i}.Value.DataType`) ?? 'String',
            StringValue: p.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? undefined,
          };
        }
        const id = this.publish(topicArn, p.get('Message') ?? '', p.get('Subject') ?? undefined, attributes);
        return `<MessageId>${id}</MessageId>`;
      },
      ListTopics: () => `<Topics>${[...this.topics.keys()].map((a) => `<member><TopicArn>${xml(a)}</TopicArn></member>`).join('')}</Topics>`,
      GetTopicAttributes: (p) => {
        const arn = p.get('TopicArn') ?? '';
        if (!this.topics.has(arn)) throw new AwsError('NotFound', 'Topic does not exist', 404);
        return `<Attributes><entry><key>TopicArn</key><value>${xml(arn)}</value></entry></Attributes>`;
      },
    });
    void this.region;
  }
}

function passesFilter(policy: Record<string, unknown> | undefined, attributes: Record<string, { StringValue?: string }>): boolean {
  if (!policy) return true;
  return Object.entries(policy).every(([key, allowed]) => {
    const v = attributes[key]?.StringValue;
    return Array.isArray(allowed) ? allowed.some((a) => typeof a !== 'object' ? String(a) === v : v !== undefined) : true;
  });
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 80);
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** SES v2 SendEmail: the message is written to the outbox as .eml (plus .html / .txt) and printed. */
export class LocalSes {
  constructor(private readonly outbox: Outbox) {}

  /** SendEmail (its JSON input); returns the message id. */
  send(input: any): string {
    const d = input.Destination ?? {};
    const to: string[] = [...(d.ToAddresses ?? []), ...(d.CcAddresses ?? []), ...(d.BccAddresses ?? [])];
    if (!input.Content) throw new AwsErrorRest('BadRequestException', 'Content is required');
    const messageId = `${randomUUID()}-000000`;
    if (input.Content.Raw) {
      const raw = Buffer.from(input.Content.Raw.Data, 'base64');
      const subject = /^Subject: (.*)$/m.exec(raw.toString('utf8'))?.[1] ?? '(raw message)';
      this.outbox.write('email', subject, to, { '.eml': raw });
      return messageId;
    }
    const simple = input.Content.Simple;
    if (simple && (!simple.Subject?.Data || !simple.Body)) throw new AwsErrorRest('BadRequestException', 'A simple message needs a Subject and a Body');
    if (!input.FromEmailAddress) throw new AwsErrorRest('BadRequestException', 'FromEmailAddress is required unless the raw message has a From header');
    const subject: string = simple?.Subject?.Data ?? `(template ${input.Content.Template?.TemplateName ?? ''})`;
    const template = input.Content.Template ? JSON.stringify(input.Content.Template, null, 2) : undefined;
    const text: string | undefined = simple?.Body?.Text?.Data ?? template;
    const html: string | undefined = simple?.Body?.Html?.Data;
    const files: Record<string, string> = { '.eml': mime(input.FromEmailAddress, to, subject, text, html, messageId, input.ReplyToAddresses) };
    if (html) files['.html'] = html;
    if (text) files['.txt'] = text;
    this.outbox.write('email', subject, to, files);
    return messageId;
  }

  register(api: LocalAwsApi): void {
    api.route('POST', /^\/v2\/email\/outbound-emails$/, (request) => {
      const messageId = this.send(JSON.parse(request.body.toString('utf8') || '{}'));
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ MessageId: messageId }) };
    });
    // Identities and configuration sets exist locally whatever they are.
    api.route('GET', /^\/v2\/email\/identities\/([^/]+)$/, (_r, m) => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ IdentityType: decodeURIComponent(m[1]).includes('@') ? 'EMAIL_ADDRESS' : 'DOMAIN', VerifiedForSendingStatus: true, VerificationStatus: 'SUCCESS' }),
    }));
  }
}

class AwsErrorRest extends AwsError {}

function mime(
  from: string, to: string[], subject: string, text: string | undefined, html: string | undefined, id: string, replyTo?: string[],
): string {
  const boundary = `sandbox-${id.slice(0, 8)}`;
  const headers = [
    `From: ${from}`,
    `To: ${to.join(', ')}`,
    ...(replyTo?.length ? [`Reply-To: ${replyTo.join(', ')}`] : []),
    `Subject: ${subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${id}@sandbox.local>`,
    'MIME-Version: 1.0',
    'X-Sandbox: written by the local sandbox, not sent',
  ];
  const part = (type: string, body: string) => [`--${boundary}`, `Content-Type: ${type}; charset=UTF-8`, 'Content-Transfer-Encoding: 8bit', '', body, ''].join('\r\n');
  return [
    ...headers,
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    ...(text ? [part('text/plain', text)] : []),
    ...(html ? [part('text/html', html)] : []),
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
