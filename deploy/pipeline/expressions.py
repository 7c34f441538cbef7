"""The definition's expression language: build it, and evaluate it (the local runner).

    {"Get": "Parameters.Epochs"}                       a pipeline parameter
    {"Get": "Execution.PipelineExecutionId"}           an execution variable
    {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}   a step's property
    {"Std:Join": {"On": "/", "Values": [...]}}         strings joined
    {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                     "Path": "a.b.c"}}                 a value from a step's property file

As in SageMaker's definition reference (Pipelines > Define a pipeline > JSON schema).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

Expression = dict[str, Any]


def param(name: str) -> Expression:
    return {"Get": f"Parameters.{name}"}


def execution(name: str) -> Expression:
    return {"Get": f"Execution.{name}"}


def step_property(step: str, path: str) -> Expression:
    return {"Get": f"Steps.{step}.{path}"}


def output_uri(step: str, output: str) -> Expression:
    """Where a processing step's output went (an S3 prefix)."""
    return step_property(step, f"ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


def join(*values: Any, on: str = "") -> Expression:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def json_get(step: str, property_file: str, path: str) -> Expression:
    return {
        "Std:JsonGet": {
            "PropertyFile": step_property(step, f"PropertyFiles.{property_file}"),
            "Path": path,
        }
    }


def step_references(value: Any) -> set[str]:
    """The steps an argument tree reads properties of (its data dependencies)."""
    found: set[str] = set()
    if isinstance(value, dict):
        target = value.get("Get")
        if isinstance(target, str) and target.startswith("Steps."):
            found.add(target.split(".")[1])
        for item in value.values():
            found |= step_references(item)
    elif isinstance(value, list):
        for item in value:
            found |= step_references(item)
    return found


# `Outputs['train']` or `Outputs[0]` inside a property path.
_INDEX = re.compile(r"^(\w+)\[(?:'([^']*)'|(\d+))\]$")


def lookup(tree: Any, path: str) -> Any:
    """A property path (`A.B['k'].C`, `A[0]`) in nested dicts and lists."""
    node = tree
    for part in _split(path):
        match = _INDEX.match(part)
        if match:
            node = node[match.group(1)]
            key = match.group(2)
            node = _item(node, key) if key is not None else node[int(match.group(3))]
        else:
            node = node[part]
    return node


# A list of named things (outputs, inputs, channels) is indexed by name: `Outputs['train']`.
NAME_FIELDS = ("OutputName", "InputName", "ChannelName", "Name")


def _item(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node[key]
    for item in node:
        if any(item.get(name) == key for name in NAME_FIELDS):
            return item
    raise KeyError(key)


def _split(path: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in path:
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    return [*parts, current] if current else parts


class Resolver:
    """Evaluates expressions against one execution's parameters and finished steps."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        execution_variables: Mapping[str, Any],
        step_properties: Mapping[str, Any],
        property_file: Callable[[str, str], Any],
    ) -> None:
        self.parameters = parameters
        self.execution_variables = execution_variables
        self.step_properties = step_properties
        self.property_file = property_file  # (step, file name) -> parsed JSON

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            spec = value["Std:Join"]
            return str(spec["On"]).join(_text(self(item)) for item in spec["Values"])
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            reference = spec["PropertyFile"]["Get"]  # Steps.NAME.PropertyFiles.FILE
            _, step, _, name = reference.split(".")
            return lookup(self.property_file(step, name), spec["Path"])
        return {key: self(item) for key, item in value.items()}

    def _get(self, target: str) -> Any:
        kind, _, rest = target.partition(".")
        if kind == "Parameters":
            return self.parameters[rest]
        if kind == "Execution":
            return self.execution_variables[rest]
        if kind == "Steps":
            step, _, path = rest.partition(".")
            return lookup(self.step_properties[step], path)
        raise ValueError(f"unknown reference {target!r}")


def _text(value: Any) -> str:
    """Std:Join's rendering of a value: numbers as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)
