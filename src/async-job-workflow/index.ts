export * from './async-job-workflow-props';
export { AsyncJobWorkflow } from './async-job-workflow';
export { AsyncJobWorkflowBase } from './async-job-workflow-base';
