/**
 * The sandbox's Distributed Map layer, part 1: the definition rewrite, at load time.
 *
 * aws-local-stepfunctions runs inline Map states only (no ItemReader, ItemBatcher, ResultWriter,
 * child executions or tolerated failures). Before a definition reaches it, every Map state whose
 * `ItemProcessor.ProcessorConfig.Mode` is `DISTRIBUTED` (at any depth: in Parallel branches, inline
 * Map iterators and other Distributed Maps' item processors) is replaced by a Task state with the
 * sandbox-private Resource `arn:aws:states:::sandbox:distributedMap`, bound by step-functions.ts to
 * the Map Run runtime (./map-run.ts). The Task keeps the Map state's `InputPath`, `ResultSelector`,
 * `ResultPath`, `OutputPath`, `Retry`, `Catch`, `Next`/`End` and `Comment`, so the interpreter does
 * the path processing, retries (each retry is a new Map Run, as in AWS) and catches. Its only
 * `Parameters` are `{ "Input.$": "$", "Context.$": "$$" }`: the interpreter applies `Parameters`
 * after `InputPath`, so the runtime receives the Map state's effective input and the Context object
 * (a Task handler gets no context otherwise). `ResultSelector` is a Task field the interpreter applies
 * to the handler's result before `ResultPath`, which is where AWS applies a Map state's. The Task gets
 * `TimeoutSeconds` 2147483 (the largest timer Node.js keeps, ~24.8 days): a Map state has no timeout,
 * the interpreter's Task default is 60 s.
 *
 * Scope (anything else is refused here, when the definition is loaded, with
 * "<state>: <field> is not supported by the sandbox's Distributed Map layer"):
 * - JSONPath states only (no `QueryLanguage: JSONata`, `Arguments`, `Output`, `Assign`);
 * - `ItemReader`: `s3:getObject` with `ReaderConfig.InputType` `JSON` (an array), `JSONL` or `CSV`
 *   (`CSVHeaderLocation` `FIRST_ROW` or `GIVEN` + `CSVHeaders`, `CSVDelimiter`), `s3:listObjectsV2`
 *   (without `Transformation`/`InputType`); `MaxItems`/`MaxItemsPath`; `Parameters` (`Bucket`, `Key`,
 *   `VersionId` / `Bucket`, `Prefix`, static or `.$`). No `MANIFEST`/`PARQUET`, no `ItemsPointer`;
 * - without `ItemReader`, the items at `ItemsPath` (default `$`); `ItemsPath` with an `ItemReader` is refused;
 * - `ItemSelector` (or its older name `Parameters`) with `$`, `$$` (`$$.Map.Item.Value`/`Index`) and
 *   intrinsic functions, except `$$.Execution.StartTime` (the interpreter would give the evaluation time);
 * - `ItemBatcher`: `MaxItemsPerBatch(Path)`, `MaxInputBytesPerBatch(Path)`, `BatchInput`;
 * - `ResultWriter`: `s3:putObject` with `Parameters` `Bucket`, `Prefix` (no `WriterConfig`);
 * - `MaxConcurrency(Path)`, `ToleratedFailurePercentage(Path)`, `ToleratedFailureCount(Path)`, `Label`;
 * - `ItemProcessor.ProcessorConfig.ExecutionType` `STANDARD` or `EXPRESS` (both run the same way locally).
 */

/** The Resource of the Task that stands for a Distributed Map state. */
export const DISTRIBUTED_MAP_RESOURCE = 'arn:aws:states:::sandbox:distributedMap';

/** The largest timeout Node.js timers keep (2^31-1 ms), in seconds. */
const NO_TIMEOUT_SECONDS = 2_147_483;

export interface ItemReaderSpec {
  readonly resource: 'getObject' | 'listObjectsV2';
  readonly parameters: Record<string, unknown>;
  readonly readerConfig: Record<string, any>;
}

export interface ItemBatcherSpec {
  readonly maxItemsPerBatch?: number;
  readonly maxItemsPerBatchPath?: string;
  readonly maxInputBytesPerBatch?: number;
  readonly maxInputBytesPerBatchPath?: string;
  readonly batchInput?: unknown;
}

