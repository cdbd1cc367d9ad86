// Unit tests of the wire code, options, and record mapping: no agent needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import wire from '../src/wire.js';
import mapping from '../src/mapping.js';
import { createClient, metric, trace, event, audit } from '../src/index.js';

test('encodeEntry writes the Agent API fields with defaults', () => {
  const e = JSON.parse(wire.encodeEntry({ payload: 'hi' }, 'svc'));
  assert.equal(e.payload, 'hi');
  assert.equal(e.entryType, 1);
  assert.equal(e.logLevel, 7);
  assert.equal(e.source, 'svc');
  assert.match(e.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.equal(e.payloadType, undefined);
  assert.equal(e.metadata, undefined);
});

test('levels and types by name or number', () => {
  const names = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'info', 'debug'];
  names.forEach((n, i) => {
    assert.equal(JSON.parse(wire.encodeEntry({ payload: 'x', level: n }, 's')).logLevel, i + 1);
    assert.equal(JSON.parse(wire.encodeEntry({ payload: 'x', level: i + 1 }, 's')).logLevel, i + 1);
  });
  ['log', 'metric', 'trace', 'event', 'audit'].forEach((n, i) => {
    assert.equal(JSON.parse(wire.encodeEntry({ payload: 'x', type: n }, 's')).entryType, i + 1);
  });
  for (const bad of [0, 9, 'loud', 6.5]) assert.throws(() => wire.encodeEntry({ payload: 'x', level: bad }, 's'), wire.InvalidEntryError);
  assert.throws(() => wire.encodeEntry({ payload: 'x', type: 6 }, 's'), wire.InvalidEntryError);
  assert.throws(() => wire.encodeEntry({ payload: '' }, 's'), wire.InvalidEntryError);
  assert.throws(() => wire.encodeEntry({ payload: 'x', payloadType: 'has space' }, 's'), wire.InvalidEntryError);
  assert.throws(() => wire.encodeEntry({ payload: 'x', source: 'é'.repeat(257) }, 's'), wire.InvalidEntryError);
});

test('metadata: values as strings, nested keys dotted, long values cut to 1024 characters', () => {
  const err = new Error('boom');
  const e = JSON.parse(wire.encodeEntry({
    payload: 'x',
    metadata: { s: 'v', n: 42, b: false, nul: null, undef: undefined, arr: [1, 'a'], req: { method: 'GET', h: { ua: 'curl' } }, err, long: 'y'.repeat(3000) },
  }, 's')).metadata;
  assert.equal(e.s, 'v');
  assert.equal(e.n, '42');
  assert.equal(e.b, 'false');
  assert.equal(e.nul, 'null');
  assert.equal('undef' in e, false);
  assert.equal(e.arr, '[1,"a"]');
  assert.equal(e['req.method'], 'GET');
  assert.equal(e['req.h.ua'], 'curl');
  assert.equal(e['err.message'], 'boom');
  assert.match(e['err.stack'], /^Error: boom\n/);
  assert.equal(e.long.length, 1024);
  assert.ok(e.long.endsWith('…'));
});

test('LineReader: answers split across reads and coalesced in one read', () => {
  const r = new wire.LineReader();
  assert.deepEqual(r.push(Buffer.from('{"status":"po')), []);
  assert.deepEqual(r.push(Buffer.from('ng"}\n{"status":"error","code":"x"}\r\n\n{"sta')), ['{"status":"pong"}', '{"status":"error","code":"x"}']);
  assert.deepEqual(r.push(Buffer.from('tus":"pong"}\n')), ['{"status":"pong"}']);
  const small = new wire.LineReader(10);
  assert.throws(() => small.push(Buffer.from('x'.repeat(20))));
});

test('parseAnswer: an error answer is never taken for a pong', () => {
  assert.deepEqual(wire.parseAnswer('{"status":"pong"}'), { status: 'pong' });
  assert.equal(wire.parseAnswer('{"status":"error","code":"invalid_entry","message":"m"}').code, 'invalid_entry');
  assert.throws(() => wire.parseAnswer('[1]'));
  assert.throws(() => wire.parseAnswer('pong'));
});

test('discovery: option, then LOGFLUX_AGENT_ADDR, then the default sockets', () => {
  assert.equal(String(wire.discover('tcp://127.0.0.1:9999', { LOGFLUX_AGENT_ADDR: 'unix:///x.sock' })[0]), 'tcp://127.0.0.1:9999');
  assert.equal(String(wire.discover('', { LOGFLUX_AGENT_ADDR: 'unix:///x.sock' })[0]), 'unix:///x.sock');
  assert.deepEqual(wire.discover('', {}).map(String), ['unix:///tmp/logflux-agent.sock', 'unix:///var/run/logflux-agent/agent.sock']);
  assert.throws(() => wire.discover('', { LOGFLUX_AGENT_ADDR: 'http://x' }), /LOGFLUX_AGENT_ADDR/);
  assert.throws(() => wire.parseAddress('unix://relative.sock'), /absolute path/);
  assert.throws(() => wire.parseAddress('tcp://host'), /tcp:\/\/host:port/);
  assert.equal(wire.parseAddress('tcp://[::1]:8765').host, '::1');
});

