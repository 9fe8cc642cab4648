"""portable_schema: a tool's input schema in the subset every MCP client accepts; decode_json_text: maps back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from seer_mcp.tools.portable_schema import decode_json_text, portable_schema


def tool(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": sorted(properties)}


ENV = {"additionalProperties": {"type": "string"}, "type": "object", "description": "Environment variables."}


def test_a_boolean_additional_properties_is_dropped() -> None:
    assert "additionalProperties" not in portable_schema(tool(code={"type": "string"}))


def test_a_nested_object_keeps_its_properties_without_additional_properties() -> None:
    point = {"type": "object", "additionalProperties": False, "properties": {"x": {"type": "number"}}}
    assert portable_schema(tool(point=point))["properties"]["point"] == {
        "type": "object", "properties": {"x": {"type": "number"}}}


def test_a_tool_without_parameters_stays_an_object() -> None:
    assert portable_schema({"type": "object", "additionalProperties": False, "properties": {}}) == {
        "type": "object", "properties": {}}


def test_a_free_form_map_becomes_json_text_and_says_what_to_send() -> None:
    env = portable_schema(tool(env=ENV))["properties"]["env"]
    assert env["type"] == "string"
    assert env["description"].startswith("Environment variables. Send it as the JSON text of an object")
    assert "string values" in env["description"] and '{"NAME": "value"}' in env["description"]


def test_an_optional_map_becomes_nullable_json_text() -> None:
    schema = tool(env={"anyOf": [ENV, {"type": "null"}], "default": None, "description": "Environment."})
    env = portable_schema(schema)["properties"]["env"]
    assert env["type"] == ["string", "null"] and env["default"] is None
    assert env["description"].startswith("Environment. Environment variables. Send it as the JSON text")


def test_an_open_object_of_anything_becomes_json_text() -> None:
    arguments = portable_schema(tool(arguments={"type": "object", "additionalProperties": True}))
    assert arguments["properties"]["arguments"]["type"] == "string"


def test_a_map_default_becomes_its_json_text() -> None:
    extra = portable_schema(tool(extra={**ENV, "default": {}}))["properties"]["extra"]
    assert extra["default"] == "{}"


def test_an_exclusive_integer_bound_becomes_the_same_inclusive_bound() -> None:
    count = portable_schema(tool(count={"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}))
    assert count["properties"]["count"] == {"type": "integer", "minimum": 1, "maximum": 9}


def test_an_exclusive_number_bound_becomes_inclusive_and_is_said_in_the_description() -> None:
    timeout = portable_schema(tool(timeout={"type": "number", "exclusiveMinimum": 0, "description": "Seconds."}))
    assert timeout["properties"]["timeout"] == {"type": "number", "minimum": 0,
                                                "description": "Seconds (must be greater than 0)."}


def test_the_tighter_of_two_bounds_is_kept() -> None:
    value = portable_schema(tool(n={"type": "integer", "minimum": 5, "exclusiveMinimum": 0}))
    assert value["properties"]["n"]["minimum"] == 5


def test_a_nullable_type_becomes_a_type_list() -> None:
    schema = tool(name={"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "description": "A name."})
    assert portable_schema(schema)["properties"]["name"] == {
        "type": ["string", "null"], "default": None, "description": "A name."}


def test_a_nullable_enum_keeps_its_any_of() -> None:
    mode = {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}]}
    assert portable_schema(tool(mode=mode))["properties"]["mode"] == mode


def test_a_union_of_two_types_keeps_its_any_of() -> None:
    value = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    assert portable_schema(tool(value=value))["properties"]["value"] == value


def test_one_of_becomes_any_of() -> None:
    shape = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert portable_schema(tool(shape=shape))["properties"]["shape"] == {
        "anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_const_becomes_a_one_value_enum() -> None:
    assert portable_schema(tool(kind={"const": "point", "type": "string"}))["properties"]["kind"] == {
        "enum": ["point"], "type": "string"}


def test_a_single_all_of_is_merged_into_its_parent() -> None:
    schema = tool(p={"allOf": [{"type": "object", "properties": {"x": {"type": "number"}}}], "description": "P."})
    assert portable_schema(schema)["properties"]["p"] == {
        "type": "object", "properties": {"x": {"type": "number"}}, "description": "P."}


def test_a_tuple_becomes_items_with_the_positions_in_the_description() -> None:
    pair = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2}
    assert portable_schema(tool(pair=pair))["properties"]["pair"] == {
        "type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "minItems": 2,
        "maxItems": 2, "description": "Items in order: integer, string."}


def test_a_closed_tuple_loses_its_boolean_items() -> None:
    pair = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert portable_schema(tool(pair=pair))["properties"]["pair"]["items"] == {"type": "integer"}


def test_a_tuple_of_one_type_becomes_plain_items() -> None:
    pair = {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]}
    assert portable_schema(tool(pair=pair))["properties"]["pair"]["items"] == {"type": "number"}


def test_keywords_google_genai_does_not_model_are_dropped() -> None:
    value = {"type": "number", "examples": [1], "deprecated": True, "readOnly": True, "$comment": "x"}
    assert portable_schema(tool(value=value))["properties"]["value"] == {"type": "number"}


def test_multiple_of_moves_into_the_description() -> None:
    assert portable_schema(tool(n={"type": "integer", "multipleOf": 8}))["properties"]["n"] == {
        "type": "integer", "description": "A multiple of 8."}


def test_maps_inside_nested_objects_and_arrays_are_rewritten() -> None:
    workspace = {"type": "object", "properties": {"files": ENV, "libs": {"type": "array", "items": ENV}}}
    rewritten = portable_schema(tool(workspace=workspace))["properties"]["workspace"]["properties"]
    assert rewritten["files"]["type"] == "string" and rewritten["libs"]["items"]["type"] == "string"


def test_references_are_inlined_before_the_rewrite() -> None:
    schema = {**tool(p={"anyOf": [{"$ref": "#/$defs/P"}, {"type": "null"}]}),
              "$defs": {"P": {"type": "integer", "exclusiveMinimum": 0}}}
    rewritten = portable_schema(schema)
    assert rewritten["properties"]["p"] == {"type": ["integer", "null"], "minimum": 1}
    assert "$defs" not in rewritten


def test_circular_definitions_are_rewritten_and_their_references_kept() -> None:
    node = {"type": "object", "properties": {"value": {"type": "integer", "exclusiveMinimum": 0},
                                             "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
    rewritten = portable_schema({**tool(tree={"$ref": "#/$defs/Node"}), "$defs": {"Node": node}})
    assert rewritten["$defs"]["Node"]["properties"]["value"] == {"type": "integer", "minimum": 1}
    assert rewritten["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}


def test_the_input_schema_is_left_unchanged() -> None:
    schema = tool(env=ENV, n={"type": "integer", "exclusiveMinimum": 0})
    before = json.dumps(schema, sort_keys=True)
    portable_schema(schema)
    assert json.dumps(schema, sort_keys=True) == before


# ----- decode_json_text ------------------------------------------------------

def test_a_map_sent_as_json_text_is_decoded() -> None:
    assert decode_json_text(tool(env=ENV), {"env": '{"A": "1"}'}) == {"env": {"A": "1"}}


def test_a_map_sent_as_an_object_passes_unchanged() -> None:
    assert decode_json_text(tool(env=ENV), {"env": {"A": "1"}}) == {"env": {"A": "1"}}


def test_an_optional_map_sent_as_json_text_is_decoded() -> None:
    schema = tool(env={"anyOf": [ENV, {"type": "null"}]})
    assert decode_json_text(schema, {"env": '{"A": "1"}'}) == {"env": {"A": "1"}}


def test_a_string_parameter_is_never_decoded() -> None:
    assert decode_json_text(tool(code={"type": "string"}), {"code": '{"a": 1}'}) == {"code": '{"a": 1}'}


def test_a_parameter_that_takes_a_string_or_a_map_is_not_decoded() -> None:
    schema = tool(value={"anyOf": [{"type": "string"}, ENV]})
    assert decode_json_text(schema, {"value": '{"a": "1"}'}) == {"value": '{"a": "1"}'}


def test_a_map_inside_an_optional_object_is_decoded() -> None:
    workspace = {"anyOf": [{"type": "object", "properties": {"local_files": ENV}}, {"type": "null"}]}
    decoded = decode_json_text(tool(workspace=workspace), {"workspace": {"local_files": '{"a": "b"}'}})
    assert decoded == {"workspace": {"local_files": {"a": "b"}}}


def test_maps_inside_a_list_are_decoded() -> None:
    schema = tool(rows={"type": "array", "items": ENV})
    assert decode_json_text(schema, {"rows": ['{"a": "1"}', {"b": "2"}]}) == {"rows": [{"a": "1"}, {"b": "2"}]}


def test_a_map_behind_a_reference_is_decoded() -> None:
    schema = {**tool(env={"$ref": "#/$defs/Env"}), "$defs": {"Env": ENV}}
    assert decode_json_text(schema, {"env": '{"A": "1"}'}) == {"env": {"A": "1"}}


def test_text_that_is_not_json_is_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^env: expected the JSON text of an object, and this is not JSON"):
        decode_json_text(tool(env=ENV), {"env": "A=1"})


def test_json_that_is_not_an_object_is_left_to_the_tools_own_validation() -> None:
    assert decode_json_text(tool(env=ENV), {"env": "[1, 2]"}) == {"env": [1, 2]}


def test_unknown_arguments_pass_unchanged() -> None:
    assert decode_json_text(tool(env=ENV), {"other": '{"a": 1}'}) == {"other": '{"a": 1}'}
