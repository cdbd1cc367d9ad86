'use strict';
// The client: a byte-bounded queue of entries, one long-lived connection to
// the agent, and the exit hooks that drain it.
//
//   log() ──check──▶ tail ──seal──▶ sealed ──write──▶ pending ──pong──▶ unconfirmed ──flush answer──▶ released
//                                      ▲                                     │
//                                      └──────── requeue (connection lost, queue_full) ┘
//
// log() only checks an entry and keeps its fields (a wire.Record). The
// sender, on the event loop, encodes every sealed batch into one Buffer
// (wire.EncodedBatch) on its turn, and writes what the connection can take
// in one go (cork/uncork); what it cannot write yet waits as bytes.
// When more than EARLY_SEND batches were sealed since the sender last ran
// (the program logs without yielding to the event loop, so the sender
// cannot run), log() does the sender's work for each batch it seals: it
// writes the waiting batches while the window allows, so that the agent
// works in parallel with the burst, and encodes the rest, so that the queue
// holds bytes outside the heap rather than objects per entry that the
// garbage collector would copy again and again. Bytes are charged to the
// queue by estimate at log() (wire.makeRecord: exact for ASCII text with
// nothing to escape) and corrected to the batch's encoded size when it is
// encoded.
//
// A batch's bytes stay charged to the queue from the first entry until the
// agent confirms it with its flush answer (or refuses it, or it goes to the
// fallback, or it is dropped), so maxQueueBytes bounds everything the SDK
// holds. How answers are matched to batches, as in the Go SDK: every batch
// is written followed by a ping; an error that arrives before the batch's
// pong is that batch's, and a flush answer confirms every batch ponged
// before it.
//
//   write:   batch₁ ping batch₂ ping flush batch₃ ping
//   answer:  pong  error₂ pong  flush-ok  pong
//
// Flush generations: a batch belongs to the generation current when it was
// opened. flush() seals the tail and starts a new generation; it is done when
// no batch of its generation or an older one is outstanding.

const net = require('node:net');
const path = require('node:path');
const wire = require('./wire.js');
const { Fallback } = require('./fallback.js');

const ENTRY_OVERHEAD = 16; // bytes charged per entry besides its JSON
const BATCH_OVERHEAD = 128; // and per batch
const MAX_PENDING = 256; // batches written and not yet answered, per connection (their pongs: under 5 KiB)
const WRITE_BUFFER = 1 << 20; // bytes buffered in the socket before waiting for 'drain'
const EARLY_SEND = 20; // batches sealed since the sender last ran beyond which log() sends or encodes each batch it seals

const DEFAULTS = Object.freeze({
  maxQueueBytes: 8 << 20,
  batchSize: 100,
  batchBytes: 1 << 20,
  flushIntervalMs: 500,
  flushTimeoutMs: 10000,
  exitTimeoutMs: 5000,
  connectTimeoutMs: 2000,
  writeTimeoutMs: 10000,
  minBackoffMs: 50,
  maxBackoffMs: 10000,
  dropPolicy: 'newest',
  fallbackAfterMs: 5000,
  fallbackMaxBytes: 64 << 20,
  level: 'debug',
});

const KNOWN_OPTIONS = new Set(['address', 'sharedSecret', 'source', 'level', 'maxQueueBytes', 'batchSize', 'batchBytes',
  'flushIntervalMs', 'flushTimeoutMs', 'exitTimeoutMs', 'connectTimeoutMs', 'writeTimeoutMs', 'minBackoffMs', 'maxBackoffMs',
  'dropPolicy', 'fallbackFile', 'fallbackAfterMs', 'fallbackMaxBytes', 'onError', 'env']);

/**
 * resolveOptions applies defaults and checks every option, throwing one
 * error that lists every problem.
 */
