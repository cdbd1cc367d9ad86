// Benchmarks of the JS SDK (a script, not a test): node bench/run.mjs [--quick] [--go] [--rounds N]
//
//   log         cost of client.log (check + enqueue) on the calling thread,
//               next to JSON.stringify of the same record, same run
//   pino        cost per pino logger.info call with the LogFlux transport,
//               next to pino's own pino/file transport and pino.destination,
//               same run, in rounds (default 3, --rounds N) with the order
//               reversed every other round, medians; every record is waited
//               for (the agent stored it, or pino flushed), and each logger's
//               worker is ended before the next one starts
//   throughput  entries/s from the first log call to the agent's flush answer,
//               logged in one synchronous loop, then in bursts of 1,000 with
//               a turn of the event loop between them; with --go, the Go
//               SDK's end-to-end benchmark right after it
//
// Each figure is given as wall time and CPU time: the calling thread's CPU
// (Linux /proc/self/task/PID/schedstat) and, for pino and throughput, the
// whole process's (process.cpuUsage: every thread, pino's workers and the
// garbage collector included). The machine may be shared: the ratios
// between rows measured in the same run are the meaningful part.
//
// It starts the agent itself (LOGFLUX_AGENT_BIN, else ../../bin/logflux-agent)
// on a socket in a temp dir. Figures go to stdout as a table.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createClient } from '@logflux/agent-sdk';
import { Agent, repoRoot } from '../test/helpers/agent.mjs';
import { threadCpu, otherThreadsCpu, newThreadsCpu } from './cpu.mjs';

const quick = process.argv.includes('--quick');
const withGo = process.argv.includes('--go');
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
if (!process.env.LOGFLUX_AGENT_BIN) process.env.LOGFLUX_AGENT_BIN = path.join(repoRoot, 'bin', 'logflux-agent');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** processCpu returns the CPU time of every thread of the process, in ns. */
function processCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/**
 * timed runs fn(i) calls times in bursts of 1000, yielding to the event
 * loop between bursts; returns wall and thread-CPU ns per call of the
 * bursts alone.
 */
async function timed(calls, fn) {
  let ns = 0;
  let cpu = 0;
  for (let done = 0; done < calls; done += 1000) {
    const c0 = threadCpu();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) fn(done + i);
    ns += Number(process.hrtime.bigint() - t0);
    cpu += threadCpu() - c0;
    await tick();
  }
  return { wall: ns / calls, cpu: cpu / calls };
}

/** lineCounter returns a function that counts a growing file's lines, reading only what is new. */
function lineCounter(file) {
  let off = 0;
  let n = 0;
  const buf = Buffer.allocUnsafe(1 << 20);
  return () => {
    let fd;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return n;
    }
    try {
      for (let r; (r = fs.readSync(fd, buf, 0, buf.length, off)) > 0; off += r) {
        const b = buf.subarray(0, r);
        for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
      }
    } finally {
      fs.closeSync(fd);
    }
    return n;
  };
}

async function waitLines(count, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while ((n = count()) < want && Date.now() < deadline) await sleep(100);
  return n;
}

