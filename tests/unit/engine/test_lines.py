"""LineSplitter: chunks in, lines out, whatever the bytes, in bounded memory."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.runtime.lines import CONTINUED, MAX_LINE, LineSplitter, size_text

MARK = re.compile(r"^\u2026\[\+(\d+(?:\.\d)? (?:B|KiB|MiB|GiB))\] ")


def test_lines_across_chunks() -> None:
    s = LineSplitter()
    assert s.feed(b"one\ntw") == ["one"]
    assert s.feed(b"o\nthree") == ["two"]
    assert s.flush() == ["three"]
    assert s.flush() == []


def test_invalid_utf8_is_replaced_and_multibyte_split_across_chunks_survives() -> None:
    s = LineSplitter()
    snowman = "\u2603".encode()
    assert s.feed(b"bad \xff\n" + snowman[:1]) == ["bad \ufffd"]
    assert s.feed(snowman[1:] + b"\n") == ["\u2603"]


def test_carriage_returns_keep_the_last_segment() -> None:
    s = LineSplitter()
    assert s.feed(b"10%\r50%\r100%\ncrlf\r\n\r\n") == ["100%", "crlf", ""]
    assert s.feed(b"trailing\r\r\n") == ["trailing"]


def test_ansi_is_kept() -> None:
    assert LineSplitter().feed(b"\x1b[1;32mok\x1b[0m\n") == ["\x1b[1;32mok\x1b[0m"]


def test_a_chunk_of_exactly_the_cap_without_newline() -> None:
    """The crash of issue 11: `_char_boundary` read one byte past the data."""
    s = LineSplitter()
    assert s.feed(b"x" * 65536) == []  # exactly the cap: not known to be too long yet
    assert s.feed(b"\n") == ["x" * 65536]
    s = LineSplitter()
    out = s.feed(b"x" * 65537)
    assert len(out) == 1 and out[0].endswith(CONTINUED)


def test_a_line_at_the_cap_is_kept_whole_and_one_over_it_is_cut_with_markers() -> None:
    s = LineSplitter(max_line=100)
    assert s.feed(b"a" * 100 + b"\r\n") == ["a" * 100]  # CRLF does not count
    out = s.feed(b"b" * 101 + b"\n")
    assert out == ["b" * 76 + CONTINUED, f"{CONTINUED}[+76 B] " + "b" * 25]


def test_long_line_without_newline_comes_out_as_it_grows() -> None:
    s = LineSplitter(max_line=100)
    out = s.feed(b"a" * 250)  # no newline yet: pieces come out as soon as they are due
    assert out == [
        "a" * 76 + CONTINUED,
        f"{CONTINUED}[+76 B] " + "a" * 76 + CONTINUED,
        f"{CONTINUED}[+152 B] " + "a" * 76 + CONTINUED,
    ]
    assert s.feed(b"\nnext\n") == [f"{CONTINUED}[+228 B] " + "a" * 22, "next"]


def test_cuts_fall_on_character_boundaries() -> None:
    euro = "\u20ac" * 100  # 3 bytes each
    pieces = LineSplitter(max_line=100).feed(euro.encode() + b"\n")
    assert "\ufffd" not in "".join(pieces)
    assert "".join(_content(p) for p in pieces) == euro


def test_a_megabyte_line_in_one_chunk_and_ten_in_small_ones() -> None:
    s = LineSplitter()
    out = s.feed(b"x" * (1024 * 1024) + b"\nend\n")
    assert out[-1] == "end"
    assert sum(len(_content(p)) for p in out[:-1]) == 1024 * 1024
    assert max(len(p.encode()) for p in out) <= MAX_LINE
    assert out[1].startswith(f"{CONTINUED}[+63 KiB] ")
    s = LineSplitter()
    total = 0
    for _ in range(160):
        for line in s.feed(b"y" * 65536):
            assert len(line.encode()) <= MAX_LINE
            total += len(_content(line))
        assert len(s._rest) <= MAX_LINE + 1  # what is held between chunks stays bounded
    last = s.feed(b"\n")
    assert len(last) == 1 and MARK.match(last[0]) and not last[0].endswith(CONTINUED)
    assert total + len(_content(last[0])) == 10 * 1024 * 1024


def test_only_carriage_returns_stay_bounded() -> None:
    s = LineSplitter(max_line=100)
    for _ in range(100):
        s.feed(b"\r" * 1000)
        assert len(s._rest) <= 101


def test_sizes_read_like_a_person_writes_them() -> None:
    assert size_text(512) == "512 B"
    assert size_text(65_472) == "63 KiB"
    assert size_text(10 * 1024 * 1024) == "10.0 MiB"
    with pytest.raises(ValueError):
        LineSplitter(max_line=10)


# --- the property: chunking never changes what comes out -----------------------

output_bytes = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\n", b"\r", b"\r\n", "\u20ac".encode(), "\U0001f600".encode()]),
        st.builds(lambda n, c: c * n, st.integers(0, 700), st.sampled_from([b"x", b"\xe2\x82"])),
    ),
    max_size=30,
).map(b"".join)


def _content(piece: str) -> str:
    """A piece without its markers."""
    match = MARK.match(piece)
    if match:
        piece = piece[match.end() :]
    return piece[: -len(CONTINUED)] if piece.endswith(CONTINUED) else piece


def _split_all(splitter: LineSplitter, chunks: list[bytes]) -> list[str]:
    out: list[str] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
        assert len(splitter._rest) <= splitter.max_line + 1 + len(chunk)
    out.extend(splitter.flush())
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=output_bytes,
    cuts=st.lists(st.integers(0, 4000), max_size=12),
    cap=st.integers(96, 400),
)
def test_any_chunking_gives_the_lines_of_one_feed(data: bytes, cuts: list[int], cap: int) -> None:
    whole = _split_all(LineSplitter(cap), [data])
    points = sorted({c for c in cuts if c < len(data)})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert _split_all(LineSplitter(cap), chunks) == whole
    assert _split_all(LineSplitter(cap), [bytes([b]) for b in data]) == whole
    for line in whole:
        assert len(line) <= cap  # characters; each comes from at least one byte
        if "\ufffd" not in line:
            assert len(line.encode()) <= cap
    if b"\r" not in data and CONTINUED.encode() not in data:
        # Nothing lost: with the markers taken off, the pieces put back together
        # are the lines as they are without a cap. (With a `\r`, the progress
        # rule applies to each piece of a cut line on its own.)
        assert _joined(whole) == _reference(data)


def _reference(data: bytes) -> list[str]:
    """The lines without any cap: decode, split, last segment of each."""
    if not data:
        return []
    raw = data.split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    out = []
    for line in raw:
        text = line.decode("utf-8", "replace")
        segments = [s for s in text.split("\r") if s]
        out.append(segments[-1] if segments else "")
    return out


def _joined(pieces: list[str]) -> list[str]:
    """Cut pieces put back together (where the data has no `\\r` and no `…`)."""
    out: list[str] = []
    continuing = False
    for piece in pieces:
        content = _content(piece)
        if continuing:
            out[-1] += content
        else:
            out.append(content)
        continuing = piece.endswith(CONTINUED)
    return out


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.one_of(
            st.text(alphabet="ab\u20ac\U0001f600", max_size=300).map(str.encode),
            st.just(b"\n"),
            st.builds(lambda n: b"z" * n, st.integers(0, 900)),
        ),
        max_size=20,
    ).map(b"".join),
    cap=st.integers(96, 300),
)
def test_cut_lines_put_back_together_are_the_original(data: bytes, cap: int) -> None:
    pieces = _split_all(LineSplitter(cap), [data])
    assert _joined(pieces) == _reference(data)
