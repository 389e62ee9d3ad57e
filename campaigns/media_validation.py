"""Checks an uploaded variant by its content, never by its name, and re-encodes images.

Images are decoded fully (a truncated file fails here, not in a tester's browser) and re-encoded
from their pixels, at most MAX_IMAGE_SIDE pixels on the longest side, so EXIF, XMP, ICC comments and
anything appended after the image (the usual polyglot trick) are gone before the file is ever
served. Videos are kept as uploaded (re-encoding them would cost minutes and quality): they are
sniffed by their container's magic bytes, the MP4 walked box by box, and then read with PyAV
(campaigns.video_metadata) for the codec browsers must be able to play, the duration, the size and
a poster frame.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from campaigns.video_metadata import NoPicture, VideoMetadata, VideoUnreadable, poster, read_video

IMAGE_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
VIDEO_TYPES = {"MP4": ("video/mp4", "mp4"), "WEBM": ("video/webm", "webm")}
# A file name may say less than its content, but never something else.
EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe"},
    "PNG": {".png"},
    "WEBP": {".webp"},
    "MP4": {".mp4", ".m4v"},
    "WEBM": {".webm"},
}
# Markup or script inside a media file means it was built to be read as something else too.
POLYGLOT_MARKERS = re.compile(rb"<\s*(script|html|svg|iframe|object|embed|body)\b|<\?php|javascript:", re.IGNORECASE)
# Larger images only make the tester's page slower: no screen shows more than this at once.
MAX_IMAGE_SIDE = 2560
# What browsers play: H.264 with 8-bit 4:2:0 colour in MP4 everywhere, phones included (Chromium
# also plays 4:4:4 and 10-bit H.264, hardware decoders and Firefox do not); VP8, VP9 and AV1 in WebM
# in Chrome, Edge and Firefox, and in recent Safari (AV1 where the device decodes it). MPEG-4 Part 2
# (old cameras, some exporters' "MP4" default) and HEVC open in FFmpeg but not in Chrome or Firefox.
PLAYABLE_CODECS = {"MP4": {"h264"}, "WEBM": {"vp8", "vp9", "av1"}}
PLAYABLE_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}  # yuvj: the same samples at full range (cameras)
CODEC_NAMES = {
    "h264": "H.264",
    "hevc": "HEVC/H.265",
    "mpeg4": "MPEG-4 Part 2",
    "av1": "AV1",
    "vp8": "VP8",
    "vp9": "VP9",
}


@dataclass(frozen=True)
class ValidatedMedia:
    kind: str  # "image" or "video"
    content_type: str
    extension: str
    content: bytes
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    poster: bytes | None = None  # a JPEG still of a video


def sniff(head: bytes) -> str | None:
    """The format the first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "WEBM"
    return None


def validate_variant_upload(upload: UploadedFile) -> ValidatedMedia:
    """Return the checked (and for images, re-encoded) media, or raise ValidationError."""
    max_bytes = settings.MIMIK["VARIANT_MAX_BYTES"]
    if upload.size is not None and upload.size > max_bytes:
        raise ValidationError(
            _("The file is %(size)s MB; the limit is %(limit)s MB.")
            % {"size": round(upload.size / 1048576, 1), "limit": round(max_bytes / 1048576, 1)},
            code="too_large",
        )
    upload.seek(0)
    content = upload.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise ValidationError(_("The file is larger than the limit."), code="too_large")
    detected = sniff(content[:32])
    if detected is None:
        raise ValidationError(
            _("This is not a JPEG, PNG or WebP image, nor an MP4 or WebM video."), code="unsupported_type"
        )
    extension = PurePath(upload.name or "").suffix.lower()
    if extension not in EXTENSIONS[detected]:
        raise ValidationError(
            _("The file name ends in “%(extension)s” but the file is a %(format)s file. Rename or re-export it.")
            % {"extension": extension or _("(nothing)"), "format": detected},
            code="name_mismatch",
        )
    if POLYGLOT_MARKERS.search(content):
        raise ValidationError(_("The file contains markup or script and is refused."), code="polyglot")
    if detected in IMAGE_TYPES:
        return _reencode_image(content, detected)
    return _validated_video(content, detected)


