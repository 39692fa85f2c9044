"""The engine: the generate protocol, its I/O loop, cache and callbacks; importing it starts no thread."""
