"""Shape a notebook cell's outputs into the MCP content an AI agent is shown.

Cell outputs arrive as nbformat v4 output dicts, exactly as stored in a
``.ipynb`` file. Shown raw they waste an agent's context: terminal colour
codes, every intermediate frame of a progress bar, megabytes of log text and
full-resolution plots. This module turns them into a short, ordered list of
``TextContent`` and ``ImageContent`` blocks:

* text is cleaned (ANSI escapes removed, ``\\r`` progress bars collapsed),
* consecutive text pieces are merged so one budget covers all of the text,
  keeping its head and its tail (errors and final results live at the end),
* images are downscaled so their long side fits ``image_max_px``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, NamedTuple

import mcp_types
from PIL import Image

__all__ = [
    "OutputBudget",
    "ShapedOutputs",
    "collapse_carriage_returns",
    "downscale_png",
    "html_to_text",
    "shape_outputs",
    "strip_ansi",
]

Content = mcp_types.TextContent | mcp_types.ImageContent

# --------------------------------------------------------------------------
# Text cleaning
# --------------------------------------------------------------------------

# Order matters: string-type sequences (OSC, DCS, ...) must be tried before
# the generic two-character escape, which would otherwise eat only their
# introducer and leave their payload (e.g. a window title) in the text.
_ANSI_RE = re.compile(
    r"""
      \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)   # OSC: ESC ] ... BEL or ST (titles, hyperlinks)
    | \x1b[PX^_].*?\x1b\\                 # DCS / SOS / PM / APC strings, up to ST
    | \x1b\[[0-?]*[ -/]*[@-~]             # CSI: colours, cursor moves, erase line
    | \x1b[ -/]*[0-~]                     # other escapes (charset selection, ESC M, ...)
    """,
    re.VERBOSE | re.DOTALL,
)


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (CSI, OSC, DCS and short escapes)."""
    return _ANSI_RE.sub("", text)


def collapse_carriage_returns(text: str) -> str:
    """Collapse ``\\r``-redrawn lines (progress bars) to their last state.

    For each line only the text after the last ``\\r`` is kept, as a terminal
    would finally show it. A trailing ``\\r`` does not erase the line: tqdm
    and friends end each redraw with one, and the agent wants the last frame.
    """
    if "\r" not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def _clean_text(text: str) -> str:
    # ANSI first: an escape sequence may sit between a \r and the new frame.
    return collapse_carriage_returns(strip_ansi(text))


# --------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------

# How far a cut may move to land on a line boundary instead of mid-line.
_LINE_SNAP_CHARS = 200
# Share of the budget given to the start of the output; the rest goes to the end.
_HEAD_SHARE = 0.6


def _cut_marker(chars_cut: int, where: str, after_newline: bool) -> str:
    # Skip the leading newline when the head already ends a line, so the
    # marker never adds a blank line.
    lead = "" if after_newline else "\n"
    return f"{lead}... [cut {chars_cut:,} characters of output; the full output is in {where}] ...\n"


@dataclass(frozen=True)
class OutputBudget:
    """How many characters of text output an agent is shown."""

    max_chars: int

    def __post_init__(self) -> None:
        if self.max_chars < 0:
            raise ValueError(f"max_chars must be >= 0, got {self.max_chars}")

    def cut_span(self, text: str) -> tuple[int, int] | None:
        """The ``[start, end)`` range of ``text`` to drop, or None if it fits.

        Keeps at most ``max_chars`` characters: about 60% from the head and
        40% from the tail. Each end moves (only ever inwards, i.e. keeping
        less) to a nearby line boundary so that no kept line is cut mid-way.
        """
        size = len(text)
        if size <= self.max_chars:
            return None
        head_end = int(self.max_chars * _HEAD_SHARE)
        tail_start = size - (self.max_chars - head_end)

        newline = text.rfind("\n", max(0, head_end - _LINE_SNAP_CHARS), head_end)
        if newline != -1:
            head_end = newline + 1
        if tail_start > 0 and text[tail_start - 1] != "\n":
            newline = text.find("\n", tail_start, tail_start + _LINE_SNAP_CHARS)
            if newline != -1:
                tail_start = newline + 1
        return head_end, tail_start

    def cut(self, text: str, where: str) -> tuple[str, int]:
        """Fit ``text`` in the budget; return the shown text and chars cut.

        ``where`` names the place the full output can be read (a notebook
        path and cell, say) and is quoted in the marker left at the cut.
        """
        [shown], chars_cut = _budget_texts([text], self, where)
        return shown, chars_cut


def _budget_texts(texts: list[str], budget: OutputBudget, where: str) -> tuple[list[str], int]:
    """Apply one budget to several text blocks as if they were one text.

    Returns the blocks (same count, some possibly emptied) and chars cut.
    The marker goes into the first block the cut touches.
    """
    span = budget.cut_span("".join(texts))
    if span is None:
        return list(texts), 0
    cut_start, cut_end = span
    chars_cut = cut_end - cut_start

    shown: list[str] = []
    marker_placed = False
    offset = 0
    for text in texts:
        start, end = offset, offset + len(text)
        offset = end
        if end <= cut_start or start >= cut_end:
            shown.append(text)
            continue
        head = text[: max(0, cut_start - start)]
        tail = text[max(0, cut_end - start) :]
        if not marker_placed:
            head += _cut_marker(chars_cut, where, after_newline=not head or head.endswith("\n"))
            marker_placed = True
        shown.append(head + tail)
    return shown, chars_cut


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

# Modes LANCZOS can resample directly; others (palette, 1-bit, 16-bit) are
# converted first, since Pillow silently falls back to NEAREST for palettes.
_RESAMPLABLE_MODES = {"L", "LA", "RGB", "RGBA", "I", "F"}
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def downscale_png(data: bytes, max_px: int, mime: str = "image/png") -> tuple[bytes, str]:
    """Shrink an image so its long side is at most ``max_px`` pixels.

    Images that already fit are returned byte-identical (no lossy
    re-encode). ``mime`` is ``image/png`` or ``image/jpeg``; the image is
    re-encoded in the same format. Returns ``(bytes, mime)``.
    """
    if max_px <= 0:
        raise ValueError(f"max_px must be > 0, got {max_px}")
    pil_format = _PIL_FORMATS.get(mime)
    if pil_format is None:
        raise ValueError(f"unsupported image type {mime!r}; expected one of {sorted(_PIL_FORMATS)}")

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        long_side = max(width, height)
        if long_side <= max_px:
            return data, mime

        scale = max_px / long_side
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if image.mode not in _RESAMPLABLE_MODES:
            image = image.convert("RGBA" if pil_format == "PNG" else "RGB")
        resized = image.resize(size, Image.Resampling.LANCZOS)

    if pil_format == "JPEG" and resized.mode not in {"L", "RGB"}:
        resized = resized.convert("RGB")  # JPEG has no alpha channel
    buffer = io.BytesIO()
    resized.save(buffer, format=pil_format, optimize=True)
    return buffer.getvalue(), mime


# --------------------------------------------------------------------------
# HTML fallback
# --------------------------------------------------------------------------

_SKIPPED_TAGS = {"script", "style"}
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
    "thead", "tr", "ul",
}  # fmt: skip
_CELL_TAGS = {"td", "th"}
_WHITESPACE_RE = re.compile(r"\s+")


