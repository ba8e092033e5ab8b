/**
 * The sandbox's Distributed Map layer, part 2: a Map Run, what the Task that ./distributed-map.ts
 * put in the Map state's place does. In AWS's order: the items (ItemReader from the local S3, else
 * `ItemsPath`), `ItemSelector` per item (`$` the state input, `$$.Map.Item.Index`/`Value`),
 * `ItemBatcher` (each child gets `{ "BatchInput": …, "Items": [...] }`, `BatchInput` only when
 * given), then one child execution per item or batch: the ItemProcessor run by aws-local-stepfunctions
 * with the parent's task binding (Lambda invokes, SDK integrations, nested Distributed Maps), at most
 * `MaxConcurrency` at a time (0 or none: AWS allows up to 10,000; the sandbox runs at most
 * LOCAL_CONCURRENCY_CAP at once, all in this process).
 *
 * Failed, timed out and aborted children count as failed items (a failed batch: all its items). Once
 * the failed items exceed `ToleratedFailureCount` or `ToleratedFailurePercentage` of all items
 * (whichever is given; neither: any failure), no further child starts, the running ones are aborted, and the state
 * fails with `States.ExceedToleratedFailureThreshold`. An abort of the parent execution aborts the
 * children. With a ResultWriter the result files are written in every outcome (children not started
 * are PENDING) and the state's result is `{ MapRunArn, ResultWriterDetails }`; without, the children's
 * outputs in item order (a tolerated failed child: its record as in a FAILED file, Error and Cause
 * included, which is what AWS gives for a failed child whatever the Transformation). ItemReader errors fail the state with `States.ItemReaderFailed`, ResultWriter
 * errors with `States.ResultWriterFailed`.
 *
 * Each Map Run is recorded (`MapRun`: status, item and execution counts, the children) on the
 * top-level execution, where tests, DescribeMapRun/ListMapRuns and progress reporting read it.
 */
import { randomUUID } from 'crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { evaluatePath, evaluateTemplate } from './asl-evaluation';
import type { DistributedMapSpec } from './distributed-map';
import { readItems, ResultFiles, writeResults } from './map-run-s3';
import { statesError } from './states-error';

/** At most this many child executions run at once locally (MaxConcurrency 0 or absent, or larger). */
export const LOCAL_CONCURRENCY_CAP = 40;
/** AWS's ceiling for MaxInputBytesPerBatch (256 KiB). */
const MAX_BATCH_BYTES = 262_144;

export type ChildStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** A child execution's end, as the host reports it. */
export interface ChildOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export interface ChildIdentity {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly stateMachineName: string;
  readonly startDate: number;
}

/** What a Map Run needs from the Step Functions it runs in. */
export interface MapRunHost {
  readonly region: string;
  readonly account: string;
  /** The parent execution's abort: aborts the Map Run's children. */
  readonly signal: AbortSignal;
  s3(): S3Client;
  /** Runs a child execution of a definition with the parent's task binding; resolves with how it ended. */
  runChild(definition: any, input: unknown, identity: ChildIdentity, signal: AbortSignal): Promise<ChildOutcome>;
  /** Keeps the Map Run where it can be read (the top-level execution's `mapRuns`). */
  record(run: MapRun): void;
}

export interface MapRunCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  aborted: number;
  total: number;
  resultsWritten: number;
}

export interface ChildExecution extends ChildIdentity {
  readonly input: unknown;
  /** How many items it processes (1 without ItemBatcher). */
  readonly itemCount: number;
  status: ChildStatus;
  stopDate?: number;
  output?: unknown;
  error?: string;
  cause?: string;
}

export interface MapRun {
  readonly mapRunArn: string;
  /** The execution that ran the Map state (a child execution's ARN for a nested Distributed Map). */
  readonly executionArn: string;
  readonly stateName: string;
  readonly stateMachineArn: string;
  readonly startDate: number;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
  readonly toleratedFailureCount: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  stopDate?: number;
  error?: string;
  cause?: string;
  readonly itemCounts: MapRunCounts;
  readonly executionCounts: MapRunCounts;
  readonly executions: ChildExecution[];
}

interface Settings {
  readonly maxConcurrency: number;
  /** Undefined when the state gives neither the field nor its Path. */
  readonly toleratedFailurePercentage?: number;
  readonly toleratedFailureCount?: number;
}

interface Batch {
  readonly input: unknown;
  readonly itemCount: number;
}

