"""The one place photos are read and written.

``read_image`` validates (an existing regular file, non-empty, a decodable single image, not truncated, not a
decompression bomb, 8 or 16 bits per channel), applies EXIF orientation, and returns float32 RGB in [0, 1] plus what is
needed to write the result back the same way: bit depth (8 or 16), the alpha channel (kept untouched), whether the photo
was grayscale, and its ICC colour profile (written back into the PNG). ``write_image`` is atomic.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from invdn_mobile.atomic import atomic_write_bytes
from invdn_mobile.errors import InvdnError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
DEFAULT_MAX_PIXELS = 200_000_000  # about 14k x 14k; larger files are refused as decompression bombs

# EXIF orientation -> (rot90 count counter-clockwise, flip left-right afterwards) to make the pixels upright
# (5: transpose, 7: transverse, as the EXIF spec and Pillow's exif_transpose have them).
_ORIENT = {2: (0, True), 3: (2, False), 4: (2, True), 5: (3, True), 6: (3, False), 7: (1, True), 8: (1, False)}


@dataclass
class Photo:
    """A decoded photo. ``rgb`` is float32 ``(H, W, 3)`` in [0, 1] (gray replicated to 3 channels)."""

    rgb: np.ndarray
    bits: int = 8
    alpha: np.ndarray | None = None  # (H, W) in the file's own integer dtype, untouched
    gray: bool = False
    icc: bytes | None = None  # the file's ICC colour profile, written back unchanged

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    def with_rgb(self, rgb: np.ndarray) -> Photo:
        """The same photo (depth, alpha, gray, profile) with new pixels."""
        return replace(self, rgb=rgb)


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    rot, flip = _ORIENT.get(orientation, (0, False))
    if rot:
        array = np.rot90(array, rot)
    if flip:
        array = array[:, ::-1]
    return np.ascontiguousarray(array)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path``; every failure is an :class:`InvdnError` with a one-line reason."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        broken = path.is_symlink()
        raise InvdnError(f"{path}: {'broken or looping symbolic link' if broken else 'no such file'}")
    if path.is_dir():
        raise InvdnError(f"{path}: is a directory")
    if not path.is_file():
        raise InvdnError(f"{path}: not a regular file (a device, pipe or socket)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvdnError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise InvdnError(f"{path}: empty file")
    bomb_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # the limit is ours (below), not Pillow's default of 89 MP
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a corrupt EXIF block: decoding goes on, no noise on stderr
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise InvdnError(
                        f"{path}: {width}x{height} is over the {max_pixels:,}-pixel limit (decompression bomb?)"
                    )
                fmt = im.format
                frames = getattr(im, "n_frames", 1)
                if frames > 1 and fmt != "MPO":  # MPO: a camera JPEG with extra views; the first is the photo
                    raise InvdnError(f"{path}: holds {frames} frames (animated or multi-page); give single images")
                orientation = im.getexif().get(0x0112, 1)
                icc = im.info.get("icc_profile") or None
                im.load()  # full decode: catches truncated files
                pil = im.copy()
    except InvdnError:
        raise
    except UnidentifiedImageError:
        raise InvdnError(f"{path}: not an image (or an unsupported format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvdnError(f"{path}: corrupt or truncated image ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    array = _decode_deep(data) if fmt in ("PNG", "TIFF") else None
    if array is None:
        array = _from_pil(pil, path)
    return replace(_to_photo(_orient(array, orientation), path), icc=icc)


def _decode_deep(data: bytes) -> np.ndarray | None:
    """16-bit PNG/TIFF through OpenCV (Pillow reduces 16-bit RGB to 8 bits); None for 8-bit files."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[25] == 4 and array.ndim == 3 and array.shape[2] == 4:
        return array[:, :, [0, 3]]  # a gray + alpha PNG (IHDR colour type 4), which OpenCV expands to BGRA
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[:, :, ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, [2, 1, 0, 3]]
    return array


