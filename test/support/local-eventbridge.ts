/**
 * The tests' EventBridge: the sandbox's own (sandbox/src/eventbridge.ts: PutEvents behind the
 * sandbox's local AWS endpoint, JSON 1.1 protocol), recording every event put on a bus, so
 * handlers publish through the real SDK exactly as in the cloud. Point clients at it with
 * AWS_ENDPOINT_URL_EVENTBRIDGE. `failNext` makes the next calls fail (retry tests).
 */
import { AwsError, LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalEventBridge as SandboxEventBridge } from '../../sandbox/src/eventbridge';

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
  /** Fails the next n PutEvents calls with an InternalException (HTTP 500, which the SDK retries). */
  failNext(n: number): void;
  clear(): void;
  close(): Promise<void>;
}

/** The sandbox's EventBridge, failing on demand. */
class FailingEventBridge extends SandboxEventBridge {
  injectedFailures = 0;

  put(bus: string, entry: Parameters<SandboxEventBridge['put']>[1]): ReturnType<SandboxEventBridge['put']> {
    if (this.injectedFailures > 0) {
      this.injectedFailures--;
      throw new AwsError('InternalException', 'injected failure', 500);
    }
    return super.put(bus, entry);
  }
}

export async function startLocalEventBridge(): Promise<LocalEventBridge> {
  const bridge = new FailingEventBridge('us-east-1', '123456789012', async () => undefined);
  const events: RecordedEvent[] = [];
  bridge.onEvent(({ bus, event }) => events.push({
    source: event.source, detailType: event['detail-type'], eventBusName: bus, resources: event.resources, detail: event.detail,
  }));
  const api = new LocalAwsApi();
  bridge.register(api);
  const endpoint = await api.listen(0);
  return {
    endpoint,
    events,
    failNext: (n) => {
      bridge.injectedFailures = n;
    },
    clear: () => {
      events.length = 0;
    },
    close: () => api.close(),
  };
}
