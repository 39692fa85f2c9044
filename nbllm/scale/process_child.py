"""The child side of a ProcessLLM: load the LLM, then answer requests one at a time.

Runs in the child process: its main thread runs each request on nbllm's I/O loop and waits for
it; a reader thread takes what the parent sends, so a cancel reaches a running request at once.
Everything sent back is pickled here first, never in a queue's feeder thread (which drops what
fails silently).
"""

from __future__ import annotations

import concurrent.futures
import pickle
import queue
import signal
import threading
from typing import Any

from nbllm.errors import BackendError, NBLLMError, UsageError


def child_main(payload: bytes, requests: Any, results: Any) -> None:
    """The child process: load the LLM, then answer requests one at a time until the None
    sentinel. A ("cancel", id) message skips that request if it has not started, and stops it
    (its requests to the backend are aborted) if it has."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    import dill

    try:
        llm = dill.loads(payload)()
        llm.load()
        results.put(("ready", llm.model_name))
    except BaseException as exc:
        results.put(("load-error", _portable(exc)))
        return
    work: queue.Queue[Any] = queue.Queue()
    cancels = _Cancels()
    threading.Thread(target=_read_requests, args=(requests, work, cancels), daemon=True).start()
    while True:
        request = work.get()
        if request is None:
            break
        request_id, payload = request
        if cancels.taken(request_id):
            results.put((request_id, "cancelled", b""))
            continue
        try:
            inputs, num_generations, options, make_generator = dill.loads(payload)
        except BaseException as exc:
            results.put((request_id, "error", _pickled(unreadable("the request", "child", exc))))
            continue
        try:
            running = start_request(llm, inputs, num_generations, options, make_generator)
        except BaseException as exc:  # the caller's generator factory failed: that call fails, not the child
            results.put((request_id, "error", _pickled(_factory_error(exc))))
            continue
        cancels.running(request_id, running)
        try:
            answer = running.result()
        except concurrent.futures.CancelledError:
            results.put((request_id, "cancelled", b""))
            continue
        except BaseException as exc:
            results.put((request_id, "error", _pickled(exc)))
            continue
        finally:
            cancels.done(request_id)
        try:  # pickled here, not in the queue's feeder thread, which would drop it silently
            results.put((request_id, "ok", dill.dumps(answer, recurse=True)))
        except BaseException as exc:
            results.put((request_id, "error", _pickled(unreadable("the answer", "parent", exc))))
    llm.unload()


class _Cancels:
    """The child's cancelled requests and the one running, shared by its two threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()
        self._running: tuple[int, concurrent.futures.Future[Any]] | None = None

    def cancel(self, request_id: int) -> None:
        with self._lock:
            self._cancelled.add(request_id)
            running = self._running
        if running is not None and running[0] == request_id:
            running[1].cancel()

    def taken(self, request_id: int) -> bool:
        """True (once) for a request cancelled before it started."""
        with self._lock:
            if request_id in self._cancelled:
                self._cancelled.discard(request_id)
                return True
            return False

    def running(self, request_id: int, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._running = (request_id, future)
            cancelled = request_id in self._cancelled
        if cancelled:  # the cancel came while it was being started
            future.cancel()

    def done(self, request_id: int) -> None:
        with self._lock:
            self._running = None
            self._cancelled.discard(request_id)


def _read_requests(requests: Any, work: queue.Queue[Any], cancels: _Cancels) -> None:
    """The child's reader thread: cancels act at once, requests wait their turn."""
    while True:
        try:
            request = requests.get()
        except (EOFError, OSError, ValueError):  # the parent is gone
            request = None
        if request is not None and request[0] == "cancel":
            cancels.cancel(request[1])
            continue
        work.put(request)
        if request is None:
            return


def start_request(
    llm: Any, inputs: Any, num_generations: int, options: dict[str, Any], make_generator: bytes | None
) -> concurrent.futures.Future[Any]:
    """Start one request on nbllm's I/O loop, where cancelling it aborts its backend requests (an
    LLM or generator with no async path runs on a thread, and only a cancel before it starts
    can skip it)."""
    import dill

    from nbllm.engine import loop

    target = dill.loads(make_generator)(llm) if make_generator is not None else llm
    if make_generator is not None and _async_is_generate(target, "agenerate"):
        return loop.submit(target.agenerate(inputs, **options))
    if make_generator is None and _async_is_generate(target, "agenerate_many"):
        return loop.submit(target.agenerate_many(inputs, num_generations, **options))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-child-request")
    if make_generator is not None:
        future = pool.submit(target.generate, inputs, **options)
    else:
        future = pool.submit(target.generate, inputs, num_generations, **options)
    pool.shutdown(wait=False)
    return future


def _factory_error(exc: BaseException) -> BaseException:
    """An exception raised while the request's generator was made, as nbllm's error."""
    if isinstance(exc, NBLLMError):
        return exc
    return UsageError(
        f"the function that makes the generator raised {type(exc).__name__}: {exc} (in the child "
        "process; the LLM there is fine): fix that function and call again."
    )


def _pickled(exc: BaseException) -> bytes:
    """An error as bytes the bridge unpickles itself (a failure there fails the row, not it)."""
    import dill

    return dill.dumps(_portable(exc))


def unreadable(what: str, where: str, exc: BaseException) -> BackendError:
    return BackendError(
        f"{what} could not be sent to the {where} process ({type(exc).__name__}: {exc}). Define "
        "structured-output classes and callbacks in an importable module, or keep objects that "
        "hold locks, files or connections out of the call's options."
    )


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it pickles (nbllm's do), else a BackendError describing it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return BackendError(f"{type(exc).__name__} in the child process: {exc}")


def _async_is_generate(target: Any, name: str) -> bool:
    """Whether the async method `name` does what ``generate`` does: true unless a subclass
    overrides ``generate`` below where `name` is defined (then only ``generate`` is its own)."""
    mro = type(target).__mro__
    owner = next((c for c in mro if name in vars(c)), None)
    sync_owner = next((c for c in mro if "generate" in vars(c)), None)
    return owner is not None and sync_owner is not None and issubclass(owner, sync_owner)
