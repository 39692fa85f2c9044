"""Scaling out: LLMs in Ray actors and tables of prompts run over a pool in chunks.

Importing it starts no thread.
"""
