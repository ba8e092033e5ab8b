export * from './async-job-workflow-props';
export { AsyncJobWorkflow } from './async-job-workflow';
