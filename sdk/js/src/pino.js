'use strict';
// The pino transport: pino({ transport: { target: '@logflux/agent-sdk/pino', options } }).
// It runs in pino's worker thread; options must be structured-cloneable (no
// onError function). pino ends the worker at exit (its own flushSync and
// worker shutdown) and this transport's close flushes to the agent first.
//
// pino's worker (thread-stream) hands the transport the text pino wrote, a
// chunk of many lines at a time, and takes the next chunk from the shared
// buffer only once the transport accepted this one. The transport takes
// chunks at once while it holds less than maxQueueBytes characters of them
// (so pino's lines wait here, as text, rather than in the application's
// thread: see the README's Performance section). It splits them into
// lines, parses each and queues it, a slice of lines per turn of the
// worker's event loop (so the next chunk is taken between slices), and
// stops while the client waits for room.

const { Writable } = require('node:stream');
const { createClient } = require('./client.js');
const { pinoRecord } = require('./mapping.js');

// Lines queued per turn of the worker's event loop.
const SLICE = 1000;

/**
 * PinoSink is the stream pino's worker writes to. Lines that are not JSON
 * are ignored, null is ignored and other non-objects become
 * { data, time }, as pino-abstract-transport does.
 */
class PinoSink extends Writable {
  constructor(client, messageKey, holdChars) {
    super({ decodeStrings: false, autoDestroy: true, emitClose: true });
    this._client = client;
    this._limit = holdChars;
    this._chunks = []; // text taken from pino, not yet split
    this._pos = 0; // where the unsplit text of _chunks[0] starts
    this._partial = ''; // the start of a line whose end is in the next chunk
    this._held = 0; // characters in _chunks
    this._writeCb = null; // the callback of a chunk taken over the limit
    this._finalCb = null;
    this._waiting = false;
    this._scheduled = false;
    this._make = (obj, source) => pinoRecord(obj, messageKey, source);
    this._drainBound = () => this._drain();
    this._onRoom = () => {
      this._waiting = false;
      this._schedule();
    };
  }

  _write(chunk, encoding, cb) {
    const s = typeof chunk === 'string' ? chunk : chunk.toString();
    if (s.length > 0) {
      this._chunks.push(s);
      this._held += s.length;
      this._schedule();
    }
    if (this._held > this._limit) this._writeCb = cb;
    else cb();
  }

  _final(cb) {
    this._finalCb = cb;
    this._drain();
  }

  _destroy(err, cb) {
    // Ended (after _final) or destroyed: whatever is still held is queued
    // now (a full queue sends it to the fallback file or counts it as
    // dropped), then the client flushes and closes.
    this._waiting = false;
    this._split(true, Infinity);
    if (this._partial !== '') this._line(this._partial);
    this._partial = '';
    this._client.close().then(() => cb(err), () => cb(err));
  }

  _schedule() {
    if (this._scheduled || this._waiting) return;
    this._scheduled = true;
    setImmediate(this._drainBound);
  }

  /**
   * _drain queues up to SLICE held lines (fewer if the client asks to
   * wait), so that pino's worker takes the next chunk from the shared
   * buffer between slices; then it calls back the writer or _final if
   * they may go on.
   */
  _drain() {
    this._scheduled = false;
    if (!this._waiting) this._split(false, SLICE);
    if (this._writeCb !== null && this._held <= this._limit) {
      const cb = this._writeCb;
      this._writeCb = null;
      cb();
    }
    if (this._chunks.length > 0) {
      this._schedule();
    } else if (this._finalCb !== null && !this._waiting) {
      if (this._partial !== '') this._line(this._partial); // a last line without "\n"
      this._partial = '';
      const cb = this._finalCb;
      this._finalCb = null;
      cb();
    }
  }

  /** _split queues up to budget held lines, and stops early when the client asks to wait (unless force). */
  _split(force, budget) {
    const c = this._client;
    const chunks = this._chunks;
    while (chunks.length > 0) {
      const s = chunks[0];
      let pos = this._pos;
      let stop = false;
      let nl;
      while ((nl = s.indexOf('\n', pos)) >= 0) {
        let line = s.slice(pos, nl);
        if (this._partial !== '') {
          line = this._partial + line;
          this._partial = '';
        }
        pos = nl + 1;
        this._line(line);
        if (force) continue;
        if (c._shouldWait(this._onRoom)) this._waiting = true;
        if (this._waiting || --budget <= 0) {
          stop = true;
          if (pos < s.length) {
            this._pos = pos;
            return;
          }
          break;
        }
      }
      if (nl < 0 && pos < s.length) this._partial += s.slice(pos);
      chunks.shift();
      this._held -= s.length;
      this._pos = 0;
      if (stop) return;
    }
  }

  _line(line) {
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      return;
    }
    if (obj === null) return;
    if (typeof obj !== 'object') obj = { data: obj, time: Date.now() };
    this._client._logRecord(this._make, obj);
  }
}

/**
 * @param {object} [options] createClient options, plus messageKey (pino's, default "msg")
 */
async function logfluxTransport(options = {}) {
  // pino adds $context and pinoWillSendConfig to every transport's options.
  const { messageKey = 'msg', $context, pinoWillSendConfig, ...clientOptions } = options;
  const client = createClient(clientOptions);
  return new PinoSink(client, messageKey, client._o.maxQueueBytes);
}

module.exports = logfluxTransport;
module.exports.default = logfluxTransport;
