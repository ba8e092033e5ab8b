/**
 * The oldest Node.js major the bundled handlers run on: projenrc/bundle-lambdas.ts builds them for
 * it (esbuild `target`), and `lambdaTuning.runtime` refuses older runtimes. No imports, so the
 * bundler reads it without loading aws-cdk-lib.
 */
export const MIN_NODE_MAJOR = 22;
