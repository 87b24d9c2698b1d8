'use strict';
// Spawns the runner like the host does and speaks the frame protocol.
const { spawn } = require('child_process');
const path = require('path');
const os = require('os');

const RUNNER = path.join(__dirname, '..', 'runner.js');

function frame(obj) {
  const body = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

// Starts a runner. Returns { child, frames: Promise-driven queue helpers }.
function start(opts = {}) {
  const env = { ...(opts.env || {}) };
  // RUNNER_SNAPSHOT=<blob> runs every default-runner test from the startup snapshot
  // (npm run test:snapshot) instead of from runner.js's files.
  const snapshot = process.env.RUNNER_SNAPSHOT && !opts.runner && !opts.nodeArgs
    ? ['--snapshot-blob', process.env.RUNNER_SNAPSHOT] : [];
  // RUNNER_LAZY=1 starts every runner with --lazy-modules (npm run test:lazy), as the
  // host does for a one-shot run: from the module table, modules loaded on first use.
  const runnerArgs = opts.runnerArgs || (process.env.RUNNER_LAZY === '1' ? ['--lazy-modules'] : []);
  const child = spawn(process.execPath, [...(opts.nodeArgs || ['--no-addons']), ...snapshot, opts.runner || RUNNER, ...runnerArgs], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
    env,
  });
  const state = { frames: [], waiters: [], buf: Buffer.alloc(0), stdout: '', stderr: '', ended: false };
  const wake = () => {
    const ws = state.waiters; state.waiters = [];
    for (const w of ws) w();
  };
  child.stdio[4].on('data', (d) => {
    state.buf = Buffer.concat([state.buf, d]);
    while (state.buf.length >= 4) {
      const n = state.buf.readUInt32BE(0);
      if (state.buf.length < 4 + n) break;
      const f = JSON.parse(state.buf.subarray(4, 4 + n).toString('utf8'));
      // The result echoes the job's nonce; checked here, then dropped so tests compare content.
      if (f.type === 'result') {
        if (state.nonce !== undefined && f.nonce !== state.nonce) f.nonceMismatch = f.nonce;
        delete f.nonce;
      }
      state.frames.push(f);
      state.buf = state.buf.subarray(4 + n);
    }
    wake();
  });
  child.stdio[4].on('end', () => { state.ended = true; wake(); });
  child.stdout.setEncoding('utf8').on('data', (d) => { state.stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { state.stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const closed = new Promise((resolve) => child.on('close', () => resolve()));
  // next frame (waits)
  let read = 0;
  async function next(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    while (read >= state.frames.length) {
      if (state.ended) throw new Error('event channel closed; stderr: ' + state.stderr);
      if (Date.now() > deadline) throw new Error('timeout waiting for a frame');
      await new Promise((r) => { state.waiters.push(r); setTimeout(r, 50); });
    }
    return state.frames[read++];
  }
  function send(job) {
    if (job !== null && typeof job === 'object' && !('nonce' in job)) job = { nonce: 'test-nonce', ...job };
    if (job !== null && typeof job === 'object') state.nonce = job.nonce;
    child.stdio[3].write(frame(job));
  }
  return { child, state, next, send, exited, closed };
}

// Runs one job end to end; returns { ready, logs, result, frames, stdout, stderr, exit }.
async function runJob(job, opts = {}) {
  const r = start(opts);
  const ready = await r.next();
  if (opts.delayMs) await new Promise((res) => setTimeout(res, opts.delayMs));
  const full = typeof job === 'string'
    ? { code: job, inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20 }
    : { inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20, ...job };
  const t0 = process.hrtime.bigint();
  r.send(full);
  const exit = await r.exited;
  await r.closed;
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const frames = r.state.frames.slice(1);
  return {
    ready,
    frames,
    logs: frames.filter((f) => f.type === 'log'),
    results: frames.filter((f) => f.type === 'result'),
    result: frames.filter((f) => f.type === 'result')[0],
    stdout: r.state.stdout,
    stderr: r.state.stderr,
    exit,
    elapsedMs,
  };
}

module.exports = { RUNNER, frame, start, runJob };