def _from_pil(im, path: Path) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)
    if mode == "F":
        raise InvdnError(f"{path}: floating-point pixels are not supported; give an 8- or 16-bit image")
    if mode == "I":  # 32-bit integers: Pillow's mode for some 16-bit files; beyond 16 bits there is no safe scale
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InvdnError(f"{path}: 32-bit pixel values are not supported; give an 8- or 16-bit image")
        return values.astype(np.uint16)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("1",):
        im = im.convert("L")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")
    return np.asarray(im)


def _to_photo(array: np.ndarray, path: Path) -> Photo:
    bits = 16 if array.dtype == np.uint16 else 8
    scale = 65535.0 if bits == 16 else 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = array[:, :, -1].copy()
        array = array[:, :, :-1]
    gray = array.shape[2] == 1
    rgb = array.astype(np.float32) / scale
    if gray:
        rgb = np.repeat(rgb, 3, axis=2)
    if min(rgb.shape[:2]) < 1:
        raise InvdnError(f"{path}: image has no pixels")
    return Photo(np.ascontiguousarray(rgb), bits, alpha, gray)


def encode_png(photo: Photo) -> bytes:
    """PNG bytes for ``photo`` at its own bit depth, with its alpha and ICC profile, gray if it was gray."""
    data = _encode_pixels(photo)
    return _with_icc(data, photo.icc) if photo.icc else data


def _with_icc(png: bytes, icc: bytes) -> bytes:
    """``png`` with an iCCP chunk (the profile, zlib-compressed) right after IHDR, where PNG wants it."""
    chunk = _png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(icc))  # profile name, NUL, compression method 0
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_gray_alpha(pixels: np.ndarray) -> bytes:
    """A gray + alpha PNG (colour type 4) at 8 or 16 bits: neither OpenCV nor Pillow writes 16-bit gray + alpha."""
    height, width, _ = pixels.shape
    bits = pixels.dtype.itemsize * 8
    rows = pixels.astype(pixels.dtype.newbyteorder(">")).reshape(height, -1).view(np.uint8)  # PNG is big-endian
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 (none) on every row
    ihdr = struct.pack(">IIBBBBB", width, height, bits, 4, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        [_png_chunk(b"IHDR", ihdr), _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)), _png_chunk(b"IEND", b"")]
    )


def _encode_pixels(photo: Photo) -> bytes:
    import cv2

    scale = 65535.0 if photo.bits == 16 else 255.0
    dtype = np.uint16 if photo.bits == 16 else np.uint8
    rgb = np.clip(photo.rgb, 0.0, 1.0)
    if photo.gray:
        pixels = np.round(rgb.mean(axis=2, keepdims=True) * scale).astype(dtype)
    else:
        pixels = np.round(rgb * scale).astype(dtype)[:, :, ::-1]  # OpenCV wants BGR
    if photo.alpha is not None:
        pixels = np.concatenate([pixels, photo.alpha.astype(dtype)[:, :, None]], axis=2)
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    elif pixels.shape[2] == 2:  # gray + alpha: OpenCV has no LA PNG
        return _encode_gray_alpha(pixels)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise InvdnError("PNG encoding failed")
    return encoded.tobytes()


def write_image(path: str | Path, photo: Photo) -> None:
    """Write ``photo`` as PNG atomically (a crash never leaves a partial file at ``path``)."""
    data = encode_png(photo)
    try:
        atomic_write_bytes(Path(path), data)
    except OSError as exc:
        raise InvdnError(f"{path}: cannot write ({exc.strerror or exc})") from None


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted."""
    if not Path(folder).is_dir():
        raise InvdnError(f"{folder}: not a folder")
    # Links count too, broken ones included: reading them says what is wrong instead of skipping them silently.
    return sorted(
        p for p in Path(folder).iterdir() if (p.is_file() or p.is_symlink()) and p.suffix.lower() in IMAGE_SUFFIXES
    )
