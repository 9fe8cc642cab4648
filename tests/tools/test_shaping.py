"""Tests for seer_mcp.tools.shaping: cell outputs -> what an agent is shown."""

from __future__ import annotations

import base64
import io
import re

import mcp_types
import pytest
from PIL import Image

from seer_mcp.tools.shaping import (
    OutputBudget,
    collapse_carriage_returns,
    downscale_png,
    html_to_text,
    shape_outputs,
    strip_ansi,
)

WHERE = "runs/exp1.ipynb, cell 3"


def make_image(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, "steelblue" if mode != "P" else 3)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def image_format(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return image.format


def stream(text: str | list[str], name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def result(data: dict, output_type: str = "execute_result") -> dict:
    output = {"output_type": output_type, "data": data, "metadata": {}}
    if output_type == "execute_result":
        output["execution_count"] = 3
    return output


def png_output(data: bytes, wrap: bool = False) -> dict:
    encoded = base64.b64encode(data).decode("ascii")
    if wrap:  # how some writers store base64: a list of 76-column lines
        encoded = [encoded[i : i + 76] + "\n" for i in range(0, len(encoded), 76)]
    return result({"image/png": encoded, "text/plain": "<Figure size 640x480 with 1 Axes>"}, "display_data")


def error(traceback: list[str], ename: str = "ValueError", evalue: str = "bad") -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def shape(outputs: list[dict], max_chars: int = 10_000, image_max_px: int = 1024):
    return shape_outputs(outputs, OutputBudget(max_chars), image_max_px, WHERE)


def texts(shaped) -> list[str]:
    return [block.text for block in shaped.content if isinstance(block, mcp_types.TextContent)]


def kinds(shaped) -> list[str]:
    return [block.type for block in shaped.content]


# --- strip_ansi ------------------------------------------------------------


def test_strip_ansi_removes_colour_and_erase_line_codes():
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: bad\x1b[K") == "ValueError: bad"


def test_strip_ansi_removes_osc_title_and_hyperlink_sequences():
    text = "\x1b]0;my title\x07see \x1b]8;;https://x.org\x1b\\docs\x1b]8;;\x1b\\ now"
    assert strip_ansi(text) == "see docs now"


def test_strip_ansi_leaves_plain_text_alone():
    text = "no escapes here [0;31m, just brackets\n"
    assert strip_ansi(text) == text


# --- collapse_carriage_returns ----------------------------------------------


def test_tqdm_like_progress_collapses_to_its_last_state():
    frames = "".join(f"\r{pct:3d}%|{'#' * (pct // 10):<10}| {pct}/100" for pct in range(0, 101, 5))
    text = "training\n" + frames + "\ndone\n"
    assert collapse_carriage_returns(text) == "training\n100%|##########| 100/100\ndone\n"


def test_trailing_carriage_return_does_not_erase_the_line():
    assert collapse_carriage_returns("50%\r100%\r") == "100%"


def test_crlf_is_a_plain_newline():
    assert collapse_carriage_returns("a\r\nb\r\n") == "a\nb\n"


# --- OutputBudget.cut ---------------------------------------------------------


def test_text_under_budget_is_returned_untouched():
    text = "line\n" * 100
    assert OutputBudget(1000).cut(text, WHERE) == (text, 0)


def test_text_exactly_at_budget_is_returned_untouched():
    text = "x" * 1000
    assert OutputBudget(1000).cut(text, WHERE) == (text, 0)


def test_one_megabyte_is_cut_to_about_the_budget_keeping_head_and_tail():
    lines = [f"line {i:07d} " + "." * 87 for i in range(10_000)]  # 100-char lines
    text = "\n".join(lines) + "\n"
    assert len(text) >= 1_000_000

    shown, chars_cut = OutputBudget(10_000).cut(text, WHERE)

    marker = re.search(r"\.\.\. \[cut ([\d,]+) characters of output; the full output is in (.+?)\] \.\.\.", shown)
    assert marker is not None
    assert int(marker.group(1).replace(",", "")) == chars_cut
    assert marker.group(2) == WHERE
    assert len(shown) - len(marker.group(0)) - 2 <= 10_000  # marker line plus its newlines
    assert len(shown) > 9_500
    assert chars_cut == len(text) - (len(shown) - len(marker.group(0)) - 1)
    assert shown.startswith("line 0000000 ")
    assert shown.endswith("line 0009999 " + "." * 87 + "\n")


def test_cut_lands_on_line_boundaries_so_no_kept_line_is_split():
    text = "".join(f"row {i:05d} {'=' * 40}\n" for i in range(2000))
    shown, _ = OutputBudget(5_000).cut(text, WHERE)
    kept_lines = [line for line in shown.split("\n") if line and not line.startswith("... [cut")]
    assert all(re.fullmatch(r"row \d{5} ={40}", line) for line in kept_lines)


def test_cut_never_exceeds_budget_by_more_than_the_marker():
    text = "x" * 50_000  # no line boundaries to snap to
    shown, chars_cut = OutputBudget(1_000).cut(text, WHERE)
    assert chars_cut == 49_000
    marker = f"\n... [cut {chars_cut:,} characters of output; the full output is in {WHERE}] ...\n"
    assert shown == "x" * 600 + marker + "x" * 400


def test_negative_budget_is_rejected():
    with pytest.raises(ValueError):
        OutputBudget(-1)


# --- downscale_png --------------------------------------------------------------


def test_large_png_is_downscaled_so_its_long_side_is_max_px():
    data, mime = downscale_png(make_image((3000, 1500)), 1024)
    assert mime == "image/png"
    assert image_format(data) == "PNG"
    assert image_size(data) == (1024, 512)


def test_tall_png_is_downscaled_on_its_height():
    data, _ = downscale_png(make_image((500, 2000)), 1000)
    assert image_size(data) == (250, 1000)


def test_small_png_is_returned_byte_identical():
    original = make_image((800, 600))
    data, mime = downscale_png(original, 1024)
    assert data is original
    assert mime == "image/png"


def test_palette_png_is_downscaled_too():
    data, _ = downscale_png(make_image((2048, 1024), mode="P"), 512)
    assert image_size(data) == (512, 256)


def test_large_jpeg_is_reencoded_as_jpeg():
    data, mime = downscale_png(make_image((2000, 1000), fmt="JPEG"), 500, mime="image/jpeg")
    assert mime == "image/jpeg"
    assert image_format(data) == "JPEG"
    assert image_size(data) == (500, 250)


def test_unsupported_image_type_is_rejected():
    with pytest.raises(ValueError):
        downscale_png(make_image((10, 10), fmt="GIF"), 5, mime="image/gif")


# --- html_to_text ---------------------------------------------------------------


def test_html_to_text_drops_script_and_style_and_unescapes_entities():
    html = (
        "<style>p {color: red}</style><div><p>Hello &amp; welcome</p>\n   <p>to   the <b>lab</b></p>"
        "<script>alert('hidden')</script></div>"
    )
    assert html_to_text(html) == "Hello & welcome\nto the lab"


def test_html_to_text_puts_table_rows_on_their_own_lines():
    html = "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    assert html_to_text(html) == "a b\n1 2"


# --- shape_outputs ----------------------------------------------------------------


def test_no_outputs_give_no_content():
    shaped = shape([])
    assert shaped.content == []
    assert (shaped.chars_cut, shaped.images_downscaled, shaped.text_chars) == (0, 0, 0)


def test_html_only_output_falls_back_to_text_without_script_contents():
    html = "<div><h3>Model card</h3><p>layers: 12</p><script>window.secret = 1;</script></div>"
    shaped = shape([result({"text/html": html})])
    assert texts(shaped) == ["Model card\nlayers: 12"]
    assert "secret" not in texts(shaped)[0]


def test_outputs_keep_their_order_text_image_text():
    small = make_image((64, 32))
    shaped = shape([stream("before\n"), png_output(small), stream("after\n")])
    assert kinds(shaped) == ["text", "image", "text"]
    assert texts(shaped) == ["before\n", "after\n"]
    image = shaped.content[1]
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.data) == small


def test_image_is_shown_instead_of_its_text_plain():
    shaped = shape([png_output(make_image((10, 10)))])
    assert kinds(shaped) == ["image"]


def test_large_image_output_is_downscaled_and_counted():
    shaped = shape([png_output(make_image((3000, 1500)))], image_max_px=1024)
    assert shaped.images_downscaled == 1
    assert image_size(base64.b64decode(shaped.content[0].data)) == (1024, 512)


def test_jpeg_output_keeps_its_mime_type():
    encoded = base64.b64encode(make_image((40, 20), fmt="JPEG")).decode("ascii")
    shaped = shape([result({"image/jpeg": encoded}, "display_data")])
    assert shaped.content[0].mime_type == "image/jpeg"


def test_undecodable_image_becomes_a_note_instead_of_failing():
    shaped = shape([result({"image/png": "bm90IGFuIGltYWdl"}, "display_data")])
    assert texts(shaped) == ["[image/png output could not be decoded]"]


def test_stream_and_error_merge_into_one_text_block_with_ansi_stripped():
    traceback = [
        "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
        "\x1b[0;31mValueError\x1b[0m                                Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[3], line 2\x1b[0m\n\x1b[1;32m----> 2\x1b[0m \x1b[38;5;28;01mraise\x1b[39;00m ValueError(\x1b[33m'bad'\x1b[39m)",
        "\x1b[0;31mValueError\x1b[0m: bad",
    ]
    shaped = shape([stream("loading model\n"), stream("warning: slow\n", name="stderr"), error(traceback)])
    assert kinds(shaped) == ["text"]
    text = texts(shaped)[0]
    assert "\x1b" not in text
    assert text.startswith("loading model\nwarning: slow\n---")
    assert "----> 2 raise ValueError('bad')" in text
    assert text.endswith("ValueError: bad")


def test_stderr_stays_in_order_with_stdout():
    shaped = shape([stream("one\n"), stream("two\n", name="stderr"), stream("three\n")])
    assert texts(shaped) == ["one\ntwo\nthree\n"]


def test_stream_chunks_that_split_a_line_are_joined_without_a_break():
    shaped = shape([stream("Epoch 1: "), stream("loss=0.5\n")])
    assert texts(shaped) == ["Epoch 1: loss=0.5\n"]


def test_result_after_unterminated_stream_starts_on_a_new_line():
    shaped = shape([stream("no newline"), result({"text/plain": "42"})])
    assert texts(shaped) == ["no newline\n42"]


def test_progress_bar_split_across_stream_chunks_collapses():
    chunks = [stream("\r 10%|#", name="stderr"), stream("\r 60%|######", name="stderr")]
    chunks.append(stream("\r100%|##########\n", name="stderr"))
    shaped = shape(chunks)
    assert texts(shaped) == ["100%|##########\n"]


def test_list_of_str_text_fields_work():
    small = make_image((20, 10))
    shaped = shape(
        [
            stream(["first line\n", "second line\n"]),
            result({"text/plain": ["array([1,\n", "       2])"]}),
            png_output(small, wrap=True),
            error(["\x1b[0;31mKeyError\x1b[0m: 'x'"], ename="KeyError"),
        ]
    )
    assert kinds(shaped) == ["text", "image", "text"]
    assert texts(shaped) == ["first line\nsecond line\narray([1,\n       2])", "KeyError: 'x'"]
    assert base64.b64decode(shaped.content[1].data) == small


def test_markdown_and_json_results_are_shown_as_text():
    shaped = shape([result({"text/markdown": "# Title"}), result({"application/json": {"a": [1, 2]}})])
    text = texts(shaped)[0]
    assert text.startswith("# Title\n")
    assert '"a": [' in text


def test_unknown_mime_type_is_named_not_shown():
    shaped = shape([result({"application/x-foo": "…"}, "display_data")])
    assert texts(shaped) == ["[output of type application/x-foo not shown]"]


def test_budget_covers_all_text_blocks_together_keeping_head_and_tail():
    outputs = [stream("start\n" + "a" * 20_000 + "\n"), png_output(make_image((8, 8)))]
    outputs.append(stream("b" * 20_000 + "\nFINAL RESULT\n"))
    shaped = shape(outputs, max_chars=2_000)

    assert kinds(shaped) == ["text", "image", "text"]
    first, last = texts(shaped)
    assert first.startswith("start\n")
    assert f"the full output is in {WHERE}" in first
    assert last.endswith("FINAL RESULT\n")
    total_len = len("start\n" + "a" * 20_000 + "\n") + len("b" * 20_000 + "\nFINAL RESULT\n")
    marker = re.search(r"\n?\.\.\. \[cut [\d,]+ characters.*?\] \.\.\.\n", first).group(0)
    assert shaped.text_chars == len(first) + len(last)
    assert shaped.text_chars - len(marker) <= 2_000
    assert shaped.chars_cut == total_len - (shaped.text_chars - len(marker))


def test_budget_drops_text_blocks_that_fall_entirely_inside_the_cut():
    outputs = [stream("h" * 1_000 + "\n")]
    for _ in range(3):
        outputs += [png_output(make_image((8, 8))), stream("m" * 5_000 + "\n")]
    outputs.append(stream("tail\n"))
    shaped = shape(outputs, max_chars=1_000)
    assert kinds(shaped) == ["text", "image", "image", "image", "text"]
    assert "... [cut" in texts(shaped)[0]
    assert texts(shaped)[-1].endswith("tail\n")
