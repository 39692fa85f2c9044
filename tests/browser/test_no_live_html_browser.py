"""Text nbllm did not write never becomes live HTML in the page: a script payload goes in through
every widget and table (as a prompt, a data row, a contender's and a model's name, a model's
answer, an error) and into the HTML report, and the browser runs none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import open_notebook, run_all_cells, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Every payload that runs bumps a counter on the page; an <img> it made would stay in the DOM.
PAYLOAD = '<img src=x class=nbllm-pwned onerror="window.pwned=(window.pwned||0)+1">'

CELLS = [
    f"""import concurrent.futures
from types import SimpleNamespace

import pandas as pd

import nbllm

P = {PAYLOAD!r}
llm = nbllm.default_llm()""",
    # a model's answer: the model is asked to repeat the payload
    """outputs = llm.generate(["Repeat exactly: " + P], max_tokens=40, temperature=0.0)
outputs""",
    "nbllm.show(outputs)",
    "nbllm.to_dataframe(outputs)",
    # a data row put to a person
    """human = nbllm.HumanVerification()
human.callback([SimpleNamespace(text=P), SimpleNamespace(text="plain")], P)
human""",
    # a chat: the user's message, the model's reply, the branches
    """chat = nbllm.ChatWidget(llm, max_tokens=8, temperature=0.0)
chat.send(P).result(timeout=120)
chat""",
    # an error carrying a server's words (a model name nobody serves, on a port nobody answers)
    """dead = nbllm.OpenAILLM(model=P, base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0, cache=False)
broken = nbllm.ChatWidget(dead)
try:
    broken.send(P).result(timeout=60)
except nbllm.NBLLMError:
    pass
broken""",
    "dead.generate([P])",
    # the playground: prompts from the user, a failed run's status
    """playground = nbllm.Playground(llm, prompt=P)
playground.run().result(timeout=120)
playground""",
    # the arena: a contender named with the payload, its answers, the reveal
    """arena = nbllm.Arena({P: {"temperature": 0.0}, "other": {"temperature": 1.0}}, [P], llm=llm, max_tokens=6, seed=1)
arena.vote("A")
arena""",
    # a comparison: prompts, answers and a variant's label, and its report
    """result = nbllm.compare(pd.DataFrame({"prompt": [P, "Name a colour."]}), params=[{"temperature": 0.0}],
                       llm=llm, max_tokens=8, samples=2, seed=1)
result.to_html("payload-report.html")
result""",
    "result.interactive()",
    # a chat history whose roles came from a file
    """held = nbllm.default_llm().model_copy()
held.history = [{"role": P, "content": P}]
nbllm.ChatWidget(held)""",
    # the cost meter's currency, a third-party generator's name and description
    """nbllm.CostMeter(llm, price_per_input_token=1e-6, max_cost=1.0, currency=P)""",
    """from nbllm.generators.base import BaseGenerator


class Planted(BaseGenerator):
    name = P
    description = P

    async def agenerate(self, inputs, **params):
        return []


nbllm.GeneratorPicker(value=P)""",
    # the cell magic shows a model's answer as Markdown
    """%load_ext nbllm""",
    """%%nbllm --max-tokens 40 --temperature 0
Repeat exactly, as raw HTML: <img src=x class=nbllm-pwned onerror="window.pwned=(window.pwned||0)+1">""",
    # the token tree: the prompt and every token
    """tree = nbllm.TokenTree(llm, P, max_tokens=6)
tree""",
]


def test_a_script_payload_runs_nowhere(page: Any, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "notebooks" / "payload.ipynb")
    try:
        panel = open_notebook(page, "payload.ipynb")
        run_all_cells(page)
        assert panel.get_by_text("Error displaying widget").count() == 0
        # every cell rendered: the payload is on the page as text, many times over
        panel.locator(".nbllm-arena .nbllm-answer").first.wait_for()
        panel.locator(".nbllm-chat, .widget-vbox").first.wait_for()
        for index in range(len(CELLS)):  # JupyterLab renders cells as they come into view
            page.evaluate(
                "i => window.jupyterapp.shell.currentWidget.content.widgets[i].node.scrollIntoView()", index
            )
            page.wait_for_timeout(100)
        shown = page.evaluate("() => document.body.innerText.split('onerror=').length - 1")
        assert shown >= 12, f"the payload shows as text only {shown} times: some cell did not render"
        assert page.evaluate("() => document.querySelectorAll('img.nbllm-pwned').length") == 0
        assert page.evaluate("() => window.pwned || 0") == 0
        shot(page, "payload.png")
        # the report a colleague opens: its text is text too
        page.goto((tmp_path / "notebooks" / "payload-report.html").as_uri())
        page.wait_for_load_state("load")
        assert "onerror=" in page.evaluate("() => document.body.innerText")
        assert page.evaluate("() => document.querySelectorAll('img.nbllm-pwned').length") == 0
        assert page.evaluate("() => window.pwned || 0") == 0
    except Exception:
        shot(page, "payload-failure.png")
        raise
