'use strict';
// npm run test:snapshot: builds the runner's startup snapshot into a temp dir
// (with the flags the harness runs node with) and runs the whole test suite
// from it, then removes it.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-snapshot-test-'));
let status = 1;
try {
  const blob = path.join(dir, 'runner.blob');
  const build = spawnSync(process.execPath,
    ['--no-addons', '--snapshot-blob', blob, '--build-snapshot', path.join(__dirname, '..', 'snapshot.js')],
    { env: {}, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('building the snapshot failed');
  // (Node >= 22 takes files or globs, not a directory.)
  const testDir = path.join(__dirname, '..', 'test');
  const tests = fs.readdirSync(testDir).filter((f) => f.endsWith('.test.js')).map((f) => path.join(testDir, f));
  const run = spawnSync(process.execPath, ['--test', ...tests],
    { env: { ...process.env, RUNNER_SNAPSHOT: blob }, stdio: 'inherit' });
  status = run.status;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
