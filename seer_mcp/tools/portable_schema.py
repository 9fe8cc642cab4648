"""Tool input schemas that every MCP client accepts, and the arguments that come back through them.

Clients turn a tool's `inputSchema` into what their model API takes, and each accepts a
different part of JSON Schema (tests/interop/test_schemas.py checks all of them):

* openai-agents with `convert_schemas_to_strict=True` (`agents.strict_schema.ensure_strict_json_schema`)
  refuses any object that admits undeclared keys: `additionalProperties` other than `false`,
  i.e. every free-form map (`dict[str, str]`, `dict[str, Any]`, `**kwargs`);
* google-genai's MCP conversion (`_mcp_utils._filter_to_supported_schema`) crashes on a boolean
  `additionalProperties`, and `types.JSONSchema` (hence `types.Schema.from_json_schema`) refuses
  every keyword it does not model: `exclusiveMinimum`, `exclusiveMaximum`, `prefixItems`, `const`,
  `allOf`, `examples`, `discriminator`, ...;
* smolagents' mcpadapt gives a property without a `type` the type `"string"` (so an optional
  `anyOf: [X, null]` may only be sent as a string), and treats every input as required.

`portable_schema` rewrites a schema into the subset all of them take, keeping its meaning where
the subset can say it and moving the rest into the description; `decode_json_text` undoes the
one rewrite that changes what a client sends (a map sent as JSON text); `PortableSchemas` is the
FastMCP middleware that applies both to every tool of the server, its own and interface tools.
The server still validates every argument against the tool's real signature.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from typing import Any

import mcp_types
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from fastmcp.utilities.json_schema import dereference_refs

__all__ = ["PortableSchemas", "decode_json_text", "portable_schema"]

# The keywords google-genai's `types.JSONSchema` models (it forbids any other); all of them are
# also fine for JSON Schema 2020-12, OpenAI strict mode and Anthropic. Others are dropped.
_KEPT = frozenset({
    "type", "format", "title", "description", "default", "items", "minItems", "maxItems", "enum",
    "properties", "required", "minProperties", "maxProperties", "minimum", "maximum", "minLength",
    "maxLength", "pattern", "additionalProperties", "anyOf", "uniqueItems", "$ref", "$defs",
})

_JSON_TEXT_HINT = "Send it as the JSON text of an object{values}, e.g. '{example}'."


def portable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a tool's input schema in the JSON Schema subset every known MCP client accepts.

    * a free-form map (an object with no declared properties that admits any key) becomes a
      string holding its JSON text, with the description saying so: OpenAI strict mode cannot
      express an open object, and an object the model fills in key by key works the same as
      text it writes; `decode_json_text` turns the text back into the object (an object is
      still accepted too);
    * boolean `additionalProperties` goes (google-genai's MCP conversion crashes on it;
      openai-agents' strict conversion adds `false` to every object itself);
    * `exclusiveMinimum` / `exclusiveMaximum` become `minimum` / `maximum`: exact for integers
      (bound +-1), and for numbers the strict bound is said in the description (google-genai);
    * `const` becomes a one-value `enum`, `oneOf` becomes `anyOf` (disjoint branches mean the
      same), a one-entry `allOf` is merged into its parent, and `prefixItems` (a tuple) becomes
      `items` with each position named in the description (google-genai);
    * `anyOf: [X, {"type": "null"}]` becomes X with `"type": [X's type, "null"]`, the same in
      JSON Schema (smolagents then checks X's type, and lets the model send null);
    * any other keyword google-genai's `JSONSchema` does not model is dropped.

    References are inlined first (FastMCP's `dereference_refs`, which keeps circular ones), so
    that each rewrite sees what a reference stands for. The root stays an object with its
    properties, as MCP requires.
    """
    return _node(dereference_refs(copy.deepcopy(schema)), root=True)


