"""Personas and media for the researcher-side tests."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

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
    """A minimal MP4: file type, a movie header (12.5 s by default), one video track header, data."""
    mvhd = struct.pack(">IIIII", 0, 0, 0, timescale, duration) + bytes(80)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = struct.pack(">IIIII", 7, 0, 0, 1, 0) + struct.pack(">I", duration) + bytes(16) + matrix
    tkhd += struct.pack(">II", width << 16, height << 16)
    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
        + box(b"moov", box(b"mvhd", mvhd) + box(b"trak", box(b"tkhd", tkhd)))
        + box(b"mdat", bytes(64))
    )


def ebml(element_id: int, payload: bytes) -> bytes:
    """One EBML element with an 8-byte size field."""
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + b"\x01"
        + len(payload).to_bytes(7, "big")
        + payload
    )


def webm_bytes(*, duration_ms: float = 9_000.0, width: int = 640, height: int = 360) -> bytes:
    """A minimal WebM: EBML header, then a Segment with Info (duration) and one video track."""
    header = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
    header += b"\x42\x87\x81\x04\x42\x85\x81\x02"
    info = ebml(
        0x1549A966, ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")) + ebml(0x4489, struct.pack(">d", duration_ms))
    )
    video = ebml(0xE0, ebml(0xB0, width.to_bytes(2, "big")) + ebml(0xBA, height.to_bytes(2, "big")))
    tracks = ebml(0x1654AE6B, ebml(0xAE, ebml(0xD7, b"\x01") + video))
    return header + ebml(0x18538067, info + tracks + ebml(0x1F43B675, bytes(16)))


def make_campaign(personas: Personas, **values) -> Campaign:
    from campaigns.services import campaign_create

    return campaign_create(
        organisation=values.pop("organisation", personas.organisation),
        created_by=personas.owner,
        consent_text=values.pop("consent_text", "I agree to snapshots being analysed."),
        name=values.pop("name", "Herbst"),
        **values,
    )
