# %% [markdown]
# # nbllm quickstart
#
# Generate with a language model from a notebook cell, see the results as a table, plot their token statistics and watch the cache at work.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), change the `llm = ...` line to
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm

llm = nbllm.default_llm()  # the embedded model
llm

# %% [markdown]
# ## Generate
# `generate` takes a prompt (or chat messages, or a list of them) and returns, per input, `num_generations` samples with their statistics. In a notebook the result shows itself as a table. `seed=7` makes the samples the same on every run (and on Binder).

# %%
questions = [
    "What is the capital of France? Answer in one sentence.",
    "Name three colours of the rainbow.",
]
outputs = llm.generate(
    questions,
    num_generations=3,
    temperature=0.5,
    max_tokens=60,
    seed=7,
)
outputs

# %% [markdown]
# Read the answers as you would a student's: this 135-million-parameter model gets Paris right, but on the rainbow it may say that a rainbow *has* three colours, turning the question's "three" into a claim. Small models are fluent before they are right; lesson 04 scores answers instead of eyeballing them.
#
# ## As a DataFrame
# One row per (input, generation), with the parameters used and the token statistics; a few of its columns here, rounded for reading.

# %%
frame = outputs.to_dataframe()
columns = ["input", "generation_index", "generation", "output_tokens", "latency"]
frame[columns].round(2)

# %% [markdown]
# ## Token statistics
# Each plot returns a matplotlib `Figure` (and takes an `ax` to draw into your own).

# %%
nbllm.plot_tokens(outputs)

# %%
nbllm.plot_tokens_per_second(outputs)

# %% [markdown]
# ## The cache
# Rerunning the same cell with the same inputs and parameters does not call the model again: answers come from a persistent cache, marked `cache_hit`. Pass `fresh=True` for new samples.

# %%
again = llm.generate(
    questions,
    num_generations=3,
    temperature=0.5,
    max_tokens=60,
    seed=7,
)
print(
    "every answer came from the cache:", bool(again.to_dataframe()["cache_hit"].all())
)

# %% [markdown]
# ## Streaming, chat and parameters
# `stream` yields the text as it is produced; `chat` keeps a history you can read and edit as a list; generation parameters are one validated object.
#
# The embedded model is tiny (135 million parameters) and often loses track of a conversation: asked *What is my name?* it may answer with a name of its own. `llm.history` shows that the model *was* sent "My name is Ada": the history is the model's only memory, and using it is the model's job. Switch `llm` to a bigger model (the note at the top) and it answers "Ada".

# %%
for piece in llm.stream(
    "Write a haiku about the sea.", max_tokens=40, temperature=0.7, seed=2
):
    print(piece, end="")

# %%
llm.chat("Hi! My name is Ada.", max_tokens=40, temperature=0.2, seed=1)
llm.chat("What is my name?", max_tokens=40, temperature=0.2, seed=1)
llm.history  # everything the model was sent, and what it answered

# %%
llm.params.temperature = 0.2
try:
    llm.params.top_p = 1.5
except nbllm.InvalidParameterError as error:
    print(error)
