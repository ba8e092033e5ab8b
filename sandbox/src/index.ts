export { startSandbox, localizeEnvironment } from './sandbox';
export type { Sandbox, SandboxInfo, SandboxOptions, ObjectProcessing } from './sandbox';
export { matchesPattern } from './event-pattern';
export { standInAnalysis, STAND_IN_LABEL } from './bedrock';
export { startLocalPostgres, findServerBinaries, freePort } from './local-postgres';
export type { LocalPostgres, LocalPostgresOptions } from './local-postgres';
