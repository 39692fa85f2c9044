# %% [markdown]
# # Reasoning models
#
# A reasoning model thinks before it answers: it writes a thought, then the answer. The thought is output like any other (it takes time and is billed), but it is not the answer: nbllm keeps the two apart. This lesson shows where the thinking goes (`generation.reasoning`, the tables, a stream), what it costs, and asks whether more thinking pays.
#
# The answers here were recorded from a real llama.cpp server running the tiny embedded model (SmolLM2-135M-Instruct) as a "thinking" model: its chat template opens a `<think>` block, the server returns what the model writes there as `reasoning_content`, and a grammar sent with each request (`extra_body={"grammar": ...}`, a llama.cpp option) makes the model write a thought, close the block and answer in one sentence. They are in `10_reasoning_models.nbllm`, beside this notebook: no server, key or network is needed.
#
# > **A real reasoning model instead:** drop the `lesson = ...` line and make `llm` one, e.g. `nbllm.OpenAILLM(model="gpt-5-mini")` (with `OPENAI_API_KEY` set) or a Qwen3 served by vLLM (`nbllm.OpenAILLM(model="Qwen/Qwen3-8B", base_url="http://127.0.0.1:8000/v1")`), and leave the grammars out. Teacher: `python tools/record_lesson.py 10` starts the server and records the lesson again.

# %%
import nbllm

BUNDLE = "10_reasoning_models.nbllm"
RECORD = False  # True, with the reasoning server running, records the lesson again

# a thought of 10 to 200 characters, the end of the think block, then one sentence
THINK = r"""root ::= thought "\n</think>\n\n" answer
thought ::= [^<\n]{10,200}
answer ::= [^<\n.]{1,120} "."
"""
SERVER = "http://127.0.0.1:8124/v1"  # tests/servers/reasoning_server.py
PRICES = nbllm.Budget(price_per_input_token=0.25e-6, price_per_output_token=2e-6)
llm = nbllm.OpenAILLM(
    model="smollm2-think",
    base_url=SERVER,
    extra_body={"grammar": THINK},  # a server's own options, merged into the request
    max_tokens=200,
    budget=PRICES,
)
lesson = nbllm.record(BUNDLE) if RECORD else nbllm.replay(BUNDLE)
lesson

# %% [markdown]
# ## 1. The thinking, apart from the answer
#
# `generation.text` is the answer alone; the thought is `generation.reasoning` (None where a model shows none, as OpenAI's do: they only count it). `stats.reasoning_tokens` is how many tokens the thinking took: reported by the server where it says so, else estimated from its length (`stats.reasoning_estimated`).

# %%
(output,) = llm.generate("What is the capital of France?", temperature=0.7, seed=1)
generation = output.generations[0]
print("thinking:", generation.reasoning)
print("answer:  ", generation.text)
stats = generation.stats
print(
    f"{stats.output_tokens} output tokens: {stats.reasoning_tokens} thinking "
    f"(estimated: {stats.reasoning_estimated}), {stats.answer_tokens} answer"
)

# %% [markdown]
# In a table the thinking is folded under the answer: click *thinking* to read it.

# %%
output

# %% [markdown]
# ## 2. A stream with its thinking
#
# `llm.stream(prompt)` yields the answer's pieces only. With `thinking=True` the thinking comes first, as `nbllm.ReasoningDelta` pieces (strings you can tell apart with `isinstance`), then the answer's plain pieces. The chat widget shows the thinking the same way, folded above the reply. (Replayed, a stream arrives in one piece of each kind; live, piece by piece.)

# %%
thought, answer = [], []
for piece in llm.stream("Name a colour.", thinking=True, temperature=0.7, seed=3):
    (thought if isinstance(piece, nbllm.ReasoningDelta) else answer).append(piece)
print("thinking:", "".join(thought).strip())
print("answer:  ", "".join(answer))

# %% [markdown]
# ## 3. A DataFrame with the reasoning columns
#
# `to_dataframe` gives each answer a row; `reasoning` and `reasoning_tokens` sit beside the answer (`generation`) and its token counts.

# %%
questions = [
    "What colour is the sky on a clear day?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
]
outputs = llm.generate(questions, temperature=0.7, seed=2)
frame = nbllm.to_dataframe(outputs)
frame[["input", "reasoning", "generation", "reasoning_tokens", "output_tokens"]]

