// Public API only: the internal helpers of src/common stay out of it.
export type { LambdaTuning } from './common/lambda-tuning';
export type { AlarmedPipelineConstructProps, PipelineConstructProps } from './common/construct-props';
export { PipelineAwsService } from './common/vpc-endpoints';
export * from './canonical-store';
export * from './ingestion-pipeline';
export * from './monitoring';
export * from './ai-analyzer';
export * from './report-notifier';
export * from './analytics-api';
export * from './async-job-workflow';
