"""LlamaCppLLM (llm.py), the embedded default: llama.cpp's server run as a child process
(server.py, child.py), talked to over HTTP (http.py), with token steps (steps.py).

Importing the package imports none of its modules (nor llama.cpp) and starts no thread.
"""
