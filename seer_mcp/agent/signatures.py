"""An exposed function's signature as a JSON Schema, a validator, and a way to call it.

The schema is what MCP clients show the agent; the validator checks a call's
JSON arguments against the same signature before the function runs, and
converts them (a list into a tuple, an object into a pydantic model, a string
into an enum). Parameters travel by name: `*args` as a list under its own
name, `**kwargs` as an object under its own.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import typing_extensions
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.json_schema import PydanticJsonSchemaWarning

from seer_mcp.wire import InterfaceFunction, InterfaceParameter

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


class ArgumentError(ValueError):
    """The arguments do not fit the function's signature."""


class _Omitted:
    """The default of a parameter whose own default cannot travel as JSON: the function's applies."""

    def __repr__(self) -> str:
        return "<the function's default>"


OMITTED = _Omitted()


def _annotation_text(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and annotation.__module__ == "builtins":
        return annotation.__qualname__
    if isinstance(annotation, type):
        return f"{annotation.__module__}.{annotation.__qualname__}"
    return repr(annotation).replace("typing.", "")


def _json_literal(value: Any) -> tuple[bool, Any]:
    """Whether a default survives a JSON round trip unchanged, and its JSON form."""
    if isinstance(value, (bool, int, float, str, type(None))):
        try:
            return json.loads(json.dumps(value, allow_nan=False)) == value, value
        except ValueError:
            return False, None
    if isinstance(value, (list, dict)):
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return False, None
        return json.loads(text) == value, json.loads(text)
    return False, None


def _pydantic_compatible(tp: Any) -> Any:
    """`typing.TypedDict` rebuilt as `typing_extensions.TypedDict`, which pydantic needs before Python 3.12."""
    if sys.version_info >= (3, 12):
        return tp
    if typing.is_typeddict(tp) and type(tp).__module__ == "typing":
        hints = typing.get_type_hints(tp, include_extras=True)
        fields = {key: _pydantic_compatible(value) if key in tp.__required_keys__
                  else typing_extensions.NotRequired[_pydantic_compatible(value)] for key, value in hints.items()}
        return typing_extensions.TypedDict(tp.__name__, fields)  # type: ignore[operator]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if not args or origin in (typing.Literal, None):
        return tp
    converted = tuple(_pydantic_compatible(a) for a in args)
    if converted == args:
        return tp
    if origin in (typing.Union, types.UnionType):
        return typing.Union[converted]
    if origin is typing.Annotated:
        return typing.Annotated[converted]  # type: ignore[valid-type]
    return origin[converted]


def _schema_type(annotation: Any, raw: Any) -> tuple[Any, dict[str, Any] | None]:
    """A type pydantic can validate and describe; types it can't (torch.Tensor) accept any JSON."""
    if annotation is inspect.Parameter.empty:
        return Any, None
    if isinstance(annotation, str):  # a forward reference nothing resolves
        return Any, {"description": f"{annotation} (sent as JSON)"}
    annotation = _pydantic_compatible(annotation)
    try:
        TypeAdapter(annotation).json_schema()
    except Exception:
        return Any, {"description": f"{_annotation_text(raw)} (sent as JSON)"}
    return annotation, None


def _resolved_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # one unresolvable name must not hide the others
        hints: dict[str, Any] = {}
        namespace = getattr(fn, "__globals__", {})
        for name, raw in getattr(fn, "__annotations__", {}).items():
            try:
                hints[name] = typing.get_type_hints(
                    type("_", (), {"__annotations__": {name: raw}, "__module__": fn.__module__}),
                    globalns=namespace, include_extras=True)[name]
            except Exception:
                pass
        return hints


@dataclass
class ExposedFunction:
    """One callable the agent may use, with its arguments model."""

    name: str
    fn: Callable[..., Any]
    thread_safe: bool
    signature: inspect.Signature
    arguments_model: type[BaseModel]
    description: InterfaceFunction

    @classmethod
    def build(cls, name: str, fn: Callable[..., Any], thread_safe: bool) -> "ExposedFunction":
        signature = inspect.signature(fn)
        hints = _resolved_hints(fn)
        fields: dict[str, Any] = {}
        parameters = []
        for index, param in enumerate(signature.parameters.values()):
            annotation = hints.get(param.name, param.annotation)
            value_type, extra = _schema_type(annotation, param.annotation)
            has_default = param.default is not inspect.Parameter.empty
            literal, default_json = _json_literal(param.default) if has_default else (False, None)
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                value_type, default = list[value_type], []  # type: ignore[valid-type]
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                value_type, default = dict[str, value_type], {}  # type: ignore[valid-type]
            elif not has_default:
                default = ...
            else:
                default = default_json if literal else OMITTED  # defaults are not validated
            # Field names are positional so that parameters called `json` or `model_config` work.
            field_kwargs: dict[str, Any] = {"alias": param.name, **(extra or {})}
            if default is OMITTED:
                field_kwargs["json_schema_extra"] = {"description": f"default: {param.default!r}"}
            fields[f"p{index}"] = (value_type, Field(default, **field_kwargs))
            parameters.append(InterfaceParameter(
                name=param.name, kind=_KINDS[param.kind], annotation=_annotation_text(param.annotation),
                has_default=has_default, default_repr=repr(param.default) if has_default else None,
                default_is_literal=literal, default=default_json))
        model = create_model(
            f"{name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=False),
            **fields,
        )
        with warnings.catch_warnings():  # OMITTED has no JSON form: the schema leaves that default out
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = _clean_schema(model.model_json_schema(by_alias=True))
        returns = _annotation_text(signature.return_annotation)
        description = InterfaceFunction(
            name=name, doc=inspect.getdoc(fn) or "", signature=_signature_text(signature),
            parameters=parameters, returns=returns, input_schema=schema, thread_safe=thread_safe)
        return cls(name, fn, thread_safe, signature, model, description)

    def bind(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validated positional and keyword arguments for one call; raises ArgumentError."""
        if not isinstance(arguments, dict):
            raise ArgumentError(f"arguments must be an object of parameter names, got {type(arguments).__name__}")
        try:
            validated = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            raise ArgumentError(f"invalid arguments for {self.name}: {problems}. "
                                f"Signature: {self.name}{self.description.signature}") from None
        values = {p.name: getattr(validated, f"p{i}") for i, p in enumerate(self.signature.parameters.values())}
        given = {self.signature_names[f] for f in validated.model_fields_set}
        return self._arrange(values, given)

    @property
    def signature_names(self) -> dict[str, str]:
        return {f"p{i}": p.name for i, p in enumerate(self.signature.parameters.values())}

    def _arrange(self, values: dict[str, Any], given: set[str]) -> tuple[list[Any], dict[str, Any]]:
        params = list(self.signature.parameters.values())
        var_positional = next((p for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
        extra_positional = list(values[var_positional.name]) if var_positional else []
        positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        leading = [p for p in params if p.kind in positional_kinds]
        # Everything before *args goes by position when *args has values; positional-only
        # parameters always do. Either way, the run of positions must have no gap.
        positional_only = [p for p in leading if p.kind is inspect.Parameter.POSITIONAL_ONLY]
        by_position = leading if extra_positional else positional_only
        last_needed = max((i for i, p in enumerate(by_position) if p.name in given or extra_positional), default=-1)
        args: list[Any] = []
        for param in by_position[: last_needed + 1]:
            value = values[param.name]
            if value is OMITTED:
                value = param.default
            args.append(value)
        args += extra_positional
        kwargs: dict[str, Any] = {}
        for param in params:
            if param in by_position[: last_needed + 1] or param.kind is inspect.Parameter.VAR_POSITIONAL:
                continue
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                for key, value in values[param.name].items():
                    if key in kwargs or key in self.signature.parameters:
                        raise ArgumentError(f"{param.name}[{key!r}] repeats the parameter {key!r}")
                    kwargs[key] = value
            elif param.name in given and values[param.name] is not OMITTED:
                kwargs[param.name] = values[param.name]
        return args, kwargs


def _signature_text(signature: inspect.Signature) -> str:
    text = str(signature)
    return text.replace("typing.", "")


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drops pydantic's generated titles, which only repeat the names."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema
