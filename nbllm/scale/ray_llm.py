"""RayLLM: an LLM living in a Ray actor, on any node of a Ray cluster.

It has ProcessLLM's semantics: the load function is sent (with dill, so a function defined in a
notebook cell works) and runs where the actor lives, which loads its LLM once and answers
``generate`` calls; ``generate`` returns a Future. An actor that dies fails its Futures with
WorkerDiedError. Ray is an optional extra: ``pip install "nbllm[ray]"``.

Runs on the caller's thread; an actor's Future resolves on a thread of Ray's, and its LLM runs
in the actor's process.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Callable
from typing import Any

from nbllm.core.outputs import GenerateOutput
from nbllm.errors import BackendError, MissingDependencyError, UsageError, WorkerDiedError, WorkerLoadError


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            'scaling out on Ray needs Ray, an optional extra: pip install "nbllm[ray]"'
        ) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Join the Ray cluster at `address` ("auto", "ray://host:10001"), or start a local one;
    nothing is done when this process is already connected."""
    ray = ray_module()
    if not ray.is_initialized():
        # Ray announces (as a warning, a red box in a notebook) that it turned token
        # authentication on for a new local cluster: good news, not a problem; kept in the log.
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = notice.level
        notice.setLevel(logging.ERROR)
        try:
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,  # not "Started a local Ray instance." on stderr
            )
        finally:
            notice.setLevel(level)
    return ray


class _LLMActor:
    """What runs in the actor: the LLM made by the load function, loaded once."""

    def __init__(self, payload: bytes) -> None:
        import dill

        self.llm = dill.loads(payload)()
        self.llm.load()

    def describe(self) -> tuple[str, int]:
        return self.llm.model_name, os.getpid()

    async def generate(
        self, inputs: Any, num_generations: int, options: dict[str, Any]
    ) -> list[GenerateOutput]:
        return list(await self._run(inputs, num_generations, options, None))

    async def run_generator(self, payload: bytes, inputs: list[Any], params: dict[str, Any]) -> Any:
        return await self._run(inputs, 1, params, payload)

    async def _run(
        self, inputs: Any, num_generations: int, options: dict[str, Any], payload: bytes | None
    ) -> Any:
        """On nbllm's I/O loop, so that ray.cancel (an interrupted pool call) stops the request
        and aborts its backend requests, as a ProcessLLM's child does."""
        import asyncio

        from nbllm.scale.process_child import start_request

        future = start_request(self.llm, inputs, num_generations, options, payload)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise


class RayLLM:
    """An LLM in a Ray actor (reserving `num_cpus`); ``generate`` returns a Future."""

    def __init__(
        self, load_llm_fn: Callable[[], Any], num_cpus: float = 1, start_timeout: float = 300.0
    ) -> None:
        import dill

        if not callable(load_llm_fn):
            raise UsageError("RayLLM needs a function that returns an LLM.")
        ray = connect()
        # an async actor taking one request at a time: ray.cancel reaches the one running
        self._actor_class = ray.remote(
            num_cpus=num_cpus, max_restarts=0, max_task_retries=0, max_concurrency=1
        )(_LLMActor)
        self.start_timeout = start_timeout
        self._payload = dill.dumps(load_llm_fn, recurse=True)
        self._actor = self._actor_class.remote(self._payload)
        self._described: tuple[str, int] | None = None
        self._torn_down = False
        self._load_failed = False
        self.restarts = 0

    def restart(self) -> bool:
        """Start a new actor after this one died; False after ``teardown()`` or when the actor
        could not load its LLM (a new one would not either)."""
        if self._torn_down or self._load_failed:
            return False
        try:
            ray_module().kill(self._actor, no_restart=True)
        except Exception:
            pass  # already gone
        self._actor = self._actor_class.remote(self._payload)
        self._described = None
        self.restarts += 1
        return True

    def _describe(self) -> tuple[str, int]:
        if self._described is None:
            self._described = _unwrap(
                lambda: ray_module().get(self._actor.describe.remote(), timeout=self.start_timeout)
            )
        return self._described

    @property
    def model_name(self) -> str:
        """The actor's model name, once it has loaded (waits for it)."""
        return self._describe()[0]

    @property
    def pid(self) -> int:
        return self._describe()[1]

    def generate(
        self, inputs: Any, num_generations: int = 1, **options: Any
    ) -> concurrent.futures.Future[list[GenerateOutput]]:
        """Send a request to the actor; the Future resolves to one GenerateOutput per input."""
        from nbllm.scale.process import check_request

        check_request(inputs, num_generations, options)
        return self._call(lambda: self._actor.generate.remote(inputs, num_generations, options))

    def run_generator(
        self, make_generator: Callable[[Any], Any], inputs: list[Any], **params: Any
    ) -> concurrent.futures.Future[Any]:
        """Run ``make_generator(llm).generate(inputs, **params)`` in the actor, on its LLM."""
        import dill

        payload = dill.dumps(make_generator, recurse=True)
        return self._call(lambda: self._actor.run_generator.remote(payload, inputs, params))

    def _call(self, remote: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            ref = remote()
        except Exception as exc:
            result.set_exception(_translate(exc))
            return result

        def done(raw: concurrent.futures.Future[Any]) -> None:
            if result.done():  # cancelled by the caller
                return
            error = raw.exception()
            if error is None:
                result.set_result(raw.result())
                return
            error = _translate(error)
            if isinstance(error, WorkerLoadError):
                self._load_failed = True
            result.set_exception(error)

        ref.future().add_done_callback(done)
        result.add_done_callback(lambda r: r.cancelled() and _cancel(ref))
        return result

    def teardown(self, timeout: float = 10.0) -> None:
        """Stop the actor; its pending Futures fail with WorkerDiedError."""
        self._torn_down = True
        try:
            ray_module().kill(self._actor, no_restart=True)
        except Exception:
            pass  # already gone


def _cancel(ref: Any) -> None:
    """Cancel an actor task: skipped if it waits its turn, stopped if it runs."""
    try:
        ray_module().cancel(ref)
    except Exception:
        pass  # finished meanwhile, or the actor is gone


def _unwrap(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise _translate(exc) from None


def _translate(exc: BaseException) -> BaseException:
    """Ray's exceptions as nbllm's: a dead actor is a WorkerDiedError, an LLM's own error is
    itself (Ray wraps it), anything else a BackendError."""
    ray = ray_module()
    if isinstance(exc, ray.exceptions.RayActorError) and exc.actor_init_failed:
        return WorkerLoadError(f"the Ray actor could not load its LLM: {str(exc).splitlines()[0]}")
    if isinstance(exc, ray.exceptions.RayActorError):
        return WorkerDiedError(f"the Ray actor died: {str(exc).splitlines()[0]}")
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else None
        return cause or BackendError(str(exc).splitlines()[0])
    if isinstance(exc, ray.exceptions.GetTimeoutError):
        return WorkerLoadError("the Ray actor did not load its LLM in time (is the cluster short of CPUs?)")
    return exc if isinstance(exc, BackendError) else BackendError(f"{type(exc).__name__}: {exc}")