test('createClient reports every bad option at once; TCP needs a secret', () => {
  assert.throws(() => createClient({ maxQueueBytes: 10, batchSize: 101, dropPolicy: 'random', level: 'loud', address: 'ftp://x', bogus: 1 }), (err) => {
    assert.equal(err.problems.length, 6, err.message);
    return true;
  });
  assert.throws(() => createClient({ address: 'tcp://127.0.0.1:9999', env: {} }), /shared secret/);
  const c = createClient({ address: 'tcp://127.0.0.1:9999', env: { LOGFLUX_SHARED_SECRET: 's'.repeat(32) } });
  c.close();
});

test('log never throws: bad entries are counted and reported to onError', async () => {
  const errors = [];
  const c = createClient({ address: 'unix:///nonexistent/agent.sock', onError: (e) => errors.push(e) });
  assert.equal(c.log(null), false);
  assert.equal(c.log({ payload: '' }), false);
  assert.equal(c.log({ payload: 'x', level: 'loud' }), false);
  assert.equal(c.log({ payload: 'x', metadata: { get bad() { throw new Error('getter'); } } }), false);
  assert.equal(c.log('fine'), true);
  assert.equal(c.stats().dropped.invalid, 4);
  assert.ok(errors.length >= 1 && errors.every((e) => e instanceof Error));
  await c.close();
  assert.equal(c.log('after close'), false);
  assert.equal(c.stats().dropped.closed, 1);
  assert.equal(c.stats().dropped.unsent, 1);
});

test('level option filters less severe entries', async () => {
  const c = createClient({ address: 'unix:///nonexistent/agent.sock', level: 'warning' });
  assert.equal(c.log({ payload: 'x', level: 'info' }), false);
  assert.equal(c.log({ payload: 'x', level: 'error' }), true);
  assert.equal(c.stats().filtered, 1);
  await c.close();
});

test('entry helpers: metric, trace, event, audit', () => {
  const m = JSON.parse(wire.encodeEntry(metric('q.depth', 42, { host: 'a' }), 's'));
  assert.deepEqual([m.entryType, m.payloadType, JSON.parse(m.payload)], [2, 'generic_json', { name: 'q.depth', value: 42 }]);
  assert.equal(JSON.parse(JSON.parse(wire.encodeEntry(metric('nan', NaN), 's')).payload).value, 'NaN');
  const t = JSON.parse(wire.encodeEntry(trace('t1', 's1', 'GET /', new Date(1000), new Date(1250)), 's'));
  assert.equal(t.entryType, 3);
  assert.equal(t.timestamp, '1970-01-01T00:00:01.000Z');
  assert.equal(JSON.parse(t.payload).duration_ms, 250);
  assert.equal(JSON.parse(wire.encodeEntry(event('deploy'), 's')).entryType, 4);
  const a = JSON.parse(wire.encodeEntry(audit('login', 'ana', 'console'), 's'));
  assert.deepEqual([a.entryType, a.logLevel, JSON.parse(a.payload).outcome], [5, 6, 'success']);
});

