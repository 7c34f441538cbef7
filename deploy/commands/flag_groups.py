"""Flags that several commands share, declared once as a dataclass and handed over as one value.

Typer builds a command's flags from its signature. `@grouped(source=SourceFlags)` replaces the
command's `source` parameter by the dataclass's fields (each an annotated Typer option), so the
CLI surface is unchanged, and calls the command with `source=SourceFlags(**those values)`: the
command receives one object instead of a dozen loose parameters. Validation that must not wait
belongs in the dataclass's `__post_init__`; it runs inside `guarded`, before the command body.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

R = TypeVar("R")


def _fields(group: type) -> list[inspect.Parameter]:
    """The group's constructor parameters with their annotations evaluated (Typer reads them)."""
    hints = get_type_hints(group, include_extras=True)
    return [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[parameter.name])
        for parameter in inspect.signature(group).parameters.values()
    ]


def grouped(**groups: type) -> Callable[[Callable[..., R]], Callable[..., R]]:
    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        signature = inspect.signature(command, eval_str=True)
        members = {name: _fields(group) for name, group in groups.items()}
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter.name in groups:
                parameters.extend(members[parameter.name])
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        names = [parameter.name for parameter in parameters]
        if len(set(names)) != len(names):
            raise TypeError(f"{command.__name__}: a flag group repeats a parameter name")

        @functools.wraps(command)
        def run(**values: Any) -> R:
            for name, group in groups.items():
                values[name] = group(**{p.name: values.pop(p.name) for p in members[name]})
            return command(**values)

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run

    return decorate
