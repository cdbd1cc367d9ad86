// The client against the real agent binary: Unix socket and TCP, agent
// restarts mid-stream, a refused secret, a full queue, the fallback file
// replayed with `logflux-agent send --file`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createClient, metric } from '../src/index.js';
import { startAgent, newAgent, tempDir, byPayload, agentBin, freePort, SECRET } from './helpers/agent.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fallbackLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

for (const transport of ['unix', 'tcp']) {
  test(`${transport}: entries arrive with their fields, confirmed by the agent's flush`, async (t) => {
    const agent = await startAgent(t, { tcp: transport === 'tcp' });
    const opts = transport === 'tcp' ? { address: agent.tcpAddress, sharedSecret: SECRET } : { address: agent.unixAddress };
    const c = createClient({ ...opts, source: 'checkout' });
    t.after(() => c.close());
    c.log({ payload: 'order placed', level: 'warning', type: 'audit', timestamp: new Date('2025-08-31T10:30:00.5Z'), payloadType: 'application', metadata: { orderId: '42', quote: '"x"', n: 7 } });
    c.log(metric('queue.depth', 42));
    const N = 3000;
    for (let i = 0; i < N; i++) c.log({ payload: `bulk ${i}`, metadata: { i } });
    assert.equal(await c.flush(), true);
    const got = byPayload(await agent.waitStored(N + 2));
    assert.equal(got.size, N + 2);
    const e = got.get('order placed');
    assert.deepEqual([e.entryType, e.logLevel, e.source, e.payloadType, e.timestamp], [5, 5, 'checkout', 'application', '2025-08-31T10:30:00.5Z']);
    assert.deepEqual(e.metadata, { orderId: '42', quote: '"x"', n: '7' });
    assert.equal(got.get('{"name":"queue.depth","value":42}').entryType, 2);
    const s = c.stats();
    assert.equal(s.confirmed, N + 2);
    assert.equal(s.queued, 0);
    assert.equal(s.connections, 1);
    assert.deepEqual(s.rejected, {});
    assert.ok(s.sent >= N + 2);
  });
}

test('entries the agent refuses are counted by its error code, the others delivered', async (t) => {
  const agent = await startAgent(t);
  const c = createClient({ address: agent.unixAddress, source: 's' });
  t.after(() => c.close());
  c.log('good 1');
  c.log({ payload: 'bad', timestamp: '2025-08-31T10:30:00Z', metadata: { ['k'.repeat(10)]: 'v' } });
  c.log('good 2');
  assert.equal(await c.flush(), true);
  assert.equal((await agent.waitStored(3)).length, 3);
});

for (const transport of ['unix', 'tcp']) test(`${transport}: agent restart mid-stream: nothing is lost`, async (t) => {
  const agent = await startAgent(t, { tcp: transport === 'tcp' });
  const errors = [];
  const address = transport === 'tcp' ? { address: agent.tcpAddress, sharedSecret: SECRET } : { address: agent.unixAddress };
  const c = createClient({ ...address, minBackoffMs: 20, maxBackoffMs: 200, onError: (e) => errors.push(e) });
  t.after(() => c.close());
  let i = 0;
  const logSome = (n) => { for (let k = 0; k < n; k++) c.log(`entry ${i++}`); };
  logSome(500);
  for (const deadline = Date.now() + 10000; c.stats().connections === 0 && Date.now() < deadline;) await sleep(10);
  assert.equal(c.stats().connections, 1, 'connected before the restart');
  logSome(500);
  // Stop the agent while batches are on the wire.
  const stopping = agent.stop();
  logSome(500);
  await stopping;
  logSome(500);
  assert.equal(await c.flush({ timeoutMs: 3000 }), false, 'flush while the agent is down');
  assert.equal(c.stats().connections, 0);
  await agent.start();
  logSome(500);
  assert.equal(await c.flush(), true);
  const got = byPayload(await agent.waitStored(i));
  for (let k = 0; k < i; k++) assert.ok(got.has(`entry ${k}`), `entry ${k} lost`);
  const s = c.stats();
  assert.ok(s.connectionsOpened >= 2);
  assert.ok(s.dialFailures >= 1);
  assert.ok(errors.length >= 1, 'onError told about the lost agent');
  assert.equal(s.queued, 0);
});

test('refused secret: reported once, no reconnect storm, entries kept for the fallback', async (t) => {
  const agent = await startAgent(t, { tcp: true });
  const dir = tempDir(t);
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const errors = [];
  const c = createClient({ address: agent.tcpAddress, sharedSecret: 'not-the-secret-0123456789abcdef!!', fallbackFile, onError: (e) => errors.push(e) });
  assert.equal(c.log('should not pass'), true);
  assert.equal(await c.flush({ timeoutMs: 5000 }), false);
  const s = c.stats();
  assert.equal(s.lastError.code, 'auth_failed');
  assert.equal(s.queued, 1, 'the entry is kept, not dropped');
  await sleep(500);
  assert.ok(c.stats().dialFailures <= 2, `dial failures ${c.stats().dialFailures}: a refused secret must not be retried in a loop`);
  assert.equal(errors.filter((e) => e.code === 'auth_failed').length, 1);
  await c.close();
  assert.deepEqual(fallbackLines(fallbackFile).map((e) => e.payload), ['should not pass']);
  assert.equal(agent.stored().length, 0);
});

