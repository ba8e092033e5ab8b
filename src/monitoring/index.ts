export * from './pipeline-monitoring-props';
export * from './pipeline-monitoring';
