"""Start-up: typer converts every option value through a pydantic TypeAdapter it builds on first
use, which imports pydantic and costs about 50 ms before a command does anything. The values kmsg's
options mostly take (a string, an in-range int or decimal in plain digits, a flag, a list of strings, a
choice's exact value, nothing) need no such machinery: ``light`` answers those exactly as typer's
adapter would and hands anything else (a bad value and its error message included) to typer.
"""

from __future__ import annotations

from enum import EnumMeta
from typing import Any

from typer._click.core import Command, Context, Parameter


def light(command: Command, ctx: Context) -> None:
    """Give each parameter of ``command`` the light conversion (once; a no-op if typer changes)."""
    for param in command.get_params(ctx):
        if getattr(param, "_runtime_param", 0) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = _Light()  # type: ignore[attr-defined]


class _Light:
    real: Any = None

    def coerce(self, value: Any, param: Parameter, ctx: Context) -> Any:
        many = param.multiple or param.nargs == -1
        if value is None:
            return () if many else None
        annotation = param.type_descriptor.annotation  # type: ignore[attr-defined]
        kind = type(value)
        if annotation is str and kind is str and not many:
            return value
        if annotation is bool and kind is bool:
            return value
        if annotation is int and not many:
            if kind is str and value.isascii() and value.isdigit():  # "20": plain digits only
                value, kind = int(value), int
            if kind is int and _within(value, param):
                return value
        if annotation is float and not many:
            if kind is str and value.isascii() and value.replace(".", "", 1).isdigit():
                value, kind = float(value), float  # "5", "0.5": plain decimals only
            if kind in (int, float) and _within(value, param):
                return float(value)
        if annotation == list[str] and many and all(type(v) is str for v in value):
            return list(value)
        if isinstance(annotation, EnumMeta) and kind is str and not many:
            member = annotation._value2member_map_.get(value)
            if member is not None:  # exactly a choice's own value
                return member
        if self.real is None:
            from typer._coercion import build_runtime_param

            self.real = build_runtime_param(param.type_descriptor)  # type: ignore[attr-defined]
        return self.real.coerce(value, param=param, ctx=ctx)


def _within(value: float, param: Parameter) -> bool:
    info = param.type_descriptor.parameter_info  # type: ignore[attr-defined]
    if getattr(info, "clamp", False):
        return False
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    return (low is None or value >= low) and (high is None or value <= high)