test('full queue: the newest are dropped and counted by default; the rest arrive once the agent is up', async (t) => {
  const dir = tempDir(t);
  const agent = newAgent(t, dir);
  const errors = [];
  const c = createClient({ address: agent.unixAddress, maxQueueBytes: 64 << 10, onError: (e) => errors.push(e) });
  t.after(() => c.close());
  const results = [];
  for (let i = 0; i < 2000; i++) results.push(c.log({ payload: `entry ${i} ` + 'x'.repeat(100) }));
  const s = c.stats();
  const kept = results.filter(Boolean).length;
  assert.ok(kept > 100 && kept < 2000, `kept ${kept}`);
  assert.equal(s.dropped.queue_full, 2000 - kept);
  assert.ok(s.queuedBytes <= 64 << 10);
  assert.equal(results.indexOf(false), kept, 'the first ones are kept, the newest dropped');
  assert.equal(errors.filter((e) => /queue full/.test(e.message)).length, 1, 'reported once');
  await agent.start();
  assert.equal(await c.flush(), true);
  const got = byPayload(await agent.waitStored(kept));
  assert.equal(got.size, kept);
  assert.ok(got.has(`entry 0 ${'x'.repeat(100)}`));
});

test('full queue with dropPolicy oldest: the oldest are dropped, the newest kept', async (t) => {
  const dir = tempDir(t);
  const agent = newAgent(t, dir);
  const c = createClient({ address: agent.unixAddress, maxQueueBytes: 64 << 10, dropPolicy: 'oldest' });
  t.after(() => c.close());
  for (let i = 0; i < 2000; i++) assert.equal(c.log(`entry ${i}`), true);
  const dropped = c.stats().dropped.queue_full;
  assert.ok(dropped > 0 && dropped < 2000);
  await agent.start();
  assert.equal(await c.flush(), true);
  const got = byPayload(await agent.waitStored(2000 - dropped));
  assert.equal(got.size, 2000 - dropped);
  assert.ok(got.has('entry 1999') && !got.has('entry 0'));
});

test('full queue with a fallback file: overflow goes to the file, nothing is lost', async (t) => {
  const dir = tempDir(t);
  const agent = newAgent(t, dir);
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const c = createClient({ address: agent.unixAddress, maxQueueBytes: 64 << 10, fallbackFile });
  // Bursts of 100, each once the fallback writer has caught up with the
  // last (what waits for the file is bounded by maxQueueBytes too, and a
  // loaded machine may take long to fsync).
  for (let i = 0; i < 2000; i++) {
    c.log({ payload: `entry ${i}`, level: 'notice' });
    if (i % 100 === 99) {
      const deadline = Date.now() + 10000;
      for (let s = c.stats(); s.queued + s.fallback < i + 1 && Date.now() < deadline; s = c.stats()) await sleep(5);
    }
  }
  assert.deepEqual(c.stats().dropped, {});
  await agent.start();
  await c.flush();
  await c.close();
  const s = c.stats();
  assert.ok(s.fallback > 0, 'overflow went to the fallback file');
  assert.equal(s.confirmed + s.fallback, 2000, JSON.stringify(s));
  assert.deepEqual(s.dropped, {});
  await agent.waitStored(s.confirmed);
  // Replay the fallback file into the agent: everything is there.
  execFileSync(agentBin(), ['send', '--addr', agent.unixAddress, '--file', fallbackFile]);
  const all = byPayload(await agent.waitStored(2000));
  for (let i = 0; i < 2000; i++) assert.equal(all.get(`entry ${i}`)?.logLevel, 6, `entry ${i}`);
});

test('agent down for fallbackAfterMs: queued entries go to the fallback file and replay', async (t) => {
  const dir = tempDir(t);
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const c = createClient({ address: 'unix://' + path.join(dir, 'absent.sock'), fallbackFile, fallbackAfterMs: 200, minBackoffMs: 20, maxBackoffMs: 100 });
  for (let i = 0; i < 150; i++) c.log({ payload: `offline ${i}`, level: 'warning', metadata: { i } });
  const deadline = Date.now() + 10000;
  while (c.stats().fallback < 150 && Date.now() < deadline) await sleep(20);
  assert.equal(c.stats().fallback, 150);
  assert.equal(c.stats().queued, 0);
  await c.close();
  const agent = await startAgent(t, { dir: path.join(dir, 'agent') });
  execFileSync(agentBin(), ['send', '--addr', agent.unixAddress, '--file', fallbackFile]);
  const got = byPayload(await agent.waitStored(150));
  for (let i = 0; i < 150; i++) assert.equal(got.get(`offline ${i}`)?.metadata.i, String(i));
});

