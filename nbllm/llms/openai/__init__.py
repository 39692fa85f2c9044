"""OpenAILLM (llm.py) and what it is made of: the connection, the wire format, streams,
structured output, the endpoint's learned capabilities, offline batches, token steps, errors.

Importing the package imports none of its modules (nor the openai library) and starts no thread.
"""
