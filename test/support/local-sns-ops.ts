/**
 * A local stand-in for SNS Publish (AWS query protocol: form-encoded request, XML response):
 * records each message. Point clients at it with AWS_ENDPOINT_URL_SNS.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface RecordedPublish {
  readonly topicArn: string;
  readonly subject: string | undefined;
  readonly message: string;
}

export interface LocalSns {
  readonly endpoint: string;
  readonly messages: RecordedPublish[];
  clear(): void;
  close(): Promise<void>;
}

export async function startLocalSns(): Promise<LocalSns> {
  const messages: RecordedPublish[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const params = new URLSearchParams(raw);
      const reply = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(xml);
      };
      if (params.get('Action') !== 'Publish') {
        return reply(400, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Unsupported action ${params.get('Action')}</Message></Error><RequestId>local</RequestId></ErrorResponse>`);
      }
      const subject = params.get('Subject') ?? undefined;
      if (subject !== undefined && (subject.length >= 100 || /[^\x20-\x7e]/.test(subject))) {
        return reply(400, '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: Subject</Message></Error><RequestId>local</RequestId></ErrorResponse>');
      }
      messages.push({ topicArn: params.get('TopicArn') ?? '', subject, message: params.get('Message') ?? '' });
      return reply(200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>msg-${messages.length}</MessageId></PublishResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></PublishResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    messages,
    clear: () => {
      messages.length = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