def _reencode_image(content: bytes, detected: str) -> ValidatedMedia:
    max_pixels = settings.MIMIK["VARIANT_MAX_PIXELS"]
    unreadable = ValidationError(_("The image cannot be read: it is damaged or incomplete."), code="unreadable")
    try:
        # Only the header is parsed here, so a decompression bomb is refused before it is decoded.
        with Image.open(io.BytesIO(content), formats=[detected]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ValidationError(
                    _("The image has %(pixels)s megapixels; the limit is %(limit)s.")
                    % {"pixels": round(width * height / 1e6, 1), "limit": round(max_pixels / 1e6, 1)},
                    code="too_many_pixels",
                )
            if detected == "JPEG":
                # Decode a large JPEG at a reduced scale right away: less memory and time, and the
                # result is still at least the size it is scaled down to below.
                image.draft(None, _scaled_size(width, height))
            image.load()
            # Apply the EXIF rotation to the pixels before the EXIF block is dropped.
            image = ImageOps.exif_transpose(image)
            clean = _without_metadata(image)
            clean.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
    except ValidationError:
        raise
    except Image.DecompressionBombError as error:
        raise ValidationError(
            _("The image has far more than %(limit)s megapixels.") % {"limit": round(max_pixels / 1e6, 1)},
            code="too_many_pixels",
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise unreadable from error
    buffer = io.BytesIO()
    if detected == "JPEG":
        clean.save(buffer, format="JPEG", quality=92, optimize=True)
    elif detected == "PNG":
        clean.save(buffer, format="PNG", optimize=True)
    else:
        clean.save(buffer, format="WEBP", quality=90)
    content_type, ext = IMAGE_TYPES[detected]
    return ValidatedMedia(
        kind="image",
        content_type=content_type,
        extension=ext,
        content=buffer.getvalue(),
        width=clean.width,
        height=clean.height,
    )


def _scaled_size(width: int, height: int) -> tuple[int, int]:
    """The size with the longest side at most MAX_IMAGE_SIDE, proportions kept."""
    factor = min(1.0, MAX_IMAGE_SIDE / max(width, height, 1))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _without_metadata(image: Image.Image) -> Image.Image:
    """A new image holding only the pixels: no info dict, EXIF, ICC profile or text chunks."""
    mode = "RGBA" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info else "RGB"
    pixels = image.convert(mode)
    clean = Image.new(mode, pixels.size)
    clean.paste(pixels)
    return clean


def _validated_video(content: bytes, detected: str) -> ValidatedMedia:
    unreadable = ValidationError(_("The video cannot be read: it is damaged or incomplete."), code="unreadable")
    if detected == "MP4":
        _check_mp4(content)
    else:
        _check_webm(content)
    try:
        metadata = read_video(content, detected)
    except NoPicture as error:
        raise ValidationError(_("The file contains no video track."), code="no_picture") from error
    except VideoUnreadable as error:
        raise unreadable from error
    _check_playable(metadata, detected)
    max_pixels = settings.MIMIK["VARIANT_MAX_PIXELS"]
    if metadata.coded_width * metadata.coded_height > max_pixels:
        raise ValidationError(
            _("The video has %(pixels)s megapixels per frame; the limit is %(limit)s.")
            % {
                "pixels": round(metadata.coded_width * metadata.coded_height / 1e6, 1),
                "limit": round(max_pixels / 1e6, 1),
            },
            code="too_many_pixels",
        )
    if not metadata.duration_ms:
        raise ValidationError(_("The video's length cannot be read: export it again."), code="unreadable")
    try:
        still = poster(content, detected, duration_ms=metadata.duration_ms)
    except VideoUnreadable as error:
        raise unreadable from error
    content_type, ext = VIDEO_TYPES[detected]
    return ValidatedMedia(
        kind="video",
        content_type=content_type,
        extension=ext,
        content=content,
        width=still.width,
        height=still.height,
        duration_ms=metadata.duration_ms,
        poster=still.jpeg,
    )


def _check_playable(metadata: VideoMetadata, detected: str) -> None:
    """Refuse what FFmpeg reads but browsers do not: the tester would see a dead player."""
    if metadata.codec in PLAYABLE_CODECS[detected] and metadata.pixel_format in PLAYABLE_PIXEL_FORMATS:
        return
    codec = CODEC_NAMES.get(metadata.codec, metadata.codec.upper())
    if metadata.codec in PLAYABLE_CODECS[detected]:
        codec = f"{codec}, {metadata.pixel_format or _('unknown colour format')}"
    raise ValidationError(
        _(
            "Browsers cannot play this video (%(codec)s in %(container)s). They play H.264 in MP4 with "
            "8-bit 4:2:0 colour (yuv420p), or VP8, VP9 or AV1 in WebM. Export the video again in one of "
            "these, for example as “H.264 MP4”."
        )
        % {"codec": codec, "container": "WebM" if detected == "WEBM" else "MP4"},
        code="unplayable",
    )


def _check_mp4(content: bytes) -> None:
    """Walk the top-level ISO-BMFF boxes: they must tile the file and include a movie header."""
    offset, boxes = 0, set()
    while offset < len(content):
        if offset + 8 > len(content):
            break
        size = int.from_bytes(content[offset : offset + 4], "big")
        box_type = content[offset + 4 : offset + 8]
        header = 8
        if size == 1:
            if offset + 16 > len(content):
                break
            size, header = int.from_bytes(content[offset + 8 : offset + 16], "big"), 16
        elif size == 0:
            size = len(content) - offset
        if size < header or offset + size > len(content):
            raise ValidationError(_("The video cannot be read: it is damaged or incomplete."), code="unreadable")
        boxes.add(box_type)
        offset += size
    if offset != len(content) or b"moov" not in boxes:
        raise ValidationError(_("The video cannot be read: it is damaged or incomplete."), code="unreadable")


def _check_webm(content: bytes) -> None:
    """The EBML header must name the WebM doctype and be followed by a Segment element."""
    if b"webm" not in content[:64]:
        raise ValidationError(_("This EBML file is not a WebM video."), code="unsupported_type")
    if b"\x18\x53\x80\x67" not in content[:4096]:
        raise ValidationError(_("The video cannot be read: it is damaged or incomplete."), code="unreadable")
