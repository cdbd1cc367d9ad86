// Benchmarks of the JS SDK (a script, not a test): node bench/run.mjs [--quick]
//
//   log         main-thread cost of client.log (encode + enqueue), agent running
//   pino        main-thread cost per pino logger.info call: the LogFlux transport
//               next to pino's own pino/file transport and pino.destination, same run
//   throughput  entries/s from the first log call to the agent's flush answer
//
// It starts the agent itself (LOGFLUX_AGENT_BIN, else ../../bin/logflux-agent)
// on a socket in a temp dir. Figures go to stdout as a table.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createClient } from '@logflux/agent-sdk';
import { Agent, repoRoot } from '../test/helpers/agent.mjs';

const quick = process.argv.includes('--quick');
if (!process.env.LOGFLUX_AGENT_BIN) process.env.LOGFLUX_AGENT_BIN = path.join(repoRoot, 'bin', 'logflux-agent');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/**
 * timed runs fn(i) calls times in bursts of burst, yielding (or pausing
 * gapMs) between bursts; returns ns per call of the bursts alone.
 */
async function timed(calls, burst, fn, gapMs = 0) {
  let ns = 0;
  for (let done = 0; done < calls; done += burst) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < burst; i++) fn(done + i);
    ns += Number(process.hrtime.bigint() - t0);
    await (gapMs > 0 ? sleep(gapMs) : tick());
  }
  return ns / calls;
}

async function waitForFile(file, lines, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const n = fs.readFileSync(file, 'utf8').split('\n').length - 1;
      if (n >= lines) return;
    } catch { /* not yet */ }
    await sleep(50);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lfjs-bench-'));
const agent = new Agent(dir);
await agent.start();
const rows = [];
try {
  const N = quick ? 50000 : 200000;

  // client.log: 3 metadata keys, as the Go SDK's benchmark.
  {
    const c = createClient({ address: agent.unixAddress, source: 'bench', maxQueueBytes: 256 << 20 });
    const md = { user: 'ana', region: 'eu', attempt: 3 };
    await timed(10000, 1000, (i) => c.log({ payload: 'hello world ' + i, level: 'info', metadata: md })); // warm up
    const ns = await timed(N, 1000, (i) => c.log({ payload: 'hello world ' + i, level: 'info', metadata: md }));
    await c.flush();
    rows.push(['client.log, 3 metadata keys (main thread)', `${ns.toFixed(0)} ns/call`, `dropped ${JSON.stringify(c.stats().dropped)}`]);
    await c.close();
    // Yardstick in the same run: JSON.stringify of the same record.
    const y = await timed(N, 1000, (i) => JSON.stringify({ payload: 'hello world ' + i, level: 'info', timestamp: new Date().toISOString(), metadata: md }));
    rows.push(['yardstick: JSON.stringify of the same record + toISOString', `${y.toFixed(0)} ns/call`, `ratio client.log / yardstick ${(ns / y).toFixed(2)}`]);
  }

  // pino: the same calls through three destinations, in the same run.
  {
    const devnull = '/dev/null';
    const loggers = [
      ['pino + @logflux/agent-sdk/pino transport', pino({ transport: { target: '@logflux/agent-sdk/pino', options: { address: agent.unixAddress, source: 'bench-pino' } } })],
      ['pino + pino/file transport (worker) to /dev/null', pino({ transport: { target: 'pino/file', options: { destination: devnull } } })],
      ['pino + pino.destination (main thread) to /dev/null', pino(pino.destination({ dest: devnull, sync: false }))],
    ];
    await sleep(500); // workers up
    const before = agent.stored().length;
    // Two ways: a tight loop (bursts of 1000, only yielding between them),
    // and bursts of 500 with 20 ms pauses, a rate the workers keep up with.
    let calls = 0;
    for (const [mode, n, burst, gap] of [['tight loop', N, 1000, 0], ['paced', 30000, 500, 20]]) {
      const pinoNs = [];
      for (const [name, logger] of loggers) {
        await timed(10000, 1000, () => logger.info('hello world'));
        const ns = await timed(n, burst, () => logger.info('hello world'), gap);
        calls += n + 10000;
        pinoNs.push(ns);
        rows.push([`${name}, ${mode}`, `${ns.toFixed(0)} ns/call`, pinoNs.length > 1 ? `ratio LogFlux / this ${(pinoNs[0] / ns).toFixed(2)}` : '']);
      }
    }
    for (const [, logger] of loggers) logger.flush?.();
    await waitForFile(agent.entriesPath, before + calls / loggers.length, 120000);
  }

  // Throughput: entries of ~200 bytes, first log call to the agent's flush answer.
  {
    const M = quick ? 100000 : 500000;
    const c = createClient({ address: agent.unixAddress, source: 'bench', maxQueueBytes: 512 << 20 });
    const pad = 'x'.repeat(90);
    const md = { user: 'ana', region: 'eu' };
    const t0 = performance.now();
    for (let i = 0; i < M; i++) c.log({ payload: `entry ${i} ${pad}`, metadata: md });
    const logged = performance.now();
    const ok = await c.flush({ timeoutMs: 120000 });
    const ms = performance.now() - t0;
    rows.push([`throughput into the agent (unix socket, disk queue), ${M} entries ~200 B`, `${Math.round(M / (ms / 1000)).toLocaleString('en')} entries/s`, `flush ${ok}; logging alone ${(logged - t0).toFixed(0)} ms`]);
    await c.close();
  }
} finally {
  await agent.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