/** A Distributed Map state, as the runtime (./map-run.ts) needs it. */
export interface DistributedMapSpec {
  readonly stateName: string;
  /** `Label`, else the state's name: the Map Run's and its child executions' name part. */
  readonly label: string;
  readonly executionType: 'STANDARD' | 'EXPRESS';
  /** The ItemProcessor as a state machine definition (its own Distributed Maps rewritten too). */
  readonly processor: any;
  readonly itemsPath?: string;
  readonly itemSelector?: unknown;
  readonly itemReader?: ItemReaderSpec;
  readonly itemBatcher?: ItemBatcherSpec;
  readonly resultWriter?: { readonly parameters: Record<string, unknown> };
  readonly maxConcurrency?: number;
  readonly maxConcurrencyPath?: string;
  readonly toleratedFailurePercentage?: number;
  readonly toleratedFailurePercentagePath?: string;
  readonly toleratedFailureCount?: number;
  readonly toleratedFailureCountPath?: string;
}

/** The definition the interpreter runs, and the Distributed Maps it stands for, by state name. */
export interface RewrittenDefinition {
  readonly definition: any;
  readonly maps: Map<string, DistributedMapSpec>;
}

/** Fields the Task keeps from the Map state: the interpreter applies them as AWS applies a Map state's. */
const KEPT = ['Comment', 'InputPath', 'ResultSelector', 'ResultPath', 'OutputPath', 'Retry', 'Catch', 'Next', 'End'];
const MAP_FIELDS = new Set([...KEPT, 'Type', 'ItemsPath', 'ItemSelector', 'Parameters', 'ItemReader', 'ItemBatcher', 'ResultWriter', 'ItemProcessor',
  'MaxConcurrency', 'MaxConcurrencyPath', 'ToleratedFailurePercentage', 'ToleratedFailurePercentagePath',
  'ToleratedFailureCount', 'ToleratedFailureCountPath', 'Label', 'QueryLanguage']);
const S3_READERS: Record<string, { parameters: string[]; readerConfig: string[] }> = {
  getObject: { parameters: ['Bucket', 'Key', 'VersionId'], readerConfig: ['InputType', 'CSVHeaderLocation', 'CSVHeaders', 'CSVDelimiter', 'MaxItems', 'MaxItemsPath'] },
  listObjectsV2: { parameters: ['Bucket', 'Prefix'], readerConfig: ['MaxItems', 'MaxItemsPath'] },
};
const INPUT_TYPES = ['JSON', 'JSONL', 'CSV'];
const CSV_DELIMITERS = ['COMMA', 'PIPE', 'SEMICOLON', 'SPACE', 'TAB'];

export class UnsupportedDistributedMapError extends Error {
  constructor(state: string, field: string, detail?: string) {
    super(`${state}: ${field} is not supported by the sandbox's Distributed Map layer${detail ? ` (${detail})` : ''}`);
    this.name = 'UnsupportedDistributedMapError';
  }
}

/** Whether a state is a Distributed Map. */
export function isDistributedMap(state: any): boolean {
  return state?.Type === 'Map' && state.ItemProcessor?.ProcessorConfig?.Mode === 'DISTRIBUTED';
}

/** Rewrites every Distributed Map of a definition (a copy) into its Task; throws on what the layer does not run. */
export function rewriteDistributedMaps(definition: any): RewrittenDefinition {
  const maps = new Map<string, DistributedMapSpec>();
  const copy = JSON.parse(JSON.stringify(definition ?? {}));
  rewriteStates(copy, maps);
  return { definition: copy, maps };
}

function rewriteStates(machine: any, maps: Map<string, DistributedMapSpec>): void {
  for (const [name, state] of Object.entries<any>(machine?.States ?? {})) {
    for (const branch of state.Branches ?? []) rewriteStates(branch, maps);
    if (isDistributedMap(state)) {
      if (maps.has(name)) throw new Error(`${name}: two Distributed Map states have this name; state names must be unique in a state machine`);
      maps.set(name, specOf(name, state, maps));
      machine.States[name] = taskFor(state);
    } else if (state.Type === 'Map') {
      rewriteStates(state.ItemProcessor ?? state.Iterator, maps);
    }
  }
}

