// Compiled by tsc in the tests: the shipped .d.ts files describe the API.
import { createClient, metric, audit, type Stats, type ClientOptions } from '@logflux/agent-sdk';
import logfluxTransport from '@logflux/agent-sdk/pino';
import { LogfluxTransport } from '@logflux/agent-sdk/winston';

const opts: ClientOptions = { source: 'checkout', level: 'info', dropPolicy: 'oldest', onError: (e: Error) => void e.message };
const client = createClient(opts);
const queued: boolean = client.log({ payload: 'order placed', level: 'info', metadata: { orderId: '42', n: 1 } });
client.log('plain text');
client.log(metric('queue.depth', 3));
client.log(audit('login', 'ana', 'console'));
const ok: Promise<boolean> = client.flush({ timeoutMs: 1000 });
const done: Promise<void> = client.close();
const s: Stats = client.stats();
const n: number = s.dropped['queue_full'] ?? 0;
const t = new LogfluxTransport({ source: 'web', level: 'info', levelMap: { http: 'notice' } });
const tr: Promise<unknown> = logfluxTransport({ source: 'web', messageKey: 'message' });
void [queued, ok, done, n, t, tr];

// @ts-expect-error payload is required
client.log({ level: 'info' });
// @ts-expect-error not a level
client.log({ payload: 'x', level: 'loud' });
// @ts-expect-error onError cannot cross into pino's worker thread
logfluxTransport({ onError: () => {} });
import WinstonDefault from '@logflux/agent-sdk/winston';
const t2: LogfluxTransport = new WinstonDefault({ source: 'x' });
void t2;
