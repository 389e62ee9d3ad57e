"""Personas and media for the researcher-side tests."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import av
import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image

from campaigns.models import Campaign, Membership, Organisation

PASSWORD = "a-long-test-password-42"


@dataclass
class Personas:
    owner: object
    teammate: object
    outsider: object
    organisation: Organisation
    other_organisation: Organisation


def make_researcher(username: str, organisation: Organisation):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    Membership.objects.create(user=user, organisation=organisation)
    return user


@pytest.fixture
def personas(db) -> Personas:
    organisation = Organisation.objects.create(name="Verlag Eins")
    other = Organisation.objects.create(name="Agentur Zwei")
    return Personas(
        owner=make_researcher("owner", organisation),
        teammate=make_researcher("teammate", organisation),
        outsider=make_researcher("outsider", other),
        organisation=organisation,
        other_organisation=other,
    )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), colour=(200, 40, 40), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims another size: a decompression bomb's signature."""
    data = bytearray(image_bytes("PNG", (8, 8)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(*, timescale: int = 600, duration: int = 7_500, width: int = 1280, height: int = 720) -> bytes:
    """A hand-made MP4 whose boxes tile the file: a movie header (12.5 s by default) and a track
    header, but no sample tables, so no stream anyone could play."""
    mvhd = struct.pack(">IIIII", 0, 0, 0, timescale, duration) + bytes(80)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = struct.pack(">IIIII", 7, 0, 0, 1, 0) + struct.pack(">I", duration) + bytes(16) + matrix
    tkhd += struct.pack(">II", width << 16, height << 16)
    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
        + box(b"moov", box(b"mvhd", mvhd) + box(b"trak", box(b"tkhd", tkhd)))
        + box(b"mdat", bytes(64))
    )


# Quiet, fast settings per encoder: these videos are tiny and made in every test run.
ENCODER_OPTIONS = {
    "libx265": {"x265-params": "log-level=none"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}


def video_bytes(
    codec: str = "libx264",
    container: str = "mp4",
    *,
    seconds: float = 6.0,
    size: tuple[int, int] = (64, 48),
    pix_fmt: str = "yuv420p",
    fps: int = 10,
    rotation: int = 0,
) -> bytes:
    """A real video encoded with PyAV: a left half green, a right half red, and a white bar moving
    down, so frames differ and the picture's orientation can be told."""
    buffer = io.BytesIO()
    width, height = size
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=fps, options=ENCODER_OPTIONS.get(codec, {}))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        frames = round(seconds * fps)
        for index in range(frames):
            pixels = np.zeros((height, width, 3), np.uint8)
            pixels[:, : width // 2] = (40, 200, 60)
            pixels[:, width // 2 :] = (200, 40, 40)
            bar = index * height // max(frames, 1)
            pixels[bar : bar + 2] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def audio_only_mp4(seconds: float = 2.0) -> bytes:
    """An MP4 that holds sound and no picture (an .m4a renamed)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("aac", rate=48_000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, round(48_000 * seconds)), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode()]:
            output.mux(packet)
    return buffer.getvalue()


def make_campaign(personas: Personas, **values) -> Campaign:
    from campaigns.services import campaign_create

    return campaign_create(
        organisation=values.pop("organisation", personas.organisation),
        created_by=personas.owner,
        consent_text=values.pop("consent_text", "I agree to snapshots being analysed."),
        name=values.pop("name", "Herbst"),
        **values,
    )
