"""The text of a PDF as WeasyPrint writes it, for the tests (no PDF library is installed): every
stream inflated, each font's ToUnicode map read, and every text run decoded with each map in turn.
Glyph codes of different fonts overlap, so a run decoded with a font it does not use gives noise
beside the right reading; tests ask whether a text is there, which the right reading answers."""

from __future__ import annotations

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
HEX = re.compile(rb"<([0-9a-fA-F]*)>")


def _streams(pdf: bytes) -> list[bytes]:
    inflated = []
    for match in STREAM.finditer(pdf):
        try:
            inflated.append(zlib.decompress(match.group(1)))
        except zlib.error:
            inflated.append(match.group(1))
    return inflated


def _unicode(hex_digits: bytes) -> str:
    return bytes.fromhex(hex_digits.decode()).decode("utf-16-be", errors="replace")


def _cmap(stream: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        pairs = HEX.findall(block)
        for source, target in zip(pairs[::2], pairs[1::2], strict=False):
            mapping[int(source, 16)] = _unicode(target)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", stream, re.S):
        for first, last, target in re.findall(rb"<(\w+)>\s*<(\w+)>\s*(<\w+>|\[[^\]]*\])", block):
            start, end = int(first, 16), int(last, 16)
            if target.startswith(b"["):
                for offset, each in enumerate(HEX.findall(target)):
                    mapping[start + offset] = _unicode(each)
            else:
                base = int(target[1:-1], 16)
                for offset in range(end - start + 1):
                    mapping[start + offset] = chr(base + offset)
    return mapping


def pdf_text(pdf: bytes) -> str:
    """Every text run of every page, decoded once per font map found, the readings one after another."""
    streams = _streams(pdf)
    maps = [_cmap(stream) for stream in streams if b"beginbfchar" in stream or b"beginbfrange" in stream]
    runs = [
        [int(code[i : i + 4], 16) for code in HEX.findall(array) for i in range(0, len(code), 4)]
        for stream in streams
        for array in re.findall(rb"\[(.*?)\]\s*TJ", stream, re.S)
    ]
    return "\n".join("".join(mapping.get(code, "") for run in runs for code in run) for mapping in maps)


def pdf_metadata_strings(pdf: bytes) -> list[str]:
    """The UTF-16 strings of the document's objects: its title and its outline (the headings)."""
    found = []
    for stream in [pdf, *_streams(pdf)]:
        found += [_unicode(digits)[1:] for digits in re.findall(rb"<(feff[0-9a-fA-F]*)>", stream, re.I)]
    return found
