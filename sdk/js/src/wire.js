'use strict';
// The Agent API's wire format: entry encoding, the fixed control lines, the
// answer line reader, and address parsing/discovery. Everything here is pure
// (no sockets, no timers) so the conformance tests can drive it directly.

const path = require('node:path');

/** Limits of the Agent API the SDK checks before sending. */
const limits = Object.freeze({
  maxPayloadBytes: 1 << 20,
  maxSourceChars: 256,
  maxMetaValueChars: 1024,
  maxPayloadTypeLen: 64,
  maxBatchEntries: 100,
  maxLineBytes: 15 << 20, // well under the agent's default 16 MiB line
  maxAnswerBytes: 1 << 20,
});

const LEVELS = Object.freeze({
  emergency: 1, alert: 2, critical: 3, error: 4, warning: 5, notice: 6, info: 7, debug: 8,
});
const LEVEL_ALIASES = Object.freeze({ emerg: 1, crit: 3, err: 4, warn: 5, fatal: 2, trace: 8 });
const TYPES = Object.freeze({ log: 1, metric: 2, trace: 3, event: 4, audit: 5 });

const BATCH_PREFIX = '{"version":"1.0","entries":[';
// A batch is always followed by a ping: the pong marks the end of the agent's
// answers to that batch (see connection.js).
const BATCH_SUFFIX = ']}\n{"version":"1.0","action":"ping"}\n';
const FLUSH_LINE = '{"version":"1.0","action":"flush"}\n';
const PING_LINE = '{"version":"1.0","action":"ping"}\n';
const PONG = '{"status":"pong"}';

function authLine(secret) {
  return '{"version":"1.0","action":"authenticate","shared_secret":' + JSON.stringify(String(secret)) + '}\n';
}

/**
 * levelNumber returns the Agent API level (1-8) for a name or number, or 0
 * when it is not one.
 */
function levelNumber(v) {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= 8 ? v : 0;
  if (typeof v === 'string') {
    const k = v.toLowerCase();
    return LEVELS[k] || LEVEL_ALIASES[k] || 0;
  }
  return 0;
}

function typeNumber(v) {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= 5 ? v : 0;
  if (typeof v === 'string') return TYPES[v.toLowerCase()] || 0;
  return 0;
}

