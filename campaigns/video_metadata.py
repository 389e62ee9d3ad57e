"""Duration and frame size of an uploaded video, read from its container headers.

Without ffmpeg on the servers, the few numbers the product needs (how long testers watch, the
timeline's length, the size shown to researchers) come from the headers themselves: the MP4 movie
header (`mvhd`, or `mehd` for fragmented files) and track header (`tkhd`); the WebM `Info` and
`Tracks` elements. Anything unreadable gives None rather than an error: the container was already
checked by media_validation, and a missing duration only makes estimates rougher.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoMetadata:
    duration_ms: int | None = None
    width: int | None = None
    height: int | None = None


# --- MP4 (ISO base media file format) ----------------------------------------------------------


def _mp4_boxes(content: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between start and end."""
    offset = start
    while offset + 8 <= end:
        size = int.from_bytes(content[offset : offset + 4], "big")
        box_type = content[offset + 4 : offset + 8]
        header = 8
        if size == 1:
            if offset + 16 > end:
                return
            size, header = int.from_bytes(content[offset + 8 : offset + 16], "big"), 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield box_type, offset + header, offset + size
        offset += size


def _mp4_child(content: bytes, start: int, end: int, wanted: bytes) -> tuple[int, int] | None:
    for box_type, payload_start, payload_end in _mp4_boxes(content, start, end):
        if box_type == wanted:
            return payload_start, payload_end
    return None


def _mvhd_duration_ms(payload: bytes) -> int | None:
    """Version 0 keeps times in 32 bits, version 1 in 64; the timescale is ticks per second."""
    if len(payload) < 20:
        return None
    if payload[0] == 1:
        if len(payload) < 32:
            return None
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        timescale, duration = struct.unpack(">II", payload[12:20])
    if not timescale or not duration or duration in {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}:
        return None
    return round(duration * 1000 / timescale)


def _mehd_duration_ticks(payload: bytes) -> int | None:
    if len(payload) < 8:
        return None
    if payload[0] == 1:
        return int.from_bytes(payload[4:12], "big") if len(payload) >= 12 else None
    return int.from_bytes(payload[4:8], "big")


def _tkhd_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height close the track header as 16.16 fixed-point numbers."""
    if len(payload) < 84:
        return None
    width, height = struct.unpack(">II", payload[-8:])
    width, height = width >> 16, height >> 16
    return (width, height) if width and height else None


def mp4_metadata(content: bytes) -> VideoMetadata:
    moov = _mp4_child(content, 0, len(content), b"moov")
    if moov is None:
        return VideoMetadata()
    duration_ms = None
    mvhd = _mp4_child(content, *moov, b"mvhd")
    if mvhd is not None:
        payload = content[mvhd[0] : mvhd[1]]
        duration_ms = _mvhd_duration_ms(payload)
        mvex = _mp4_child(content, *moov, b"mvex")
        mehd = _mp4_child(content, *mvex, b"mehd") if mvex else None
        if duration_ms is None and mehd is not None and len(payload) >= 20:
            # Fragmented files (recorded in a browser, say) keep the length in the movie extends box.
            timescale = int.from_bytes(payload[20:24] if payload[0] == 1 else payload[12:16], "big")
            ticks = _mehd_duration_ticks(content[mehd[0] : mehd[1]])
            duration_ms = round(ticks * 1000 / timescale) if timescale and ticks else None
    size = None
    for box_type, start, end in _mp4_boxes(content, *moov):
        if box_type == b"trak" and (tkhd := _mp4_child(content, start, end, b"tkhd")) is not None:
            size = _tkhd_size(content[tkhd[0] : tkhd[1]])
            if size:  # audio tracks have no size; the first sized track is the picture
                break
    return VideoMetadata(duration_ms, *(size or (None, None)))


# --- WebM (Matroska) -----------------------------------------------------------------------------

EBML_SEGMENT = 0x18538067
EBML_INFO = 0x1549A966
EBML_TIMECODE_SCALE = 0x2AD7B1
EBML_DURATION = 0x4489
EBML_TRACKS = 0x1654AE6B
EBML_TRACK_ENTRY = 0xAE
EBML_VIDEO = 0xE0
EBML_PIXEL_WIDTH = 0xB0
EBML_PIXEL_HEIGHT = 0xBA
EBML_CLUSTER = 0x1F43B675
DEFAULT_TIMECODE_SCALE_NS = 1_000_000


def _vint(content: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int, bool] | None:
    """(value, length, unknown) of the variable-length integer at offset. Element IDs keep their
    length marker bit; sizes drop it, and all ones means "unknown size" (live recordings)."""
    if offset >= len(content) or content[offset] == 0:
        return None
    first = content[offset]
    length = 8 - first.bit_length() + 1
    if offset + length > len(content):
        return None
    value = int.from_bytes(content[offset : offset + length], "big")
    if keep_marker:
        return value, length, False
    value &= (1 << (7 * length)) - 1
    return value, length, value == (1 << (7 * length)) - 1


def _ebml_elements(content: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of each element between start and end."""
    offset = start
    while offset < end:
        element = _vint(content, offset, keep_marker=True)
        if element is None:
            return
        element_id, id_length, _unknown = element
        size = _vint(content, offset + id_length, keep_marker=False)
        if size is None:
            return
        value, size_length, unknown = size
        payload_start = offset + id_length + size_length
        payload_end = end if unknown else min(end, payload_start + value)
        yield element_id, payload_start, payload_end
        if element_id == EBML_CLUSTER:
            return  # the pictures start: every header we want comes before them
        offset = payload_end


