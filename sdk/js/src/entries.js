'use strict';
// Builders for the entry types other than plain logs, with JSON payloads, as
// the Go SDK's Metric, Trace, Event and Audit.

function num(v) {
  return Number.isFinite(v) ? v : String(v); // NaN and ±Infinity as strings
}

/** metric returns a metric entry: {"name":…,"value":…}, level info. */
function metric(name, value, metadata) {
  return { type: 'metric', level: 'info', payloadType: 'generic_json', payload: JSON.stringify({ name: String(name), value: num(Number(value)) }), metadata };
}

/** trace returns a trace entry for one finished span, timestamped at its start. */
function trace(traceId, spanId, name, start, end, metadata) {
  const s = new Date(start);
  const e = new Date(end);
  const payload = JSON.stringify({
    trace_id: String(traceId), span_id: String(spanId), name: String(name),
    start_time: s.toISOString(), end_time: e.toISOString(), duration_ms: num(e.getTime() - s.getTime()),
  });
  return { type: 'trace', level: 'info', payloadType: 'generic_json', payload, timestamp: s, metadata };
}

/** event returns an event entry: {"event":name}, level info. */
function event(name, metadata) {
  return { type: 'event', level: 'info', payloadType: 'generic_json', payload: JSON.stringify({ event: String(name) }), metadata };
}

/** audit returns an audit entry (level notice): actor did action on resource. */
function audit(action, actor, resource, metadata) {
  const payload = JSON.stringify({ action: String(action), actor: String(actor), resource: String(resource), outcome: 'success' });
  return { type: 'audit', level: 'notice', payloadType: 'generic_json', payload, metadata };
}

module.exports = { metric, trace, event, audit };
