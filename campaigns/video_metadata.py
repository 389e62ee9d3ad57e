"""What the product needs to know about an uploaded video, read with PyAV (FFmpeg's libraries).

The codec and pixel format decide whether browsers can play the file at all; the duration how long
testers watch and how many snapshots the tester page takes; the frame size what researchers see;
and one decoded frame becomes the poster shown before the video plays.

The bytes are opened from memory with the demuxer that the file's magic bytes announced, never one
FFmpeg guesses, so no other format, protocol or referenced file is ever reached. Everything in an
upload is hostile until read: any failure here is the file's fault and becomes VideoUnreadable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from PIL import Image

DEMUXERS = {"MP4": "mov", "WEBM": "matroska"}
POSTER_MAX_SIDE = 1280
# The poster is the picture about one second in: the very first frame of an advertisement is often
# black or a fade. Decoding stops after this many frames whatever the timestamps claim.
POSTER_AT_SECONDS = 1.0
POSTER_MAX_FRAMES = 240
# What FFmpeg or PyAV may raise on a crafted file, besides its own error type.
READ_ERRORS = (av.FFmpegError, ArithmeticError, LookupError, OSError, TypeError, ValueError, MemoryError)


class VideoUnreadable(Exception):
    """The file cannot be demuxed or decoded."""


class NoPicture(VideoUnreadable):
    """The container holds no video track (sound only, say)."""


@dataclass(frozen=True)
class VideoMetadata:
    codec: str  # FFmpeg's canonical name: "h264", "vp9", "av1", "mpeg4", "hevc", …
    pixel_format: str | None  # "yuv420p", "yuv444p", "yuv420p10le", …
    coded_width: int  # as stored; a phone's portrait video is stored on its side
    coded_height: int
    duration_ms: int | None


@dataclass(frozen=True)
class Poster:
    jpeg: bytes
    width: int  # the video's size as browsers show it, after the rotation the file asks for
    height: int


def _open(content: bytes, container: str):
    return av.open(io.BytesIO(content), mode="r", format=DEMUXERS[container])


def _picture_stream(video):
    if not video.streams.video:
        raise NoPicture("no video track")
    return video.streams.video[0]


def _duration_ms(video, stream) -> int | None:
    if video.duration and video.duration > 0:  # microseconds (av.time_base)
        return round(video.duration / 1000)
    if stream.duration and stream.time_base and stream.duration > 0:
        return round(stream.duration * stream.time_base * 1000)
    # Recorded in a browser (MediaRecorder), a WebM names no length: the packets' timestamps do.
    end = None
    for packet in video.demux(stream):
        if packet.pts is not None and packet.time_base:
            packet_end = (packet.pts + (packet.duration or 0)) * packet.time_base
            end = packet_end if end is None else max(end, packet_end)
    return round(end * 1000) if end and end > 0 else None


def read_video(content: bytes, container: str) -> VideoMetadata:
    """Codec, pixel format, stored size and duration, from the headers (and, where the headers
    name no length, the packets' timestamps). Decodes nothing. Raises VideoUnreadable."""
    try:
        with _open(content, container) as video:
            stream = _picture_stream(video)
            context = stream.codec_context
            if context is None or context.codec is None:  # a codec FFmpeg does not know
                raise VideoUnreadable("unknown codec")
            return VideoMetadata(
                codec=context.codec.canonical_name,
                pixel_format=context.pix_fmt,
                coded_width=context.width or 0,
                coded_height=context.height or 0,
                duration_ms=_duration_ms(video, stream),
            )
    except VideoUnreadable:
        raise
    except READ_ERRORS as error:
        raise VideoUnreadable(str(error)) from error


def poster(content: bytes, container: str, *, duration_ms: int | None) -> Poster:
    """A JPEG of the picture about a second in (half-way through a shorter video), upright and at
    most POSTER_MAX_SIDE pixels on its longest side. Raises VideoUnreadable if no frame decodes:
    such a video would be a dead player in the browser too."""
    at_seconds = min(POSTER_AT_SECONDS, (duration_ms or 0) / 2000)
    chosen = None
    try:
        with _open(content, container) as video:
            stream = _picture_stream(video)
            for index, frame in enumerate(video.decode(stream)):
                chosen = frame
                if frame.time is None or frame.time >= at_seconds or index + 1 >= POSTER_MAX_FRAMES:
                    break
            if chosen is None:
                raise VideoUnreadable("no frame decodes")
            image = chosen.to_image()
            # Counter-clockwise degrees, as Pillow's rotate() takes them.
            rotation = round(chosen.rotation or 0) % 360
    except VideoUnreadable:
        raise
    except READ_ERRORS as error:
        raise VideoUnreadable(str(error)) from error
    if rotation:
        image = image.rotate(rotation, expand=True)
    width, height = image.size
    image.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
    return Poster(buffer.getvalue(), width, height)
