"""The test servers' fixtures, registered for every test under tests/ by one import in
tests/conftest.py."""

from tests.servers.openai_conformance import openai_conformance
from tests.servers.reasoning_server import legacy_reasoning_llama_server, reasoning_llama_server

__all__ = ["legacy_reasoning_llama_server", "openai_conformance", "reasoning_llama_server"]
