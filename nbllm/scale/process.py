"""ProcessLLM: an LLM in a child process, so a native crash there never takes this one down.

Runs on the caller's thread (validation, sending) and on one bridge thread per ProcessLLM
(results in, Futures resolved). A ProcessLLM's child is created from a load function (sent
with dill, so a function defined in a notebook cell works under the spawn start method). A
bridge thread in the parent moves requests and results through multiprocessing queues and
resolves Futures; a child that dies fails its pending Futures with WorkerDiedError instead of
hanging the parent. In the child, a reader thread takes requests and cancels (a cancelled
Future in the parent skips or stops its request) while the main thread runs one request at a
time on nbllm's I/O loop.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import multiprocessing
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from nbllm.core.messages import to_batch
from nbllm.core.outputs import GenerateOutput
from nbllm.core.params import GenerationParams
from nbllm.errors import MissingDependencyError, UsageError, WorkerDiedError, WorkerLoadError
from nbllm.llms.llamacpp.server import exit_words
from nbllm.llms.settings import check_num_generations
from nbllm.scale.process_child import child_main, unreadable


def check_request(inputs: Any, num_generations: int, options: dict[str, Any]) -> None:
    """Bad inputs and parameters fail here, before another process sees them."""
    to_batch(inputs)
    check_num_generations(num_generations)
    GenerationParams(**{k: v for k, v in options.items() if k in GenerationParams.model_fields})


class _ChildLink:
    """The parent's side of one child: queues, pending Futures and the bridge thread.

    Kept apart from ProcessLLM so that nothing running (the bridge thread) holds the
    ProcessLLM itself: when a notebook drops it (a cell is run again), its finalizer stops the
    child.
    """

    def __init__(self, payload: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.requests = ctx.Queue()
        self.results = ctx.Queue()
        self.process = ctx.Process(
            target=child_main,
            args=(payload, self.requests, self.results),
            daemon=True,
            name="nbllm-process-llm",
        )
        self.pending: dict[int, concurrent.futures.Future[list[GenerateOutput]]] = {}
        # The child runs one request at a time, so it is sent one at a time: a request waiting
        # its turn stays here, where cancelling it is certain (not a race with the child).
        self.backlog: collections.deque[tuple[int, bytes]] = collections.deque()
        self.inflight: int | None = None
        self.ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.process.start()
        self.bridge = threading.Thread(target=self.run, name="nbllm-bridge", daemon=True)
        self.bridge.start()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.results.get(timeout=0.2)
            except queue.Empty:
                if not self.process.is_alive():
                    self.fail_all(
                        WorkerDiedError(f"the child process died: {exit_words(self.process.exitcode)}.")
                    )
                    return
                continue
            except (EOFError, OSError, ValueError):
                self.fail_all(WorkerDiedError("the connection to the child process broke."))
                return
            except Exception:  # a message that cannot be read is lost, never the bridge
                continue
            self.handle(message)

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self.ready.set_result(message[1])
            return
        if kind == "load-error":
            self.ready.set_exception(message[1])
            self.fail_all(WorkerLoadError(f"the child could not load its LLM: {message[1]}"))
            return
        request_id, status, payload = message
        with self.lock:
            future = self.pending.pop(request_id, None)
            if request_id == self.inflight:
                self.inflight = None
                self.pump()
        if future is None or future.done():
            return
        import dill

        try:
            value = dill.loads(payload) if status != "cancelled" else None
        except Exception as exc:  # a class the parent cannot import: that row fails, not the bridge
            future.set_exception(unreadable(f"the {'answer' if status == 'ok' else 'error'}", "parent", exc))
            return
        if status == "cancelled":
            future.cancel()
        elif status == "ok":
            future.set_result(value)
        else:
            future.set_exception(value)

    def send(self, request_id: int, payload: bytes) -> None:
        with self.lock:
            self.backlog.append((request_id, payload))
            self.pump()

    def pump(self) -> None:
        """Send the next request still wanted, if the child is free (the lock is held)."""
        while self.inflight is None and self.backlog:
            request_id, payload = self.backlog.popleft()
            if request_id in self.pending:  # a cancelled one is simply never sent
                self.inflight = request_id
                self._put((request_id, payload))

    def cancel(self, request_id: int) -> None:
        """A Future was cancelled: drop its request if it waits its turn, stop it in the child
        if it runs there."""
        with self.lock:
            self.pending.pop(request_id, None)
            if request_id == self.inflight and not self.stopping.is_set():
                self._put(("cancel", request_id))

    def _put(self, message: tuple[Any, ...]) -> None:
        try:
            self.requests.put(message)
        except (OSError, ValueError):  # the queue is closed: the child is gone, and fail_all says so
            pass

    def fail_all(self, error: BaseException) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
            self.backlog.clear()
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        if not self.ready.done():
            self.ready.set_exception(error)

    def teardown(self, timeout: float) -> None:
        if self.process.is_alive():
            try:
                self.requests.put(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        self.stopping.set()
        if self.bridge is not threading.current_thread():
            self.bridge.join(timeout)
        self.fail_all(WorkerDiedError("the ProcessLLM was torn down."))
        self.requests.cancel_join_thread()  # a dead child never drains its queue: do not wait on it
        self.requests.close()
        self.results.close()


class ProcessLLM:
    """An LLM living in a child process; ``generate`` returns a Future.

    The child stops on ``teardown()``, at the end of a ``with`` block, when the ProcessLLM is
    garbage-collected (rerunning the notebook cell that made it), and at interpreter exit.
    """

    def __init__(self, load_llm_fn: Callable[[], Any], start_timeout: float = 180.0) -> None:
        try:
            import dill
        except ImportError:
            raise MissingDependencyError("ProcessLLM needs dill: pip install dill") from None
        if not callable(load_llm_fn):
            raise UsageError("ProcessLLM needs a function that returns an LLM.")
        self.start_timeout = start_timeout
        self._payload = dill.dumps(load_llm_fn, recurse=True)
        self._link = _ChildLink(self._payload)
        self._finalizer = weakref.finalize(self, self._link.teardown, 5.0)
        self.restarts = 0

    def restart(self) -> bool:
        """Start a new child after this one died; False after ``teardown()`` or when the child
        could not load its LLM (a new one would not either)."""
        link = self._link
        if link.stopping.is_set():
            return False
        if link.process.is_alive():
            return True
        if link.ready.done() and isinstance(link.ready.exception(), WorkerLoadError):
            return False
        self._finalizer.detach()
        link.teardown(1.0)
        self._link = _ChildLink(self._payload)
        self._finalizer = weakref.finalize(self, self._link.teardown, 5.0)
        self.restarts += 1
        return True

    @property
    def model_name(self) -> str:
        """The child's model name, once it has loaded (waits for it)."""
        return self._link.ready.result(timeout=self.start_timeout)

    @property
    def pid(self) -> int | None:
        return self._link.process.pid

    @property
    def is_alive(self) -> bool:
        return self._link.process.is_alive()

    def generate(
        self, inputs: Any, num_generations: int = 1, **options: Any
    ) -> concurrent.futures.Future[list[GenerateOutput]]:
        """Send a request to the child; the Future resolves to one GenerateOutput per input."""
        check_request(inputs, num_generations, options)
        return self._send(inputs, num_generations, options, None)

    def run_generator(
        self, make_generator: Callable[[Any], Any], inputs: list[Any], **params: Any
    ) -> concurrent.futures.Future[Any]:
        """Run ``make_generator(llm).generate(inputs, **params)`` in the child, on its LLM."""
        import dill

        return self._send(inputs, 1, params, dill.dumps(make_generator, recurse=True))

    def _send(
        self, inputs: Any, num_generations: int, options: dict[str, Any], make_generator: bytes | None
    ) -> concurrent.futures.Future[Any]:
        import dill

        link = self._link
        future: concurrent.futures.Future[list[GenerateOutput]] = concurrent.futures.Future()
        try:  # pickled now: the queue would pickle in a thread of its own and drop what fails
            payload = dill.dumps((inputs, num_generations, options, make_generator), recurse=True)
        except Exception as exc:
            future.set_exception(unreadable("the request", "child", exc))
            return future
        with link.lock:
            if link.stopping.is_set() or not link.process.is_alive():
                future.set_exception(WorkerDiedError("the ProcessLLM's child process is not running."))
                return future
            request_id = next(link.ids)
            link.pending[request_id] = future
        link.send(request_id, payload)
        # cancelling the Future (an interrupted pool call) cancels the work in the child too
        future.add_done_callback(lambda done: done.cancelled() and link.cancel(request_id))
        return future

    def teardown(self, timeout: float = 10.0) -> None:
        """Stop the child and the bridge thread; pending Futures fail with WorkerDiedError."""
        self._finalizer.detach()
        self._link.teardown(timeout)

    def __enter__(self) -> ProcessLLM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.teardown()