class _HTMLTextExtractor(HTMLParser):
    """Collects an HTML fragment's visible text, one block element per line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # unescapes &amp; etc. in data
        self._chunks: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0

    def _last_char(self) -> str:
        return self._chunks[-1][-1] if self._chunks else "\n"

    def _newline(self) -> None:
        if self._last_char() != "\n":
            self._chunks.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self._newline()
            self._pre_depth += tag == "pre"
        elif tag in _CELL_TAGS and self._last_char() not in " \n":
            self._chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._newline()
            self._pre_depth = max(0, self._pre_depth - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            # Outside <pre>, source whitespace (newlines included) is one space,
            # and spaces at a line start or after a space are not shown.
            data = _WHITESPACE_RE.sub(" ", data)
            if self._last_char() in " \n":
                data = data.lstrip(" ")
        if data:
            self._chunks.append(data)

    def text(self) -> str:
        lines = (line.rstrip() for line in "".join(self._chunks).split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> str:
    """Readable text of an HTML fragment, without <script>/<style> contents."""
    parser = _HTMLTextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


# --------------------------------------------------------------------------
# Outputs -> content
# --------------------------------------------------------------------------


class _Image(NamedTuple):
    base64_data: str
    mime: str


_IMAGE_MIMES = ("image/png", "image/jpeg")


def _joined(value: Any) -> str:
    # nbformat stores multi-line strings either whole or as a list of lines.
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else str(value)


def _rich_output(data: dict[str, Any]) -> str | _Image | None:
    """Pick what to show of an execute_result/display_data mime bundle."""
    for mime in _IMAGE_MIMES:
        if mime in data:
            # Base64 in notebooks is often wrapped at 76 columns; drop the newlines.
            return _Image("".join(_joined(data[mime]).split()), mime)
    if "text/plain" in data:
        return _joined(data["text/plain"])
    if "text/html" in data:
        return html_to_text(_joined(data["text/html"]))
    if "text/markdown" in data:
        return _joined(data["text/markdown"])
    if "application/json" in data:
        return json.dumps(data["application/json"], indent=2, ensure_ascii=False, default=str)
    if data:
        return f"[output of type {next(iter(data))} not shown]"
    return None


def _error_text(output: dict[str, Any]) -> str:
    # IPython's traceback already ends with "ename: evalue"; fall back to that
    # pair only when a kernel sent no traceback.
    traceback = output.get("traceback") or []
    if traceback:
        return "\n".join(_joined(line) for line in traceback)
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"


@dataclass
class _TextRun:
    """Text pieces between two images, merged into one block."""

    parts: list[str] = field(default_factory=list)
    last_was_stream: bool = False

    def add(self, text: str, *, stream: bool) -> None:
        if not text:
            return
        # Stream chunks continue each other (a line may span two chunks);
        # any other piece starts on a line of its own.
        continues_stream = stream and self.last_was_stream
        if self.parts and not continues_stream and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
        self.parts.append(text)
        self.last_was_stream = stream

    def render(self) -> str:
        # Cleaned as a whole: a progress bar's \r frames may span chunks.
        return _clean_text("".join(self.parts))


def _image_content(image: _Image, max_px: int) -> tuple[Content, bool]:
    """The ImageContent for an image output, and whether it was downscaled.

    An image that cannot be decoded becomes a short text note instead of
    failing the whole cell's output.
    """
    try:
        raw = base64.b64decode(image.base64_data)
        shown, mime = downscale_png(raw, max_px, image.mime)
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError):
        return mcp_types.TextContent(type="text", text=f"[{image.mime} output could not be decoded]"), False
    if shown is raw:
        return mcp_types.ImageContent(type="image", data=image.base64_data, mime_type=mime), False
    encoded = base64.b64encode(shown).decode("ascii")
    return mcp_types.ImageContent(type="image", data=encoded, mime_type=mime), True


@dataclass
class ShapedOutputs:
    """What an agent is shown of a cell's outputs, plus what was trimmed."""

    content: list[Content]
    chars_cut: int
    images_downscaled: int
    text_chars: int