# %% [markdown]
# ## 4. Does more thinking pay?
#
# The same questions with and without a thought: a second LLM on the same server sends a grammar that closes the think block at once, so the model answers straight away (in the tables it is the first `smollm2-think`; the one that thinks is `smollm2-think #2`). A scorer checks each **answer** (scorers, votes, the arena and exercises never see the thinking) against a reference. `cost_table()` puts what each variant spent per answer beside its score: answer and thinking tokens, latency, and the cost at the Budget's prices (thinking tokens are output tokens, and billed as such).

# %%
import pandas as pd

NO_THINK = r"""root ::= "\n</think>\n\n" answer
answer ::= [^<\n.]{1,120} "."
"""
quiz = pd.DataFrame(
    {
        "prompt": [
            "What is the capital of France?",
            "What colour is the sky on a clear day?",
            "How many legs does a spider have?",
            "What is the opposite of hot?",
            "What is the capital of Italy?",
            "What colour is grass?",
        ],
        "answer": ["Paris", "blue", "eight", "cold", "Rome", "green"],
    }
)
quick = nbllm.OpenAILLM(
    model="smollm2-think",
    base_url=SERVER,
    extra_body={"grammar": NO_THINK},
    max_tokens=200,
    budget=PRICES,
)
grid = nbllm.compare(
    quiz,
    llms=[quick, llm],
    scorers={"right": nbllm.scorers.reference("answer")},
    temperature=0.7,
    seed=5,
)
grid.cost_table()

# %%
grid.plot_cost("right")

# %% [markdown]
# The last column of the table, in full: is the difference real?

# %%
import textwrap

verdict = grid.significance("smollm2-think", "smollm2-think #2", "right")
print(textwrap.fill(verdict.text, 90))

# %% [markdown]
# **Does more thinking pay? Not for this model.** Thinking more than doubled the output tokens per answer (about 45 thinking tokens on top of the answer's), so it more than doubled the cost, and took longer; and the answers were no better: the model without a thought got one question of six right, the one with a thought none. The significance test says what six questions can say: a difference this small could well be noise. Look at the thoughts (`grid.frame`): several hold the right fact ("The capital of France is Paris") and the answer after them drifts elsewhere. The scorer judges the answer alone, as it should: a thought with the right fact and a wrong answer is a wrong answer.
#
# A 135M-parameter model was never trained to use a thought; reasoning models are, and for them the same table is the honest test. More thinking often pays on questions that need several steps (arithmetic, logic, code) and rarely on questions of fact, so run it on questions like yours, with enough of them for the significance column to decide.

# %%
grid.frame[["variant", "input", "reasoning", "generation", "right"]]

# %% [markdown]
# ## 5. OpenAI's reasoning models: what nbllm sends and refuses
#
# Nothing below is run here; it is what nbllm does with `nbllm.OpenAILLM(model="gpt-5-mini")` and its kin, known by name (the o-series and the gpt-5 family):
#
# - **`max_tokens` is sent as `max_completion_tokens`**, the only name these models take (`max_completion_tokens=` is also accepted as an alias). It bounds thinking and answer together: too small a bound can leave no answer at all. Another endpoint that refuses `max_tokens` (an Azure deployment, say) is learnt from its first refusal, sent again, and remembered.
# - **`temperature` and `top_p` are refused before any request**, with an error naming the model and what it takes: a reasoning model samples at its own settings (only the default, 1, is taken). gpt-5.1 takes them with `reasoning_effort="none"`.
# - **`reasoning_effort`** is how much the model thinks: gpt-5 takes `minimal`, `low`, `medium`, `high`; gpt-5.1 `none`, `low`, `medium`, `high`; gpt-5-pro `high` only. Another value is refused before the request. For other endpoints a refusal is remembered (see `llm.capabilities`, and `llm.parameter_support()` for what a widget offers).
# - **`verbosity`** (`low`, `medium`, `high`) asks for a shorter or longer answer.
# - OpenAI does not show the thinking: `generation.reasoning` is None, but `stats.reasoning_tokens` is reported, and billed as output.
#
# The same question, "does more thinking pay?", on gpt-5-mini:
#
# ```python
# mini = nbllm.OpenAILLM(model="gpt-5-mini", budget=nbllm.Budget(
#     price_per_input_token=0.25e-6, price_per_output_token=2e-6))
# grid = nbllm.compare(quiz, llm=mini, scorers={"right": nbllm.scorers.reference("answer")},
#                      params=[{"reasoning_effort": "low"}, {"reasoning_effort": "high"}])
# grid.cost_table()
# ```
#
# Open models served by vLLM think by default; `extra_body={"chat_template_kwargs": {"enable_thinking": False}}` turns Qwen3's thinking off. The documentation's *Reasoning models* page (`docs/reasoning.md`) has the rest.

# %%
lesson.stop()
lesson