test('pino mapping: levels, message, fields as dotted metadata, err with its stack', () => {
  assert.deepEqual([10, 20, 30, 40, 50, 60].map(mapping.pinoLevel), [8, 8, 7, 5, 4, 3]);
  const sent = (obj, messageKey = 'msg') => JSON.parse(wire.encodeRecord(mapping.pinoRecord(obj, messageKey, 'svc')));
  const e = sent({ level: 50, time: 1700000000000, pid: 1, hostname: 'h', msg: 'failed', req: { id: 7 }, err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' } });
  assert.deepEqual([e.payload, e.logLevel, e.entryType, e.source, e.timestamp], ['failed', 4, 1, 'svc', '2023-11-14T22:13:20.000Z']);
  assert.deepEqual(e.metadata, { pid: '1', hostname: 'h', 'req.id': '7', 'err.type': 'Error', 'err.message': 'boom', 'err.stack': 'Error: boom\n    at x' });
  assert.equal(sent({ level: 30, err: { message: 'only err' } }).payload, 'only err');
  assert.equal(sent({ level: 30 }).payload, '(empty)');
  assert.equal(sent({ level: 30, msg: '' }).payload, '(empty)');
  assert.equal(sent({ level: 30, msg: 'no fields' }).metadata, undefined);

  // Values of every JSON type, as text; long ones cut to 1024 characters.
  const v = sent({ level: 20, time: 1700000000123, msg: 'x'.repeat(5000), long: 'é'.repeat(3000), list: [1, 'a'], nothing: null, ok: true, n: 1.5, deep: { a: { b: 'c' } } });
  assert.equal(v.payload, 'x'.repeat(5000));
  assert.equal(v.logLevel, 8);
  assert.equal(v.timestamp, '2023-11-14T22:13:20.123Z');
  assert.deepEqual(v.metadata, { long: 'é'.repeat(1023) + '…', list: '[1,"a"]', nothing: 'null', ok: 'true', n: '1.5', 'deep.a.b': 'c' });

  // A message that is not a string is metadata; a time as text is converted
  // to UTC; another messageKey leaves msg as metadata; a line without a
  // valid time is stamped when it is mapped.
  const m = sent({ level: 40, time: '2024-02-29T12:00:00.5+02:00', msg: 42, extra: 'e' });
  assert.deepEqual([m.payload, m.logLevel, m.timestamp, m.metadata], ['(empty)', 5, '2024-02-29T10:00:00.500Z', { msg: '42', extra: 'e' }]);
  assert.deepEqual(sent({ level: 30, message: 'other key', msg: 'kept' }, 'message').metadata, { msg: 'kept' });
  const before = Date.now();
  const stamped = Date.parse(sent({ level: 60, time: 'not a time', msg: 'm' }).timestamp);
  assert.ok(stamped >= before && stamped <= Date.now(), 'stamped now');
  assert.throws(() => mapping.pinoRecord({ level: 30, msg: 'x'.repeat((1 << 20) + 1) }, 'msg', 'svc'), wire.InvalidEntryError);
});

test('winston mapping: npm and syslog level sets', () => {
  const L = Symbol.for('level');
  const lv = (name) => mapping.winstonEntry({ level: name, [L]: name, message: 'm' }).level;
  assert.deepEqual(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].map(lv), [4, 5, 7, 7, 8, 8, 8]);
  assert.deepEqual(['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'].map(lv), [1, 2, 3, 4, 5, 6, 7, 8]);
  const e = mapping.winstonEntry({ level: '\u001b[31merror\u001b[39m', [L]: 'error', message: 'm', stack: 'Error: m\n  at y', user: { id: 3 } });
  assert.equal(e.level, 4);
  assert.deepEqual(e.metadata, { stack: 'Error: m\n  at y', 'user.id': '3' });
});

test('reconnect backoff: capped exponential with full jitter', async () => {
  const c = createClient({ address: 'unix:///nonexistent/agent.sock', minBackoffMs: 50, maxBackoffMs: 1000 });
  const delays = Array.from({ length: 12 }, () => c._backoff());
  delays.forEach((d, n) => {
    assert.ok(d >= 50 && d <= Math.min(1000, 50 * 2 ** n), `delay ${n} = ${d}`);
  });
  assert.ok(new Set(delays.map(Math.round)).size > 3, 'jittered');
  await c.close();
});

test('the queue\'s size estimate is the encoded size for ASCII text, and less for text beyond ASCII', () => {
  const ascii = wire.makeRecord({ payload: 'order placed', level: 'warning', payloadType: 'generic', metadata: { orderId: '42', n: 7, ok: true } }, 'svc');
  const enc = wire.encodeRecord(ascii);
  assert.ok(ascii.size >= Buffer.byteLength(enc), `${ascii.size} < ${Buffer.byteLength(enc)}`);
  assert.ok(ascii.size - Buffer.byteLength(enc) <= 2 * 24, 'only the numbers are over-counted');
  const plain = wire.makeRecord({ payload: 'hello', metadata: { a: 'b' } }, 'svc');
  assert.equal(plain.size, Buffer.byteLength(wire.encodeRecord(plain)));
  const wide = wire.makeRecord({ payload: 'é'.repeat(100) }, 'svc');
  assert.equal(Buffer.byteLength(wire.encodeRecord(wide)) - wide.size, 100, 'é: 1 code unit counted, 2 bytes encoded');
});

test('log() keeps the entry as it was: changing its metadata object afterwards changes nothing that is sent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lfjs-unit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const c = createClient({ address: 'unix://' + path.join(dir, 'no-agent.sock'), fallbackFile, onError: () => {} });
  const md = { user: 'ana', n: 1, req: { method: 'GET' } };
  assert.equal(c.log({ payload: 'first', metadata: md }), true);
  md.user = 'bob';
  md.n = 2;
  md.req.method = 'POST';
  md.extra = 'x';
  await c.close();
  const [line] = fs.readFileSync(fallbackFile, 'utf8').trim().split('\n');
  assert.deepEqual(JSON.parse(line).metadata, { user: 'ana', n: '1', 'req.method': 'GET' });
});

test('an encoded batch is one batch line and its ping, and gives back each entry\'s JSON (ASCII or not)', () => {
  const recs = ['plain', 'ünïcödé 🚀', 'tab\tand "quote"', 'last'].map((p, i) => wire.makeRecord({ payload: p, metadata: { i } }, 'svc'));
  const enc = wire.encodeBatch(recs);
  const [batch, ping, rest] = enc.buf.toString('utf8').split('\n');
  assert.deepEqual(JSON.parse(ping), { version: '1.0', action: 'ping' });
  assert.equal(rest, '');
  assert.deepEqual(JSON.parse(batch).entries.map((e) => e.payload), ['plain', 'ünïcödé 🚀', 'tab\tand "quote"', 'last']);
  assert.equal(enc.count, 4);
  assert.deepEqual(enc.lines(), recs.map(wire.encodeRecord));
  const ascii = wire.encodeBatchLines(['{"payload":"a"}', '{"payload":"b"}']);
  assert.deepEqual(ascii.lines(), ['{"payload":"a"}', '{"payload":"b"}']);
});