const PAYLOAD_TYPE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** charCount counts Unicode code points, as the agent does for limits. */
function charCount(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

/**
 * cutChars returns s when it has at most n code points, else its first n-1
 * code points followed by "…".
 */
function cutChars(s, n) {
  if (s.length <= n || charCount(s) <= n) return s;
  let i = 0;
  for (let k = 0; k < n - 1; k++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return s.slice(0, i) + '…';
}

function metaString(v) {
  switch (typeof v) {
    case 'string': return v;
    case 'number': case 'boolean': case 'bigint': return String(v);
    case 'undefined': return undefined;
    case 'symbol': return v.toString();
    case 'function': return undefined;
  }
  if (v === null) return 'null';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (v instanceof Error) return v.stack || String(v);
  try { return JSON.stringify(v); } catch { return String(v); }
}

/**
 * flattenInto copies obj's fields into out as strings, nested objects as
 * dotted keys ("req.method"). Plain objects are descended into up to a
 * depth; arrays, Dates, Errors and deeper objects become JSON or text.
 */
function flattenInto(out, obj, prefix, depth) {
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    const key = prefix ? prefix + '.' + k : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && depth < 8) {
      if (v instanceof Error) {
        out[key + '.type'] = v.name || 'Error';
        out[key + '.message'] = String(v.message);
        if (v.stack) out[key + '.stack'] = String(v.stack);
        continue;
      }
      flattenInto(out, v, key, depth + 1);
      continue;
    }
    const s = metaString(v);
    if (s !== undefined) out[key] = s;
  }
  return out;
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** validRFC3339 checks the form and the ranges (no February 30th) of an RFC 3339 time. */
function validRFC3339(s) {
  const m = RFC3339_RE.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days && h <= 23 && mi <= 59 && se <= 59 &&
    (m[8] === undefined || (Number(m[8]) <= 23 && Number(m[9]) <= 59));
}

// The date and time of day are formatted once per second and cached; only
// the milliseconds are formatted per entry. A timestamp is kept as
// milliseconds from log() until its batch is encoded.
let tsSec = -1;
let tsPrefix = '';
const MS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0') + 'Z"');
const MAX_CACHED_MS = 253402300799999; // 9999-12-31T23:59:59.999Z: four-digit years

/** timestampJSON returns the quoted RFC 3339 UTC time of ms, or ts itself (a checked RFC 3339 string) quoted. */
function timestampJSON(ts) {
  if (typeof ts === 'string') return '"' + ts + '"'; // checked by validRFC3339: nothing to escape
  if (ts < 0 || ts > MAX_CACHED_MS) return '"' + new Date(ts).toISOString() + '"';
  const sec = Math.floor(ts / 1000);
  if (sec !== tsSec) {
    tsPrefix = '"' + new Date(sec * 1000).toISOString().slice(0, 20); // "2025-08-31T10:30:00.
    tsSec = sec;
  }
  return tsPrefix + MS3[ts - sec * 1000];
}

/** toTime returns a timestamp for the record: milliseconds, a checked RFC 3339 string, or null when invalid. */
function toTime(t) {
  if (t === undefined || t === null) return Date.now();
  if (typeof t === 'string') return validRFC3339(t) ? t : null;
  const ms = t instanceof Date ? t.getTime() : new Date(t).getTime();
  return Number.isNaN(ms) ? null : ms;
}

class InvalidEntryError extends Error {
  constructor(message) { super('logflux: invalid entry: ' + message); this.name = 'InvalidEntryError'; this.code = 'invalid_entry'; }
}

// JSON of recently seen sources and metadata keys: they repeat from entry to
// entry, so each is escaped once. Bounded; cleared when full.
const jsonCache = new Map();

function cachedJSON(k) {
  let j = jsonCache.get(k);
  if (j === undefined) {
    j = quote(k);
    if (k.length <= 256) {
      if (jsonCache.size >= 4096) jsonCache.clear();
      jsonCache.set(k, j);
    }
  }
  return j;
}

// A string with none of these is its own JSON between quotes: printable
// ASCII without '"' or '\'. Anything else (controls, non-ASCII, lone
// surrogates) goes through JSON.stringify.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

function quote(s) {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * Record is an entry as log() keeps it until its batch is encoded: checked
 * fields and a copy of the metadata as [key, value, key, value, …] with
 * values that are strings, numbers or booleans (all immutable, so the
 * caller may change its objects after log() returns). size is the
 * estimate charged to the queue until the batch is encoded (see
 * estimateSize).
 */
class Record {
  constructor(payload, type, level, source, ts, payloadType, meta, size) {
    this.payload = payload;
    this.type = type;
    this.level = level;
    this.source = source;
    this.ts = ts;
    this.payloadType = payloadType;
    this.meta = meta;
    this.size = size;
  }
}

// The JSON of an entry besides its strings: {"payload":"","entryType":1,
// "source":"","logLevel":7,"timestamp":"2025-08-31T10:30:00.000Z"}.
const ENTRY_FIXED = 92;
const META_NUMBER = 24; // the longest number as text: -1.2345678901234567e+308
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * makeRecord checks an entry object and returns its Record, filling
 * defaults, or throws an InvalidEntryError. The caller (Client.log)
 * catches it. Its size estimate counts strings in UTF-16 code units
 * (metadata values at most 2048, the most a cut value keeps), numbers as
 * 24: exact in bytes for ASCII text with nothing to escape.
 */
function makeRecord(e, defaultSource) {
  let payload = e.payload;
  if (typeof payload !== 'string') {
    if (payload === undefined || payload === null) throw new InvalidEntryError('payload is missing');
    payload = metaString(payload);
  }
  if (payload.length === 0) throw new InvalidEntryError('payload is empty');
  if (payload.length > limits.maxPayloadBytes / 3 && Buffer.byteLength(payload) > limits.maxPayloadBytes) {
    throw new InvalidEntryError('payload is more than 1 MiB');
  }
  let type = 1;
  const et = e.type !== undefined ? e.type : e.entryType;
  if (et !== undefined && et !== null) {
    type = typeNumber(et);
    if (!type) throw new InvalidEntryError('entry type ' + String(et) + ' is not 1-5 or log, metric, trace, event, audit');
  }
  let level = 7;
  const lv = e.level !== undefined ? e.level : e.logLevel;
  if (lv !== undefined && lv !== null) {
    level = levelNumber(lv);
    if (!level) throw new InvalidEntryError('level ' + String(lv) + ' is not 1-8 or emergency … debug');
  }
  let source = e.source;
  if (source === undefined || source === null || source === '') source = defaultSource;
  else if (typeof source !== 'string') source = String(source);
  if (source.length > limits.maxSourceChars && charCount(source) > limits.maxSourceChars) {
    throw new InvalidEntryError('source is longer than 256 characters');
  }
  const ts = toTime(e.timestamp);
  if (ts === null) throw new InvalidEntryError('timestamp is not a valid time (a Date, milliseconds, or an RFC 3339 string)');
  let size = ENTRY_FIXED + payload.length + source.length;
  let pt = e.payloadType;
  if (pt !== undefined && pt !== null && pt !== '') {
    if (typeof pt !== 'string' || !PAYLOAD_TYPE_RE.test(pt)) {
      throw new InvalidEntryError('payload type ' + JSON.stringify(String(pt)) + " is not 1-64 letters, digits, '_', '-' or '.'");
    }
    size += 16 + pt.length;
  } else {
    pt = null;
  }
  let meta = null;
  const md = e.metadata;
  if (md !== undefined && md !== null && typeof md === 'object') {
    for (const k in md) {
      if (!hasOwn.call(md, k)) continue;
      let v = md[k];
      const t = typeof v;
      if (t === 'number' || t === 'boolean') {
        size += k.length + META_NUMBER + 6;
      } else {
        if (t !== 'string') {
          if (v !== null && t === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
            // A nested object: dotted keys, as text now.
            const flat = flattenInto({}, { [k]: v }, '', 0);
            for (const fk in flat) {
              const fv = flat[fk];
              if (meta === null) meta = [];
              meta.push(fk, fv);
              size += fk.length + (fv.length < 2048 ? fv.length : 2048) + 6;
            }
            continue;
          }
          v = metaString(v);
          if (v === undefined) continue;
        }
        size += k.length + (v.length < 2048 ? v.length : 2048) + 6;
      }
      if (meta === null) meta = [];
      meta.push(k, v);
    }
    if (meta !== null) size += 13; // ,"metadata":{}
  }
  return new Record(payload, type, level, source, ts, pt, meta, size);
}

/**
 * mappedRecord returns the Record of an entry that an adapter (the pino
 * transport) mapped itself: level a number 1-8, ts milliseconds, meta
 * [key, value, …] with values that are strings, numbers or booleans (or
 * null: none). It checks and estimates as makeRecord does, or throws an
 * InvalidEntryError.
 */
function mappedRecord(payload, level, source, ts, meta) {
  if (payload.length === 0) throw new InvalidEntryError('payload is empty');
  if (payload.length > limits.maxPayloadBytes / 3 && Buffer.byteLength(payload) > limits.maxPayloadBytes) {
    throw new InvalidEntryError('payload is more than 1 MiB');
  }
  let size = ENTRY_FIXED + payload.length + source.length;
  if (meta !== null) {
    for (let i = 0; i < meta.length; i += 2) {
      const v = meta[i + 1];
      size += meta[i].length + 6 + (typeof v !== 'string' ? META_NUMBER : v.length < 2048 ? v.length : 2048);
    }
    size += 13; // ,"metadata":{}
  }
  return new Record(payload, 1, level, source, ts, null, meta, size);
}

/** encodeRecord returns the Agent API LogEntry JSON of a record (without a version: "1.0" is implied). */
function encodeRecord(r) {
  let s = '{"payload":' + quote(r.payload) + ',"entryType":' + r.type + ',"source":' + cachedJSON(r.source) +
    ',"logLevel":' + r.level + ',"timestamp":' + timestampJSON(r.ts);
  if (r.payloadType !== null) s += ',"payloadType":"' + r.payloadType + '"'; // checked: nothing to escape
  const m = r.meta;
  if (m !== null) {
    s += ',"metadata":{';
    for (let i = 0; i < m.length; i += 2) {
      const v = m[i + 1];
      s += (i === 0 ? '' : ',') + cachedJSON(m[i]) + ':' +
        (typeof v === 'string' ? quote(v.length > limits.maxMetaValueChars ? cutChars(v, limits.maxMetaValueChars) : v) : '"' + v + '"');
    }
    s += '}';
  }
  return s + '}';
}

/**
 * encodeEntry returns the Agent API LogEntry JSON for an entry object,
 * filling defaults, or throws an InvalidEntryError.
 */
function encodeEntry(e, defaultSource) {
  return encodeRecord(makeRecord(e, defaultSource));
}

/** batchLine returns the batch message for records, followed by a ping. */
function batchLine(records) {
  let s = BATCH_PREFIX;
  for (let i = 0; i < records.length; i++) s += (i === 0 ? '' : ',') + encodeRecord(records[i]);
  return s + BATCH_SUFFIX;
}

const BATCH_PREFIX_BYTES = BATCH_PREFIX.length; // ASCII
const BATCH_SUFFIX_BYTES = BATCH_SUFFIX.length;

/**
 * EncodedBatch is a batch message (followed by its ping) in one Buffer,
 * with where each entry's JSON ends in it: entry i is
 * buf[start(i), ends[i]) with start(0) = the prefix's length and
 * start(i) = ends[i-1] + 1 (after the comma). Once encoded, a batch holds
 * no JavaScript objects per entry, only bytes outside the heap.
 */
class EncodedBatch {
  constructor(buf, ends) {
    this.buf = buf;
    this.ends = ends;
  }

  get count() { return this.ends.length; }

  /** line returns entry i's JSON. */
  line(i) {
    return this.buf.toString('utf8', i === 0 ? BATCH_PREFIX_BYTES : this.ends[i - 1] + 1, this.ends[i]);
  }

  /** lines returns every entry's JSON, in order. */
  lines() {
    const out = new Array(this.ends.length);
    for (let i = 0; i < out.length; i++) out[i] = this.line(i);
    return out;
  }
}

/** encodeBatch encodes records into one batch message and its ping. */
function encodeBatch(records) {
  return encodeBatchLines(records.map(encodeRecord));
}

/** encodeBatchLines makes a batch message and its ping of entries' JSON. */
function encodeBatchLines(lines) {
  const n = lines.length;
  const ends = new Array(n);
  let s = BATCH_PREFIX;
  for (let i = 0; i < n; i++) {
    s += (i === 0 ? '' : ',') + lines[i];
    ends[i] = s.length; // in UTF-16 code units: bytes while the text is ASCII
  }
  s += BATCH_SUFFIX;
  const buf = Buffer.from(s);
  if (buf.length !== s.length) {
    // Text beyond ASCII: the ends in bytes, entry by entry.
    let off = BATCH_PREFIX_BYTES;
    for (let i = 0; i < n; i++) {
      off += Buffer.byteLength(lines[i]);
      ends[i] = off;
      off++; // the comma
    }
  }
  return new EncodedBatch(buf, ends);
}

/**
 * LineReader splits a byte stream into lines. push returns the complete
 * lines (without "\n" or "\r"); a line longer than maxBytes is an error.
 */
class LineReader {
  constructor(maxBytes = limits.maxAnswerBytes) {
    this.max = maxBytes;
    this.rest = null; // Buffer: the start of an unfinished line
  }

  push(chunk) {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    const lines = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      if (end > start) lines.push(buf.toString('utf8', start, end));
      start = nl + 1;
    }
    if (start < buf.length) {
      if (buf.length - start > this.max) throw new Error('logflux: agent answer longer than ' + this.max + ' bytes');
      this.rest = Buffer.from(buf.subarray(start));
    }
    return lines;
  }
}

/**
 * parseAnswer reads one answer line of the agent into an object with at
 * least `status`. It throws on a line that is not a JSON object.
 */
function parseAnswer(line) {
  if (line === PONG) return { status: 'pong' };
  const r = JSON.parse(line);
  if (r === null || typeof r !== 'object' || Array.isArray(r) || typeof r.status !== 'string') {
    throw new Error('logflux: unreadable answer from the agent: ' + line.slice(0, 200));
  }
  return r;
}

/** AgentError is an error answer of the agent. */
class AgentError extends Error {
  constructor(answer) {
    super('logflux: agent answered ' + answer.code + (answer.message ? ': ' + answer.message : '') +
      (Array.isArray(answer.errors) && answer.errors.length ? ' (' + answer.errors.length + ' entries)' : ''));
    this.name = 'AgentError';
    this.code = String(answer.code || 'unknown');
    this.errors = Array.isArray(answer.errors) ? answer.errors : [];
  }

  /** isAuth reports whether the agent refused authentication. */
  get isAuth() { return this.code.startsWith('auth_'); }
}

const ENV_ADDR = 'LOGFLUX_AGENT_ADDR';
const ENV_SECRET = 'LOGFLUX_SHARED_SECRET';
const DEFAULT_SOCKETS = Object.freeze(['/tmp/logflux-agent.sock', '/var/run/logflux-agent/agent.sock']);

/** parseAddress reads "unix:///path" or "tcp://host:port" into an endpoint, or throws. */
function parseAddress(s) {
  if (typeof s !== 'string') throw new Error('logflux: address must be a string');
  if (s.startsWith('unix://')) {
    const p = s.slice(7);
    if (!p.startsWith('/')) throw new Error(`logflux: address ${JSON.stringify(s)}: a unix address needs an absolute path (unix:///path)`);
    return { network: 'unix', path: p, toString: () => s };
  }
  if (s.startsWith('tcp://')) {
    const hp = s.slice(6);
    const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(hp);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) throw new Error(`logflux: address ${JSON.stringify(s)}: want tcp://host:port`);
    return { network: 'tcp', host: m[1] || m[2] || '127.0.0.1', port, toString: () => s };
  }
  throw new Error(`logflux: address ${JSON.stringify(s)}: want unix:///path or tcp://host:port`);
}

