'use strict';
// The fallback file: entries the agent could not take, one per line as the
// Agent API's single-entry message (an entry object without a version, which
// means "1.0"), so that `logflux-agent send --file FILE` replays it as is.
//
// Writes are asynchronous (never on the caller's stack) and appended in
// order by one writer; each write is followed by fdatasync. At process
// 'exit' whatever is still waiting (or in flight) is written synchronously,
// which may write a line twice but never loses one. The file never grows
// past maxBytes: entries that do not fit are counted as dropped. If the file
// is removed or replaced (after a replay), the next write opens it anew.

const fs = require('node:fs');

class Fallback {
  /**
   * @param {string} path
   * @param {number} maxBytes the file's cap
   * @param {number} maxWaiting bytes of entries that may wait to be written
   * @param {(written: number, dropped: number, reason: string|null, err: Error|null) => void} report
   */
  constructor(path, maxBytes, maxWaiting, report) {
    this.path = path;
    this.max = maxBytes;
    this.maxWaiting = maxWaiting;
    this.report = report;
    this.waiting = []; // encoded entries not yet written
    this.waitingBytes = 0; // their size
    this.inflight = []; // entries of the write under way
    this.fd = null;
    this.ino = -1;
    this.size = 0;
    this.running = null; // the writer's promise while it runs
  }

  /** room is how many bytes of entries add takes now. */
  room() {
    return this.maxWaiting - this.waitingBytes;
  }

  /**
   * add queues entries for writing, as long as no more than maxWaiting bytes
   * wait (unless a higher limit is given); they are written soon, in order.
   * It returns how many it took.
   */
  add(entries, maxWaiting = this.maxWaiting) {
    let n = 0;
    for (; n < entries.length; n++) {
      const size = entries[n].length + 1;
      if (this.waitingBytes + size > maxWaiting) break;
      this.waiting.push(entries[n]);
      this.waitingBytes += size;
    }
    if (n > 0 && !this.running) this.running = this._run().finally(() => { this.running = null; });
    return n;
  }

  /** idle resolves once everything added so far is written. */
  async idle() {
    while (this.running) await this.running;
  }

  async _run() {
    while (this.waiting.length > 0) {
      this.inflight = this.waiting;
      this.waiting = [];
      this.waitingBytes = 0;
      try {
        await this._reopen();
        const { text, n } = this._fit(this.inflight);
        const dropped = this.inflight.length - n;
        if (text.length > 0) {
          const buf = Buffer.from(text);
          let off = 0;
          while (off < buf.length) off += (await writeAsync(this.fd, buf, off)).bytesWritten;
          this.size += buf.length;
          await new Promise((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
        }
        this.inflight = [];
        this.report(n, dropped, dropped ? 'fallback_full' : null, null);
      } catch (err) {
        const n = this.inflight.length;
        this.inflight = [];
        this._closeFd();
        this.report(0, n, 'fallback_error', wrap(err));
      }
    }
  }

  /** _fit returns the lines of entries that fit under the cap, and how many. */
  _fit(entries) {
    let room = this.max - this.size;
    let text = '';
    let n = 0;
    for (const e of entries) {
      const len = Buffer.byteLength(e) + 1;
      if (len > room) continue;
      room -= len;
      text += e + '\n';
      n++;
    }
    return { text, n };
  }

  async _reopen() {
    if (this.fd !== null) {
      const st = await statOrNull(this.path);
      if (st && st.ino === this.ino) { this.size = st.size; return; }
      this._closeFd();
    }
    this.fd = await new Promise((resolve, reject) => fs.open(this.path, 'a', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
    const st = fs.fstatSync(this.fd);
    this.ino = st.ino;
    this.size = st.size;
  }

  _closeFd() {
    if (this.fd !== null) {
      try { fs.closeSync(this.fd); } catch { /* already gone */ }
      this.fd = null;
    }
  }

  /**
   * writeSync writes entries (and everything waiting) at once, blocking:
   * only for process 'exit', where nothing asynchronous runs any more.
   * It returns how many entries were written and how many dropped.
   */
  writeSync(entries) {
    const all = this.inflight.concat(this.waiting, entries);
    this.inflight = [];
    this.waiting = [];
    this.waitingBytes = 0;
    if (all.length === 0) return { written: 0, dropped: 0, err: null };
    let fd = null;
    try {
      fd = fs.openSync(this.path, 'a', 0o600);
      this.size = fs.fstatSync(fd).size;
      const { text, n } = this._fit(all);
      if (text.length > 0) {
        fs.writeSync(fd, text);
        fs.fdatasyncSync(fd);
        this.size += Buffer.byteLength(text);
      }
      return { written: n, dropped: all.length - n, err: null };
    } catch (err) {
      return { written: 0, dropped: all.length, err: wrap(err) };
    } finally {
      if (fd !== null) try { fs.closeSync(fd); } catch { /* ignore */ }
    }
  }

  close() { this._closeFd(); }
}

function writeAsync(fd, buf, off) {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, buf.length - off, null, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))));
}

function statOrNull(p) {
  return new Promise((resolve) => fs.stat(p, (err, st) => resolve(err ? null : st)));
}

function wrap(err) {
  const e = new Error('logflux: fallback file: ' + err.message);
  e.cause = err;
  return e;
}

module.exports = { Fallback };
