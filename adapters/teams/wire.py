"""botbuilder's schema models to and from their JSON, as msrest does it, without msrest's per-call set-up.

msrest's `Model.serialize()` builds a Serializer, and `Model.deserialize()` a Deserializer holding a map of every
class of the model's package, on each call, then walks the data through generic, heavily checked code: about a
millisecond of event-loop time for an incoming activity or an outgoing card. Here each class's attribute map is
read once, and values take the same conversions as msrest's. Anything unusual (a value of an unexpected type, a
dotted key, a model msrest would classify) goes to msrest itself, so results and errors stay msrest's.
"""

from __future__ import annotations

import datetime
import enum
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from msrest.serialization import Deserializer, Model, Serializer

M = TypeVar("M", bound=Model)

_ISO: Callable[[datetime.datetime], str] = Serializer.serialize_iso  # msrest's own format for datetimes
_parse_iso: Callable[[str], datetime.datetime] = Deserializer.deserialize_iso


class _Unusual(Exception):
    """A model or value the fast path does not handle; msrest handles it instead."""


# -- to the wire ------------------------------------------------------------------------------------------------


def to_wire(model: Model) -> dict[str, Any]:
    """What `model.serialize()` gives for botbuilder's schema models (activities, references, parameters), in a
    tenth of the time."""
    try:
        return _model(model)
    except _Unusual:
        slow: Any = model
        return dict(slow.serialize())


def _model(model: Model) -> dict[str, Any]:
    cls = type(model)
    validation = cls._validation
    out: dict[str, Any] = {}
    for attr, desc in cls._attribute_map.items():
        if validation and validation.get(attr, {}).get("readonly"):
            continue
        key = desc["key"]
        if attr == "additional_properties" and key == "":
            out.update(model.additional_properties or {})
            continue
        value = getattr(model, attr, None)
        if value is None:
            continue
        if "." in key:  # msrest flattens dotted keys; botbuilder's schema has none
            raise _Unusual(key)
        out[key] = _typed(value, desc["type"])
    return out


def _typed(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "str":
        return value.value if isinstance(value, enum.Enum) else str(value)
    if kind in ("bool", "int", "float"):
        return {"bool": bool, "int": int, "float": float}[kind](value)
    if kind == "object":
        return _object(value)
    if kind == "iso-8601" and isinstance(value, datetime.datetime):
        return _ISO(value)
    if kind.startswith("[") and kind.endswith("]") and isinstance(value, list):
        return [_typed(item, kind[1:-1]) for item in value]
    if kind.startswith("{") and kind.endswith("}") and isinstance(value, dict):
        return {str(k): _typed(v, kind[1:-1]) for k, v in value.items()}
    if isinstance(value, Model) and type(value).__name__ == kind:
        return _model(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise _Unusual(kind)


def _object(value: Any) -> Any:
    """msrest's serialize_object: JSON types as they are, models as models, anything else as its str()."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    if kind is dict:
        return {str(k): _object(v) for k, v in value.items()}
    if kind is list:
        return [_object(v) for v in value]
    if isinstance(value, Model):
        return _model(value)
    raise _Unusual(kind.__name__)


# -- from the wire ----------------------------------------------------------------------------------------------


def from_wire(cls: type[M], data: Any) -> M:
    """What `cls().deserialize(data)` gives for parsed JSON (an incoming activity, a card we built)."""
    try:
        classes = _classes(cls.__module__)
        if classes.get(cls.__name__) is not cls:
            raise _Unusual(cls.__name__)  # msrest would know this class alone
        return _read_model(cls, data, classes)  # type: ignore[return-value]
    except _Unusual:
        slow: Any = cls
        return slow.deserialize(data)


_Plan = tuple[tuple[tuple[str, str, str], ...], frozenset[str]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[Model]) -> _Plan:
    """(attribute, key, type) of each attribute, and the keys msrest knows (the rest become additional
    properties); raises _Unusual for what msrest would treat specially."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type[Model]) -> _Plan:
    if getattr(cls, "_subtype_map", None) or cls._validation:
        raise _Unusual(cls.__name__)  # polymorphic, read-only or constant attributes: msrest's business
    fields = []
    for attr, desc in cls._attribute_map.items():
        key, kind = desc["key"], desc["type"]
        if attr == "additional_properties" or "." in key or not isinstance(kind, str):
            raise _Unusual(f"{cls.__name__}.{attr}")
        fields.append((attr, key, kind))
    return tuple(fields), frozenset(key for _, key, _ in fields)


@cache
def _classes(module: str) -> dict[str, type]:
    """msrest's _infer_class_models: the types of the model's package, by name."""
    package = sys.modules[module.rsplit(".", 1)[0]]
    return {name: value for name, value in vars(package).items() if isinstance(value, type)}


def _read_model(cls: type[Model], data: Any, classes: dict[str, type]) -> Model:
    """Nested models are looked up by name among the outermost model's package, as msrest does."""
    if type(data) is not dict:
        raise _Unusual(type(data).__name__)
    fields, known = _plan(cls)
    values = {attr: _read(data.get(key), kind, classes) for attr, key, kind in fields}
    obj = cls(**values)
    extra = {key: data[key] for key in data.keys() - known}
    if extra:
        obj.additional_properties = extra
    return obj


def _read(value: Any, kind: str, classes: dict[str, type]) -> Any:
    if value is None:
        return None
    vtype = type(value)
    if kind == "str":
        if vtype is str:
            return value
        raise _Unusual(kind)
    if kind == "bool":
        if vtype is bool:
            return value
        raise _Unusual(kind)
    if kind in ("int", "long"):
        if vtype is int:
            return value
        raise _Unusual(kind)
    if kind == "float":
        if vtype is float or vtype is int:
            return float(value)
        raise _Unusual(kind)
    if kind == "object":
        return _json_copy(value)
    if kind == "iso-8601":
        try:
            return _parse_iso(value)
        except Exception:  # msrest raises its own error for it
            raise _Unusual(kind) from None
    if kind[0] == "[" and kind[-1] == "]":
        if vtype is list:
            inner = kind[1:-1]
            return [_read(item, inner, classes) for item in value]
        raise _Unusual(kind)
    if kind[0] == "{" and kind[-1] == "}":
        if vtype is dict:
            inner = kind[1:-1]
            return {k: _read(v, inner, classes) for k, v in value.items()}
        raise _Unusual(kind)
    target = classes.get(kind)
    if isinstance(target, type) and issubclass(target, Model) and not issubclass(target, enum.Enum):
        return _read_model(target, value, classes)
    raise _Unusual(kind)


def _json_copy(value: Any) -> Any:
    """msrest's deserialize_object for parsed JSON: containers copied, scalars as they are."""
    vtype = type(value)
    if vtype is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if vtype is list:
        return [_json_copy(v) for v in value]
    if vtype in (str, int, float, bool) or value is None:
        return value
    raise _Unusual(vtype.__name__)
