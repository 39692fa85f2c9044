# %% [markdown]
# # Chat
#
# The chat widget streams replies token by token and shows the history as editable messages: edit a message (editing an earlier turn forks the conversation and keeps the old branch in the *branch* dropdown), delete one, or regenerate the last reply. The LLM's `history` follows the widget and the reverse.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), change the `llm = ...` line to
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm

llm = nbllm.default_llm(system_prompt="You are a friendly, concise assistant.")
chat = nbllm.ChatWidget(llm, max_tokens=60)
chat

# %% [markdown]
# Everything the widget does is also a method, so a notebook can drive it (and tests do). The embedded model is tiny and often forgets a name it was told two lines up (it may even call itself Ada): the history below shows it was sent. A bigger model (see the note at the top) remembers.

# %%
chat.send("Hi! My name is Ada.").result()
chat.send("What is my name?").result()
llm.history

# %%
chat.edit(0, "Hi! My name is Grace.").result()  # forks a new branch from the first turn
[len(branch) for branch in chat.branches], llm.history

# %%
# the widget follows: a new, empty branch (the old one stays in the dropdown)
llm.history = []
len(chat.transcript.children)

# %% [markdown]
# Without widgets (in a script, or on GitHub), `llm.chat` keeps the same history:

# %%
llm.chat("Tell me a one-line joke about cats.", max_tokens=40, temperature=0.7, seed=1)
