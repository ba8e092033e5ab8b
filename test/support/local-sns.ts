/**
 * A local stand-in for SNS Publish (AWS Query protocol: form-encoded requests, XML responses) that
 * records what was published, so the real SDK serializes and parses exactly as in the cloud. Point
 * clients at it with AWS_ENDPOINT_URL_SNS or `endpoint`. Publishing to a topic that was not
 * registered with `addTopic` fails with NotFound, as SNS does. `failNext` injects throttling.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { SNSClient } from '@aws-sdk/client-sns';

export interface PublishedMessage {
  readonly topicArn: string;
  readonly message: string;
  readonly subject?: string;
  readonly messageAttributes: Record<string, { dataType: string; value: string }>;
  readonly messageId: string;
}

export interface LocalSns {
  readonly endpoint: string;
  readonly client: SNSClient;
  readonly published: PublishedMessage[];
  /** Messages published to one topic, their JSON bodies parsed. */
  messagesTo(topicArn: string): any[];
  /** Registers a topic (only registered topics accept messages). */
  addTopic(topicArn: string): void;
  /** Fails the next n Publish calls with SNS's throttling error (HTTP 429 Throttled: ThrottledException). */
  failNext(n: number): void;
  clear(): void;
  close(): Promise<void>;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function errorXml(type: 'Sender' | 'Receiver', code: string, message: string): string {
  return `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

/** `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` into a map. */
function messageAttributes(form: URLSearchParams): Record<string, { dataType: string; value: string }> {
  const result: Record<string, { dataType: string; value: string }> = {};
  for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
    const prefix = `MessageAttributes.entry.${i}`;
    result[form.get(`${prefix}.Name`)!] = {
      dataType: form.get(`${prefix}.Value.DataType`) ?? 'String',
      value: form.get(`${prefix}.Value.StringValue`) ?? form.get(`${prefix}.Value.BinaryValue`) ?? '',
    };
  }
  return result;
}

export async function startLocalSns(region = 'us-east-1'): Promise<LocalSns> {
  const published: PublishedMessage[] = [];
  const topics = new Set<string>();
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(xml);
      };
      const form = new URLSearchParams(body);
      const action = form.get('Action');
      if (action !== 'Publish') return reply(400, errorXml('Sender', 'InvalidAction', `Unsupported action ${action}`));
      if (failures > 0) {
        failures--;
        return reply(429, errorXml('Sender', 'Throttled', 'Rate exceeded'));
      }
      const topicArn = form.get('TopicArn') ?? '';
      if (!topics.has(topicArn)) return reply(404, errorXml('Sender', 'NotFound', 'Topic does not exist'));
      const message = form.get('Message');
      if (message === null || message === '') return reply(400, errorXml('Sender', 'InvalidParameter', 'Invalid parameter: Empty message'));
      if (Buffer.byteLength(message) > 256 * 1024) return reply(400, errorXml('Sender', 'InvalidParameter', 'Invalid parameter: Message too long'));
      const messageId = randomUUID();
      published.push({ topicArn, message, subject: form.get('Subject') ?? undefined, messageAttributes: messageAttributes(form), messageId });
      return reply(200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId>`
        + `</PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SNSClient({ endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  return {
    endpoint,
    client,
    published,
    messagesTo(topicArn) {
      return published.filter((m) => m.topicArn === topicArn).map((m) => JSON.parse(m.message));
    },
    addTopic(topicArn) {
      topics.add(topicArn);
    },
    failNext(n) {
      failures = n;
    },
    clear() {
      published.length = 0;
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
