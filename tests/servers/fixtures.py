"""The test servers' fixtures, registered for every test under tests/ by one import in
tests/conftest.py."""

from tests.servers.reasoning_server import reasoning_llama_server

__all__ = ["reasoning_llama_server"]