/** Runs a Distributed Map state: `task` is what its Task's Parameters gave (the effective input and the Context). */
export async function runDistributedMap(spec: DistributedMapSpec, task: { Input: unknown; Context: any }, host: MapRunHost): Promise<unknown> {
  const input = task.Input;
  const context = JSON.parse(JSON.stringify(task.Context ?? {}));
  const settings = await settingsOf(spec, input, context);
  const items = await selectItems(spec, await itemsOf(spec, input, context, host), input, context);
  const batches = await batchesOf(spec, items, input, context);
  const run = newMapRun(spec, context, settings, batches, host);
  host.record(run);
  await runChildren(spec, run, settings, host);
  run.status = host.signal.aborted ? 'ABORTED' : exceeded(run, settings) ? 'FAILED' : 'SUCCEEDED';
  try {
    if (run.status === 'ABORTED') throw statesError('States.Runtime', `Map Run ${run.mapRunArn} aborted with its execution`);
    const result = spec.resultWriter ? await writeRun(spec, run, input, context, host) : run.executions.map(outputOf);
    if (run.status === 'FAILED') throw statesError('States.ExceedToleratedFailureThreshold', 'The specified tolerated failure threshold was exceeded');
    return result;
  } catch (error) {
    if (run.status === 'SUCCEEDED') run.status = 'FAILED';
    Object.assign(run, { error: (error as Error).name, cause: (error as Error).message });
    throw error;
  } finally {
    run.stopDate = Date.now();
  }
}

/** A number given in the state or at a path of its input (`…Path`), else `fallback`. */
async function numberAt<T extends number | undefined>(
  value: number | undefined, path: string | undefined, input: unknown, context: any, fallback: T,
): Promise<number | T> {
  if (value !== undefined) return value;
  if (path === undefined) return fallback;
  const found = await evaluatePath(path, input, context);
  if (typeof found !== 'number' || found < 0) throw statesError('States.Runtime', `${path} must select a number ≥ 0 (got ${JSON.stringify(found)})`);
  return found;
}

async function settingsOf(spec: DistributedMapSpec, input: unknown, context: any): Promise<Settings> {
  const toleratedFailurePercentage = await numberAt(spec.toleratedFailurePercentage, spec.toleratedFailurePercentagePath, input, context, undefined);
  if (toleratedFailurePercentage !== undefined && toleratedFailurePercentage > 100) throw statesError('States.Runtime', `ToleratedFailurePercentage must be between 0 and 100 (got ${toleratedFailurePercentage})`);
  return {
    maxConcurrency: await numberAt(spec.maxConcurrency, spec.maxConcurrencyPath, input, context, 0),
    toleratedFailurePercentage,
    toleratedFailureCount: await numberAt(spec.toleratedFailureCount, spec.toleratedFailureCountPath, input, context, undefined),
  };
}

async function itemsOf(spec: DistributedMapSpec, input: unknown, context: any, host: MapRunHost): Promise<unknown[]> {
  if (!spec.itemReader) {
    const items = await evaluatePath(spec.itemsPath ?? '$', input, context);
    if (!Array.isArray(items)) throw statesError('States.Runtime', `${spec.stateName}: ItemsPath ${spec.itemsPath ?? '$'} must select an array`);
    return items;
  }
  const reader = spec.itemReader;
  const parameters = await evaluateTemplate(reader.parameters, input, context);
  const limit = await numberAt(reader.readerConfig.MaxItems, reader.readerConfig.MaxItemsPath, input, context, 0);
  try {
    return await readItems(host.s3(), reader, parameters, limit === 0 ? undefined : limit);
  } catch (error) {
    throw statesError('States.ItemReaderFailed', `${spec.stateName}: ${(error as Error).name}: ${(error as Error).message}`);
  }
}

async function selectItems(spec: DistributedMapSpec, items: unknown[], input: unknown, context: any): Promise<unknown[]> {
  if (spec.itemSelector === undefined) return items;
  const selected: unknown[] = [];
  for (const [index, value] of items.entries()) {
    selected.push(await evaluateTemplate(spec.itemSelector, input, { ...context, Map: { Item: { Index: index, Value: value } } }));
  }
  return selected;
}