function taskFor(state: any): any {
  const task: any = { Type: 'Task', Resource: DISTRIBUTED_MAP_RESOURCE, Parameters: { 'Input.$': '$', 'Context.$': '$$' }, TimeoutSeconds: NO_TIMEOUT_SECONDS };
  for (const field of KEPT) if (field in state) task[field] = state[field];
  return task;
}

function specOf(name: string, state: any, maps: Map<string, DistributedMapSpec>): DistributedMapSpec {
  const unsupported = (field: string, detail?: string) => new UnsupportedDistributedMapError(name, field, detail);
  for (const field of Object.keys(state)) if (!MAP_FIELDS.has(field)) throw unsupported(field);
  if (state.QueryLanguage !== undefined && state.QueryLanguage !== 'JSONPath') throw unsupported(`QueryLanguage ${state.QueryLanguage}`);
  if (state.ItemSelector !== undefined && state.Parameters !== undefined) throw new Error(`${name}: ItemSelector and Parameters are the same field; give one`);
  if (state.ItemReader !== undefined && state.ItemsPath !== undefined) throw unsupported('ItemsPath with an ItemReader');
  const itemSelector = state.ItemSelector ?? state.Parameters;
  checkTemplate(name, 'ItemSelector', itemSelector);
  const processor = processorOf(name, state.ItemProcessor, maps);
  return {
    stateName: name,
    label: state.Label ?? name,
    executionType: state.ItemProcessor.ProcessorConfig.ExecutionType,
    processor,
    itemsPath: state.ItemsPath,
    itemSelector,
    itemReader: state.ItemReader === undefined ? undefined : itemReaderOf(name, state.ItemReader),
    itemBatcher: state.ItemBatcher === undefined ? undefined : itemBatcherOf(name, state.ItemBatcher),
    resultWriter: state.ResultWriter === undefined ? undefined : resultWriterOf(name, state.ResultWriter),
    maxConcurrency: state.MaxConcurrency,
    maxConcurrencyPath: state.MaxConcurrencyPath,
    toleratedFailurePercentage: state.ToleratedFailurePercentage,
    toleratedFailurePercentagePath: state.ToleratedFailurePercentagePath,
    toleratedFailureCount: state.ToleratedFailureCount,
    toleratedFailureCountPath: state.ToleratedFailureCountPath,
  };
}

function processorOf(name: string, itemProcessor: any, maps: Map<string, DistributedMapSpec>): any {
  const { ProcessorConfig: config, ...processor } = itemProcessor;
  for (const field of Object.keys(processor)) {
    if (!['StartAt', 'States', 'Comment'].includes(field)) throw new UnsupportedDistributedMapError(name, `ItemProcessor.${field}`);
  }
  for (const field of Object.keys(config)) {
    if (!['Mode', 'ExecutionType'].includes(field)) throw new UnsupportedDistributedMapError(name, `ItemProcessor.ProcessorConfig.${field}`);
  }
  if (!['STANDARD', 'EXPRESS'].includes(config.ExecutionType)) {
    throw new Error(`${name}: ItemProcessor.ProcessorConfig.ExecutionType must be STANDARD or EXPRESS for a Distributed Map (got ${JSON.stringify(config.ExecutionType)})`);
  }
  rewriteStates(processor, maps);
  return processor;
}

/** Parameters-style fields: known names (with or without `.$`) only. */
function checkFields(name: string, where: string, value: any, allowed: string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${name}: ${where} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key.replace(/\.\$$/, ''))) throw new UnsupportedDistributedMapError(name, `${where}.${key}`);
  }
}

/** A payload template the runtime evaluates with the interpreter; `$$.Execution.StartTime` would be the evaluation's. */
function checkTemplate(name: string, where: string, template: unknown): void {
  if (template !== undefined && JSON.stringify(template).includes('$$.Execution.StartTime')) {
    throw new UnsupportedDistributedMapError(name, `${where} with $$.Execution.StartTime`);
  }
}

