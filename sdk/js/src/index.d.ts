/// <reference types="node" />

/** Agent API levels by name; numbers 1 (emergency) to 8 (debug) work too. */
export type LevelName = 'emergency' | 'alert' | 'critical' | 'error' | 'warning' | 'notice' | 'info' | 'debug';
export type Level = LevelName | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
export type EntryTypeName = 'log' | 'metric' | 'trace' | 'event' | 'audit';
export type EntryType = EntryTypeName | 1 | 2 | 3 | 4 | 5;

/** Metadata values are sent as strings (other values are formatted; nested objects become dotted keys). */
export type Metadata = Record<string, unknown>;

export interface Entry {
  /** The message; required and non-empty (at most 1 MiB of UTF-8). */
  payload: string;
  /** Default 'info'. */
  level?: Level;
  /** Default 'log'. */
  type?: EntryType;
  /** Default: the client's source. */
  source?: string;
  /** Default: the time of the log call. A number is milliseconds since the epoch; a string must be RFC 3339. */
  timestamp?: Date | number | string;
  /** Such as 'generic' (the agent's default) or 'generic_json'. */
  payloadType?: string;
  metadata?: Metadata;
}

export interface ClientOptions {
  /** 'unix:///path/agent.sock' or 'tcp://host:port'. Default: LOGFLUX_AGENT_ADDR, else /tmp/logflux-agent.sock, else /var/run/logflux-agent/agent.sock. */
  address?: string;
  /** The TCP shared secret. Default: LOGFLUX_SHARED_SECRET. */
  sharedSecret?: string;
  /** Names this program in entries without a source. Default: the main script's name. */
  source?: string;
  /** Minimum level logged; less severe entries are counted as filtered. Default 'debug'. */
  level?: Level;
  /** Bytes held for entries not yet confirmed by the agent. Default 8 MiB, at least 64 KiB. */
  maxQueueBytes?: number;
  /** Entries per batch, 1-100. Default 100. */
  batchSize?: number;
  /** Bytes per batch line. Default 1 MiB (at most a quarter of maxQueueBytes). */
  batchBytes?: number;
  /** Longest an entry waits before its batch is sent, and how often the agent is asked to confirm. Default 500. */
  flushIntervalMs?: number;
  /** How long flush() waits for the agent's confirmation. Default 10000. */
  flushTimeoutMs?: number;
  /** How long the client delivers at beforeExit before what is left goes to the fallback. Default 5000. */
  exitTimeoutMs?: number;
  connectTimeoutMs?: number;
  writeTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Which entries a full queue drops: the new one ('newest', default) or the oldest queued. */
  dropPolicy?: 'newest' | 'oldest';
  /** Where entries go when the agent cannot take them (NDJSON for `logflux-agent send --file`). Default: none. */
  fallbackFile?: string;
  /** How long the agent must be unreachable before queued entries go to the fallback file. Default 5000. */
  fallbackAfterMs?: number;
  /** Cap of the fallback file. Default 64 MiB. */
  fallbackMaxBytes?: number;
  /** Called with each distinct failure (never from log()'s caller stack for network errors). */
  onError?: (err: Error) => void;
  /** Environment to read LOGFLUX_AGENT_ADDR and LOGFLUX_SHARED_SECRET from. Default process.env. */
  env?: Record<string, string | undefined>;
}

export interface FlushOptions {
  timeoutMs?: number;
}

export interface Stats {
  /** Entries taken into the queue. */
  logged: number;
  /** Entries held now (waiting, in flight, or awaiting confirmation) and the bytes charged for them. */
  queued: number;
  queuedBytes: number;
  /** Entries written to the agent (a resent entry counts again). */
  sent: number;
  /** Entries the agent took without an error. */
  accepted: number;
  /** Entries the agent confirmed durable with its flush answer. */
  confirmed: number;
  /** Entries written to the fallback file. */
  fallback: number;
  /** Entries below the client's level. */
  filtered: number;
  /** Entries given up, by reason: queue_full, closed, invalid, unsent, fallback_full, fallback_error. */
  dropped: Record<string, number>;
  /** Entries the agent refused, by its error code. */
  rejected: Record<string, number>;
  /** Batches sent again, by reason: reconnect, queue_full, unavailable, split. */
  retries: Record<string, number>;
  /** Connections open now (0 or 1), and opened so far. */
  connections: number;
  connectionsOpened: number;
  dialFailures: number;
  lastError: Error | null;
}

export declare class Client {
  constructor(options?: ClientOptions);
  /** Queues one entry; returns whether it was queued. Never throws, never waits on the network. */
  log(entry: Entry | string): boolean;
  /** Resolves true once the agent confirmed everything logged before; false if it could not. Never rejects. */
  flush(options?: FlushOptions): Promise<boolean>;
  /** Flushes, then closes; what is left goes to the fallback file or is counted as dropped. Idempotent; never rejects. */
  close(): Promise<void>;
  stats(): Stats;
}

export declare function createClient(options?: ClientOptions): Client;

export declare function metric(name: string, value: number, metadata?: Metadata): Entry;
export declare function trace(traceId: string, spanId: string, name: string, start: Date | number, end: Date | number, metadata?: Metadata): Entry;
export declare function event(name: string, metadata?: Metadata): Entry;
export declare function audit(action: string, actor: string, resource: string, metadata?: Metadata): Entry;

export declare const levels: Readonly<Record<LevelName, number>>;
export declare const entryTypes: Readonly<Record<EntryTypeName, number>>;
/** The Agent API level (1-8) of a name or number, or 0. */
export declare function levelNumber(level: unknown): number;
export declare const defaults: Readonly<Required<Pick<ClientOptions, 'maxQueueBytes' | 'batchSize' | 'batchBytes' | 'flushIntervalMs' | 'flushTimeoutMs' | 'exitTimeoutMs' | 'connectTimeoutMs' | 'writeTimeoutMs' | 'minBackoffMs' | 'maxBackoffMs' | 'dropPolicy' | 'fallbackAfterMs' | 'fallbackMaxBytes' | 'level'>>>;

export declare class AgentError extends Error {
  code: string;
  errors: Array<{ index?: number; field?: string; message?: string }>;
  readonly isAuth: boolean;
}
export declare class InvalidEntryError extends Error {
  code: 'invalid_entry';
}
export declare class UnavailableError extends Error {
  code: string;
}
