# %% [markdown]
# # A tour of the generators
#
# Every generator runs a `Job` — an instruction, a template with named fields, optional output schema and examples — with its own strategy. Here all of them run the same job.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), change the `llm = ...` line to
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm
from nbllm.generators import (
    AsyncGenerator,
    Example,
    ExampleGenerator,
    Generator,
    Job,
    JobSettings,
    MajorVoteGenerator,
    MultiThreadingAsyncGenerator,
    SequentialAsyncGenerator,
    SequentialAsyncGenerator2,
)

llm = nbllm.default_llm()
# two worked examples (few-shot) show the small model the answer we want
examples = [
    Example(input={"country": "Spain"}, output="Madrid"),
    Example(input={"country": "Germany"}, output="Berlin"),
]
job = Job(
    instruction="Answer with the capital city only.",
    template="What is the capital of {country}?",
    examples=examples,
    params={"max_tokens": 12, "temperature": 0.0},
)
countries = ["France", "Japan", "Italy"]
nbllm.list_generators()

# %%
nbllm.show(Generator(job, llm).generate(countries))

# %% [markdown]
# Sampling at a higher temperature, the small model sometimes goes wrong (look for an invented city below). That is what the majority vote further down is for.

# %%
nbllm.show(
    AsyncGenerator(job, llm, num_runs=3).generate(countries, temperature=0.7, seed=5)
)

# %%
nbllm.show(SequentialAsyncGenerator(job, llm, num_runs=2).generate(countries))

# %%
nbllm.show(
    SequentialAsyncGenerator2(job, llm, num_runs=2, max_concurrency=8).generate(
        countries
    )
)

# %%
variants = [
    JobSettings(name="greedy", params={"temperature": 0.0}),
    JobSettings(name="hot", params={"temperature": 1.2}),
]
nbllm.show(
    MultiThreadingAsyncGenerator(job, llm, job_settings=variants).generate(countries)
)

# %% [markdown]
# ## Majority vote
# Runs several times and keeps the answer most runs agree on, with its reliability (votes for the winner / runs) and every answer's votes. With an output schema the parsed answers are compared. The wrong samples above are outvoted; Egypt, which this model rarely gets right, shows a low reliability: when the votes split, check the answer (here the model was asked to pick among the candidates: the generator column says *grade*).

# %%
from pydantic import BaseModel


class Capital(BaseModel):
    capital: str


structured = Job(
    instruction="Give the capital city of the country.",
    template="What is the capital of {country}?",
    output_schema=Capital,
    examples=[Example(input={"country": "Spain"}, output=Capital(capital="Madrid"))],
    params={"max_tokens": 30},
)
votes = MajorVoteGenerator(
    structured, llm, num_votes=5, temperature=0.7, seed=5
).generate(countries + ["Egypt"])
nbllm.show(votes)

# %% [markdown]
# ## Examples for a job
# `ExampleGenerator` writes new inputs for a job and answers them by majority vote, as candidates for few-shot examples. A model this small often just repeats the example it was shown, or writes poor ones: read them before you use them, or let a bigger model write them.

# %%
records = ExampleGenerator(structured, llm, num_votes=3, seed=2).generate(3)
nbllm.show(records)

# %% [markdown]
# ## Side by side
# `compare` runs the same inputs through several generators and returns the wide table and a plot.

# %%
nbllm.compare(
    countries,
    generators=[Generator(job, llm), AsyncGenerator(job, llm, num_runs=2)],
    temperature=0.7,
    seed=5,
)
