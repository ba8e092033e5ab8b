/**
 * A local stand-in for EventBridge PutEvents (JSON 1.1 protocol): records the entries, so
 * handlers publish through the real SDK exactly as in the cloud. Point clients at it with
 * AWS_ENDPOINT_URL_EVENTBRIDGE. `failNext` makes the next calls fail (retry tests).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface RecordedEvent {
  readonly source: string;
  readonly detailType: string;
  readonly eventBusName: string;
  readonly resources: string[];
  readonly detail: any;
}

export interface LocalEventBridge {
  readonly endpoint: string;
  readonly events: RecordedEvent[];
  /** Fails the next n PutEvents calls with an InternalException. */
  failNext(n: number): void;
  clear(): void;
  close(): Promise<void>;
}

export async function startLocalEventBridge(): Promise<LocalEventBridge> {
  const events: RecordedEvent[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target.endsWith('.PutEvents')) return reply(400, { __type: 'ValidationException', message: `Unsupported operation ${target}` });
      if (failures > 0) {
        failures--;
        return reply(500, { __type: 'InternalException', message: 'injected failure' });
      }
      const { Entries } = JSON.parse(body || '{}');
      const results = (Entries ?? []).map((e: any, i: number) => {
        events.push({
          source: e.Source,
          detailType: e.DetailType,
          eventBusName: e.EventBusName ?? 'default',
          resources: e.Resources ?? [],
          detail: JSON.parse(e.Detail),
        });
        return { EventId: `event-${events.length}-${i}` };
      });
      return reply(200, { FailedEntryCount: 0, Entries: results });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    failNext: (n) => {
      failures = n;
    },
    clear: () => {
      events.length = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
