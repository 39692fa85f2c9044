"""What nbllm adds to an OpenAI-compatible server's answer where the server says nothing: token
counts by nbllm's own tokenizer (marked as estimated), and a note on a seeded answer when the
server cannot promise that the seed reproduces it.

``estimated`` runs in a worker thread (the embedded tokenizer blocks); ``with_seed_note`` runs
on nbllm's I/O loop and asks the server once per endpoint (its /props).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.llms.openai.capabilities import EndpointCapabilities


def estimated(
    count_tokens: Callable[[str], int], request: RawRequest, result: RawGeneration, text: str | None = None
) -> RawGeneration:
    """`result` with the token counts of `count_tokens` (and of `text`, when it is not the
    result's own), marked as estimated; the thinking counts as output, as it is billed."""
    if request.prompt is not None:
        prompt_tokens = count_tokens(request.prompt)
    else:  # each message's content plus the chat template's few tokens around it
        prompt_tokens = sum(count_tokens(m["content"]) + 4 for m in request.messages) + 3
    thinking = count_tokens(result.reasoning) if result.reasoning else 0
    return dataclasses.replace(
        result,
        input_tokens=prompt_tokens,
        output_tokens=count_tokens(result.text if text is None else text) + thinking,
        tokens_estimated=True,
        reasoning_tokens=thinking,
        reasoning_estimated=bool(thinking),
    )


async def with_seed_note(
    request: RawRequest,
    results: list[RawGeneration],
    endpoint: EndpointCapabilities,
    where: str,
    secrets: tuple[str, ...],
) -> list[RawGeneration]:
    """Say on a seeded answer when the server cannot promise the seed reproduces it."""
    if "seed" not in request.params:
        return results
    note = await seed_note(endpoint, where, secrets)
    if note is None:
        return results
    return [dataclasses.replace(r, notes=(*r.notes, note)) for r in results]


async def seed_note(endpoint: EndpointCapabilities, where: str, secrets: tuple[str, ...]) -> str | None:
    if not endpoint.seed_checked:
        slots = await parallel_slots(where, secrets)
        if slots == 1:
            note, how = None, "the server runs one request at a time"
        elif slots:
            note = f"seed not guaranteed: the server runs {slots} requests at once"
            how = "a seeded sample may differ between runs; nbllm's cache keeps the first answer"
        else:
            note = "seed not guaranteed: the server does not say it reproduces seeded samples"
            how = "servers with parallel slots, and OpenAI, treat seeds as best effort"
        endpoint.seed_note, endpoint.seed_checked = note, True
        endpoint.notes["seed"] = how
    return endpoint.seed_note


async def parallel_slots(base_url: str, secrets: tuple[str, ...]) -> int | None:
    """The number of requests a llama.cpp server runs at once (its /props), or None when the
    server does not say."""
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {secrets[0]}"} if secrets else {}
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{root}/props", headers=headers)
            slots = response.json().get("total_slots") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return slots if isinstance(slots, int) and slots > 0 else None
