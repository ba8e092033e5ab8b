/**
 * The operation registry: the built-in operations and the user-defined ones from the environment.
 * Exported for the async job runner (issue 5), which runs the same operations as jobs.
 */
import { customComplexQuery } from './custom-query';
import { customerAnalysis } from './customer-analysis';
import { dataIntegrityAnalysis } from './data-integrity';
import { databaseInfo } from './database-info';
import { multiDimensionalAnalytics } from './multi-dimensional';
import { relationshipAnalysis } from './relationship-analysis';
import { revenueAnalysis } from './revenue-analysis';
import { simpleDemo } from './simple-demo';
import type { OperationDefinition } from './types';
import { brokenOperation, buildUserOperation, readUserOperationSpecs } from './user-defined';

export * from './types';

export const BUILT_IN_OPERATIONS: readonly OperationDefinition[] = [
  simpleDemo,
  databaseInfo,
  customerAnalysis,
  revenueAnalysis,
  multiDimensionalAnalytics,
  relationshipAnalysis,
  dataIntegrityAnalysis,
  customComplexQuery,
];

const registry = new Map<string, OperationDefinition>(BUILT_IN_OPERATIONS.map((op) => [op.name, op]));
let userOperations: Promise<void> | undefined;

/**
 * Loads the user-defined operations once per execution environment. A broken declaration does not
 * take the API down: that one operation answers 500 with the reason, and the problem is logged.
 */
export function loadUserOperations(log: (message: string, details: Record<string, unknown>) => void = () => undefined): Promise<void> {
  userOperations ??= (async () => {
    let specs;
    try {
      specs = readUserOperationSpecs();
    } catch (error) {
      log('Cannot read the user-defined operations', { error: (error as Error).message });
      return;
    }
    const reserved = new Set(BUILT_IN_OPERATIONS.map((op) => op.name));
    for (const spec of specs) {
      const name = typeof spec?.name === 'string' ? spec.name : '';
      try {
        registry.set(name, await buildUserOperation(spec, reserved));
      } catch (error) {
        log('Invalid user-defined operation', { operation: name, error: (error as Error).message });
        if (name && !reserved.has(name)) registry.set(name, brokenOperation(name, (error as Error).message));
      }
    }
  })();
  return userOperations;
}

/** The operation of that name, or undefined. Call loadUserOperations() first to include user-defined ones. */
export function getOperation(name: string): OperationDefinition | undefined {
  return registry.get(name);
}

/** Every operation (name, description, long-running flag, parameter schema), for docs and discovery. */
export function listOperations(): ReadonlyArray<Pick<OperationDefinition, 'name' | 'description' | 'longRunning' | 'parameterSchema'>> {
  return [...registry.values()].map(({ name, description, longRunning, parameterSchema }) => ({ name, description, longRunning, parameterSchema }));
}

/** For tests: forget the user-defined operations so the next load reads the environment again. */
export function resetUserOperations(): void {
  userOperations = undefined;
  for (const name of [...registry.keys()]) if (!BUILT_IN_OPERATIONS.some((op) => op.name === name)) registry.delete(name);
}
