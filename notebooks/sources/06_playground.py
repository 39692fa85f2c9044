# %% [markdown]
# # Playground
#
# Type prompts (separate several with a line of `---`), set the parameters, pick a generator and press **Run**. Sliders never send a request by themselves. The token meter below counts tokens and estimates the cost at the prices you give.
#
# > **Runs offline on the embedded model** (SmolLM2-135M-Instruct, shipped inside nbllm's own
# > wheel): no API key, no network. To use an OpenAI-compatible endpoint instead (OpenAI, vLLM,
# > Ollama, a llama.cpp server), change the `llm = ...` line to
# > `llm = nbllm.OpenAILLM(model="gpt-4o-mini")` (reads `OPENAI_API_KEY`) or
# > `llm = nbllm.OpenAILLM(model="my-model", base_url="http://127.0.0.1:8000/v1")`.

# %%
import nbllm

llm = nbllm.default_llm()
playground = nbllm.Playground(llm)
playground

# %%
meter = nbllm.CostMeter(
    llm, price_per_input_token=0.15e-6, price_per_output_token=0.6e-6
)
meter
