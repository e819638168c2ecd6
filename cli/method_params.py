"""How `abs methods` shows a method's parameter: its type, what it accepts (choices, bounds) and its real
default (a `default_factory` called, not pydantic's `PydanticUndefined`)."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo

BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >=", "max_length": "length <="}


def type_name(annotation: Any) -> str:
    """`float`, `list[str]`, `int | None`; a Literal is named by its values' type (they go to `accepts`)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(dict.fromkeys(type(value).__name__ for value in args))
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(dict.fromkeys(type_name(arg) for arg in args))
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(arg) for arg in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def choices(annotation: Any) -> list[Any]:
    """The values of every Literal in the annotation (inside lists and unions too)."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [value for arg in get_args(annotation) for value in choices(arg)]


def accepts(info: FieldInfo) -> str:
    """`a | b` for choices, then bounds like `>= 0, <= 10`."""
    found = [" | ".join(str(value) for value in choices(info.annotation))] if choices(info.annotation) else []
    for rule in info.metadata:
        for name, sign in BOUNDS.items():
            if getattr(rule, name, None) is not None:
                found.append(f"{sign} {getattr(rule, name)}")
    return ", ".join(found) or "-"


def default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    return value if isinstance(value, str) else repr(value)