def _segments(outputs: list[dict[str, Any]]) -> list[_TextRun | _Image]:
    """Group outputs, in order, into text runs separated by images."""
    segments: list[_TextRun | _Image] = []

    def current_run() -> _TextRun:
        if not segments or not isinstance(segments[-1], _TextRun):
            segments.append(_TextRun())
        return segments[-1]  # type: ignore[return-value]

    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            current_run().add(_joined(output.get("text", "")), stream=True)
        elif kind == "error":
            current_run().add(_error_text(output), stream=False)
        elif kind in ("execute_result", "display_data"):
            shown = _rich_output(output.get("data") or {})
            if isinstance(shown, _Image):
                segments.append(shown)
            elif shown is not None:
                current_run().add(shown, stream=False)
        else:
            current_run().add(f"[output of type {kind} not shown]", stream=False)
    return segments


def shape_outputs(
    outputs: list[dict[str, Any]],
    budget: OutputBudget,
    image_max_px: int,
    where: str,
) -> ShapedOutputs:
    """Turn nbformat v4 outputs into ordered MCP content blocks.

    Text is cleaned and merged between images; ``budget`` covers the text
    of all blocks together, keeping its head and tail, and ``where`` (the
    place holding the full output) is named in the cut marker. Images are
    downscaled to ``image_max_px`` on their long side.
    """
    segments = _segments(outputs)

    texts = [segment.render() for segment in segments if isinstance(segment, _TextRun)]
    shown_texts, chars_cut = _budget_texts(texts, budget, where)
    shown_iter = iter(shown_texts)

    content: list[Content] = []
    images_downscaled = 0
    for segment in segments:
        if isinstance(segment, _TextRun):
            text = next(shown_iter)
            if text:
                content.append(mcp_types.TextContent(type="text", text=text))
        else:
            block, downscaled = _image_content(segment, image_max_px)
            content.append(block)
            images_downscaled += downscaled

    text_chars = sum(len(block.text) for block in content if isinstance(block, mcp_types.TextContent))
    return ShapedOutputs(content, chars_cut, images_downscaled, text_chars)
