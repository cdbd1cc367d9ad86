"""The SDK's exceptions. None of them is ever raised into a logging call:
they reach ``on_error``, ``Client.stats().last_error`` and the results of
``flush``/``close``."""

from __future__ import annotations

from dataclasses import dataclass


class LogfluxError(Exception):
    """Base class of the SDK's errors."""


class ConfigError(LogfluxError, ValueError):
    """A bad client option; the message lists every problem found."""


class UnavailableError(LogfluxError):
    """The agent could not be reached (the cause is chained)."""


@dataclass(frozen=True)
class EntryProblem:
    """One refused entry of a batch, as the agent named it."""

    index: int  # position in the batch, -1 when the agent gave none
    field: str
    message: str


class AgentError(LogfluxError):
    """An error answer from the agent, such as ``invalid_entry``."""

    def __init__(self, code: str, message: str = "", errors: tuple[EntryProblem, ...] = ()) -> None:
        self.code = code
        self.message = message
        self.errors = errors
        text = f"agent answered {code}"
        if message:
            text += f": {message}"
        if errors:
            text += f" ({len(errors)} entries)"
        super().__init__(text)

    @staticmethod
    def from_answer(code: str, message: str, errors: tuple[EntryProblem, ...] = ()) -> AgentError:
        """An AgentError, or the AuthFailedError subclass for auth_* codes."""
        cls = AuthFailedError if code.startswith("auth_") else AgentError
        return cls(code, message, errors)


class AuthFailedError(AgentError):
    """The agent refused the shared secret (auth_failed, auth_required,
    auth_timeout)."""
