"""Compiles a record's field specs into its validating function, with inline fast paths.

>>> from monitor.contract.feedback import FeedbackEvent
>>> validate = compile_validator(FeedbackEvent)
>>> event = validate({"request_id": "r1", "timestamp": 1767225600, "rating": 2}, 1767225600, 300.0, 0.0)
>>> event.request_id, event.timestamp, event.rating, event.thumbs, event.kpi
('r1', 1767225600.0, 2, None, {})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from monitor.contract import checks
from monitor.contract.fields import COUNT_MAX, MAX_ID_LENGTH, MAX_NUMBER, FieldSpec, contract_fields
from monitor.contract.reasons import NOT_AN_OBJECT

__all__ = ["compile_validator"]


def _expression(name: str, spec: FieldSpec, default: Any) -> str:
    """The Python expression validating one declared field of ``obj`` (nested ones read ``inner_<key>``)."""
    location = spec.location(name)
    label = ".".join(location)
    low = (
        None
        if spec.minimum is None
        else int(spec.minimum)
        if spec.kind == "integer"
        else spec.minimum
    )
    high = (
        None
        if spec.maximum is None
        else int(spec.maximum)
        if spec.kind == "integer"
        else spec.maximum
    )
    source = (
        f"{{{label!r}: inner_{location[0]}.get({location[1]!r})}}" if len(location) > 1 else "obj"
    )
    return {
        "id": f"_string(_require(obj, {name!r}), {name!r})"
        if spec.required
        else f"_opt_string(obj, {name!r}, {spec.max_length})",
        "timestamp": "_event_time(obj, now, max_future_skew, min_event_time)",
        "text": f"_opt_string(obj, {name!r}, {spec.max_length})",
        "choice": f"_choice(obj, {name!r}, {spec.choices!r}, {default!r})",
        "answer": f"_prediction(obj.get({name!r}), {name!r})",
        "number": f"_opt_number(obj, {name!r}, {low!r}, {high!r})",
        "integer": f"_opt_int({source}, {label!r}, {low or 0}, {high!r})",
        "boolean": f"_opt_bool(obj, {name!r})",
        "features": "_features(obj)",
        "segment": "_segment(obj)",
        "kpi": "_kpi(obj)",
    }[spec.kind]


def _fast_check(name: str, spec: FieldSpec, value: str) -> str | None:
    """A condition under which ``value`` (the raw field) is valid as it is, or None: no shortcut.

    The slow check (:func:`_expression`) runs whenever the condition is false, so it alone decides
    what is rejected and why; the condition only spares the common valid value the calls.
    """
    longest = MAX_ID_LENGTH if spec.required else spec.max_length  # as _string / _opt_string check
    short_ascii = f"type({value}) is str and {value}.isascii() and 0 < len({value}) <= {longest}"
    if spec.kind == "id" and spec.required:
        return short_ascii
    if spec.kind in ("id", "text"):
        return f"{value} is None or ({short_ascii})"
    if spec.kind == "number":
        low = "" if spec.minimum is None else f" and {value} >= {spec.minimum!r}"
        high = "" if spec.maximum is None else f" and {value} <= {spec.maximum!r}"
        return f"{value} is None or (type({value}) is float and -{MAX_NUMBER!r} < {value} < {MAX_NUMBER!r}{low}{high})"
    if spec.kind == "integer":
        least = int(spec.minimum or 0)
        most = COUNT_MAX if spec.maximum is None else int(spec.maximum)
        return f"{value} is None or (type({value}) is int and {least} <= {value} <= {most})"
    if spec.kind == "boolean":
        return f"{value} is None or type({value}) is bool"
    return None


def _statements(name: str, spec: FieldSpec, default: Any, shortcuts: bool) -> list[str]:
    """Lines binding ``v_<name>``: the raw value kept when its fast check holds, else the full check."""
    location = spec.location(name)
    raw = f"inner_{location[0]}.get({location[1]!r})" if len(location) > 1 else f"obj.get({name!r})"
    fast = _fast_check(name, spec, f"v_{name}") if shortcuts else None
    if fast is None:
        return [f"    v_{name} = {_expression(name, spec, default)}"]
    return [
        f"    v_{name} = {raw}",
        f"    if not ({fast}):",
        f"        v_{name} = {_expression(name, spec, default)}",
    ]


def _construction(record: type[Any], names: list[str]) -> list[str]:
    """Lines returning the record: its slots set directly when the contract fills every field (a frozen
    dataclass's ``__init__`` costs an ``object.__setattr__`` call per field), else through ``__init__``.
    """
    if {f.name for f in fields(record)} != set(names) or hasattr(record, "__post_init__"):
        arguments = ", ".join(f"{name}=v_{name}" for name in names)
        return [f"    return record({arguments})"]
    return [
        "    event = _new(record)",
        *(f"    _set_{name}(event, v_{name})" for name in names),
        "    return event",
    ]


def compile_validator(
    record: type[Any], shortcuts: bool = True
) -> Callable[[Any, float, float, float], Any]:
    """A validator compiled from the record's field specs: the same calls a hand-written one would make.

    Fields are checked in declaration order, each with an inline test of the common valid value
    before the precise check, so the first bad field and its reason are those of the precise checks.
    """
    defaults = {f.name: f.default for f in fields(record)}
    specs = contract_fields(record)
    containers = dict.fromkeys(spec.location(name)[0] for name, spec in specs if spec.path)
    source = "\n".join(
        [
            "def validate(obj, now, max_future_skew, min_event_time):",
            "    if not isinstance(obj, dict):",
            (
                f"        raise InvalidEvent({NOT_AN_OBJECT!r}, '', "
                "f'expected a JSON object, got {type(obj).__name__}')"
            ),
            *(f"    inner_{key} = _container(obj, {key!r})" for key in containers),
            *(
                line
                for name, spec in specs
                for line in _statements(name, spec, defaults[name], shortcuts)
            ),
            *_construction(record, [name for name, _ in specs]),
        ]
    )
    setters = {f"_set_{name}": getattr(record, name).__set__ for name, _ in specs}
    # the generated source calls the checks by name, so they are its globals
    namespace: dict[str, Any] = {
        **vars(checks),
        "record": record,
        "_new": object.__new__,
        **setters,
    }
    exec(compile(source, f"<validator of {record.__name__}>", "exec"), namespace)  # noqa: S102 - source built above
    validate: Callable[[Any, float, float, float], Any] = namespace["validate"]
    return validate
