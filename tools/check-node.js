// First step of `npm test` and `npm run sandbox`: the handlers must run on the major of the functions'
// default Lambda runtime (.node-version), never quietly on another one.
const fs = require('fs');
const path = require('path');
const wanted = fs.readFileSync(path.join(__dirname, '..', '.node-version'), 'utf8').trim();
const wantedMajor = wanted.split('.')[0];
const major = process.versions.node.split('.')[0];
if (major !== wantedMajor) {
  console.error(`Node.js ${wantedMajor} is required (the major of the functions' Lambda runtime); this is Node.js ${process.versions.node}.`);
  console.error('Run this once per shell, from the repository root, then the command again:');
  console.error('  source tools/use-node.sh     # installs Node.js ' + wanted + ' from the npm registry into .tools/node when needed');
  process.exit(1);
}
