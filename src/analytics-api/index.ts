export * from './analytics-api-props';
export { AnalyticsApi } from './analytics-api';
