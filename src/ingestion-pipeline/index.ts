export * from './source-definition';
export * from './built-in-sources';
export * from './ingestion-pipeline-props';
export * from './ingestion-pipeline';
export { IngestionPipelineBase } from './ingestion-pipeline-base';
