/**
 * Fails the build when a bundled Lambda asset exceeds its budget:
 * 1 MB for the JavaScript bundle, 5 MB for the whole asset folder (with any .wasm it needs).
 */
import * as fs from 'fs';
import * as path from 'path';

const MAX_BUNDLE_BYTES = 1024 * 1024;
const MAX_FOLDER_BYTES = 5 * 1024 * 1024;
const assetsDir = path.join(__dirname, '..', 'assets');

function folderBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const p = path.join(dir, entry.name);
    return sum + (entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size);
  }, 0);
}

const failures: string[] = [];
const functions = fs.existsSync(assetsDir) ? fs.readdirSync(assetsDir).sort() : [];
for (const fn of functions) {
  const dir = path.join(assetsDir, fn);
  const bundle = fs.statSync(path.join(dir, 'index.js')).size;
  const folder = folderBytes(dir);
  console.log(`asset ${fn}: bundle ${(bundle / 1024).toFixed(0)} KB, folder ${(folder / 1024).toFixed(0)} KB`);
  if (bundle > MAX_BUNDLE_BYTES) failures.push(`${fn}: index.js is ${bundle} bytes (budget ${MAX_BUNDLE_BYTES})`);
  if (folder > MAX_FOLDER_BYTES) failures.push(`${fn}: asset folder is ${folder} bytes (budget ${MAX_FOLDER_BYTES})`);
}
if (failures.length > 0) {
  console.error(`Lambda asset size budget exceeded:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
