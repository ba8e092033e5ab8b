/**
 * EventBridge, locally: PutEvents on any bus; the template's rules (event patterns) are matched
 * against each event and their targets receive it, with Input / InputPath / InputTransformer
 * applied, as in the cloud. Scheduled rules are listed and run on demand (`cdp-sandbox trigger`).
 */
import { randomUUID } from 'crypto';
import { AwsError, LocalAwsApi } from './aws-api';
import { matchesPattern } from './event-pattern';

export interface RuleTarget {
  readonly Id: string;
  readonly Arn: string;
  readonly Input?: string;
  readonly InputPath?: string;
  readonly InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
  readonly RetryPolicy?: { MaximumRetryAttempts?: number };
  readonly DeadLetterConfig?: { Arn?: string };
}

export interface LocalRule {
  readonly id: string;
  readonly name: string;
  readonly bus: string;
  readonly pattern?: unknown;
  readonly schedule?: string;
  readonly enabled: boolean;
  readonly targets: RuleTarget[];
}

export interface BusEvent {
  readonly 'version': '0';
  readonly 'id': string;
  readonly 'detail-type': string;
  readonly 'source': string;
  readonly 'account': string;
  readonly 'time': string;
  readonly 'region': string;
  readonly 'resources': string[];
  readonly 'detail': unknown;
}

export interface RecordedBusEvent {
  readonly bus: string;
  readonly event: BusEvent;
  /** Rules that matched. */
  readonly rules: string[];
}

/** Delivers an event to a target ARN (Lambda, queue, topic, state machine, bus…). */
export type TargetDispatcher = (target: RuleTarget, input: unknown, rule: LocalRule) => Promise<void>;

/** A simple JSONPath getter ($, $.a.b, $.a[0]). */
export function jsonPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  const parts = path.replace(/^\$\.?/, '').split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  let cur: any = value;
  for (const p of parts) {
    if (cur === null || cur === undefined) return undefined;
    cur = cur[p];
  }
  return cur;
}

export function applyTargetInput(target: RuleTarget, event: BusEvent): unknown {
  if (target.Input !== undefined) return JSON.parse(target.Input);
  if (target.InputPath) return jsonPath(event, target.InputPath);
  if (target.InputTransformer) {
    const values: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(target.InputTransformer.InputPathsMap ?? {})) values[k] = jsonPath(event, p);
    const template = target.InputTransformer.InputTemplate;
    // Inside quotes a value is inserted as text, elsewhere as JSON.
    const rendered = template.replace(/("?)<([A-Za-z0-9_.-]+)>("?)/g, (m, q1: string, name: string, q2: string) => {
      if (name === 'aws.events.event.json') return JSON.stringify(event);
      if (name === 'aws.events.rule-arn' || name === 'aws.events.rule-name') return `${q1}${name}${q2}`;
      if (!(name in values)) return m;
      const v = values[name];
      if (q1 && q2) return JSON.stringify(typeof v === 'string' ? v : JSON.stringify(v));
      return `${q1}${typeof v === 'string' && (q1 || q2) ? v : JSON.stringify(v)}${q2}`;
    });
    try {
      return JSON.parse(rendered);
    } catch {
      return rendered;
    }
  }
  return event;
}

export class LocalEventBridge {
  readonly rules: LocalRule[] = [];
  readonly log: RecordedBusEvent[] = [];
  private readonly listeners: Array<(e: RecordedBusEvent) => void> = [];
  /** Delivery failures (after retries), for the summary. */
  readonly failures: Array<{ rule: string; target: string; error: string }> = [];

  constructor(
    private readonly region: string,
    private readonly account: string,
    private readonly dispatch: TargetDispatcher,
    private readonly onDeliveryError: (rule: LocalRule, target: RuleTarget, error: Error) => void = () => undefined,
  ) {}

  addRule(rule: LocalRule): void {
    this.rules.push(rule);
  }

  onEvent(listener: (e: RecordedBusEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Puts one event on a bus (as a service or a handler would), delivering it to matching rules. */
  put(bus: string, entry: { source: string; detailType: string; detail: unknown; resources?: string[]; time?: string }): BusEvent {
    const busName = bus.startsWith('arn:') ? bus.split('/').pop()! : bus;
    const event: BusEvent = {
      'version': '0',
      'id': randomUUID(),
      'detail-type': entry.detailType,
      'source': entry.source,
      'account': this.account,
      'time': entry.time ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      'region': this.region,
      'resources': entry.resources ?? [],
      'detail': entry.detail,
    };
    const matched = this.rules.filter((r) => r.enabled && r.bus === busName && r.pattern !== undefined && safeMatch(r.pattern, event));
    const recorded = { bus: busName, event, rules: matched.map((r) => r.name) };
    this.log.push(recorded);
    if (this.log.length > 1000) this.log.shift();
    for (const l of this.listeners) l(recorded);
    for (const rule of matched) for (const target of rule.targets) void this.deliver(rule, target, event);
    return event;
  }

  /** Runs a scheduled rule now (its targets get the Scheduled Event). */
  trigger(ruleName: string): LocalRule {
    const rule = this.rules.find((r) => r.name === ruleName || r.id === ruleName || r.id.endsWith(`/${ruleName}`));
    if (!rule) throw new Error(`No rule ${ruleName}; rules: ${this.rules.map((r) => r.id).join(', ')}`);
    const event: BusEvent = {
      'version': '0',
      'id': randomUUID(),
      'detail-type': 'Scheduled Event',
      'source': 'aws.events',
      'account': this.account,
      'time': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      'region': this.region,
      'resources': [`arn:aws:events:${this.region}:${this.account}:rule/${rule.name}`],
      'detail': {},
    };
    for (const target of rule.targets) void this.deliver(rule, target, event);
    return rule;
  }

  private async deliver(rule: LocalRule, target: RuleTarget, event: BusEvent): Promise<void> {
    const attempts = 1 + Math.min(target.RetryPolicy?.MaximumRetryAttempts ?? 2, 2);
    let lastError: Error | undefined;
    for (let i = 0; i < attempts; i++) {
      try {
        await this.dispatch(target, applyTargetInput(target, event), rule);
        return;
      } catch (error) {
        lastError = error as Error;
        await new Promise((r) => setTimeout(r, 200 * (i + 1)));
      }
    }
    this.failures.push({ rule: rule.name, target: target.Arn, error: lastError!.message });
    this.onDeliveryError(rule, target, lastError!);
  }

  register(api: LocalAwsApi): void {
    api.jsonService('AWSEvents', '1.1', {
      PutEvents: ({ Entries }) => {
        const entries = (Entries ?? []) as Array<Record<string, any>>;
        if (entries.length > 10) throw new AwsError('ValidationException', '1 validation error detected: Value at \'entries\' failed to satisfy constraint: Member must have length less than or equal to 10');
        const results = entries.map((e) => {
          if (!e.Source || !e.DetailType || e.Detail === undefined) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter(s) Source, DetailType or Detail is missing' };
          let detail: unknown;
          try {
            detail = JSON.parse(e.Detail);
          } catch {
            return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
          }
          const event = this.put(e.EventBusName ?? 'default', { source: e.Source, detailType: e.DetailType, detail, resources: e.Resources, time: e.Time ? new Date(Number(e.Time) * 1000 || e.Time).toISOString() : undefined });
          return { EventId: event.id };
        });
        return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
      },
      ListRules: () => ({ Rules: this.rules.map((r) => ({ Name: r.name, EventBusName: r.bus, EventPattern: r.pattern ? JSON.stringify(r.pattern) : undefined, ScheduleExpression: r.schedule, State: r.enabled ? 'ENABLED' : 'DISABLED' })) }),
      TestEventPattern: ({ EventPattern, Event }) => ({ Result: matchesPattern(JSON.parse(EventPattern), JSON.parse(Event)) }),
    });
  }
}

function safeMatch(pattern: unknown, event: BusEvent): boolean {
  try {
    return matchesPattern(pattern, event);
  } catch {
    return false;
  }
}
