# %% [markdown]
# # Prompting exercises that check themselves
#
# A prompt is good when the model answers well again and again, not once. Each exercise here asks the model for a few answers (each with its own fixed seed, so a check gives the same answers every time it runs), marks every answer with a check, and passes when enough of them pass. After a failed attempt, a hint shows. Then the class's side: everyone's results in one table, everyone's arena votes in one ranking, and this week's run against last week's.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. The class's files it reads are in `09_class/`, beside
# > this notebook. To use an OpenAI-compatible endpoint instead, change the `llm = ...` line
# > to `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm
import pandas as pd
from nbllm import scorers

llm = nbllm.default_llm()

# %% [markdown]
# ## 1. Name the capital
#
# Write a prompt in the box and press **Check**. Each of the three answers gets a ✓ or a ✗ from the check (here: does the answer contain "Canberra"?), and two of them must pass.

# %%
capital = nbllm.Exercise(
    "Get the model to name the capital of Australia.",
    scorers.contains("Canberra"),
    samples=3,
    need=2,
    hints=[
        "Ask for what you want to see: the capital city, by name.",
        "Ask one plain question, as you would ask a person.",
    ],
    llm=llm,
    id="capital",
    max_tokens=30,
)
capital

# %% [markdown]
# **Check** calls `check_prompt`, which works from code too. A vague prompt first: the model talks about Australia, never about its capital, and the first hint shows.

# %%
attempt = capital.check_prompt("Tell me about Australia.")
print(attempt.describe())
print("hint:", capital.hint)

# %%
attempt = capital.check_prompt("What is the capital of Australia?")
print(attempt.describe())
attempt.answers

# %% [markdown]
# Every attempt is kept, with its prompt, settings, answers, marks and time: `capital.attempts`. Because the seeds are fixed, the teacher who runs your prompt again gets the same answers and the same marks.
#
# ## 2. Digits, not words
#
# A check can be any nbllm scorer: here a regular expression that wants the digit 8 as a word of its own.

# %%
digits = nbllm.Exercise(
    "Make the model give the number of a spider's legs as a digit (8), not a word.",
    scorers.regex(r"\b8\b"),
    samples=3,
    need=2,
    hints=["Say the form you want the answer in: digits."],
    llm=llm,
    id="digits",
    max_tokens=20,
)
for prompt in [
    "How many legs does a spider have?",
    "How many legs does a spider have? Answer with digits only.",
]:
    print(f"{digits.check_prompt(prompt).describe()}  ←  {prompt}")
digits

# %% [markdown]
# ## 3. A list, one per line
#
# A check can also be a function of the answer. This exercise lets you set `max_tokens` as well as the prompt: a setting is part of what you ask for.

# %%
fruits = nbllm.Exercise(
    "Make the model list three fruits, one per line.",
    lambda answer: len([line for line in answer.splitlines() if line.strip()]) >= 3,
    samples=3,
    need=2,
    hints=["Say how the answer should look: a list, one fruit per line."],
    llm=llm,
    editable=["max_tokens"],
    id="fruits",
    max_tokens=40,
)
for tokens in (6, 40):
    attempt = fruits.check_prompt("List three fruits, one per line.", max_tokens=tokens)
    print(f"max_tokens={tokens}: {attempt.describe()}")
fruits

# %% [markdown]
# ## 4. Hand in, and the class's table
#
# `export` writes your attempts at one exercise to a small file (your prompts, settings, answers and marks; never a key). The teacher reads a folder of them with `nbllm.class_results`: a row per student and exercise. `09_class/attempts/` holds the files of three students, ada, bob and cy.

# %%
for exercise in (capital, digits, fruits):
    print(exercise.export("exports/", student="me"))

# %%
results = nbllm.class_results("09_class/attempts/")
nbllm.show(results[["student", "exercise", "passed", "attempts", "best"]])

# %% [markdown]
# A file says what it claims. `recheck=True` runs every claimed pass again, with the teacher's own exercises (their checks, settings and seeds), and says whether it reproduces: bob's file claims a pass that the model never gave him.

# %%
checked = nbllm.class_results(
    "09_class/attempts/", recheck=True, exercises=[capital, digits, fruits]
)
nbllm.show(checked[["student", "exercise", "passed", "reproduced", "note"]])

# %% [markdown]
# ## 5. The class's votes in one ranking
#
# Each student voted in a blind arena (two anonymous answers side by side: is a careful temperature of 0.3 better than a wild 1.2?) and handed in their votes with `arena.export_votes(...)`. `nbllm.Arena.pooled` reads the folder: one ranking over every vote, a file handed in twice counted once, and votes about another arena left out, with whose they are.

# %%
pooled = nbllm.Arena.pooled("09_class/votes/")
pooled

# %%
pooled.left_out

# %%
pooled.plot()

# %% [markdown]
# ## 6. This week against last week
#
# Last week the class asked three questions at two temperatures, four answers each, and saved the run: `09_class/last_week.json`. This week the model gets a system prompt that asks for one short sentence. Did that help, or is the difference noise? `versus` pairs the two runs by question and temperature and tests each difference.

# %%
questions = pd.DataFrame(
    {
        "prompt": [
            "What is the capital of Australia?",
            "What colour is a ripe banana?",
            "What is the largest planet in the solar system?",
        ],
        "answer": ["Canberra", "yellow", "Jupiter"],
    }
)
coached = nbllm.LlamaCppLLM(system_prompt="Answer in one short sentence.")
this_week = nbllm.compare(
    questions,
    params=[{"temperature": 0.3}, {"temperature": 1.0}],
    llm=coached,
    samples=4,
    scorers={"right": scorers.reference("answer")},
    max_tokens=30,
)
change = this_week.versus("09_class/last_week.json")
change

# %% [markdown]
# The answers that changed, in full: a system prompt can make an answer shorter, and also wrong.

# %%
nbllm.show(change.changed)

# %% [markdown]
# With four answers per cell, a difference must be large to be more than noise; the verdict says so when it is not. To make your own "last week", save a run: `this_week.save("exports/this_week.json")`.
