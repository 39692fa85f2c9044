"""The backends: the LLM facade and each engine or endpoint it talks to; importing it starts no thread."""
