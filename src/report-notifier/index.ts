export * from './report-notifier-props';
export * from './report-notifier';
export { ReportNotifierBase } from './report-notifier-base';
