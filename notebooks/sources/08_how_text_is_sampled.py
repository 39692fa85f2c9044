# %% [markdown]
# # How text is sampled
#
# A language model writes one token at a time. At each step it gives every token of its vocabulary a probability, and the sampler draws one of them: so a text is **one path through a tree of choices**. This lesson shows it twice: first with the answers the class's model gave (recorded beside this notebook, so they show the same anywhere, Binder included), then live, token by token, with the embedded model.

# %% [markdown]
# ## 1. What the class's model said
#
# The teacher ran this lesson against the class's model server (an OpenAI-compatible llama.cpp server on 127.0.0.1:8080) and recorded every answer into `08_how_text_is_sampled.nbllm`, the small file beside this notebook. `nbllm.replay` serves those answers: no API key and no server are needed, and every answer is marked **recorded** (a `recorded` column in the tables, a badge in HTML). Before the grid runs, nbllm shows what it would send, cost and take: here nothing, the bundle holds every answer.
#
# > Teacher: with the server running, set `RECORD = True` (or run `python tools/record_lesson.py`) to record the lesson again. With the server reachable, `nbllm.replay(BUNDLE, compare=True)` runs it live and shows which answers drifted from the recording.

# %%
import os

import nbllm

BUNDLE = "08_how_text_is_sampled.nbllm"
RECORD = False  # True, with the class's server running, records the lesson again

# the class's server; its key (CLASS_API_KEY) is needed to record, not to replay
teacher = nbllm.OpenAILLM(
    model="smollm2",
    base_url="http://127.0.0.1:8080/v1",
    api_key=os.environ.get("CLASS_API_KEY"),
)
lesson = nbllm.record(BUNDLE) if RECORD else nbllm.replay(BUNDLE)
lesson

# %%
meter = nbllm.CostMeter(
    teacher, price_per_input_token=0.15e-6, price_per_output_token=0.6e-6
)
prompt = "Complete the sentence with one word: The sky is"
grid = nbllm.compare(
    [prompt],
    params=[{"temperature": 0.0}, {"temperature": 0.8}, {"temperature": 1.6}],
    llm=teacher,
    samples=5,
    max_tokens=12,
    seed=3,
)
grid

# %% [markdown]
# Each cell shows the answer most samples gave and how many agree. At temperature 0 the sampler always takes the most likely token, and still this server's five answers are not all the same: where two tokens are nearly tied, the tiny numerical differences of a server decoding several requests together (and reusing what it computed for an earlier one) tip the balance. The higher the temperature, the more often a sample leaves the likely path.
#
# Notice too that the temperature-0 answers are not good ones: they run past the one word asked for and wander off. Temperature 0 makes an answer *repeatable*, not *right*: it follows the model's most likely token at every step, and a model this small has no better path to follow. Every sample, one row each:

# %%
grid.frame[["variant", "generation_index", "generation", "recorded"]]

# %%
lesson.stop()  # from here on, answers are made live again
lesson

# %% [markdown]
# ## 2. One path through a tree
#
# The token tree below is live: the embedded model (SmolLM2-135M-Instruct, run offline by llama.cpp) writes an answer, each token coloured by the probability the model gave it (green: likely, red: unlikely).
#
# - **Click a token** to see what else the model could have written there, with the probabilities it really had (nothing is sent).
# - **Pick** one and the model writes on from that point: a new branch.
# - The **branches** at the bottom walk the tree back and forth; a branch seen before shows again at once.
# - The **sliders** show which alternatives a temperature and top_p allow (`cut` ones could never be drawn), and set how the next branch is sampled.

# %%
llm = nbllm.LlamaCppLLM()
tree = nbllm.TokenTree(
    llm, "Complete the sentence: The best thing about the sea is", max_tokens=24, seed=3
)
tree

# %% [markdown]
# The same tree from code, for reading without widgets: the first answer's tokens and their probabilities.

# %%
import pandas as pd

tree.ready.result(timeout=300)  # the first answer is written in the background
steps = tree.branch.steps
print(tree.text)
pd.DataFrame(
    {
        "token": [s.token for s in steps],
        "probability": [round(s.probability, 3) for s in steps],
    }
).T

# %% [markdown]
# Where was the model least sure? There it had real choices: its alternatives, with the model's own probability `p` and what the sampler would give each at the sliders' settings (`q`).

# %%
where = min(range(len(steps)), key=lambda i: steps[i].probability)
pd.DataFrame(tree.select(where))

# %%
other = next(c["t"] for c in tree.select(where) if not c["current"])
branch = tree.pick(other, at=where).result(timeout=300)
print("first answer:", repr(tree.branches[0].text))
print("new branch:  ", repr(branch.text))

# %% [markdown]
# A small top_p keeps only the most likely tokens whose probabilities add up to it, and a low temperature sharpens what is left: the sampler would only ever draw the few it keeps. Try the sliders above, then pick a `cut` token anyway: the model goes on from a place sampling would never have taken it.

# %%
tree.temperature.value, tree.top_p.value = 0.3, 0.2
pd.DataFrame(tree.select(where))[["t", "p", "q", "allowed"]]

# %% [markdown]
# ### Try it
# 1. Find a token the model was sure of (p above 0.9). Do its alternatives make sense?
# 2. Pick an unlikely alternative early in the answer. How far does the new branch drift from the first?
# 3. Set the temperature to 2.0 and leave top_p at 0.2: which alternatives are allowed now? Then set top_p to 1.0. Which slider decides what is cut, and which only changes `q` among the tokens left? (In llama.cpp's order temperature comes last, after the cut.)
