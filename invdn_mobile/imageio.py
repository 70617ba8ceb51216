"""The one place photos are read and written.

``read_image`` validates (an existing regular file, non-empty, a decodable single image, not truncated, not a
decompression bomb, 8 or 16 bits per channel), applies EXIF orientation, and returns float32 RGB in [0, 1] plus what is
needed to write the result back the same way: bit depth (8 or 16), the alpha channel (kept untouched), whether the photo
was grayscale, and its ICC colour profile (written back into the PNG). ``write_image`` is atomic.
"""

from __future__ import annotations

import io
import struct
import threading
import time
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
    return array


@dataclass
class Raster:
    """A decoded photo as the file's own integers, upright: ``pixels`` is ``(H, W, C)`` uint8 or uint16 (C: 1 gray,
    2 gray + alpha, 3 RGB, 4 RGBA), usually a view (EXIF orientation is applied lazily, never copied). The streaming
    path keeps this one integer copy and converts rows to float only band by band (:meth:`rgb`)."""

    pixels: np.ndarray
    bits: int = 8
    icc: bytes | None = None
    decoding: PngRows | None = None  # open_raster(stream=True): rows still being decoded into ``pixels``

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[0], self.pixels.shape[1]

    def ready(self, y1: int | None = None) -> None:
        """Block until rows ``0:y1`` (all: None) are decoded; a photo that turns out corrupt or truncated there is an
        :class:`InvdnError`. Every read of :attr:`pixels` goes through here."""
        if self.decoding is not None:
            self.decoding.wait(self.size[0] if y1 is None else min(y1, self.size[0]))

    @property
    def gray(self) -> bool:
        return self.pixels.shape[2] in (1, 2)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    def rgb(self, y0: int = 0, y1: int | None = None) -> np.ndarray:
        """Rows ``y0:y1`` as float32 RGB in [0, 1] (gray replicated), exactly as :attr:`Photo.rgb` has them."""
        self.ready(y1)
        rows = self.pixels[y0:y1]
        rows = rows[:, :, :-1] if self.has_alpha else rows
        rgb = rows.astype(np.float32) / (65535.0 if self.bits == 16 else 255.0)
        return np.repeat(rgb, 3, axis=2) if self.gray else np.ascontiguousarray(rgb)

    def alpha(self, y0: int = 0, y1: int | None = None) -> np.ndarray | None:
        self.ready(y1)
        return self.pixels[y0:y1, :, -1] if self.has_alpha else None

    def to_photo(self) -> Photo:
        """The whole photo in float (what :func:`read_image` returns)."""
        alpha = self.alpha()
        return Photo(self.rgb(), self.bits, None if alpha is None else alpha.copy(), self.gray, self.icc)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path``; every failure is an :class:`InvdnError` with a one-line reason."""
    return open_raster(path, max_pixels).to_photo()


def open_raster(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, stream: bool = False) -> Raster:
    """Decode ``path`` into one integer copy (:class:`Raster`); every failure is an :class:`InvdnError` with a
    one-line reason. 8- and 16-bit PNGs (and 16-bit TIFFs) are decoded by OpenCV straight into that copy; the rest
    by Pillow, converted to numpy a band at a time.

    ``stream``: a PNG that :class:`PngRows` can stream (most: see there) returns after reading its header, its rows
    decoded band by band when first asked for (:meth:`Raster.ready`), so that work on the first rows starts before
    the last are read; a corrupt or truncated file is then found when its rows are reached, not here."""
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
        with path.open("rb") as f:
            head = f.read(32)
    except OSError as exc:
        raise InvdnError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise InvdnError(f"{path}: empty file")
    bomb_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # the limit is ours (below), not Pillow's default of 89 MP
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a corrupt EXIF block: decoding goes on, no noise on stderr
            with Image.open(path) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise InvdnError(
                        f"{path}: {width}x{height} is over the {max_pixels:,}-pixel limit (decompression bomb?)"
                    )
                fmt = im.format
                frames = getattr(im, "n_frames", 1)
                if frames > 1 and fmt != "MPO":  # MPO: a camera JPEG with extra views; the first is the photo
                    raise InvdnError(f"{path}: holds {frames} frames (animated or multi-page); give single images")
                layout = _png_layout(path) if fmt == "PNG" else None
                orientation = layout.orientation if layout else im.getexif().get(0x0112, 1)
                icc = im.info.get("icc_profile") or None
                if stream and layout and layout.streamable(head):
                    rows = PngRows(path, head, layout.idat)
                    return Raster(rows.pixels, 16 if rows.pixels.dtype == np.uint16 else 8, icc, rows)
                array = _decode_cv2(path, head, fmt)
                if array is None:
                    im.load()  # full decode: catches truncated files
                    array = _from_pil(im, path)
    except InvdnError:
        raise
    except UnidentifiedImageError:
        raise InvdnError(f"{path}: not an image (or an unsupported format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvdnError(f"{path}: corrupt or truncated image ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    if array.ndim == 2:
        array = array[:, :, None]
    if min(array.shape[:2]) < 1:
        raise InvdnError(f"{path}: image has no pixels")
    return Raster(_orient(array, orientation), 16 if array.dtype == np.uint16 else 8, icc)


@dataclass
class _PngLayout:
    orientation: int  # EXIF orientation (eXIf chunk), 1 without one
    before: set  # the kinds of chunk before the pixels
    idat: int | None  # file offset of the first IDAT chunk

    def streamable(self, head: bytes) -> bool:
        """Whether :class:`PngRows` decodes this PNG exactly as OpenCV's whole decode: 8 or 16 bits, gray, gray +
        alpha, RGB or RGBA, not interlaced, upright, and nothing before the pixels that OpenCV reads (no tRNS,
        palette, gamma...)."""
        plain = head[24] in (8, 16) and head[25] in (0, 2, 4, 6) and head[26:29] == b"\0\0\0"
        return plain and self.idat is not None and self.orientation == 1 and self.before <= _STREAM_CHUNKS


_STREAM_CHUNKS = {b"IHDR", b"iCCP", b"sRGB", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"}


def _png_layout(path: Path) -> _PngLayout:
    """The EXIF orientation, the chunks before the pixels and where they start, found by walking the chunk headers:
    Pillow's ``getexif`` decodes the whole image to look past the pixels."""
    from PIL import Image

    orientation, before, idat = 1, set(), None
    with path.open("rb") as f:
        f.seek(8)
        while len(header := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", header)
            if kind == b"IDAT" and idat is None:
                idat = f.tell() - 8
            if idat is None:
                before.add(kind)
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(f.read(length))
                orientation = exif.get(0x0112, 1)
                f.seek(4, 1)
                continue
            if kind == b"IEND":
                break
            f.seek(length + 4, 1)
    return _PngLayout(orientation, before, idat)


class PngRows:
    """A PNG's pixels decoded band by band into :attr:`pixels` (the one integer copy, in the channel order
    :func:`_decode_cv2` gives) as rows are asked for (:meth:`wait`), by whichever thread first needs them: work on
    the first rows starts before the last are read, and no thread is added for it.

    The file's IDAT data is inflated a band of rows at a time; each band's scanlines, still filtered, go to OpenCV
    (libpng, the decoder of the whole-file path) as a small PNG of their own, stored uncompressed, after the band's
    previous row unfiltered (filter type 0), which every PNG filter refers to: the same pixels as decoding the whole
    file. The last rows count as decoded only once the zlib and chunk checksums are read to their end. A corrupt or
    truncated file is an :class:`InvdnError` for every wait that reaches it. :attr:`seconds`: the time spent
    decoding, on whatever thread (``--profile``'s decode)."""

    BAND_BYTES = 1 << 18  # raw scanline bytes per band: about 20 rows of a 12 MP photo

    def __init__(self, path: Path, head: bytes, idat: int):
        width, height, bits, colour = struct.unpack(">IIBB", head[16:26])
        channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        self.path, self.colour, self.bits = path, colour, bits
        self.pixels = np.empty((height, width, channels), np.uint16 if bits == 16 else np.uint8)
        self.row_bytes = 1 + width * channels * bits // 8  # the filter type byte, then the samples
        self.done, self.error, self.seconds = 0, None, 0.0
        self._lock = threading.Lock()
        self._bands = self._decode(idat)

    def wait(self, rows: int) -> None:
        """Decode (or wait for another thread to decode) bands until rows ``0:rows`` are in."""
        while self.done < rows:
            with self._lock:  # one band at a time: threads needing fewer rows get theirs between bands
                if self.error is None and self.done < rows:
                    t0 = time.perf_counter()
                    try:
                        self.done = next(self._bands, self.done)
                        if self.done == self.pixels.shape[0]:
                            self._bands.close()  # and with it the file
                    except InvdnError as exc:
                        self.error = str(exc)
                    except Exception as exc:  # zlib, OpenCV, the file: one line, never a traceback
                        self.error = f"{self.path}: corrupt or truncated image ({exc})"
                    self.seconds += time.perf_counter() - t0
                if self.error is not None:
                    raise InvdnError(self.error)

    def _decode(self, idat: int):
        """Decode band after band, yielding the number of rows done."""
        import cv2

        height, width = self.pixels.shape[:2]
        band = max(1, self.BAND_BYTES // self.row_bytes)
        with self.path.open("rb") as f:
            inflate, raw, pending = zlib.decompressobj(), bytearray(), b""
            pieces = _idat_pieces(f, idat)
            for y0 in range(0, height, band):
                y1 = min(height, y0 + band)
                need = (y1 - y0) * self.row_bytes
                while len(raw) < need and not inflate.eof:
                    pending = pending or next(pieces, b"")
                    if not pending:
                        break
                    raw += inflate.decompress(pending, need - len(raw))
                    pending = inflate.unconsumed_tail
                if len(raw) < need:
                    stop = f"the pixels stop at row {y0} of {height}"
                    raise InvdnError(f"{self.path}: corrupt or truncated image ({stop})")
                scanlines = bytes(raw[:need])
                del raw[:need]
                if y0 > 0:  # the row above, unfiltered, in the file's byte order
                    above = self.pixels[y0 - 1].astype(">u2" if self.bits == 16 else np.uint8).tobytes()
                    scanlines = b"\0" + above + scanlines
                rows = y1 - y0 + (y0 > 0)
                ihdr = struct.pack(">IIBBBBB", width, rows, self.bits, self.colour, 0, 0, 0)
                png = PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(scanlines, 0))
                array = cv2.imdecode(np.frombuffer(png + _png_chunk(b"IEND", b""), np.uint8), cv2.IMREAD_UNCHANGED)
                if array is None:
                    raise InvdnError(f"{self.path}: corrupt image (bad pixel data in rows {y0} to {y1})")
                array = _cv2_order(array, self.colour == 4)
                self.pixels[y0:y1] = (array[:, :, None] if array.ndim == 2 else array)[-(y1 - y0) :]
                if y1 == height:  # the photo is not complete before the data is checked to its end
                    _check_to_end(inflate, pending, pieces)
                yield y1


def _idat_pieces(f, offset: int, piece: int = 1 << 18):
    """The compressed pixel data of the IDAT chunks from ``offset`` on, in pieces of at most ``piece`` bytes; a
    chunk whose CRC is wrong is a ``ValueError`` after its last piece."""
    f.seek(offset)
    while len(header := f.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        if kind != b"IDAT":
            return
        crc = zlib.crc32(kind)
        while length > 0:
            data = f.read(min(piece, length))
            if not data:
                return
            length -= len(data)
            crc = zlib.crc32(data, crc)
            yield data
        stored = f.read(4)
        if len(stored) == 4 and struct.unpack(">I", stored)[0] != crc:
            raise ValueError("an IDAT chunk's CRC is wrong")


def _check_to_end(inflate, pending: bytes, pieces) -> None:
    """Read the zlib stream to its end (its Adler-32 checksum) and the IDAT chunks to theirs (their CRCs), as
    libpng does: every row may be decoded before the data is found corrupt."""
    while not inflate.eof:
        pending = pending or next(pieces, b"")
        if not pending:
            raise ValueError("the pixel data ends before its checksum")
        inflate.decompress(pending, 1 << 16)  # anything past the last row is not pixels
        pending = inflate.unconsumed_tail
    for _ in pieces:
        pass


def _decode_cv2(path: Path, head: bytes, fmt: str) -> np.ndarray | None:
    """8/16-bit gray, gray + alpha, RGB and RGBA PNGs and 16-bit TIFFs through OpenCV (one decode straight into
    numpy; Pillow reduces 16-bit RGB to 8 bits), in RGB(A) order; None for the rest, or when OpenCV cannot decode
    the file (Pillow then says why)."""
    import cv2

    png = fmt == "PNG" and len(head) > 25 and head[:8] == b"\x89PNG\r\n\x1a\n"
    png = png and head[24] in (8, 16) and head[25] in (0, 2, 4, 6)
    if not (png or fmt == "TIFF"):
        return None
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype not in (np.uint8, np.uint16) or (not png and array.dtype != np.uint16):
        return None
    return _cv2_order(array, png and head[25] == 4)


def _cv2_order(array: np.ndarray, gray_alpha: bool) -> np.ndarray:
    """OpenCV's BGR(A) pixels in RGB(A) order (views); ``gray_alpha``: a gray + alpha PNG (IHDR colour type 4),
    which OpenCV expands to BGRA."""
    if gray_alpha and array.ndim == 3 and array.shape[2] == 4:
        return array[:, :, [0, 3]]
    if array.ndim == 3 and array.shape[2] == 3:
        return array[:, :, ::-1]
    if array.ndim == 3 and array.shape[2] == 4:
        return array[:, :, [2, 1, 0, 3]]
    return array


def _from_pil(im, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "F":
        raise InvdnError(f"{path}: floating-point pixels are not supported; give an 8- or 16-bit image")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("1",):
        im = im.convert("L")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        im = im.convert("RGB")
    width, height = im.size
    first = _pil_rows(im, 0, 1, path)
    out = np.empty((height, width) + first.shape[2:], first.dtype)
    step = max(1, (1 << 22) // max(width, 1))  # about 4 M pixels a band: one copy of the photo, not two
    for y in range(0, height, step):
        out[y : y + step] = _pil_rows(im, y, min(height, y + step), path)
    return out


def _pil_rows(im, y0: int, y1: int, path: Path) -> np.ndarray:
    rows = np.asarray(im.crop((0, y0, im.size[0], y1)))
    if im.mode == "I":  # 32-bit integers: Pillow's mode for some 16-bit files; beyond 16 bits there is no safe scale
        if rows.size and (rows.min() < 0 or rows.max() > 65535):
            raise InvdnError(f"{path}: 32-bit pixel values are not supported; give an 8- or 16-bit image")
        return rows.astype(np.uint16)
    return rows.astype(np.uint16) if im.mode.startswith("I;16") else rows


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_LEVEL = 1  # zlib level 1, run-length matches only (OpenCV's default too): noisy photos gain little from more


def quantize(rgb: np.ndarray, bits: int, gray: bool, alpha: np.ndarray | None = None) -> np.ndarray:
    """Integer pixels ``(H, W, C)`` to write for float RGB rows in [0, 1] (clipped; gray: the channels' mean), with
    ``alpha`` (the file's own integers, untouched) as the last channel."""
    scale, dtype = (65535.0, np.uint16) if bits == 16 else (255.0, np.uint8)
    rgb = np.clip(rgb, 0.0, 1.0)
    if gray:
        rgb = rgb.mean(axis=2, keepdims=True)
    rgb *= np.float32(scale)
    pixels = np.rint(rgb, out=rgb).astype(dtype)
    if alpha is not None:
        pixels = np.concatenate([pixels, alpha.astype(dtype)[:, :, None]], axis=2)
    return pixels


class PngWriter:
    """The one PNG writer: a photo's rows written band by band to ``file`` (8 or 16 bits; 1 to 4 channels: gray,
    gray + alpha, RGB, RGBA), with its ICC profile. Each row is stored with PNG filter 2 ("up": the difference to the
    row above), which numpy computes for a whole band at once, and compressed as it comes."""

    def __init__(self, file, height: int, width: int, bits: int, channels: int, icc: bytes | None = None):
        self.file, self.height, self.width, self.bits, self.channels = file, height, width, bits, channels
        colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
        file.write(PNG_SIGNATURE + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)))
        if icc:  # profile name, NUL, compression method 0, the zlib-compressed profile
            file.write(_png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(icc)))
        self._zlib = zlib.compressobj(PNG_LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        self._above = np.zeros((1, width * channels * bits // 8), np.uint8)
        self.rows = 0

    def write(self, pixels: np.ndarray) -> None:
        """Append rows: integer pixels ``(n, width, channels)`` of this PNG's depth."""
        n = pixels.shape[0]
        if pixels.shape[1:] != (self.width, self.channels) or self.rows + n > self.height:
            raise InvdnError(f"PNG writer: {pixels.shape} rows do not fit a {self.height}x{self.width} image")
        order = ">u2" if self.bits == 16 else "u1"  # PNG is big-endian
        rows = np.ascontiguousarray(pixels, dtype=order).reshape(n, -1).view(np.uint8)
        raw = np.empty((n, rows.shape[1] + 1), np.uint8)
        raw[:, 0] = 2
        np.subtract(rows, np.concatenate([self._above, rows[:-1]]), out=raw[:, 1:])  # wraps modulo 256
        self._above = rows[-1:].copy()
        self.rows += n
        self._idat(self._zlib.compress(raw))

    def close(self) -> None:
        if self.rows != self.height:
            raise InvdnError(f"PNG writer: {self.rows} of {self.height} rows written")
        self._idat(self._zlib.flush())
        self.file.write(_png_chunk(b"IEND", b""))

    def _idat(self, data: bytes) -> None:
        if data:
            self.file.write(_png_chunk(b"IDAT", data))


def encode_png(photo: Photo) -> bytes:
    """PNG bytes for ``photo`` at its own bit depth, with its alpha and ICC profile, gray if it was gray."""
    pixels = quantize(photo.rgb, photo.bits, photo.gray, photo.alpha)
    out = io.BytesIO()
    writer = PngWriter(out, pixels.shape[0], pixels.shape[1], photo.bits, pixels.shape[2], photo.icc)
    writer.write(pixels)
    writer.close()
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


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
