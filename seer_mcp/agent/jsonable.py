"""Turning an exposed function's return value into JSON, or saying exactly why not.

Arrays and tensors become `{"__array__": "numpy" | "torch", "dtype", "shape",
"data"}` so a reader sees what they were; the generated client library turns
them back into numpy arrays. Non-finite floats become the strings "nan",
"inf" and "-inf", since JSON has no words for them.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import pathlib
import sys
import uuid
from typing import Any


class NotSerializable(TypeError):
    """The value, or a part of it, has no JSON form."""


def to_jsonable(value: Any, where: str = "result") -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise NotSerializable(f"{where} has a key of type {_type_name(key)}; JSON keys must be strings")
            out[str(key)] = to_jsonable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(item, f"{where}[{i}]") for i, item in enumerate(items)]
    array = _array(value, where)
    if array is not None:
        return array
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if isinstance(value, (pathlib.PurePath, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):  # a pydantic model
        return to_jsonable(value.model_dump(mode="python"), where)
    raise NotSerializable(
        f"{where} has type {_type_name(value)}, which has no JSON form: return plain values, lists, dicts, "
        "numpy arrays or tensors (e.g. call .tolist(), or str() it)")


def _array(value: Any, where: str) -> dict[str, Any] | None:
    numpy = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()  # tolist() of half types works, but keep one code path for floats
        return {"__array__": "torch", "dtype": dtype, "shape": list(tensor.shape),
                "data": _finite(tensor.tolist(), where)}
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            if value.dtype == object:
                return {"__array__": "numpy", "dtype": "object", "shape": list(value.shape),
                        "data": to_jsonable(value.tolist(), where)}
            return {"__array__": "numpy", "dtype": str(value.dtype), "shape": list(value.shape),
                    "data": _finite(value.tolist(), where)}
        if isinstance(value, numpy.generic):
            return to_jsonable(value.item(), where)
    return None


def _finite(data: Any, where: str) -> Any:
    if isinstance(data, list):
        return [_finite(item, where) for item in data]
    return to_jsonable(data, where)


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
