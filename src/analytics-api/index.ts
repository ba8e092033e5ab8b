export * from './analytics-api-props';
export { AnalyticsApi } from './analytics-api';
export { AnalyticsApiBase } from './analytics-api-base';
