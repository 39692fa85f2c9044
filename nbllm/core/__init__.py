"""nbllm's core: inputs, parameters, schemas, outputs and results; importing it starts no thread."""
