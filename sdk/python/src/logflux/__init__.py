"""Send logs, metrics, traces, events and audit records from Python
programs to the local LogFlux agent.

    import logging, logflux
    logging.basicConfig(level=logging.INFO, handlers=[logflux.Handler(source="billing")])

Standard library only; ``logflux.structlog`` and ``logflux.loguru`` import
their libraries only when used."""

from ._client import Client, Stats
from ._entry import (
    ALERT,
    CRITICAL,
    DEBUG,
    EMERGENCY,
    ERROR,
    INFO,
    NOTICE,
    PAYLOAD_GENERIC,
    PAYLOAD_GENERIC_JSON,
    WARNING,
    Entry,
    EntryType,
    Level,
    audit,
    event,
    metric,
    trace,
)
from ._errors import AgentError, AuthFailedError, ConfigError, EntryProblem, LogfluxError, UnavailableError
from ._handler import Handler, MessageFormatter, agent_level
from ._wire import ENV_AGENT_ADDR, ENV_SHARED_SECRET

__version__ = "0.1.0"

__all__ = [
    "ALERT", "CRITICAL", "DEBUG", "EMERGENCY", "ERROR", "INFO", "NOTICE", "WARNING",
    "PAYLOAD_GENERIC", "PAYLOAD_GENERIC_JSON", "ENV_AGENT_ADDR", "ENV_SHARED_SECRET",
    "AgentError", "AuthFailedError", "Client", "ConfigError", "Entry", "EntryProblem",
    "EntryType", "Handler", "Level", "MessageFormatter", "LogfluxError", "Stats", "UnavailableError",
    "agent_level", "audit", "event", "metric", "trace",
]
