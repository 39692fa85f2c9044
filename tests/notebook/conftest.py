"""Widgets format their outputs with IPython's shell; make it here, in the main thread, with no
history database (outside a kernel, ipywidgets would otherwise create one on nbllm's I/O thread)."""

from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

InteractiveShell.instance(config=Config({"HistoryManager": {"enabled": False}}))
