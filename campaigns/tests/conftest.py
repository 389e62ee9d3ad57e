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


def mp4_bytes() -> bytes:
    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
        + box(b"moov", box(b"mvhd", bytes(100)))
        + box(b"mdat", bytes(64))
    )


def webm_bytes() -> bytes:
    header = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
    return (
        header + b"\x42\x87\x81\x04\x42\x85\x81\x02" + b"\x18\x53\x80\x67\x01\x00\x00\x00\x00\x00\x00\x10" + bytes(16)
    )


def make_campaign(personas: Personas, **values) -> Campaign:
    from campaigns.services import campaign_create

    return campaign_create(
        organisation=values.pop("organisation", personas.organisation),
        created_by=personas.owner,
        consent_text=values.pop("consent_text", "I agree to snapshots being analysed."),
        name=values.pop("name", "Herbst"),
        **values,
    )