async function batchesOf(spec: DistributedMapSpec, items: unknown[], input: unknown, context: any): Promise<Batch[]> {
  const batcher = spec.itemBatcher;
  if (!batcher) return items.map((item) => ({ input: item, itemCount: 1 }));
  const maxItems = await numberAt(batcher.maxItemsPerBatch, batcher.maxItemsPerBatchPath, input, context, Infinity);
  const givenBytes = await numberAt(batcher.maxInputBytesPerBatch, batcher.maxInputBytesPerBatchPath, input, context, MAX_BATCH_BYTES);
  const maxBytes = Math.min(givenBytes, MAX_BATCH_BYTES);
  const batchInput = batcher.batchInput === undefined ? undefined : await evaluateTemplate(batcher.batchInput, input, context);
  const inputOf = (batch: unknown[]) => (batchInput === undefined ? { Items: batch } : { BatchInput: batchInput, Items: batch });
  const bytes = (batch: unknown[]) => Buffer.byteLength(JSON.stringify(inputOf(batch)));
  const batches: unknown[][] = [];
  let current: unknown[] = [];
  for (const item of items) {
    if (current.length > 0 && (current.length >= maxItems || bytes([...current, item]) > maxBytes)) {
      batches.push(current);
      current = [];
    }
    current.push(item);
    if (bytes(current) > maxBytes) throw statesError('States.Runtime', `${spec.stateName}: an item alone exceeds MaxInputBytesPerBatch (${maxBytes} bytes)`);
  }
  if (current.length > 0) batches.push(current);
  return batches.map((batch) => ({ input: inputOf(batch), itemCount: batch.length }));
}

function counts(total: number): MapRunCounts {
  return { pending: total, running: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, total, resultsWritten: 0 };
}

function newMapRun(spec: DistributedMapSpec, context: any, settings: Settings, batches: Batch[], host: MapRunHost): MapRun {
  const prefix = `arn:aws:states:${host.region}:${host.account}`;
  const machineName = `${context.StateMachine?.Name ?? 'stateMachine'}/${spec.label}`;
  const id = randomUUID();
  const executions = batches.map((batch): ChildExecution => {
    const name = randomUUID();
    return {
      executionArn: `${prefix}:${spec.executionType === 'EXPRESS' ? 'express' : 'execution'}:${machineName}:${name}`,
      name,
      stateMachineArn: `${prefix}:stateMachine:${machineName}`,
      stateMachineName: machineName,
      startDate: 0,
      input: batch.input,
      itemCount: batch.itemCount,
      status: 'PENDING',
    };
  });
  return {
    mapRunArn: `${prefix}:mapRun:${machineName}:${id}`,
    executionArn: context.Execution?.Id ?? '',
    stateName: spec.stateName,
    stateMachineArn: `${prefix}:stateMachine:${machineName}`,
    startDate: Date.now(),
    maxConcurrency: settings.maxConcurrency,
    toleratedFailurePercentage: settings.toleratedFailurePercentage ?? 0,
    toleratedFailureCount: settings.toleratedFailureCount ?? 0,
    status: 'RUNNING',
    itemCounts: counts(batches.reduce((n, b) => n + b.itemCount, 0)),
    executionCounts: counts(batches.length),
    executions,
  };
}

/** Whether the failed items exceed the tolerated count or percentage, whichever the state gives (neither: any failure). */
function exceeded(run: MapRun, settings: Settings): boolean {
  const { failed, timedOut, aborted, total } = run.itemCounts;
  const failures = failed + timedOut + aborted;
  const { toleratedFailureCount: count, toleratedFailurePercentage: percentage } = settings;
  if (count === undefined && percentage === undefined) return failures > 0;
  return (count !== undefined && failures > count) || (percentage !== undefined && total > 0 && (failures * 100) / total > percentage);
}

const COUNTER: Record<ChildOutcome['status'], keyof MapRunCounts> = { SUCCEEDED: 'succeeded', FAILED: 'failed', TIMED_OUT: 'timedOut', ABORTED: 'aborted' };

function move(run: MapRun, child: ChildExecution, from: keyof MapRunCounts, to: keyof MapRunCounts): void {
  run.executionCounts[from]--;
  run.executionCounts[to]++;
  run.itemCounts[from] -= child.itemCount;
  run.itemCounts[to] += child.itemCount;
}

async function runChild(spec: DistributedMapSpec, run: MapRun, child: ChildExecution, host: MapRunHost, signal: AbortSignal): Promise<void> {
  Object.assign(child, { startDate: Date.now(), status: 'RUNNING' });
  move(run, child, 'pending', 'running');
  const outcome = await host.runChild(spec.processor, child.input, child, signal);
  Object.assign(child, { ...outcome, stopDate: Date.now() });
  move(run, child, 'running', COUNTER[outcome.status]);
}