def _node(schema: Any, root: bool = False) -> Any:
    if not isinstance(schema, dict):
        return schema
    schema = _merge_single_all_of(schema)
    if not root and _is_free_form_map(schema):
        return _as_json_text(schema)
    notes: list[str] = []
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: _node(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out.setdefault("anyOf", []).extend(_node(sub) for sub in value)
        elif key in ("items", "additionalProperties"):
            # A boolean is dropped: see the docstring (and `items: false`, after a tuple's positions,
            # is no schema to google-genai either).
            if isinstance(value, dict):
                out[key] = _node(value)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            _exclusive_bound(schema, key, value, out, notes)
        elif key == "prefixItems" and isinstance(value, list):
            items = [_node(sub) for sub in value]
            distinct = [item for i, item in enumerate(items) if item not in items[:i]]
            out.setdefault("items", distinct[0] if len(distinct) == 1 else {"anyOf": distinct})
            notes.append("items in order: " + ", ".join(_type_name(item) for item in items))
        elif key == "multipleOf":
            notes.append(f"a multiple of {value}")
        elif key in _KEPT:
            out[key] = value
    if notes:
        out["description"] = _with_note(out.get("description"), "; ".join(notes))
    return _nullable_as_type_list(out)


def _merge_single_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    all_of = schema.get("allOf")
    if not (isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict)):
        return schema
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    return {**all_of[0], **merged}


def _is_free_form_map(schema: dict[str, Any]) -> bool:
    """An object that admits keys it does not declare: `dict[str, X]`, `dict`, `**kwargs`."""
    if schema.get("type") != "object" or schema.get("properties"):
        return False
    return schema.get("additionalProperties", True) is not False


def _as_json_text(schema: dict[str, Any]) -> dict[str, Any]:
    values = schema.get("additionalProperties", True)
    value_type = values.get("type") if isinstance(values, dict) else None
    example = {"string": '{"NAME": "value"}', "integer": '{"name": 1}', "number": '{"name": 0.5}',
               "boolean": '{"name": true}'}.get(value_type, '{"name": "value", "other": 2}')
    hint = _JSON_TEXT_HINT.format(values=f" with {value_type} values" if value_type else "", example=example)
    out: dict[str, Any] = {"type": "string", "description": _with_sentence(schema.get("description"), hint)}
    if "default" in schema:
        out["default"] = schema["default"] if schema["default"] is None else json.dumps(schema["default"])
    return out


def _exclusive_bound(schema: dict[str, Any], key: str, bound: Any, out: dict[str, Any], notes: list[str]) -> None:
    lower = key == "exclusiveMinimum"
    target = "minimum" if lower else "maximum"
    if not isinstance(bound, (int, float)) or isinstance(bound, bool):
        return
    if schema.get("type") == "integer" and float(bound).is_integer():
        value: float = int(bound) + (1 if lower else -1)  # the same integers
    else:
        value = bound
        notes.append(f"must be {'greater' if lower else 'less'} than {bound}")
    existing = out.get(target, schema.get(target))
    if existing is not None:
        value = max(value, existing) if lower else min(value, existing)
    out[target] = value


def _nullable_as_type_list(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches):
        return schema
    other = branches[0] if branches[1] == {"type": "null"} else branches[1]
    # An enum would have to list null too; anything else X says applies to X's type only.
    if not isinstance(other.get("type"), str) or other["type"] == "null" or {"anyOf", "enum"} & set(other):
        return schema
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if set(outer) & set(other) - {"description", "title", "default"}:
        return schema
    merged = {**other, **outer, "type": [other["type"], "null"]}
    if other.get("description") and outer.get("description") and other["description"] != outer["description"]:
        merged["description"] = f"{outer['description'].rstrip()} {other['description']}"
    return merged


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, list):
            return " or ".join(map(str, kind))
        if kind:
            return str(kind)
        if "anyOf" in schema:
            return " or ".join(_type_name(sub) for sub in schema["anyOf"])
    return "any"


