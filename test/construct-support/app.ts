/**
 * Test apps that write their cloud assembly to a temporary directory (no cdk.out left in the
 * repository), removed by `removeTestAppDirs()` (call it in `afterAll`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, AppProps, Stack, StackProps } from 'aws-cdk-lib';

const dirs: string[] = [];

/** An App whose outdir is a fresh temporary directory. */
export function createTestApp(props: AppProps = {}): App {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-test-'));
  dirs.push(outdir);
  return new App({ ...props, outdir });
}

/** A Stack (env-agnostic unless `props.env` is given) in a new test App. */
export function createTestStack(id = 'TestStack', props: StackProps = {}): Stack {
  return new Stack(createTestApp(), id, props);
}

/** Removes the output directories of the test apps created so far. */
export function removeTestAppDirs(): void {
  while (dirs.length > 0) {
    fs.rmSync(dirs.pop()!, { recursive: true, force: true });
  }
}