/** Runs the children, at most MaxConcurrency at once; past the tolerance (or on the parent's abort) starts none and aborts the running. */
async function runChildren(spec: DistributedMapSpec, run: MapRun, settings: Settings, host: MapRunHost): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([host.signal, stop.signal]);
  const limit = Math.min(settings.maxConcurrency || LOCAL_CONCURRENCY_CAP, LOCAL_CONCURRENCY_CAP);
  let next = 0;
  const worker = async () => {
    while (!signal.aborted && next < run.executions.length) {
      await runChild(spec, run, run.executions[next++], host, signal);
      if (exceeded(run, settings)) stop.abort();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, run.executions.length) }, worker));
}

/** A child's place in the state's result without ResultWriter: its output; a failed child's, its whole record (as AWS does). */
function outputOf(child: ChildExecution): unknown {
  return child.status === 'SUCCEEDED' ? child.output : resultEntry(child);
}

/** A child as the result files list it (Transformation NONE: its input and output as JSON text, with its metadata). */
function resultEntry(child: ChildExecution): Record<string, unknown> {
  const iso = (t?: number) => (t ? new Date(t).toISOString() : undefined);
  const started = child.status !== 'PENDING';
  return {
    ...(started ? { ExecutionArn: child.executionArn, Name: child.name, StateMachineArn: child.stateMachineArn } : {}),
    Input: JSON.stringify(child.input),
    InputDetails: { Included: true },
    ...(child.status === 'SUCCEEDED' ? { Output: JSON.stringify(child.output), OutputDetails: { Included: true } } : {}),
    ...(child.error !== undefined ? { Error: child.error } : {}),
    ...(child.cause !== undefined ? { Cause: child.cause } : {}),
    ...(started ? { RedriveCount: 0, StartDate: iso(child.startDate), StopDate: iso(child.stopDate) } : {}),
    ...(child.status === 'SUCCEEDED' ? { RedriveStatus: 'NOT_REDRIVABLE', RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven' } : {}),
    ...(started && child.status !== 'SUCCEEDED' ? { RedriveStatus: 'REDRIVABLE_BY_MAP_RUN' } : {}),
    Status: child.status,
  };
}

async function writeRun(spec: DistributedMapSpec, run: MapRun, input: unknown, context: any, host: MapRunHost): Promise<unknown> {
  const files: ResultFiles = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const child of run.executions) {
    const file = child.status === 'SUCCEEDED' ? 'SUCCEEDED' : child.status === 'PENDING' ? 'PENDING' : 'FAILED';
    files[file].push(resultEntry(child));
  }
  try {
    const parameters = await evaluateTemplate(spec.resultWriter!.parameters, input, context);
    const details = await writeResults(host.s3(), parameters, run.mapRunArn, files);
    run.itemCounts.resultsWritten = run.itemCounts.total;
    run.executionCounts.resultsWritten = run.executionCounts.total;
    return details;
  } catch (error) {
    throw statesError('States.ResultWriterFailed', `${spec.stateName}: ${(error as Error).name}: ${(error as Error).message}`);
  }
}

const seconds = (t?: number) => (t ? t / 1000 : undefined);

/** A Map Run as DescribeMapRun answers it. */
export function describeMapRun(run: MapRun): Record<string, unknown> {
  return {
    mapRunArn: run.mapRunArn,
    executionArn: run.executionArn,
    status: run.status,
    startDate: seconds(run.startDate),
    ...(run.stopDate ? { stopDate: seconds(run.stopDate) } : {}),
    maxConcurrency: run.maxConcurrency,
    toleratedFailurePercentage: run.toleratedFailurePercentage,
    toleratedFailureCount: run.toleratedFailureCount,
    itemCounts: { ...run.itemCounts },
    executionCounts: { ...run.executionCounts },
    redriveCount: 0,
  };
}

/** A Map Run as ListMapRuns lists it. */
export function mapRunListItem(run: MapRun): Record<string, unknown> {
  const { executionArn, mapRunArn, stateMachineArn, startDate, stopDate } = run;
  return { executionArn, mapRunArn, stateMachineArn, startDate: seconds(startDate), ...(stopDate ? { stopDate: seconds(stopDate) } : {}) };
}

/** The child executions a Map Run started, as ListExecutions(mapRunArn) lists them. */
export function mapRunExecutions(run: MapRun, statusFilter?: string): Array<Record<string, unknown>> {
  return run.executions
    .filter((e) => e.status !== 'PENDING' && (!statusFilter || e.status === statusFilter))
    .map((e) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      mapRunArn: run.mapRunArn,
      name: e.name,
      status: e.status,
      startDate: seconds(e.startDate),
      ...(e.stopDate ? { stopDate: seconds(e.stopDate) } : {}),
    }));
}
