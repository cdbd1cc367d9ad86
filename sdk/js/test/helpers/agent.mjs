// Runs the real logflux-agent binary for tests: a Unix socket in a temp dir,
// optionally a loopback TCP port, admin server off, the default file output
// (<data-dir>/entries.ndjson).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sdkDir = path.resolve(here, '..', '..');
export const repoRoot = path.resolve(sdkDir, '..', '..');

let builtBin = null;

/** agentBin returns LOGFLUX_AGENT_BIN, or builds the agent once with go build. */
export function agentBin() {
  if (process.env.LOGFLUX_AGENT_BIN) return process.env.LOGFLUX_AGENT_BIN;
  if (builtBin) return builtBin;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lfjs-bin-'));
  builtBin = path.join(dir, 'logflux-agent');
  execFileSync('go', ['build', '-o', builtBin, './cmd/logflux-agent'], { cwd: repoRoot, stdio: 'inherit' });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return builtBin;
}

export const SECRET = 'js-sdk-test-secret-0123456789abcdef';

// The agents each test started, stopped before its temp dirs are removed.
const agentsOf = new WeakMap();

function track(t, agent) {
  if (!agentsOf.has(t)) agentsOf.set(t, []);
  agentsOf.get(t).push(agent);
}

/** tempDir makes a directory removed when the test ends, after its agents stopped. */
export function tempDir(t, prefix = 'lfjs-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(async () => {
    for (const a of agentsOf.get(t) || []) await a.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** newAgent returns an agent (not started) in dir, stopped when the test ends. */
export function newAgent(t, dir, opts = {}) {
  const a = new Agent(dir, opts);
  track(t, a);
  t.after(() => a.stop());
  return a;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(opts) {
  return new Promise((resolve) => {
    const s = net.createConnection(opts);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class Agent {
  constructor(dir, { tcp = false, extraArgs = [], configYaml = null } = {}) {
    this.dir = dir;
    this.sock = path.join(dir, 'agent.sock');
    this.data = path.join(dir, 'data');
    this.tcp = tcp;
    this.port = 0;
    this.extraArgs = extraArgs;
    this.configYaml = configYaml;
    this.proc = null;
    this.output = '';
  }

  get unixAddress() { return 'unix://' + this.sock; }
  get tcpAddress() { return 'tcp://127.0.0.1:' + this.port; }
  get entriesPath() { return path.join(this.data, 'entries.ndjson'); }

  async start() {
    if (this.tcp && !this.port) this.port = await freePort();
    const args = ['run', '--unix-path', this.sock, '--data-dir', this.data, '--admin-address', 'off', '--log-level', 'warn'];
    if (this.tcp) args.push('--tcp-address', '127.0.0.1:' + this.port, '--shared-secret', SECRET);
    if (this.configYaml) {
      const cfg = path.join(this.dir, 'agent.yaml');
      fs.writeFileSync(cfg, this.configYaml);
      args.push('--config', cfg);
    }
    args.push(...this.extraArgs);
    this.proc = spawn(agentBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = this.proc;
    proc.stdout.on('data', (d) => { this.output += d; });
    proc.stderr.on('data', (d) => { this.output += d; });
    this.exited = new Promise((resolve) => proc.once('exit', resolve));
    const deadline = Date.now() + 15000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error('agent exited at start:\n' + this.output);
      const ok = (await canConnect({ path: this.sock })) && (!this.tcp || (await canConnect({ host: '127.0.0.1', port: this.port })));
      if (ok) return this;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error('agent not listening after 15s:\n' + this.output);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** stop ends the agent with SIGTERM (SIGKILL after 10 s). */
  async stop() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(t);
    }
  }

  /** stored returns the entries the agent wrote to its file output. */
  stored() {
    let text;
    try {
      text = fs.readFileSync(this.entriesPath, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return [];
      throw err;
    }
    // A last line without its newline is still being written: not yet stored.
    const lines = text.split('\n');
    lines.pop();
    const out = [];
    for (const line of lines) if (line.trim()) out.push(JSON.parse(line));
    return out;
  }

  /** waitStored waits until at least n entries were written. */
  async waitStored(n, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const es = this.stored();
      if (es.length >= n) return es;
      if (Date.now() > deadline) throw new Error(`agent stored ${es.length} entries after ${timeoutMs} ms, want ${n}\n${this.output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** startAgent starts an agent in a temp dir and stops it when the test ends. */
export async function startAgent(t, opts = {}) {
  const a = newAgent(t, opts.dir || tempDir(t, 'lfjs-agent-'), opts);
  await a.start();
  return a;
}

export function byPayload(entries) {
  const m = new Map();
  for (const e of entries) m.set(e.payload, e);
  return m;
}