const us = (ns) => (ns / 1000).toFixed(2) + ' µs';
const ratio = (a, b) => (a / b).toFixed(2) + '×';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lfjs-bench-'));
// One file output that does not rotate during the run (the stored entries are counted).
const agent = new Agent(dir, { configYaml: 'outputs:\n  - type: file\n    max_size: 4GiB\n' });
await agent.start();
const rows = [];
const load0 = os.loadavg()[0];
try {
  const N = quick ? 50000 : 200000;

  // client.log: 3 metadata keys, as the Go SDK's benchmark.
  {
    const c = createClient({ address: agent.unixAddress, source: 'bench', maxQueueBytes: 256 << 20 });
    const md = { user: 'ana', region: 'eu', attempt: 3 };
    const rec = (i) => ({ payload: 'hello world ' + i, level: 'info', metadata: md });
    await timed(10000, (i) => c.log(rec(i))); // warm up
    const y0 = await timed(10000, (i) => JSON.stringify({ ...rec(i), timestamp: new Date().toISOString() }));
    const log = await timed(N, (i) => c.log(rec(i)));
    const ok = await c.flush({ timeoutMs: 120000 });
    const s = c.stats();
    await c.close();
    const y = await timed(N, (i) => JSON.stringify({ ...rec(i), timestamp: new Date().toISOString() }));
    void y0;
    rows.push(['`client.log`, payload + 3 metadata keys (calling thread)', `${us(log.wall)} wall, ${us(log.cpu)} CPU`,
      `flush ${ok}, confirmed ${s.confirmed}, dropped ${JSON.stringify(s.dropped)}`]);
    rows.push(['yardstick: `JSON.stringify` of the same record with `toISOString`', `${us(y.wall)} wall, ${us(y.cpu)} CPU`,
      `client.log ${ratio(log.wall, y.wall)} wall, ${ratio(log.cpu, y.cpu)} CPU`]);
  }

  // pino: the same calls through each destination, in rounds; the order
  // of the destinations is reversed every other round, and each figure is
  // the median of the rounds (the spread is in the note).
  {
    const devnull = '/dev/null';
    const mk = {
      logflux: () => pino({ transport: { target: '@logflux/agent-sdk/pino', options: { address: agent.unixAddress, source: 'bench-pino' } } }),
      file: () => pino({ transport: { target: 'pino/file', options: { destination: devnull } } }),
      destination: () => pino(pino.destination({ dest: devnull, sync: false })),
    };
    const names = {
      logflux: 'pino `logger.info`, LogFlux transport, tight loop',
      file: '… pino\'s `pino/file` transport (worker) to /dev/null',
      destination: '… `pino.destination` (main thread) to /dev/null',
    };
    const order = ['logflux', 'file', 'destination'];
    const res = { logflux: [], file: [], destination: [] };
    const stored = lineCounter(agent.entriesPath);
    for (let round = 0; round < rounds; round++) {
      for (const k of round % 2 === 0 ? order : [...order].reverse()) {
        const pre = otherThreadsCpu();
        const logger = mk[k]();
        await sleep(500); // worker up
        const before = stored();
        await timed(10000, () => logger.info('hello world')); // warm up
        const k0 = otherThreadsCpu();
        const p0 = processCpu();
        const t0 = process.hrtime.bigint();
        const r = await timed(N, () => logger.info('hello world'));
        // Until the destination has every record: the agent stored it, or pino flushed.
        if (k === 'logflux') {
          r.stored = (await waitLines(stored, before + N + 10000, 120000)) - before;
        } else {
          await new Promise((resolve) => logger.flush(() => resolve()));
        }
        r.proc = (processCpu() - p0) / N;
        r.done = Number(process.hrtime.bigint() - t0) / N;
        // The threads that started with this logger (pino's worker), CPU per call.
        r.worker = newThreadsCpu(pre, k0, otherThreadsCpu()) / N;
        res[k].push(r);
        const s = logger[pino.symbols.streamSym];
        if (k !== 'destination' && typeof s.end === 'function') {
          await new Promise((resolve) => { s.once('close', resolve); s.end(); });
        }
      }
    }
    const med = (k, f) => median(res[k].map((r) => r[f]));
    const spread = (k) => 'rounds: ' + res[k].map((r) => (r.cpu / 1000).toFixed(2)).join(', ') + ' µs main-thread CPU';
    for (const k of order) {
      const worker = k === 'destination' ? '' : `; pino's worker ${us(med(k, 'worker'))} CPU`;
      rows.push([names[k] + (rounds > 1 ? ` (median of ${rounds} rounds)` : ''),
        `${us(med(k, 'wall'))} wall, ${us(med(k, 'cpu'))} CPU; whole process ${us(med(k, 'proc'))} CPU${worker}`,
        (k === 'logflux' ? '' : `LogFlux ${ratio(med('logflux', 'wall'), med(k, 'wall'))} wall, ${ratio(med('logflux', 'cpu'), med(k, 'cpu'))} CPU, ${ratio(med('logflux', 'proc'), med(k, 'proc'))} process CPU; `) +
        spread(k) + (k !== 'logflux' ? '' : res[k].every((r) => r.stored === N + 10000) ? '; every record stored, every round' : '; stored: ' + res[k].map((r) => r.stored).join(', '))]);
    }
  }

  // Throughput: entries of ~200 bytes, first log call to the agent's flush answer.
  {
    const M = quick ? 100000 : 300000;
    const c = createClient({ address: agent.unixAddress, source: 'bench', maxQueueBytes: 512 << 20 });
    const pad = 'x'.repeat(90);
    const md = { user: 'ana', region: 'eu' };
    const p0 = processCpu();
    const c0 = threadCpu();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < M; i++) c.log({ payload: `entry ${i} ${pad}`, metadata: md });
    const logged = Number(process.hrtime.bigint() - t0);
    const ok = await c.flush({ timeoutMs: 120000 });
    const ns = Number(process.hrtime.bigint() - t0);
    const cpu = threadCpu() - c0;
    const proc = processCpu() - p0;
    const perSec = Math.round(M / (ns / 1e9));
    rows.push([`throughput into the agent (Unix socket, disk queue), ${M.toLocaleString('en')} entries of ~200 B`, `${perSec.toLocaleString('en')} entries/s`,
      `flush ${ok}, confirmed ${c.stats().confirmed}; logging alone ${(logged / 1e6).toFixed(0)} ms; main thread ${us(cpu / M)} CPU/entry, whole process ${us(proc / M)} CPU/entry`]);
    await c.close();

    // The same entries logged in bursts of 1,000 with a turn of the event
    // loop between them, as a server logs while it handles requests: the
    // sender runs between bursts.
    const p = createClient({ address: agent.unixAddress, source: 'bench', maxQueueBytes: 512 << 20 });
    const pp0 = processCpu();
    const pc0 = threadCpu();
    const pt0 = process.hrtime.bigint();
    for (let done = 0; done < M; done += 1000) {
      for (let i = done; i < done + 1000; i++) p.log({ payload: `entry ${i} ${pad}`, metadata: md });
      await tick();
    }
    const pok = await p.flush({ timeoutMs: 120000 });
    const pns = Number(process.hrtime.bigint() - pt0);
    const pcpu = threadCpu() - pc0;
    const pproc = processCpu() - pp0;
    rows.push([`… the same, logged in bursts of 1,000 with a turn of the event loop between`, `${Math.round(M / (pns / 1e9)).toLocaleString('en')} entries/s`,
      `flush ${pok}, confirmed ${p.stats().confirmed}; main thread ${us(pcpu / M)} CPU/entry, whole process ${us(pproc / M)} CPU/entry`]);
    await p.close();
    if (withGo) {
      // The Go SDK's end-to-end benchmark, right after, same entry count.
      const out = execFileSync('go', ['test', '-run', '^$', '-bench', 'EndToEndRealAgent', `-benchtime=${M}x`, '-count=1', '.'], { cwd: path.join(repoRoot, 'sdk', 'go'), encoding: 'utf8' });
      const m = /([\d.]+) entries\/s/.exec(out);
      const goPerSec = m ? Number(m[1]) : NaN;
      rows.push([`Go SDK: \`go test -bench EndToEndRealAgent -benchtime=${M}x\` in sdk/go, right after`, `${Math.round(goPerSec).toLocaleString('en')} entries/s`, `this SDK ${ratio(perSec, goPerSec)} Go`]);
    }
  }
} finally {
  await agent.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model}), load average ${load0.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
