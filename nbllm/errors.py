"""nbllm's exceptions: catch `NBLLMError`, or a precise subclass.

    NBLLMError
    ├── UsageError                 the caller asked for something wrong; fix the call
    │   ├── InvalidInputError      a prompt or chat message is malformed
    │   ├── InvalidParameterError  a generation parameter is out of range or unknown
    │   │   └── UnsupportedParameterError  valid, but this backend cannot honour it
    │   └── MissingDependencyError an optional package is not installed
    ├── BackendError               the model or the server failed
    │   ├── ModelNotFoundError     the model name or file does not exist
    │   ├── AuthenticationError    the API key was refused
    │   ├── TransientBackendError  worth retrying (429, 5xx, timeouts, dropped connections)
    │   │   └── StreamInterruptedError  a stream was cut and its retry gave another answer
    │   ├── ServerStartError       the embedded model's llama.cpp server could not start (its log says why)
    │   ├── NotRecordedError       a replayed bundle holds no answer to this request
    │   └── WorkerDiedError        a child process holding an LLM died
    │       ├── WorkerLoadError    it could not load its LLM; starting it again would not help
    │       └── ServerDiedError    the embedded model's server died holding this request; it restarts
    ├── CacheError                 the output cache file cannot be used; names the path
    ├── BundleError                a replay bundle cannot be read or is damaged; names the entry
    ├── BudgetExceededError        a request would cross the budget; it was not sent
    ├── ParseError                 an answer could not be parsed into the output schema
    └── BatchNotFinishedError      an offline batch is still running; carries its job ids

    NBLLMWarning                   a side effect failed (cache write, listener); the answer is kept

Every exception keeps its constructor arguments in ``args`` so it survives pickling
between processes intact.

Pure: runs on whatever thread raises them; one raised on the I/O loop reaches the caller in its
result.
"""

from __future__ import annotations

import re
import urllib.parse


class NBLLMError(Exception):
    """Base of every error nbllm raises."""

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep subclasses with extra init arguments picklable
        return (type(self), self.args)


class UsageError(NBLLMError, ValueError):
    """The call itself is wrong; nothing was sent to any model."""


class InvalidInputError(UsageError):
    """A prompt or a chat message is malformed."""


class InvalidParameterError(UsageError):
    """A generation parameter has a wrong type, is out of range, or is unknown."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field)
        self.field = field


class UnsupportedParameterError(InvalidParameterError):
    """A valid parameter that the chosen backend cannot honour."""


class MissingDependencyError(UsageError, ImportError):
    """An optional dependency is needed for this feature."""


class BackendError(NBLLMError):
    """The model or the server failed to produce an answer."""


class ModelNotFoundError(BackendError):
    """The model name (or model file) is unknown to the backend."""


class AuthenticationError(BackendError):
    """The API key was missing or refused."""


class TransientBackendError(BackendError):
    """A failure worth retrying: rate limits, server errors, timeouts, dropped connections.

    ``billed``, when set, is what the server may have billed though it sent no usage (a stream
    cut, a connection broken after the request went out): (prompt tokens, or None for nbllm's
    estimate of them; tokens received)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.retry_after = retry_after


class WorkerDiedError(BackendError):
    """The child process that held an LLM died before answering."""


class WorkerLoadError(WorkerDiedError):
    """The child process (or Ray actor) could not load its LLM: starting it again would not help."""


class ServerStartError(BackendError):
    """llama.cpp's server process for the embedded model exited (or hung) before it was ready."""


class ServerDiedError(WorkerDiedError):
    """llama.cpp's server process died while it held this request; a new one takes the rest."""


class StreamInterruptedError(TransientBackendError):
    """A stream broke after text was shown, and the retried answer does not continue it."""


class CacheError(NBLLMError):
    """The persistent output cache cannot be opened or written; the message names its path."""


class BundleError(NBLLMError):
    """A replay bundle cannot be read or is damaged; the message names the file and the entry."""


class NotRecordedError(BackendError):
    """Replaying a bundle that holds no answer to this request; the message says what to do."""


class NBLLMWarning(UserWarning):
    """Something around a generation failed (a cache write, a listener); the answer itself is kept."""


class BudgetExceededError(NBLLMError):
    """A request was not sent because it could exceed the budget."""


class ParseError(NBLLMError):
    """The model's answer could not be parsed into the requested output schema."""

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message, text)
        self.text = text


class BatchNotFinishedError(NBLLMError):
    """An offline batch job has not finished yet; call again later to resume it."""

    def __init__(self, message: str, job_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message, tuple(job_ids))
        self.job_ids = tuple(job_ids)


def redact(error: NBLLMError, secrets: tuple[str, ...]) -> NBLLMError:
    """`error` with every secret, and every URL's user, password and query, blanked from its
    message, and detached from the exceptions it was raised from (a client's exception may carry
    the request's headers or an echoed key)."""
    secrets = tuple(s for s in secrets if s and len(s) > 4)
    if any(_blank(a, secrets) != a for a in error.args if isinstance(a, str)):
        marks = vars(error)  # what was set on it after it was made: attempts, billed
        error = type(error)(*(_blank(a, secrets) if isinstance(a, str) else a for a in error.args))
        for name, value in marks.items():
            vars(error).setdefault(name, value)
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def _blank(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "sk-***")
    return _URL_IN_TEXT.sub(lambda m: public_url(m.group()), text)


# A URL in a message, up to a space, a quote or the punctuation that ends a sentence.
_URL_IN_TEXT = re.compile(r"""[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>]+?(?=[.,;:)\]]*(?:[\s'"<>]|$))""")


def url_has_secrets(url: str) -> bool:
    """Whether a URL carries a user, a password or a query: where keys hide, so it is never
    shown or written as it is."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # malformed: shown as nothing but ***
        return True
    return "@" in parts.netloc or bool(parts.query)


def public_url(url: str, marked: bool = True) -> str:
    """`url` without what `url_has_secrets` looks for: the user and password as ``***@`` and
    each query value as ``***`` (marked), or both left out (to write a URL one adds them to)."""
    if not url_has_secrets(url):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "***"
    host = parts.netloc.rpartition("@")[2]  # as written: an IPv6 address keeps its brackets
    user = "***@" if marked and "@" in parts.netloc else ""
    query = ""
    if marked and parts.query:
        query = "&".join(f"{pair.partition('=')[0]}=***" for pair in parts.query.split("&"))
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host, query=query))
