// The pino transport with the real pino: a child process logs through
// '@logflux/agent-sdk/pino' (pino's worker thread) and returns; pino's own
// worker shutdown completes the transport's flush.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { startAgent, byPayload, sdkDir } from './helpers/agent.mjs';

const run = promisify(execFile);

test('pino: every record arrives with mapped levels, fields as metadata, err with its stack', async (t) => {
  const agent = await startAgent(t);
  const N = 5000;
  const { stderr } = await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N)], { timeout: 60000 });
  assert.equal(stderr, '');
  const got = byPayload(await agent.waitStored(N + 6, 5000));
  assert.equal(got.size, N + 6);
  const levels = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, got.get(`at ${l}`).logLevel]));
  assert.deepEqual(levels, { trace: 8, debug: 8, info: 7, warn: 5, error: 4, fatal: 3 });
  const info = got.get('at info');
  assert.equal(info.source, 'pino-child');
  assert.equal(info.metadata['req.method'], 'GET');
  assert.equal(info.metadata['req.url'], '/x');
  assert.equal(info.metadata.user, 'ana');
  assert.match(info.metadata.pid, /^\d+$/);
  const err = got.get('at error').metadata;
  assert.equal(err['err.message'], 'boom');
  assert.equal(err['err.type'], 'Error');
  assert.match(err['err.stack'], /^Error: boom\n\s+at /);
  for (let i = 0; i < N; i += 997) assert.equal(got.get(`bulk ${i}`)?.metadata.i, String(i));
});

test('pino and process.exit(): pino ends its worker at exit, and the transport delivers everything first', async (t) => {
  const agent = await startAgent(t);
  const N = 5000;
  await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N), 'exit'], { timeout: 60000 });
  const got = byPayload(await agent.waitStored(N + 6, 5000));
  assert.equal(got.size, N + 6);
});

test('pino: a burst many times the queue\'s size arrives whole (the transport waits for the sender, it does not drop)', async (t) => {
  const agent = await startAgent(t);
  const N = 30000; // ~7 MB of records, pino hands them over up to 4 MiB at a time; the queue holds 256 KiB
  await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N), 'return', String(256 << 10)], { timeout: 120000 });
  const got = byPayload(await agent.waitStored(N + 6, 15000));
  assert.equal(got.size, N + 6);
});

// The transport's stream as pino's worker drives it: text in chunks that
// cut lines anywhere; the worker takes the next chunk once the stream called
// back for this one.
const require = createRequire(import.meta.url);
const logfluxTransport = require('../src/pino.js');
const pinoLine = (i, extra = '') => JSON.stringify({ level: 30, time: 1733500000000 + i, pid: 1, hostname: 'h', i, msg: `line ${i}${extra}` }) + '\n';
const writeCb = (dest, chunk) => new Promise((resolve) => dest.write(chunk, resolve));
const closed = (dest) => new Promise((resolve) => { dest.once('close', resolve); dest.end(); });

test('pino stream: lines cut across chunks, CRLF, and lines that are not records', async (t) => {
  const agent = await startAgent(t);
  const dest = await logfluxTransport({ address: agent.unixAddress, source: 'cuts' });
  let text = '';
  for (let i = 0; i < 2000; i++) text += pinoLine(i);
  text += 'not json\n\n' + JSON.stringify({ level: 40, msg: 'crlf' }) + '\r\n' + '42\n' + 'null\n' + JSON.stringify({ level: 50, msg: 'last, no newline' });
  for (let off = 0; off < text.length; off += 777) await writeCb(dest, text.slice(off, off + 777));
  await closed(dest);
  const got = byPayload(await agent.waitStored(2003, 5000));
  assert.equal(got.size, 2003);
  for (let i = 0; i < 2000; i += 7) assert.equal(got.get(`line ${i}`)?.metadata.i, String(i));
  assert.equal(got.get('crlf').logLevel, 5);
  assert.equal(got.get('last, no newline').logLevel, 4);
  assert.equal(got.get('(empty)').metadata.data, '42'); // a JSON value that is not an object, as pino-abstract-transport
});

test('pino stream: while the agent does not answer, the transport takes pino\'s text up to maxQueueBytes, then holds pino back; nothing is lost', async (t) => {
  const agent = await startAgent(t);
  const maxQueueBytes = 64 << 10;
  const dest = await logfluxTransport({ address: agent.unixAddress, source: 'hold', maxQueueBytes });
  await writeCb(dest, pinoLine(-1));
  await agent.waitStored(1, 5000); // connected
  agent.proc.kill('SIGSTOP');
  t.after(() => agent.proc?.kill('SIGCONT'));
  const N = 20000;
  const chunks = [];
  for (let c = 0; c < N; c += 100) {
    let s = '';
    for (let i = c; i < c + 100; i++) s += pinoLine(i, ' padding to make the line longer');
    chunks.push(s);
  }
  let taken = 0;
  const all = chunks.map((s) => new Promise((resolve) => dest.write(s, () => { taken += s.length; resolve(); })));
  await new Promise((r) => setTimeout(r, 500));
  // The queue waits at half of maxQueueBytes (estimated bytes, a little more than the text);
  // the transport holds up to maxQueueBytes of text besides, then calls pino back no more.
  assert.ok(taken >= maxQueueBytes, `took ${taken} characters, want at least ${maxQueueBytes}`);
  assert.ok(taken <= maxQueueBytes + maxQueueBytes / 2 + 2 * chunks[0].length, `took ${taken} characters of ${chunks.length * chunks[0].length}`);
  agent.proc.kill('SIGCONT');
  await Promise.all(all);
  await closed(dest);
  const got = byPayload(await agent.waitStored(N + 1, 30000));
  assert.equal(got.size, N + 1);
});
