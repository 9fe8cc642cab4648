"""The one bearer-token check that the MCP endpoint, the web UI and the sandbox agent share."""

from __future__ import annotations

import pytest

from seer_mcp.bearer import authorization_matches, presented_token, token_matches

TOKEN = "s3cret-Token_xyz"


@pytest.mark.parametrize("presented", [TOKEN, TOKEN.encode()], ids=["str", "bytes"])
@pytest.mark.parametrize("expected", [TOKEN, TOKEN.encode()], ids=["str", "bytes"])
def test_the_expected_token_matches_as_str_or_bytes(presented: str | bytes, expected: str | bytes) -> None:
    assert token_matches(presented, expected)


@pytest.mark.parametrize("presented", [None, "", b"", "s3cret", TOKEN + "x", TOKEN.upper(), f" {TOKEN}"])
def test_anything_else_does_not_match(presented: str | bytes | None) -> None:
    assert not token_matches(presented, TOKEN)


def test_an_empty_token_never_matches_even_an_empty_expected_one() -> None:
    assert not token_matches("", "")
    assert not authorization_matches("Bearer ", "")


@pytest.mark.parametrize("presented", ["tok\u00e9n", "tok\u00e9n".encode(), "tok\ud800en", b"\xff\xfe"])
def test_a_token_that_is_not_ascii_is_wrong_not_an_error(presented: str | bytes) -> None:
    assert not token_matches(presented, TOKEN)
    assert not token_matches(presented, "tok\u00e9n\u00e9")


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer  {TOKEN} ",
                                    f"Bearer {TOKEN}".encode(), f"bEaReR {TOKEN}".encode()])
def test_a_bearer_header_with_the_token_matches_whatever_the_case_of_its_scheme(header: str | bytes) -> None:
    assert authorization_matches(header, TOKEN)
    assert authorization_matches(header, TOKEN.encode())


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Bearer   ", TOKEN, f"Basic {TOKEN}",
                                    f"Bearer{TOKEN}", f"Bearer\t{TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN} extra",
                                    f"Token Bearer {TOKEN}", b"Bearer tok\xc3\xa9n"])
def test_a_header_without_exactly_the_bearer_token_does_not_match(header: str | bytes | None) -> None:
    assert not authorization_matches(header, TOKEN)


def test_the_presented_token_is_the_part_after_the_scheme() -> None:
    assert presented_token("Bearer abc") == b"abc"
    assert presented_token(b"bearer  abc  ") == b"abc"
    assert presented_token("Bearer tok\u00e9n") == "tok\u00e9n".encode()


@pytest.mark.parametrize("header", [None, "", b"", "Bearer", "Bearer  ", "Basic abc", "abc"])
def test_a_header_that_is_not_a_bearer_token_presents_none(header: str | bytes | None) -> None:
    assert presented_token(header) is None