def _ebml_uint(content: bytes, start: int, end: int) -> int:
    return int.from_bytes(content[start:end], "big")


def _ebml_float(content: bytes, start: int, end: int) -> float | None:
    if end - start == 4:
        return struct.unpack(">f", content[start:end])[0]
    if end - start == 8:
        return struct.unpack(">d", content[start:end])[0]
    return None


def webm_metadata(content: bytes) -> VideoMetadata:
    duration_ms = width = height = None
    for element_id, start, end in _ebml_elements(content, 0, len(content)):
        if element_id != EBML_SEGMENT:
            continue
        for child_id, child_start, child_end in _ebml_elements(content, start, end):
            if child_id == EBML_INFO:
                scale, duration = DEFAULT_TIMECODE_SCALE_NS, None
                for info_id, info_start, info_end in _ebml_elements(content, child_start, child_end):
                    if info_id == EBML_TIMECODE_SCALE:
                        scale = _ebml_uint(content, info_start, info_end) or DEFAULT_TIMECODE_SCALE_NS
                    elif info_id == EBML_DURATION:
                        duration = _ebml_float(content, info_start, info_end)
                if duration and duration > 0:
                    duration_ms = round(duration * scale / 1_000_000)
            elif child_id == EBML_TRACKS and width is None:
                width, height = _webm_video_size(content, child_start, child_end)
        break
    return VideoMetadata(duration_ms, width, height)


def _webm_video_size(content: bytes, start: int, end: int) -> tuple[int | None, int | None]:
    for entry_id, entry_start, entry_end in _ebml_elements(content, start, end):
        if entry_id != EBML_TRACK_ENTRY:
            continue
        for field_id, field_start, field_end in _ebml_elements(content, entry_start, entry_end):
            if field_id != EBML_VIDEO:
                continue
            size = {}
            for video_id, video_start, video_end in _ebml_elements(content, field_start, field_end):
                if video_id in {EBML_PIXEL_WIDTH, EBML_PIXEL_HEIGHT}:
                    size[video_id] = _ebml_uint(content, video_start, video_end)
            if size.get(EBML_PIXEL_WIDTH) and size.get(EBML_PIXEL_HEIGHT):
                return size[EBML_PIXEL_WIDTH], size[EBML_PIXEL_HEIGHT]
    return None, None
