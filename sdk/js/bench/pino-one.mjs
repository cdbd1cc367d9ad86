// One pino destination, one loop, in a process of its own: for profiling
// the application's thread (node --cpu-prof, node --trace-gc) and for
// before/after runs of a single row.
//
//   node bench/pino-one.mjs logflux|file [CALLS] [--max-queue-bytes N]
//
// The loop is bench/run.mjs's: CALLS (default 200,000) logger.info calls in
// bursts of 1,000 with a turn of the event loop between them, after 10,000
// to warm up, until the destination has every record. It prints the main
// thread's CPU per call inside the bursts, its voluntary and involuntary
// context switches, and the largest backlog seen (between bursts) in pino's
// buffer on the main thread: the lines thread-stream could not yet copy into
// the worker's shared buffer because the worker had not read it (thread-stream
// internals: shown as "n/a" if they change); and, until the destination has
// every record, the CPU per call of pino's worker thread and of the agent.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Agent, repoRoot } from '../test/helpers/agent.mjs';
import { threadCpu, otherThreadsCpu, newThreadsCpu } from './cpu.mjs';

const kind = process.argv[2];
const N = Number(process.argv[3] && !process.argv[3].startsWith('--') ? process.argv[3] : 200000);
const mqArg = process.argv.indexOf('--max-queue-bytes');
const transportOptions = { address: '', source: 'bench-pino' };
if (mqArg > 0) transportOptions.maxQueueBytes = Number(process.argv[mqArg + 1]);
if (kind !== 'logflux' && kind !== 'file') {
  console.error('usage: node bench/pino-one.mjs logflux|file [CALLS]');
  process.exit(2);
}
if (!process.env.LOGFLUX_AGENT_BIN) process.env.LOGFLUX_AGENT_BIN = path.join(repoRoot, 'bin', 'logflux-agent');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));
const task = `/proc/self/task/${process.pid}`;
const ticks = 100; // USER_HZ
/** procCpu returns a process's CPU time in ns (from /proc/PID/stat, in 10 ms ticks). */
function procCpu(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(v[11]) + Number(v[12])) * (1e9 / ticks);
}
function switches() {
  const t = fs.readFileSync(`${task}/status`, 'utf8');
  return [Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(t)[1]), Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(t)[1])];
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lfjs-pino-one-'));
const agent = new Agent(dir, { configYaml: 'outputs:\n  - type: file\n    max_size: 4GiB\n' });
await agent.start();
try {
  const pre = otherThreadsCpu();
  const logger = kind === 'file'
    ? pino({ transport: { target: 'pino/file', options: { destination: '/dev/null' } } })
    : pino({ transport: { target: '@logflux/agent-sdk/pino', options: { ...transportOptions, address: agent.unixAddress } } });
  await sleep(500);
  const stream = logger[pino.symbols.streamSym];
  const kImpl = Object.getOwnPropertySymbols(stream).find((s) => String(s) === 'Symbol(kImpl)');
  const backlog = () => (kImpl && typeof stream[kImpl]?.bufLen === 'number' ? stream[kImpl].bufLen : NaN);
  const burst = async (calls, measure) => {
    let cpu = 0;
    let maxBacklog = 0;
    for (let done = 0; done < calls; done += 1000) {
      const c0 = threadCpu();
      for (let i = 0; i < 1000; i++) logger.info('hello world');
      cpu += threadCpu() - c0;
      if (measure) maxBacklog = Math.max(maxBacklog, backlog());
      await tick();
    }
    return { cpu: cpu / calls, maxBacklog };
  };
  await burst(10000, false);
  const a0 = procCpu(agent.proc.pid);
  const w0 = otherThreadsCpu();
  const s0 = switches();
  const r = await burst(N, true);
  const s1 = switches();
  if (kind === 'logflux') {
    const deadline = Date.now() + 120000;
    const stored = () => {
      let b;
      try { b = fs.readFileSync(agent.entriesPath); } catch { return 0; }
      let n = 0;
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
      return n;
    };
    while (stored() < N + 10000 && Date.now() < deadline) await sleep(100);
  } else {
    await new Promise((resolve) => logger.flush(() => resolve()));
  }
  const a1 = procCpu(agent.proc.pid);
  const worker = newThreadsCpu(pre, w0, otherThreadsCpu());
  await new Promise((resolve) => { stream.once('close', resolve); stream.end(); });
  console.log(`${kind}: ${(r.cpu / 1000).toFixed(2)} µs main-thread CPU per call; context switches ${s1[0] - s0[0]} voluntary, ${s1[1] - s0[1]} involuntary; ` +
    `largest backlog in pino's buffer on the main thread ${Number.isNaN(r.maxBacklog) ? 'n/a' : (r.maxBacklog / 1e6).toFixed(1) + ' MB'}; ` +
    `until every record is in: pino's worker ${(worker / N / 1000).toFixed(2)} µs CPU per call` + (kind === 'logflux' ? `, the agent ${((a1 - a0) / N / 1000).toFixed(2)} µs` : ''));
} finally {
  await agent.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