/**
 * discover returns the endpoints to try, in order: the configured address,
 * else LOGFLUX_AGENT_ADDR, else the default sockets (as the Go SDK).
 */
function discover(address, env) {
  if (address) return [parseAddress(address)];
  const fromEnv = env[ENV_ADDR];
  if (fromEnv) {
    try {
      return [parseAddress(fromEnv)];
    } catch (err) {
      throw new Error(ENV_ADDR + ': ' + err.message);
    }
  }
  return DEFAULT_SOCKETS.map((p) => parseAddress('unix://' + p));
}

/** programName is the default source: the main script's name. */
function programName() {
  const main = process.argv[1];
  if (main) {
    const name = path.basename(main).replace(/\.(c|m)?(j|t)s$/, '');
    if (name && name !== '.' && name !== '/') return cutChars(name, limits.maxSourceChars);
  }
  return 'node-app';
}

module.exports = {
  limits, LEVELS, TYPES, BATCH_PREFIX, BATCH_SUFFIX, FLUSH_LINE, PING_LINE, authLine,
  levelNumber, typeNumber, charCount, cutChars, metaString, flattenInto, Record, makeRecord, mappedRecord, encodeRecord, encodeEntry, batchLine,
  EncodedBatch, encodeBatch, encodeBatchLines, BATCH_SUFFIX_BYTES,
  LineReader, parseAnswer, AgentError, InvalidEntryError, parseAddress, discover, programName,
  ENV_ADDR, ENV_SECRET, DEFAULT_SOCKETS,
};