def _with_note(description: str | None, note: str) -> str:
    """A description with a short constraint in brackets: `Seconds (must be greater than 0).`"""
    if not description:
        return note[0].upper() + note[1:] + "."
    text = description.rstrip()
    return f"{text[:-1]} ({note})." if text.endswith(".") else f"{text} ({note})"


def _with_sentence(description: str | None, sentence: str) -> str:
    if not description:
        return sentence
    return f"{description.rstrip()}{'' if description.rstrip().endswith('.') else '.'} {sentence}"


# ---------------------------------------------------------------------------
# Arguments: the JSON text of a map back into the map
# ---------------------------------------------------------------------------

def decode_json_text(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` with each map that `portable_schema` advertised as JSON text parsed back into the map.

    `schema` is the tool's real input schema. A map sent as an object passes unchanged, as does
    anything else; the tool's own validation then checks every value. Raises ValueError, naming
    the argument, when the text is not JSON.
    """
    decoded = _decode(schema, arguments, schema, "")
    return decoded if isinstance(decoded, dict) else arguments


def _decode(schema: Any, value: Any, root: dict[str, Any], where: str) -> Any:
    if not isinstance(schema, dict):
        return value
    schema = _merge_single_all_of(_resolve(schema, root))
    branches = [_resolve(b, root) for b in (schema.get("anyOf") or []) + (schema.get("oneOf") or [])
                if isinstance(b, dict)]
    if isinstance(value, str):
        if any(_is_free_form_map(s) for s in [schema, *branches]) and not any(map(_takes_a_string, branches)):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where or 'arguments'}: expected the JSON text of an object, "
                                 f"and this is not JSON ({exc})") from None
        return value
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        return {key: _decode(props.get(key), item, root, f"{where}.{key}".lstrip(".")) for key, item in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_decode(schema["items"], item, root, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, list) and isinstance(schema.get("prefixItems"), list):
        positions = schema["prefixItems"]
        return [_decode(positions[i], item, root, f"{where}[{i}]") if i < len(positions) else item
                for i, item in enumerate(value)]
    for branch in branches:
        if (isinstance(value, dict) and branch.get("properties")) or (isinstance(value, list) and (
                "items" in branch or "prefixItems" in branch)):
            return _decode(branch, value, root, where)
    return value


def _takes_a_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind) or not schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}} if isinstance(target, dict) else schema


# ---------------------------------------------------------------------------
# The middleware
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def _portable_json(schema_json: str) -> str:
    return json.dumps(portable_schema(json.loads(schema_json)))


class PortableSchemas(Middleware):
    """Lists every tool with its portable input schema, and decodes maps sent as JSON text.

    In FastMCP's middleware chain, like its own `DereferenceRefsMiddleware`, so it covers tools
    registered at any time (interface tools come and go) and the tools stay as they were built.
    """

    async def on_list_tools(self, context: MiddlewareContext[mcp_types.ListToolsRequest],
                            call_next: CallNext[mcp_types.ListToolsRequest, Sequence[Tool]]) -> Sequence[Tool]:
        tools = await call_next(context)
        return [tool.model_copy(update={"parameters": json.loads(_portable_json(json.dumps(tool.parameters)))})
                for tool in tools]

    async def on_call_tool(self, context: MiddlewareContext[mcp_types.CallToolRequestParams],
                           call_next: CallNext[mcp_types.CallToolRequestParams, ToolResult]) -> ToolResult:
        server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
        arguments = context.message.arguments or {}
        tool = await server.get_tool(context.message.name) if server is not None and arguments else None
        if tool is not None:
            try:
                decoded = decode_json_text(tool.parameters, arguments)
            except ValueError as exc:
                raise ToolError(f"invalid arguments for {context.message.name}: {exc}") from None
            if decoded != arguments:
                context = context.copy(message=context.message.model_copy(update={"arguments": decoded}))
        return await call_next(context)
