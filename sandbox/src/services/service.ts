/**
 * What every local service shares: one lifecycle (provision from the template, start, describe,
 * stop) and one context (the templates, the local AWS endpoint, the sandbox's folders). Each AWS
 * service kind is one module in this folder; `../sandbox.ts` wires them in order.
 */
import type { CloudAssembly } from '../assembly';
import type { LocalAwsApi } from '../aws-api';
import type { Printer, Progress } from '../progress';
import type { LocalEndpoints, StackModel } from '../resolver';

export interface SandboxService {
  /** The service's name in `info` (e.g. `sqs`). */
  readonly name: string;
  /** The template resource types this service runs (others are listed as skipped). */
  readonly resourceTypes: readonly string[];
  /** Reads the service's resources from the templates and makes them available. */
  provision(): Promise<void>;
  /** Starts background work once every service is provisioned (pollers, warm-up). */
  start?(): void;
  /** The service's part of `info` (JSON). */
  describe(): unknown;
  /** Stops the service; it frees its ports and child processes. */
  stop(): Promise<void>;
}

/** A process the sandbox started: by pid (and its command line), or a PostgreSQL data directory. */
export interface RecordedProcess {
  readonly what: string;
  readonly pid?: number;
  readonly postgresDataDir?: string;
}

/** A resource of the selected stacks. */
export interface TemplateResource {
  readonly model: StackModel;
  readonly id: string;
}

export interface ServiceContext {
  readonly region: string;
  readonly accountId: string;
  readonly cwd: string;
  readonly stateDir: string;
  /** Fresh at each start: database cluster, S3 objects, inline code. */
  readonly runDir: string;
  readonly logsDir: string;
  readonly assembly: CloudAssembly;
  readonly models: StackModel[];
  /** The local AWS endpoint (JSON, query and REST protocols) the services register on. */
  readonly api: LocalAwsApi;
  readonly endpoints: LocalEndpoints;
  readonly print: Printer;
  readonly progress: Progress;
  /** Notes printed at start (what the sandbox does differently from the cloud). */
  readonly warnings: string[];
  /** Records a child process or server, so a later start can stop what a killed sandbox left. */
  recordProcess(entry: RecordedProcess): void;
}

/** Resources of a type across the selected stacks. */
export function resourcesOfType(models: StackModel[], type: string | ((t: string) => boolean)): TemplateResource[] {
  return models.flatMap((model) => model.ofType(type).map(([id]) => ({ model, id })));
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
