'use strict';
// The pino transport: pino({ transport: { target: '@logflux/agent-sdk/pino', options } }).
// It runs in pino's worker thread, built on pino-abstract-transport; options
// must be structured-cloneable (no onError function). pino ends the worker
// at exit (its own flushSync and worker shutdown) and this transport's
// close flushes to the agent first.
//
// pino's worker (thread-stream) hands the text pino wrote to
// pino-abstract-transport, which splits it into lines. The transport takes
// every line at once while it holds less than maxQueueBytes characters of
// them, so that pino's lines wait here, as text, rather than in the
// application's thread (see the README's Performance section). It parses
// and queues them a slice per turn of the worker's event loop (so the next
// chunk is taken between slices), and stops while the client waits for
// room; only when it holds maxQueueBytes characters does it pause the
// source, and pino then buffers and waits as with its own file transport.

const build = require('pino-abstract-transport');
const { createClient } = require('./client.js');
const { pinoRecord } = require('./mapping.js');

// Lines queued per turn of the worker's event loop.
const SLICE = 1000;

// What parseLine tells pino-abstract-transport a line is: any object makes
// it hand over the line itself, unparsed.
const LINE = {};

/** LineHolder holds pino's lines in the worker and queues them in the client. */
class LineHolder {
  constructor(client, messageKey, holdChars) {
    this._client = client;
    this._limit = holdChars;
    this._source = null;
    this._lines = []; // lines taken, not yet queued, from _next on
    this._next = 0;
    this._held = 0; // characters in _lines[_next:]
    this._paused = false;
    this._waiting = false; // the client asked to wait for room
    this._scheduled = false;
    this._emptied = null; // close's resolve, called once nothing is held
    this._make = (obj, source) => pinoRecord(obj, messageKey, source);
    this._drainBound = () => this._drain();
    this._onRoom = () => {
      this._waiting = false;
      this._schedule();
    };
  }

  attach(source) {
    this._source = source;
    source.on('data', (line) => {
      this._lines.push(line);
      this._held += line.length;
      if (this._held > this._limit && !this._paused) {
        this._paused = true;
        source.pause();
      }
      this._schedule();
    });
  }

  _schedule() {
    if (this._scheduled || this._waiting) return;
    this._scheduled = true;
    setImmediate(this._drainBound);
  }

  /** _drain queues up to SLICE held lines, fewer if the client asks to wait. */
  _drain() {
    this._scheduled = false;
    const c = this._client;
    let budget = SLICE;
    while (this._next < this._lines.length && !this._waiting && budget-- > 0) {
      this._take();
      if (c._shouldWait(this._onRoom)) this._waiting = true;
    }
    if (this._next === this._lines.length) {
      this._lines = [];
      this._next = 0;
      if (this._emptied !== null) this._emptied();
    } else if (!this._waiting) {
      this._schedule();
    }
    if (this._paused && this._held <= this._limit) {
      this._paused = false;
      this._source.resume();
    }
  }

  _take() {
    const line = this._lines[this._next];
    this._lines[this._next++] = undefined;
    this._held -= line.length;
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      return; // not JSON: ignored, as pino-abstract-transport does
    }
    if (obj === null) return;
    if (typeof obj !== 'object') obj = { data: obj, time: Date.now() };
    this._client._logRecord(this._make, obj);
  }

  /**
   * close runs once pino's worker ended the stream: it queues what is still
   * held, waiting for room as before (the client does not wait while the
   * agent is away: a full queue then goes to the fallback file or is
   * counted as dropped), then flushes and closes the client.
   */
  async close() {
    if (this._next < this._lines.length) {
      await new Promise((resolve) => {
        this._emptied = resolve;
        this._schedule();
      });
    }
    await this._client.close();
  }
}

/**
 * @param {object} [options] createClient options, plus messageKey (pino's, default "msg")
 */
async function logfluxTransport(options = {}) {
  // pino adds $context and pinoWillSendConfig to every transport's options.
  const { messageKey = 'msg', $context, pinoWillSendConfig, ...clientOptions } = options;
  const client = createClient(clientOptions);
  const holder = new LineHolder(client, messageKey, client._o.maxQueueBytes);
  return build((source) => holder.attach(source), {
    // Lines as text: the holder parses each once, when it queues it.
    parse: 'lines',
    parseLine: () => LINE,
    metadata: false,
    async close() {
      await holder.close();
    },
  });
}

module.exports = logfluxTransport;
module.exports.default = logfluxTransport;
