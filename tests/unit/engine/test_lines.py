"""LineSplitter: chunks in, lines out, whatever the bytes."""

from __future__ import annotations

from devenv.runtime.lines import LineSplitter


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


def test_long_lines_are_split_at_the_limit_on_character_boundaries() -> None:
    s = LineSplitter(max_line=10)
    out = s.feed(b"a" * 25)  # no newline yet: pieces come out as the limit is reached
    assert out == ["a" * 10, "a" * 10]
    assert s.feed(b"\n") == ["a" * 5]
    euro = "\u20ac" * 8  # 3 bytes each: 24 bytes
    pieces = LineSplitter(max_line=10).feed(euro.encode() + b"\n")
    assert "".join(pieces) == euro
    assert all("\ufffd" not in p for p in pieces)


def test_a_megabyte_line_in_one_chunk() -> None:
    s = LineSplitter()
    out = s.feed(b"x" * (1024 * 1024) + b"\nend\n")
    assert out[-1] == "end"
    assert sum(len(p) for p in out[:-1]) == 1024 * 1024
    assert max(len(p) for p in out) <= 64 * 1024
