"""Serving variant files with HTTP range requests, so browsers can seek in a video.

Django's FileResponse always sends the whole file. Browsers ask video files for `bytes=N-`
ranges and only let the viewer seek (and start quickly) when the server answers 206; a range
outside the file gets 416 with the file's size, as RFC 9110 says. One range per request is
enough for media elements; a multi-range request gets the whole file (also allowed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = 256 * 1024


def _byte_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) byte of a satisfiable single range; None to send everything; False if the
    range lies outside the file."""
    match = SINGLE_RANGE.match(header.replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _read_span(file: FieldFile, start: int, end: int) -> Iterator[bytes]:
    with file.open("rb") as handle:
        handle.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def media_file_response(
    request: HttpRequest, file: FieldFile, *, content_type: str, cache_control: str
) -> HttpResponse:
    """The whole file (200) or the asked range (206), with Accept-Ranges either way."""
    size = file.size
    span = _byte_range(request.headers.get("Range", ""), size) if request.method == "GET" else None
    if span is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif span is None:
        response = FileResponse(file.open("rb"), content_type=content_type)
    else:
        start, end = span
        response = StreamingHttpResponse(_read_span(file, start, end), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache_control
    return response
