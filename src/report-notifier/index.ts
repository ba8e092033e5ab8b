export * from './report-notifier-props';
export * from './report-notifier';