function resolveOptions(opts) {
  const problems = [];
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== 'object') throw new TypeError('logflux: options must be an object');
  for (const k of Object.keys(opts)) if (!KNOWN_OPTIONS.has(k)) problems.push(`unknown option ${JSON.stringify(k)}`);
  const o = { ...DEFAULTS };
  for (const k of Object.keys(opts)) if (opts[k] !== undefined) o[k] = opts[k];
  const env = o.env || process.env;
  const int = (name, min, max) => {
    const v = o[name];
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${name} ${String(v)} is not an integer from ${min} to ${max}`);
  };
  int('maxQueueBytes', 64 << 10, 2 ** 40);
  int('batchSize', 1, wire.limits.maxBatchEntries);
  int('batchBytes', 1024, wire.limits.maxLineBytes);
  if (Number.isInteger(o.batchBytes) && Number.isInteger(o.maxQueueBytes) && o.batchBytes > o.maxQueueBytes / 4) {
    if (opts.batchBytes !== undefined) problems.push(`batchBytes ${o.batchBytes} is more than a quarter of maxQueueBytes ${o.maxQueueBytes}`);
    else o.batchBytes = Math.floor(o.maxQueueBytes / 4);
  }
  for (const name of ['flushIntervalMs', 'flushTimeoutMs', 'exitTimeoutMs', 'connectTimeoutMs', 'writeTimeoutMs', 'minBackoffMs', 'maxBackoffMs', 'fallbackAfterMs']) {
    int(name, name === 'fallbackAfterMs' || name === 'minBackoffMs' ? 0 : 1, 2 ** 31 - 1);
  }
  if (o.maxBackoffMs < o.minBackoffMs) problems.push(`maxBackoffMs ${o.maxBackoffMs} is less than minBackoffMs ${o.minBackoffMs}`);
  int('fallbackMaxBytes', 0, 2 ** 48);
  if (o.dropPolicy !== 'newest' && o.dropPolicy !== 'oldest') problems.push(`dropPolicy ${JSON.stringify(o.dropPolicy)} is not "newest" or "oldest"`);
  o.minLevel = wire.levelNumber(o.level);
  if (!o.minLevel) problems.push(`level ${JSON.stringify(o.level)} is not 1-8 or emergency … debug`);
  if (o.onError !== undefined && typeof o.onError !== 'function') problems.push('onError is not a function');
  if (o.fallbackFile !== undefined && (typeof o.fallbackFile !== 'string' || o.fallbackFile === '')) problems.push('fallbackFile is not a path');
  if (o.source === undefined || o.source === '') o.source = wire.programName();
  else if (typeof o.source !== 'string') problems.push('source is not a string');
  else if (wire.charCount(o.source) > wire.limits.maxSourceChars) problems.push('source is longer than 256 characters');
  try {
    o.endpoints = wire.discover(o.address, env);
  } catch (err) {
    problems.push(err.message.replace(/^logflux: /, ''));
  }
  o.secret = o.sharedSecret || env[wire.ENV_SECRET] || '';
  if (o.endpoints && o.endpoints.length === 1 && o.endpoints[0].network === 'tcp' && !o.secret) {
    problems.push(`${o.endpoints[0]} needs a shared secret (sharedSecret or ${wire.ENV_SECRET})`);
  }
  if (problems.length > 0) {
    const err = new Error('logflux: bad options: ' + problems.join('; '));
    err.problems = problems;
    throw err;
  }
  return o;
}

/** UnavailableError: the agent could not be reached. */
class UnavailableError extends Error {
  constructor(message, cause) { super(message, cause ? { cause } : undefined); this.name = 'UnavailableError'; this.code = 'unavailable'; }
}

// Every open client, for the process's beforeExit and exit hooks. close()
// removes it. The hooks are installed once, on the first client.
const live = new Set();
let hooked = false;

function onBeforeExit() {
  for (const c of live) c._drainAtExit();
}

function onExit() {
  for (const c of live) c._saveAtExit();
}

class Client {
  constructor(options) {
    const o = resolveOptions(options);
    this._o = o;
    this._onError = o.onError;
    this._fallback = o.fallbackFile ? new Fallback(path.resolve(o.fallbackFile), o.fallbackMaxBytes, o.maxQueueBytes, (w, d, reason, err) => this._fallbackReport(w, d, reason, err)) : null;
    this._limitBytes = Math.max(o.batchBytes, Math.floor(o.maxQueueBytes / 4));

    // Queue.
    this._tail = null;
    this._sealed = [];
    this._seq = 0;
    this._gen = 1;
    this._outstanding = new Map(); // generation → batches not yet released
    this._bytes = 0;
    this._entries = 0;

    // Connection.
    this._conn = null;
    this._connecting = false;
    this._attempts = 0;
    this._downSince = 0;
    this._nextDialAt = 0;
    this._backoffN = 0;
    this._probe = false;
    this._wantFlush = 0;
    this._waiters = [];

    this._pumpScheduled = false;
    this._sealsSincePump = 0; // see EARLY_SEND
    this._pumpBound = () => this._pump();
    this._timer = null;
    this._closing = false;
    this._stopped = false;
    this._closePromise = null;
    this._exitDraining = false;
    this._reported = '';
    this._onRoom = null; // a waiting producer's callback (see _shouldWait)

    this._st = {
      logged: 0, sent: 0, accepted: 0, confirmed: 0, fallback: 0, filtered: 0, dialFailures: 0, connectionsOpened: 0,
      dropped: Object.create(null), rejected: Object.create(null), retries: Object.create(null), lastError: null,
    };

    this._timer = setInterval(() => this._tick(), o.flushIntervalMs);
    this._timer.unref();
    live.add(this);
    if (!hooked) {
      hooked = true;
      process.on('beforeExit', onBeforeExit);
      process.on('exit', onExit);
    }
  }

  /**
   * log queues one entry and returns whether it was queued. It never
   * throws and never waits on the network.
   */
  log(entry) {
    if (this._closing) {
      this._drop('closed', 1);
      return false;
    }
    let rec;
    try {
      if (typeof entry === 'string') entry = { payload: entry };
      else if (entry === null || typeof entry !== 'object') throw new wire.InvalidEntryError('an entry is an object or a string');
      if (this._o.minLevel < 8) {
        const lv = entry.level !== undefined ? entry.level : entry.logLevel;
        const n = lv === undefined || lv === null ? 7 : wire.levelNumber(lv);
        if (n > this._o.minLevel) {
          this._st.filtered++;
          return false;
        }
      }
      rec = wire.makeRecord(entry, this._o.source);
    } catch (err) {
      this._drop('invalid', 1);
      this._error(err);
      return false;
    }
    return this._enqueue(rec);
  }

  /**
   * _logRecord queues a record an adapter made (the pino transport, see
   * mapping.pinoRecord) as log() does; make returns it or throws an
   * InvalidEntryError.
   */
  _logRecord(make, arg) {
    if (this._closing) {
      this._drop('closed', 1);
      return false;
    }
    let rec;
    try {
      rec = make(arg, this._o.source);
    } catch (err) {
      this._drop('invalid', 1);
      this._error(err);
      return false;
    }
    if (rec.level > this._o.minLevel) {
      this._st.filtered++;
      return false;
    }
    return this._enqueue(rec);
  }

  /** _enqueue charges a record's estimated size to the queue and adds it to the open batch. */
  _enqueue(rec) {
    const len = rec.size;
    if (len + 64 > wire.limits.maxLineBytes) {
      this._drop('invalid', 1);
      this._error(new wire.InvalidEntryError(`encoded entry is about ${len} bytes, too long for one line`));
      return false;
    }
    let cost = len + ENTRY_OVERHEAD;
    let t = this._tail;
    if (t !== null && t.bytes + 1 + len > this._o.batchBytes) {
      this._seal();
      t = null;
    }
    if (t === null) cost += BATCH_OVERHEAD;
    if (this._bytes + cost > this._o.maxQueueBytes) {
      if (this._o.dropPolicy !== 'oldest' || !this._dropOldest(cost)) {
        this._overflow({ recs: [rec], enc: null, n: 1 }, 'queue_full');
        this._schedulePump();
        return false;
      }
      t = this._tail;
      if (t === null) cost = len + ENTRY_OVERHEAD + BATCH_OVERHEAD;
    }
    if (t === null) {
      t = { recs: [], enc: null, n: 0, bytes: 0, cost: 0, seq: 0, gen: this._gen };
      this._outstanding.set(t.gen, (this._outstanding.get(t.gen) || 0) + 1);
      this._tail = t;
    }
    t.recs.push(rec);
    t.n++;
    t.bytes += len + 1;
    t.cost += cost;
    this._bytes += cost;
    this._entries++;
    this._st.logged++;
    if (t.n >= this._o.batchSize || t.bytes >= this._o.batchBytes) this._seal();
    if (!this._pumpScheduled) this._schedulePump();
    return true;
  }

  /**
   * _shouldWait tells a producer that can wait (the pino transport) to
   * pause: the queue is half full while the agent is connected or being
   * connected to, so it will drain. onRoom is called once when the queue
   * is below half again, a connection attempt fails or the connection is
   * lost, or the client stops. With the agent away (the last attempt
   * failed) the producer is never paused: entries go to the fallback or
   * are dropped, as for log().
   */
  _shouldWait(onRoom) {
    if (this._bytes * 2 < this._o.maxQueueBytes || this._downSince !== 0 || this._stopped) return false;
    this._onRoom = onRoom;
    return true;
  }

  _wakeProducer() {
    const fn = this._onRoom;
    this._onRoom = null;
    fn();
  }

  /** _dropOldest drops queued batches not yet sent until cost fits. */
  _dropOldest(cost) {
    while (this._bytes + cost > this._o.maxQueueBytes) {
      let b = this._sealed.shift();
      if (b === undefined) {
        if (this._tail === null) return false;
        b = this._tail;
        this._tail = null;
        cost += BATCH_OVERHEAD;
      }
      this._overflow(b, 'queue_full');
      this._release(b, false);
    }
    return true;
  }

  /** _overflow sends a batch's entries that cannot be queued to the fallback, or drops them. */
  _overflow(b, reason) {
    // Entries waiting for the fallback file are bounded too, by maxQueueBytes.
    const taken = this._fallback !== null ? this._fallback.add(batchLines(b)) : 0;
    if (taken < b.n) this._drop(reason, b.n - taken);
    if (reason === 'queue_full') {
      const msg = 'logflux: queue full: entries ' + (this._fallback ? 'go to the fallback file' : 'dropped');
      // The same error as the last one is not made again (an Error takes its stack: costly per entry).
      const last = this._st.lastError;
      if (last === null || last.message !== msg) this._error(new Error(msg));
    }
  }

  _seal() {
    const t = this._tail;
    this._tail = null;
    t.seq = ++this._seq;
    this._sealed.push(t);
    if (++this._sealsSincePump > EARLY_SEND) this._sendEarly(t);
  }

  /** _sendEarly writes the waiting batches if the connection can take them now, and encodes t if it still waits. */
  _sendEarly(t) {
    const c = this._conn;
    if (c !== null && c.ready && !this._stopped && Date.now() >= c.throttleUntil) {
      try {
        this._writeSealed(c);
      } catch (err) {
        this._lost(c, err); // log() never throws
      }
    }
    if (t.enc === null) this._encode(t);
  }

  /**
   * _encode encodes a batch (once) and replaces its estimated size by its
   * encoded size in the queue's count.
   */
  _encode(b) {
    if (b.enc !== null) return b.enc;
    b.enc = wire.encodeBatch(b.recs);
    b.recs = null;
    const cost = BATCH_OVERHEAD + b.enc.buf.length + ENTRY_OVERHEAD * b.n;
    this._bytes += cost - b.cost;
    b.cost = cost;
    b.bytes = b.enc.buf.length;
    return b.enc;
  }

  _schedulePump() {
    if (this._pumpScheduled || this._stopped) return;
    this._pumpScheduled = true;
    setImmediate(this._pumpBound).unref();
  }

  /**
   * flush resolves true once the agent has confirmed, with the flush action,
   * every entry logged before the call; false if any of them could not be
   * (the agent is unreachable, refused them, or the time ran out), with the
   * reason in onError and stats().lastError. It never rejects.
   */
  flush(options) {
    if (this._stopped) return Promise.resolve(this._entries === 0);
    const timeoutMs = options && options.timeoutMs > 0 ? options.timeoutMs : this._o.flushTimeoutMs;
    if (this._tail !== null) this._seal();
    const gen = this._gen++;
    if (!this._pendingGen(gen)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { gen, attempts: this._attempts, incomplete: false, resolve, timer: null };
      // A ref'd timer: an awaited flush keeps the process alive until done.
      w.timer = setTimeout(() => {
        this._error(new Error(`logflux: flush: not confirmed by the agent within ${timeoutMs} ms`));
        this._finishWaiter(w, false);
      }, timeoutMs);
      this._waiters.push(w);
      if (gen > this._wantFlush) this._wantFlush = gen;
      if (this._conn === null && !this._connecting) this._probe = true;
      this._schedulePump();
    });
  }

  _finishWaiter(w, ok) {
    const i = this._waiters.indexOf(w);
    if (i < 0) return;
    this._waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(ok && !w.incomplete);
  }

  _pendingGen(gen) {
    for (const g of this._outstanding.keys()) if (g <= gen) return true;
    return false;
  }

  _checkWaiters() {
    if (this._waiters.length === 0) return;
    for (const w of this._waiters.slice()) {
      if (!this._pendingGen(w.gen)) this._finishWaiter(w, true);
      else if (this._downSince !== 0 && this._attempts > w.attempts) this._finishWaiter(w, false);
    }
  }

  /**
   * close flushes (bounded by flushTimeoutMs), then closes the connection.
   * What the agent has not confirmed by then goes to the fallback file, or
   * is dropped and counted as "unsent". Idempotent; never rejects.
   */
  close() {
    if (this._closePromise === null) {
      // Never rejects: an unexpected failure is reported like any other.
      this._closePromise = this._close().catch((err) => this._error(err));
    }
    return this._closePromise;
  }

  async _close() {
    this._closing = true;
    await this.flush();
    this._stop();
    await this._spillAll();
    if (this._fallback !== null) {
      await this._fallback.idle();
      this._fallback.close();
    }
    for (const w of this._waiters.slice()) this._finishWaiter(w, false);
  }

  _stop() {
    this._stopped = true;
    clearInterval(this._timer);
    live.delete(this);
    if (this._conn !== null) this._teardown(this._conn, null);
    if (this._onRoom !== null) this._wakeProducer();
  }

  /** stats returns a snapshot of the counters. */
  stats() {
    const s = this._st;
    return {
      logged: s.logged,
      queued: this._entries,
      queuedBytes: this._bytes,
      sent: s.sent,
      accepted: s.accepted,
      confirmed: s.confirmed,
      fallback: s.fallback,
      filtered: s.filtered,
      dropped: { ...s.dropped },
      rejected: { ...s.rejected },
      retries: { ...s.retries },
      connections: this._conn !== null && this._conn.ready ? 1 : 0,
      connectionsOpened: s.connectionsOpened,
      dialFailures: s.dialFailures,
      lastError: s.lastError,
    };
  }

  // ---- counters and errors

  _drop(reason, n) {
    this._st.dropped[reason] = (this._st.dropped[reason] || 0) + n;
  }

  _count(map, key, n) {
    this._st[map][key] = (this._st[map][key] || 0) + n;
  }

  /** _error records err and hands it to onError, once per distinct failure. */
  _error(err) {
    this._st.lastError = err;
    if (this._onError === undefined || err.message === this._reported) return;
    this._reported = err.message;
    try {
      this._onError(err);
    } catch {
      // The application's handler failed; nothing sensible to do.
    }
  }

  _fallbackReport(written, dropped, reason, err) {
    this._st.fallback += written;
    if (dropped > 0) this._drop(reason, dropped);
    if (err) this._error(err);
  }

  // ---- queue release

  /** _release frees a batch that needs no more sending; confirmed says whether the agent confirmed it. */
  _release(b, confirmed) {
    this._bytes -= b.cost;
    this._entries -= b.n;
    const n = this._outstanding.get(b.gen) - 1;
    if (n <= 0) this._outstanding.delete(b.gen);
    else this._outstanding.set(b.gen, n);
    if (!confirmed) this._markIncomplete(b.gen);
    this._checkWaiters();
    if (this._onRoom !== null && this._bytes * 2 < this._o.maxQueueBytes) this._wakeProducer();
  }

  _markIncomplete(gen) {
    for (const w of this._waiters) if (gen <= w.gen) w.incomplete = true;
  }

  _requeue(batches) {
    for (const b of batches) {
      let i = this._sealed.length;
      while (i > 0 && this._sealed[i - 1].seq > b.seq) i--;
      this._sealed.splice(i, 0, b);
    }
  }

  /**
   * _spillQueued moves queued batches to the fallback file while the agent
   * is down, oldest first, as many as the fallback can take now; the rest
   * stay queued for the next round (or the agent's return).
   */
  _spillQueued() {
    if (this._tail !== null) this._seal();
    while (this._sealed.length > 0 && this._fallback.room() >= this._sealed[0].bytes) {
      const b = this._sealed.shift();
      this._fallback.add(batchLines(b), Infinity);
      this._release(b, false);
    }
  }

  /**
   * _spillAll moves every entry not confirmed to the fallback file, waiting
   * for the file to take them, or drops them as unsent without one.
   */
  async _spillAll() {
    if (this._conn !== null) this._teardown(this._conn, null);
    if (this._tail !== null) this._seal();
    if (this._fallback === null) {
      const batches = this._sealed;
      this._sealed = [];
      for (const b of batches) {
        this._drop('unsent', b.n);
        this._release(b, false);
      }
      return;
    }
    for (;;) {
      this._spillQueued();
      if (this._sealed.length === 0) return;
      if (this._fallback.running !== null) {
        await this._fallback.idle();
      } else {
        // One batch larger than the room of an idle fallback: take it whole.
        const b = this._sealed.shift();
        this._fallback.add(batchLines(b), Infinity);
        this._release(b, false);
      }
    }
  }

  // ---- exit

  /** _drainAtExit runs on beforeExit: deliver what is queued, then let the process end. */
  _drainAtExit() {
    if (this._stopped || this._exitDraining || (this._entries === 0 && (this._fallback === null || this._fallback.running === null))) return;
    this._exitDraining = true;
    const fb = this._fallback;
    this.flush({ timeoutMs: this._o.exitTimeoutMs })
      .then(async (ok) => {
        if (!ok) await this._spillAll();
        if (fb !== null) await fb.idle();
      })
      .catch((err) => this._error(err))
      .finally(() => {
        this._exitDraining = false;
      });
  }

  /** _saveAtExit runs on process 'exit': no more I/O but synchronous writes. */
  _saveAtExit() {
    if (this._stopped) return;
    const batches = [];
    const c = this._conn;
    if (c !== null) {
      for (const it of c.pending) if (it.batch) batches.push(it.batch);
      for (const b of c.unconfirmed) batches.push(b);
    }
    for (const b of this._sealed) batches.push(b);
    if (this._tail !== null) batches.push(this._tail);
    let n = 0;
    for (const b of batches) n += b.n;
    if (this._fallback !== null) {
      const entries = [];
      for (const b of batches) pushAll(entries, batchLines(b));
      const r = this._fallback.writeSync(entries);
      this._st.fallback += r.written;
      if (r.dropped) this._drop(r.err ? 'fallback_error' : 'fallback_full', r.dropped);
    } else if (n > 0) {
      this._drop('unsent', n);
    }
    this._stopped = true;
  }

  // ---- sending

  _tick() {
    if (this._stopped) return;
    const now = Date.now();
    const c = this._conn;
    if (c !== null && c.ready) {
      // A write that makes no progress for writeTimeoutMs ends the connection.
      const s = c.socket;
      if (s.writableLength > 0 && s.bytesWritten === c.progressBytes) {
        if (now - c.progressAt >= this._o.writeTimeoutMs) {
          this._lost(c, new Error(`logflux: write to the agent made no progress for ${this._o.writeTimeoutMs} ms`));
          return;
        }
      } else {
        c.progressBytes = s.bytesWritten;
        c.progressAt = now;
      }
    }
    if (this._tail !== null && this._sealed.length === 0) this._seal();
    this._pump();
  }

  _pump() {
    this._pumpScheduled = false;
    this._sealsSincePump = 0;
    if (this._stopped) return;
    this._send();
    // What cannot be written now waits as bytes rather than as objects per
    // entry for the garbage collector to copy. Unencoded batches are the
    // newest (requeued and split ones are encoded), so they end the list.
    for (let i = this._sealed.length - 1; i >= 0 && this._sealed[i].enc === null; i--) this._encode(this._sealed[i]);
  }

  /** _send connects, writes waiting batches and flushes, as far as the connection allows now. */
  _send() {
    const now = Date.now();
    const c = this._conn;
    if (c === null) {
      if (this._connecting) return;
      if (this._sealed.length === 0 && this._tail === null && this._waiters.length === 0) return;
      if (this._probe || now >= this._nextDialAt) {
        this._probe = false;
        this._dial();
      } else if (this._spillNow(now)) {
        this._spillQueued();
      }
      return;
    }
    if (!c.ready) return;
    // Idle: nothing on the wire, so send what waits now rather than at the next tick.
    if (this._tail !== null && this._sealed.length === 0 && c.pending.length === 0) this._seal();
    if (now < c.throttleUntil) {
      // The agent answered queue_full: no batch until the backoff ends, but
      // what it did accept is still confirmed every flush interval.
      if (c.unflushed && c.pending.length <= MAX_PENDING && now - c.lastFlush >= this._o.flushIntervalMs) this._writeFlush(c, now);
      return;
    }
    // Everything written in one pump leaves in one system call (writev).
    const s = c.socket;
    s.cork();
    this._writeSealed(c);
    // A flush always has a slot, even with MAX_PENDING batches unanswered.
    if (c.unflushed && c.pending.length <= MAX_PENDING && this._flushDue(c, now)) this._writeFlush(c, now);
    s.uncork();
  }

  /** _writeSealed writes sealed batches, oldest first, while the window and the socket's buffer allow. */
  _writeSealed(c) {
    const s = c.socket;
    while (this._sealed.length > 0 && c.pending.length < MAX_PENDING && s.writableLength < WRITE_BUFFER) {
      this._writeBatch(c, this._sealed.shift());
    }
  }

  _flushDue(c, now) {
    if (this._wantFlush >= c.unflushedGen && (this._sealed.length === 0 || this._sealed[0].gen > this._wantFlush)) return true;
    return c.unflushedBytes >= this._limitBytes || now - c.lastFlush >= this._o.flushIntervalMs;
  }

  /**
   * _writeBatch encodes a batch (unless log() did) and writes it; a batch
   * whose line is too long for the agent is split first.
   */
  _writeBatch(c, b) {
    const buf = this._encode(b).buf;
    if (buf.length > wire.limits.maxLineBytes && b.n > 1) {
      this._count('retries', 'split', 1);
      this._requeue(this._split(b));
      return;
    }
    c.pending.push({ batch: b, err: null });
    if (!c.unflushed || b.gen < c.unflushedGen) c.unflushedGen = b.gen;
    c.unflushed = true;
    c.unflushedBytes += b.bytes;
    this._st.sent += b.n;
    c.socket.write(buf);
  }

  _writeFlush(c, now) {
    c.pending.push({ batch: null, err: null });
    c.unflushed = false;
    c.unflushedBytes = 0;
    c.lastFlush = now;
    c.socket.write(wire.FLUSH_LINE);
  }

  /** _spillNow: the agent has been down for fallbackAfterMs, or the queue is three quarters full while it is. */
  _spillNow(now) {
    if (this._fallback === null || this._downSince === 0) return false;
    return now - this._downSince >= this._o.fallbackAfterMs || this._bytes * 4 >= this._o.maxQueueBytes * 3;
  }

  _backoff() {
    const min = this._o.minBackoffMs;
    const max = this._o.maxBackoffMs;
    let ceil = min * 2 ** this._backoffN;
    if (ceil >= max) ceil = max;
    else this._backoffN++;
    return ceil <= min ? min : min + Math.random() * (ceil - min); // full jitter
  }

  _dial() {
    this._connecting = true;
    const eps = this._o.endpoints;
    const errors = [];
    let i = 0;
    const tryNext = () => {
      if (this._stopped) return this._dialed(null, new Error('logflux: client closed'));
      if (i >= eps.length) return this._dialed(null, new UnavailableError('logflux: cannot connect to the agent: ' + errors.join('; ')));
      const ep = eps[i++];
      const socket = ep.network === 'unix' ? net.createConnection({ path: ep.path }) : net.createConnection({ host: ep.host, port: ep.port, noDelay: true });
      socket.unref();
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`connect timeout after ${this._o.connectTimeoutMs} ms`)), this._o.connectTimeoutMs);
      timer.unref();
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err instanceof wire.AgentError) return this._dialed(null, err, ep);
        errors.push(`${ep}: ${err.message}`);
        tryNext();
      };
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('closed by the agent')));
      socket.once('connect', () => {
        if (ep.network === 'unix') {
          settled = true;
          clearTimeout(timer);
          return this._dialed(socket, null, ep, new wire.LineReader(), []);
        }
        // TCP: the shared secret first, and the agent's verdict.
        const reader = new wire.LineReader();
        const onData = (chunk) => {
          let lines;
          try {
            lines = reader.push(chunk);
          } catch (err) {
            return fail(err);
          }
          if (lines.length === 0) return;
          socket.off('data', onData);
          let r;
          try {
            r = wire.parseAnswer(lines[0]);
          } catch (err) {
            return fail(err);
          }
          if (r.status === 'error') return fail(new wire.AgentError(r));
          if (r.status !== 'success') return fail(new Error('unexpected answer to authenticate: ' + lines[0].slice(0, 200)));
          settled = true;
          clearTimeout(timer);
          this._dialed(socket, null, ep, reader, lines.slice(1));
        };
        socket.on('data', onData);
        socket.write(wire.authLine(this._o.secret));
      });
    };
    tryNext();
  }

  _dialed(socket, err, ep, reader, early) {
    this._connecting = false;
    this._attempts++;
    const now = Date.now();
    if (err !== null) {
      if (this._stopped) return;
      this._st.dialFailures++;
      if (err instanceof wire.AgentError) {
        const e = new UnavailableError(`logflux: ${ep}: ${err.message.replace(/^logflux: /, '')}`, err);
        e.code = err.code;
        err = e;
      }
      this._error(err);
      if (this._downSince === 0) this._downSince = now;
      if (this._onRoom !== null) this._wakeProducer();
      // A refused secret is a configuration problem: no reconnect storm.
      this._nextDialAt = now + (err.code && err.code.startsWith('auth_') ? this._o.maxBackoffMs : this._backoff());
      this._checkWaiters();
      if (this._spillNow(now)) this._spillQueued();
      this._armRedial();
      return;
    }
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    const c = {
      socket, reader, ready: true, pending: [], unconfirmed: [], unflushed: false, unflushedGen: 0, unflushedBytes: 0,
      lastFlush: now, throttleUntil: 0, throttleN: 0, progressBytes: 0, progressAt: now,
    };
    this._conn = c;
    this._st.connectionsOpened++;
    this._downSince = 0;
    this._nextDialAt = 0;
    this._backoffN = 0;
    this._reported = '';
    socket.on('data', (chunk) => this._onData(c, chunk));
    socket.on('error', (e) => this._lost(c, e));
    socket.on('close', () => this._lost(c, new Error('logflux: the agent closed the connection')));
    socket.on('drain', () => this._schedulePump());
    if (this._stopped) return this._teardown(c, null);
    for (const line of early) this._onLine(c, line);
    this._schedulePump();
  }

  /** _armRedial wakes the sender when the next connection attempt is due. */
  _armRedial() {
    const wait = Math.max(0, this._nextDialAt - Date.now());
    if (wait < this._o.flushIntervalMs) setTimeout(() => this._schedulePump(), wait).unref();
  }

  _onData(c, chunk) {
    let lines;
    try {
      lines = c.reader.push(chunk);
    } catch (err) {
      return this._lost(c, err);
    }
    for (const line of lines) {
      if (this._conn !== c) return;
      this._onLine(c, line);
    }
    this._schedulePump();
  }

  _onLine(c, line) {
    let r;
    try {
      r = wire.parseAnswer(line);
    } catch (err) {
      return this._lost(c, err);
    }
    if (c.pending.length === 0) {
      // Unsolicited: the agent is about to close the connection (unavailable, auth).
      if (r.status === 'error') this._lost(c, new wire.AgentError(r));
      return;
    }
    const head = c.pending[0];
    if (r.status === 'pong') {
      if (head.batch === null) return this._lost(c, new Error('logflux: the agent\'s answers do not match what was sent'));
      c.pending.shift();
      this._settleBatch(c, head.batch, head.err);
    } else if (r.status === 'success' && r.action === 'flush') {
      if (head.batch !== null) return this._lost(c, new Error('logflux: the agent\'s answers do not match what was sent'));
      c.pending.shift();
      this._confirm(c);
    } else if (r.status === 'error') {
      if (head.batch === null) {
        // An agent without the flush extension: take the batches as confirmed.
        c.pending.shift();
        this._error(new wire.AgentError(r));
        this._confirm(c);
      } else if (head.err === null) {
        head.err = new wire.AgentError(r);
      }
    }
  }

  _confirm(c) {
    const done = c.unconfirmed;
    c.unconfirmed = [];
    for (const b of done) {
      this._st.confirmed += b.confirmCount;
      this._release(b, b.confirmCount === b.n);
    }
  }

  _settleBatch(c, b, err) {
    const n = b.n;
    if (err === null) {
      this._st.accepted += n;
      b.confirmCount = n;
      c.unconfirmed.push(b);
      c.throttleN = 0;
      return;
    }
    const code = err.code;
    if (code === 'invalid_entry' && err.errors.length > 0) {
      // The valid entries were accepted.
      const bad = new Set();
      for (const x of err.errors) if (Number.isInteger(x.index) && x.index >= 0 && x.index < n) bad.add(x.index);
      const nbad = bad.size || n;
      this._count('rejected', code, nbad);
      this._st.accepted += n - nbad;
      b.confirmCount = n - nbad;
      c.unconfirmed.push(b);
      this._error(err);
      return;
    }
    if (code === 'queue_full') {
      // Nothing of the batch was taken; send it again after a backoff.
      this._count('retries', 'queue_full', 1);
      const min = this._o.minBackoffMs;
      const ceil = Math.min(this._o.maxBackoffMs, min * 2 ** c.throttleN++);
      const wait = min + Math.random() * Math.max(0, ceil - min);
      c.throttleUntil = Date.now() + wait;
      setTimeout(() => this._schedulePump(), wait).unref();
      this._requeue([b]);
      this._error(err);
      return;
    }
    if (code === 'unavailable') {
      this._count('retries', 'unavailable', 1);
      this._requeue([b]);
      return;
    }
    if ((code === 'message_too_large' || code === 'batch_too_large') && n > 1) {
      this._count('retries', 'split', 1);
      this._requeue(this._split(b));
      return;
    }
    this._count('rejected', code, n);
    this._error(err);
    this._release(b, false);
  }

  _split(b) {
    const lines = batchLines(b);
    const mid = lines.length >> 1;
    const mk = (part) => {
      const enc = wire.encodeBatchLines(part);
      return { recs: null, enc, n: part.length, bytes: enc.buf.length, cost: BATCH_OVERHEAD + enc.buf.length + ENTRY_OVERHEAD * part.length, seq: b.seq, gen: b.gen };
    };
    const a = mk(lines.slice(0, mid));
    const z = mk(lines.slice(mid));
    this._bytes += a.cost + z.cost - b.cost;
    this._outstanding.set(b.gen, this._outstanding.get(b.gen) + 1);
    return [a, z];
  }

  _lost(c, err) {
    if (this._conn !== c) return;
    if (err) this._error(err.message.startsWith('logflux:') ? err : new Error('logflux: connection to the agent: ' + err.message, { cause: err }));
    this._teardown(c, err);
    this._schedulePump();
  }

  /** _teardown closes the connection and requeues every batch it had not got confirmed. */
  _teardown(c, cause) {
    this._conn = null;
    if (this._onRoom !== null) this._wakeProducer();
    c.ready = false;
    c.socket.removeAllListeners('close');
    c.socket.removeAllListeners('data');
    c.socket.on('error', () => {});
    c.socket.destroy();
    const back = [];
    for (const it of c.pending) if (it.batch !== null && it.batch !== undefined) back.push(it.batch);
    for (const b of c.unconfirmed) back.push(b);
    c.pending = [];
    c.unconfirmed = [];
    if (back.length > 0) {
      if (cause) this._count('retries', 'reconnect', back.length);
      this._requeue(back);
    }
  }
}

/** batchLines returns the Agent API JSON of each entry of a batch (for the fallback file, or to split it). */
function batchLines(b) {
  return b.enc !== null ? b.enc.lines() : b.recs.map(wire.encodeRecord);
}

function pushAll(dst, src) {
  for (let i = 0; i < src.length; i++) dst.push(src[i]);
}

/** createClient returns a client for the agent that options describe. */
function createClient(options) {
  return new Client(options);
}

module.exports = { Client, createClient, resolveOptions, UnavailableError, DEFAULTS };
