# %% [markdown]
# # Scaling out with Ray
#
# When one kernel is not enough — thousands of prompts, several endpoints, several copies of a local model — the same pools run on [Ray](https://www.ray.io/), the distributed engine that Ray Data LLM and distilabel's Ray pipeline use. Each member of the pool is a Ray actor that loads its LLM once (the load function runs where the actor lives).
#
# > **Runs offline on the embedded model**, on a local Ray cluster started for this notebook. To use a cluster you already have, pass its address: `nbllm.LLMPool.on_ray(load, address="auto")` on a node of the cluster, or `address="ray://head-node:10001"` from your laptop. Ray is an optional extra: `pip install "nbllm[ray]"`.

# %%
import nbllm
import pandas as pd


def load():
    import nbllm  # runs inside the actor

    return nbllm.LlamaCppLLM(n_threads=1)


pool = nbllm.LLMPool.on_ray(load, num_replicas=2, num_cpus=1)
[
    (llm.model_name, llm.pid) for llm in pool.llms
]  # two actors, each with its own copy of the model

# %% [markdown]
# ## A table of prompts, in chunks
#
# `generate_frame` sends the prompts to the actors a chunk at a time, shows a progress bar and returns a DataFrame (one row per prompt and generation; `row` is the row of your table). Given `cache_llm` (the LLM your load function makes — making one loads nothing) it looks in the persistent cache first, so running the cell again sends nothing. An actor that dies mid-batch has its chunk rescheduled on the others.

# %%
questions = pd.DataFrame(
    {
        "prompt": [
            f"What is {a} plus {b}? Answer with the number only."
            for a, b in [(1, 1), (2, 3), (4, 4), (5, 2), (3, 6), (7, 1), (2, 2), (6, 3)]
        ]
    }
)
answers = pool.generate_frame(
    questions, chunk_size=2, cache_llm=load(), max_tokens=12, temperature=0.0
)
answers[["row", "input", "generation", "cache_hit", "latency"]]

# %%
again = pool.generate_frame(
    questions, chunk_size=2, cache_llm=load(), max_tokens=12, temperature=0.0
)
print("rows sent to the cluster:", again.attrs["rows_sent"])
print("rows from the cache:", again.attrs["rows_from_cache"])

# %% [markdown]
# ## Several samples per prompt
#
# `pool.generate` splits `num_generations` over the actors (distilabel's LLMPool rule) and merges them back per input, as distinct samples.

# %%
ask = [
    {"role": "user", "content": "Name a fruit."},
    {"role": "assistant", "content": "Apple."},
    {"role": "user", "content": "Name a colour."},
]
outputs = pool.generate([ask], num_generations=4, max_tokens=8, temperature=1.0, seed=1)
outputs

# %% [markdown]
# When you are done, stop the actors (and the local cluster):

# %%
import ray

pool.teardown()
ray.shutdown()
