"""Jobs: what a generator runs — an instruction, a prompt template, an output schema, examples.

Pure: runs on whatever thread calls it (jobs are made on the caller's thread, rendered on the
I/O loop when a generator runs).
"""

from __future__ import annotations

import json
import string
from typing import Annotated, Any, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from nbllm.core.messages import Message, Messages
from nbllm.core.params import GenerationParams
from nbllm.core.schema import OutputSchema, schema_dict
from nbllm.engine.components import Component
from nbllm.errors import InvalidInputError

JobInput = Union[str, dict[str, Any]]


class Example(BaseModel):
    """A few-shot example: the input fields and the expected output."""

    input: dict[str, Any]
    output: Any
    reliability: Optional[float] = None


def _check_params(value: dict[str, Any]) -> dict[str, Any]:
    GenerationParams(**value)  # raises InvalidParameterError naming the field
    return value


# Generation parameters of a job or a variant, validated when the job is made.
ValidParams = Annotated[dict[str, Any], AfterValidator(_check_params)]


class JobSettings(BaseModel):
    """A variant of a job: another instruction, a subset of examples, other parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str
    instruction: Optional[str] = None
    examples: Optional[list[int]] = Field(None, description="Indices of the job's examples to keep.")
    params: ValidParams = Field(default_factory=dict)


class Job(BaseModel):
    """An instruction with a template of named input fields, e.g. ``"Review: {review}"``.

    With an ``output_schema`` (pydantic model or JSON schema) answers are asked for as JSON
    and parsed into it; an unparsable answer becomes that run's error, never a crash.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    instruction: str
    template: str = "{input}"
    output_schema: Optional[Any] = None
    examples: list[Example] = Field(default_factory=list)
    params: ValidParams = Field(default_factory=dict)
    name: str = "job"

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: Any) -> Any:
        if value is not None:
            schema_dict(value)
        return value

    @property
    def fields(self) -> list[str]:
        """The named input fields of the template, in order."""
        names = [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        return list(dict.fromkeys(names))

    def input_dict(self, value: JobInput) -> dict[str, Any]:
        """An input as a dict of fields; a plain string fills a single-field template."""
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and len(self.fields) == 1:
            return {self.fields[0]: value}
        raise InvalidInputError(
            f"job {self.name!r} needs a dict with fields {self.fields}; got {type(value).__name__}."
        )

    def render(self, value: JobInput) -> str:
        """The prompt for one input; missing fields are an InvalidInputError naming them."""
        data = self.input_dict(value)
        missing = [f for f in self.fields if f not in data]
        if missing:
            raise InvalidInputError(
                f"job {self.name!r} input is missing field(s) {missing}; the template needs {self.fields}."
            )
        return self.template.format(**data)

    def messages(self, value: JobInput) -> Messages:
        """System instruction, few-shot turns, then the rendered input."""
        system = self.instruction
        if self.output_schema is not None:
            system += "\nAnswer only with JSON that follows this schema: " + json.dumps(
                schema_dict(self.output_schema)
            )
        turns: list[Message] = [{"role": "system", "content": system}]
        for example in self.examples:
            turns.append({"role": "user", "content": self.render(example.input)})
            turns.append({"role": "assistant", "content": _as_text(example.output)})
        turns.append({"role": "user", "content": self.render(value)})
        return tuple(turns)

    def with_settings(self, settings: JobSettings) -> Job:
        """This job changed by a variant's settings."""
        changes: dict[str, Any] = {
            "name": f"{self.name}:{settings.name}",
            "params": {**self.params, **settings.params},
        }
        if settings.instruction is not None:
            changes["instruction"] = settings.instruction
        if settings.examples is not None:
            changes["examples"] = [self.examples[i] for i in settings.examples]
        return self.model_copy(update=changes)

    def add_examples(self, examples: list[Example]) -> Job:
        self.examples = [*self.examples, *examples]
        return self

    def call(self, value: JobInput) -> JobCall:
        return JobCall(self, value)


class JobCall(Component):
    """A job applied to one input: the component the engine generates from."""

    def __init__(self, job: Job, value: JobInput) -> None:
        super().__init__()
        self.job = job
        self.value = value
        self.output_schema: OutputSchema | None = job.output_schema
        self._messages = job.messages(value)  # render now: a missing field fails before any request

    def format_for_llm(self) -> Messages:
        return self._messages


def _as_text(output: Any) -> str:
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    if isinstance(output, (dict, list)):
        return json.dumps(output)
    return str(output)
