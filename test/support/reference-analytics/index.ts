/**
 * The pre-issue-18 built-in operations (copies of their modules at b923fd0), by name: the
 * reference of the analytics equivalence test. Run them with their SQL passed through toPinned().
 */
import { customerAnalysis } from './customer-analysis';
import { dataIntegrityAnalysis } from './data-integrity';
import { databaseInfo } from './database-info';
import { multiDimensionalAnalytics } from './multi-dimensional';
import { relationshipAnalysis } from './relationship-analysis';
import { revenueAnalysis } from './revenue-analysis';
import { simpleDemo } from './simple-demo';
import type { OperationDefinition } from '../../../lambda/analytics-api/operations/types';

export { createPinnedViews, PINNED_VIEWS, pinnedView, toPinned } from './pinned-views';

export const REFERENCE_OPERATIONS: ReadonlyMap<string, OperationDefinition> = new Map(
  [simpleDemo, databaseInfo, customerAnalysis, revenueAnalysis, multiDimensionalAnalytics, relationshipAnalysis, dataIntegrityAnalysis]
    .map((op) => [op.name, op]),
);
