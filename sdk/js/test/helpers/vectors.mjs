// Loads the conformance vectors in testdata/protocol/cases and matches
// values under their rules (testdata/protocol/README.md).

import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './agent.mjs';

export const vectorsDir = path.join(repoRoot, 'testdata', 'protocol', 'cases');

export function loadVectors() {
  const all = [];
  for (const f of fs.readdirSync(vectorsDir).filter((n) => n.endsWith('.json')).sort()) {
    const doc = JSON.parse(fs.readFileSync(path.join(vectorsDir, f), 'utf8'));
    for (const c of doc.cases) all.push({ ...c, file: f });
  }
  return all;
}

/** stepBytes returns what a send step writes, newline included. */
export function stepBytes(step, secret) {
  if (step.send_raw !== undefined) return Buffer.from(step.send_raw, 'base64');
  let text = step.send.replaceAll('@SECRET@', secret);
  for (const [ph, x] of Object.entries(step.expand || {})) text = text.replaceAll(ph, x.repeat.repeat(x.count));
  return Buffer.from(text + '\n');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** match returns how actual differs from expected ('' when it matches). */
export function match(expected, actual, present, entry, where) {
  if (typeof expected === 'string' && expected.startsWith('$')) {
    if (expected === '$absent') return present ? `${where}: want absent, got ${JSON.stringify(actual)}` : '';
    if (!present) return `${where}: missing (want ${expected})`;
    if (expected === '$any') return '';
    if (expected === '$uuid') return typeof actual === 'string' && UUID.test(actual) ? '' : `${where}: ${actual} is not a lowercase UUID`;
    if (expected === '$rfc3339utc') return typeof actual === 'string' && RFC3339.test(actual) ? '' : `${where}: ${actual} is not RFC 3339 UTC`;
    if (expected === '$receivedAt') return entry && actual === entry.receivedAt ? '' : `${where}: ${actual} is not receivedAt`;
    if (expected.startsWith('$len:')) {
      const n = Number(expected.slice(5));
      return typeof actual === 'string' && Buffer.byteLength(actual) === n ? '' : `${where}: want a string of ${n} bytes`;
    }
  }
  if (!present) return `${where}: missing (want ${JSON.stringify(expected)})`;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${where}: want ${expected.length} elements, got ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = match(expected[i], actual[i], true, entry, `${where}[${i}]`);
      if (d) return d;
    }
    return '';
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return `${where}: want an object, got ${JSON.stringify(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const d = match(v, actual[k], Object.prototype.hasOwnProperty.call(actual, k), entry, `${where}.${k}`);
      if (d) return d;
    }
    return '';
  }
  return expected === actual ? '' : `${where}: want ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
