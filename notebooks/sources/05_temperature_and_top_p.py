# %% [markdown]
# # Teaching temperature and top_p
#
# A language model gives a probability to every possible next token. *Temperature* reshapes that distribution (low: sharper, towards the most likely token; high: flatter) and *top_p* keeps only the most likely tokens whose probabilities add up to p. The explorer below shows the embedded model's **real** probabilities over its whole vocabulary (pale bars; everything past the top 12 as one bar) and what its sampler draws from (dark bars), computed as llama.cpp's sampler does it: first *top_k*, *top_p* and *min_p* cut the model's own distribution, then temperature reshapes what is left. Moving a slider costs no generation; the samples under the chart are drawn afresh each time.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), `generate` works the same with
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.
# > (The next-token probabilities come from the local llama.cpp model.)

# %%
import nbllm

llm = nbllm.LlamaCppLLM()
explorer = nbllm.TemperatureExplorer(llm, "Name a colour.", "Colour:", top_n=12)
explorer

# %% [markdown]
# The same numbers without widgets: the model's top tokens and what the sampler makes of them at three temperatures.

# %%
import math

from nbllm.core.sampling import sampling_distribution

# the whole vocabulary, most likely first, and the engine's own cuts
tokens = [t for t, _ in explorer.tokens_logprobs]
logprobs = [lp for _, lp in explorer.tokens_logprobs]
cuts = {"top_k": explorer.settings["top_k"], "min_p": explorer.settings["min_p"]}
top = explorer.tokens_logprobs[:5]
print("the model:", ", ".join(f"{t!r} {math.exp(lp):.2f}" for t, lp in top))
for temperature in (0.2, 1.0, 1.8):
    probs = sampling_distribution(logprobs, temperature, **cuts)
    print(
        f"T={temperature}:",
        ", ".join(f"{t!r} {p:.2f}" for t, p in list(zip(tokens, probs))[:5]),
    )

# %%
model = [math.exp(lp) for lp in logprobs]
nbllm.plot_distribution(
    tokens,
    sampling_distribution(logprobs, 1.0, top_p=0.9, **cuts),
    model=model,
    title="temperature 1.0, top_p 0.9",
)

# %% [markdown]
# ## What it does to samples
# Ten samples at each temperature: low temperature repeats itself, high temperature wanders.

# %%
import collections

# one worked example first, so the small model answers with a word
ask = [
    {"role": "user", "content": "Name a fruit."},
    {"role": "assistant", "content": "Apple."},
    {"role": "user", "content": "Name a colour."},
]
for temperature in (0.1, 1.0, 1.8):
    (out,) = llm.generate(
        [ask], num_generations=10, temperature=temperature, max_tokens=6, seed=1
    )
    print(
        temperature,
        collections.Counter(g.text.strip() for g in out.generations).most_common(4),
    )
