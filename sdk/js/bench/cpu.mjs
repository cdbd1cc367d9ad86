// CPU time of this process's threads, for the benchmarks: from
// /proc/self/task/*/schedstat where there is one (Linux), else the process's.
import fs from 'node:fs';

const schedstat = `/proc/self/task/${process.pid}/schedstat`;
export const hasSchedstat = fs.existsSync(schedstat);

/** threadCpu returns the main thread's CPU time in ns (the process's where /proc is missing). */
export function threadCpu() {
  if (hasSchedstat) return Number(fs.readFileSync(schedstat, 'utf8').split(' ')[0]);
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** otherThreadsCpu returns the CPU time (ns) of every thread of the process but the main one, by thread id. */
export function otherThreadsCpu() {
  const m = new Map();
  if (!hasSchedstat) return m;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    if (tid === String(process.pid)) continue;
    try {
      m.set(tid, Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended
    }
  }
  return m;
}

/** newThreadsCpu returns the CPU time (ns) from t0 to t1 of the threads that were not there at pre. */
export function newThreadsCpu(pre, t0, t1) {
  let ns = 0;
  for (const [tid, v] of t1) if (!pre.has(tid)) ns += v - (t0.get(tid) || 0);
  return ns;
}