function itemReaderOf(name: string, reader: any): ItemReaderSpec {
  const unsupported = (field: string, detail?: string) => new UnsupportedDistributedMapError(name, field, detail);
  checkFields(name, 'ItemReader', reader, ['Resource', 'Parameters', 'ReaderConfig']);
  const resource = /^arn:aws[a-z-]*:states:::s3:(getObject|listObjectsV2)$/.exec(reader.Resource ?? '')?.[1] as ItemReaderSpec['resource'] | undefined;
  if (!resource) throw unsupported(`ItemReader.Resource ${reader.Resource}`, 'only s3:getObject and s3:listObjectsV2');
  const allowed = S3_READERS[resource];
  const readerConfig = reader.ReaderConfig ?? {};
  checkFields(name, 'ItemReader.Parameters', reader.Parameters ?? {}, allowed.parameters);
  checkFields(name, 'ItemReader.ReaderConfig', readerConfig, allowed.readerConfig);
  checkTemplate(name, 'ItemReader.Parameters', reader.Parameters);
  if (resource === 'getObject') {
    if (!INPUT_TYPES.includes(readerConfig.InputType)) throw unsupported(`ItemReader.ReaderConfig.InputType ${readerConfig.InputType}`, `s3:getObject reads ${INPUT_TYPES.join(', ')}`);
    if (readerConfig.CSVHeaderLocation !== undefined && !['FIRST_ROW', 'GIVEN'].includes(readerConfig.CSVHeaderLocation)) {
      throw unsupported(`ItemReader.ReaderConfig.CSVHeaderLocation ${readerConfig.CSVHeaderLocation}`);
    }
    if (readerConfig.CSVHeaderLocation === 'GIVEN' && !Array.isArray(readerConfig.CSVHeaders)) throw new Error(`${name}: ItemReader.ReaderConfig.CSVHeaders must list the columns when CSVHeaderLocation is GIVEN`);
    if (readerConfig.CSVDelimiter !== undefined && !CSV_DELIMITERS.includes(readerConfig.CSVDelimiter)) {
      throw unsupported(`ItemReader.ReaderConfig.CSVDelimiter ${readerConfig.CSVDelimiter}`);
    }
  }
  return { resource, parameters: reader.Parameters ?? {}, readerConfig };
}

function itemBatcherOf(name: string, batcher: any): ItemBatcherSpec {
  checkFields(name, 'ItemBatcher', batcher, ['MaxItemsPerBatch', 'MaxItemsPerBatchPath', 'MaxInputBytesPerBatch', 'MaxInputBytesPerBatchPath', 'BatchInput']);
  const limits = [batcher.MaxItemsPerBatch, batcher.MaxItemsPerBatchPath, batcher.MaxInputBytesPerBatch, batcher.MaxInputBytesPerBatchPath];
  if (limits.every((v) => v === undefined)) {
    throw new Error(`${name}: ItemBatcher needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)`);
  }
  checkTemplate(name, 'ItemBatcher.BatchInput', batcher.BatchInput);
  return {
    maxItemsPerBatch: batcher.MaxItemsPerBatch,
    maxItemsPerBatchPath: batcher.MaxItemsPerBatchPath,
    maxInputBytesPerBatch: batcher.MaxInputBytesPerBatch,
    maxInputBytesPerBatchPath: batcher.MaxInputBytesPerBatchPath,
    batchInput: batcher.BatchInput,
  };
}

function resultWriterOf(name: string, writer: any): { parameters: Record<string, unknown> } {
  checkFields(name, 'ResultWriter', writer, ['Resource', 'Parameters']);
  if (!/^arn:aws[a-z-]*:states:::s3:putObject$/.test(writer.Resource ?? '')) {
    throw new UnsupportedDistributedMapError(name, `ResultWriter.Resource ${writer.Resource}`, 'only s3:putObject');
  }
  checkFields(name, 'ResultWriter.Parameters', writer.Parameters ?? {}, ['Bucket', 'Prefix']);
  checkTemplate(name, 'ResultWriter.Parameters', writer.Parameters);
  return { parameters: writer.Parameters ?? {} };
}
