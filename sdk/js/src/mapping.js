'use strict';
// How pino and winston records become Agent API entries: level mapping,
// the message as payload, every other field as metadata (nested keys dotted,
// values as strings; the encoder cuts them to the agent's 1024 characters).

const wire = require('./wire.js');

/** pinoLevel maps pino's numeric levels: 10/20 → debug, 30 → info, 40 → warning, 50 → error, 60 → critical. */
function pinoLevel(n) {
  if (typeof n !== 'number') return wire.levelNumber(n) || 7;
  if (n >= 60) return 3;
  if (n >= 50) return 4;
  if (n >= 40) return 5;
  if (n >= 30) return 7;
  return 8;
}

const hasOwn = Object.prototype.hasOwnProperty;

const MAX_DATE_MS = 8.64e15;

/**
 * pinoRecord turns one parsed pino line straight into the client's record
 * (no entry object in between): the message as payload (else err.message,
 * else "(empty)"), time as timestamp (else now), every other field as
 * metadata, nested objects as dotted keys and an err as err.type,
 * err.message, err.stack. It throws an InvalidEntryError as makeRecord does.
 */
function pinoRecord(obj, messageKey, source) {
  let meta = null;
  let payload;
  for (const k in obj) {
    if (!hasOwn.call(obj, k) || k === 'level' || k === 'time') continue;
    const v = obj[k];
    if (k === messageKey && typeof v === 'string') {
      payload = v;
      continue;
    }
    if (meta === null) meta = [];
    const t = typeof v;
    if (t === 'string' || t === 'number' || t === 'boolean') {
      meta.push(k, v);
    } else if (v !== null && t === 'object' && !Array.isArray(v)) {
      const flat = wire.flattenInto({}, v, k, 1);
      for (const fk in flat) meta.push(fk, flat[fk]);
    } else {
      const s = wire.metaString(v);
      if (s !== undefined) meta.push(k, s);
    }
  }
  if (meta !== null && meta.length === 0) meta = null;
  if (!payload) payload = (obj.err && typeof obj.err.message === 'string' && obj.err.message) || '(empty)';
  let ts;
  const t = obj.time;
  if (typeof t === 'number' && Number.isInteger(t) && t >= -MAX_DATE_MS && t <= MAX_DATE_MS) ts = t;
  else if (typeof t === 'number' || typeof t === 'string') ts = new Date(t).getTime();
  if (ts === undefined || Number.isNaN(ts)) ts = Date.now();
  return wire.mappedRecord(payload, pinoLevel(obj.level), source, ts, meta);
}

// winston's npm and syslog level sets; anything else maps through the
// Agent API's names, else info.
const WINSTON_LEVELS = Object.freeze({
  error: 4, warn: 5, info: 7, http: 7, verbose: 8, debug: 8, silly: 8,
  emerg: 1, alert: 2, crit: 3, warning: 5, notice: 6,
});

const LEVEL = Symbol.for('level');

/** winstonEntry turns a winston info object into an entry. */
function winstonEntry(info, levelMap) {
  const name = info[LEVEL] !== undefined ? info[LEVEL] : info.level;
  let level = (levelMap && levelMap[name]) || WINSTON_LEVELS[name] || wire.levelNumber(name) || 7;
  if (typeof level === 'string') level = wire.levelNumber(level) || 7;
  const metadata = {};
  for (const k of Object.keys(info)) {
    if (k === 'level' || k === 'message') continue;
    const v = info[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) wire.flattenInto(metadata, v, k, 1);
    else if (v instanceof Error) wire.flattenInto(metadata, { [k]: v }, '', 0);
    else {
      const s = wire.metaString(v);
      if (s !== undefined) metadata[k] = s;
    }
  }
  let payload = info.message;
  if (typeof payload !== 'string') payload = payload === undefined || payload === null ? '' : wire.metaString(payload);
  if (!payload) payload = '(empty)';
  const e = { payload, level, metadata };
  if (info.timestamp !== undefined) {
    const d = new Date(info.timestamp);
    if (!Number.isNaN(d.getTime())) e.timestamp = d;
  }
  return e;
}

module.exports = { pinoLevel, pinoRecord, winstonEntry, WINSTON_LEVELS };