test('the agent answers queue_full: batches are sent again after a backoff, what it took is confirmed, nothing is lost', async (t) => {
  const dir = tempDir(t);
  // A small agent queue that cannot drain: its LogFlux output points at a
  // closed loopback port, and an entry leaves the queue only once every
  // output has it.
  const closedPort = await freePort();
  const stalled = `limits:\n  max_line_bytes: 64KiB\nqueue:\n  max_bytes: 160KiB\noutputs:\n  - type: file\n  - type: logflux\n    api_key: eu-lf_0123456789abcdef0123456789abcdef\n    endpoint: http://127.0.0.1:${closedPort}\n`;
  let agent = newAgent(t, dir, { configYaml: stalled });
  await agent.start();
  const c = createClient({ address: agent.unixAddress, batchBytes: 16384, maxQueueBytes: 1 << 20, minBackoffMs: 20, maxBackoffMs: 300 });
  t.after(() => c.close());
  for (let i = 0; i < 3000; i++) assert.equal(c.log(`entry ${i} ${'x'.repeat(100)}`), true);
  assert.equal(await c.flush({ timeoutMs: 2000 }), false, 'the agent cannot take everything');
  const s = c.stats();
  assert.ok(s.retries.queue_full > 0, JSON.stringify(s));
  assert.ok(s.confirmed > 0 && s.confirmed < 3000, `what the agent took is confirmed while it is full: ${s.confirmed}`);
  assert.equal(s.confirmed + s.queued, 3000, 'the refused batches are kept to be sent again');
  assert.deepEqual(s.dropped, {});
  // The same agent and disk queue, without the stalled output: it drains, and the client's retries get through.
  await agent.stop();
  agent = newAgent(t, dir);
  await agent.start();
  assert.equal(await c.flush({ timeoutMs: 30000 }), true);
  const got = byPayload(await agent.waitStored(3000));
  for (let i = 0; i < 3000; i++) assert.ok(got.has(`entry ${i} ${'x'.repeat(100)}`), `entry ${i}`);
});

test('a batch longer than the agent\'s line limit is split and sent again', async (t) => {
  const agent = await startAgent(t, { configYaml: 'limits:\n  max_line_bytes: 64KiB\nqueue:\n  max_bytes: 1MiB\n' });
  const c = createClient({ address: agent.unixAddress, batchBytes: 256 << 10, maxQueueBytes: 2 << 20 });
  t.after(() => c.close());
  for (let i = 0; i < 100; i++) c.log(`entry ${i} ${'y'.repeat(2000)}`); // one batch of ~200 KiB
  assert.equal(await c.flush(), true);
  const s = c.stats();
  assert.ok(s.retries.split >= 1, JSON.stringify(s));
  assert.deepEqual(s.rejected, {});
  assert.equal(byPayload(await agent.waitStored(100)).size, 100);
});

test('a long synchronous burst is sent while it runs, and arrives whole', async (t) => {
  const agent = await startAgent(t);
  const c = createClient({ address: agent.unixAddress, source: 'burst', maxQueueBytes: 64 << 20 });
  t.after(() => c.close());
  c.log('connect');
  assert.equal(await c.flush(), true);
  // 20,000 entries without yielding to the event loop: the sender cannot
  // run, so log() writes the batches itself once 20 wait.
  const N = 20000;
  for (let i = 0; i < N; i++) c.log({ payload: `burst ${i}`, metadata: { i } });
  const sentDuringBurst = c.stats().sent;
  assert.ok(sentDuringBurst >= 10000, `sent while the burst ran: ${sentDuringBurst} of ${N}`);
  assert.equal(await c.flush(), true);
  const got = byPayload(await agent.waitStored(N + 1));
  for (let i = 0; i < N; i++) assert.equal(got.get(`burst ${i}`)?.metadata.i, String(i), `burst ${i}`);
  assert.equal(c.stats().confirmed, N + 1);
});

test('agent away during a synchronous burst: the batches encoded meanwhile reach the fallback file whole and in order', async (t) => {
  const dir = tempDir(t);
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const c = createClient({ address: 'unix://' + path.join(dir, 'absent.sock'), fallbackFile, maxQueueBytes: 16 << 20 });
  // More than 20 batches wait, so log() encodes them as it seals them;
  // text beyond ASCII checks where each entry ends in the encoded batch.
  const N = 5000;
  for (let i = 0; i < N; i++) c.log({ payload: i % 7 === 0 ? `ünïcödé ${i} 🚀` : `plain ${i}`, metadata: { i, note: i % 3 === 0 ? 'naïve "quoted"' : 'x' } });
  await c.close();
  const s = c.stats();
  assert.equal(s.fallback, N, JSON.stringify(s));
  assert.deepEqual(s.dropped, {});
  const lines = fallbackLines(fallbackFile);
  assert.equal(lines.length, N);
  for (let i = 0; i < N; i++) {
    assert.equal(lines[i].payload, i % 7 === 0 ? `ünïcödé ${i} 🚀` : `plain ${i}`, `line ${i}`);
    assert.deepEqual(lines[i].metadata, { i: String(i), note: i % 3 === 0 ? 'naïve "quoted"' : 'x' });
  }
});
