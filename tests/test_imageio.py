import io

import cv2
import numpy as np
import pytest
from PIL import Image

from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import Photo, read_image, write_image


def _png16(path, array):
    """Write an RGB(A) uint16 array (RGB order) as a 16-bit PNG."""
    bgr = array[:, :, [2, 1, 0, 3]] if array.shape[2] == 4 else array[:, :, ::-1]
    assert cv2.imwrite(str(path), bgr)


def test_16bit_rgb_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 65536, (23, 31, 3), dtype=np.uint16)
    _png16(tmp_path / "a.png", src)
    photo = read_image(tmp_path / "a.png")
    assert photo.bits == 16 and photo.alpha is None and not photo.gray
    np.testing.assert_allclose(photo.rgb * 65535, src, atol=0.01)
    write_image(tmp_path / "b.png", photo)
    back = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[:, :, ::-1], src)


def test_16bit_alpha_kept_untouched(tmp_path):
    rng = np.random.default_rng(1)
    src = rng.integers(0, 65536, (17, 9, 4), dtype=np.uint16)
    _png16(tmp_path / "a.png", src)
    photo = read_image(tmp_path / "a.png")
    assert photo.bits == 16
    np.testing.assert_array_equal(photo.alpha, src[:, :, 3])
    photo.rgb = 1.0 - photo.rgb  # change the colour, never the alpha
    write_image(tmp_path / "b.png", photo)
    back = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(back[:, :, 3], src[:, :, 3])


def test_8bit_rgba_and_gray(tmp_path):
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    photo = read_image(tmp_path / "rgba.png")
    assert photo.bits == 8 and photo.alpha is not None
    write_image(tmp_path / "rgba-out.png", photo)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rgba-out.png")), rgba)

    gray = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "gray.jpg", quality=100)
    photo = read_image(tmp_path / "gray.jpg")
    assert photo.gray and photo.rgb.shape == (12, 10, 3)
    write_image(tmp_path / "gray-out.png", photo)
    out = Image.open(tmp_path / "gray-out.png")
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.open(tmp_path / "gray.jpg")))


def test_16bit_gray(tmp_path):
    src = (np.arange(20 * 30, dtype=np.uint16) * 100).reshape(20, 30)
    assert cv2.imwrite(str(tmp_path / "g16.png"), src)
    photo = read_image(tmp_path / "g16.png")
    assert photo.gray and photo.bits == 16
    write_image(tmp_path / "out.png", photo)
    back = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.ndim == 2
    np.testing.assert_array_equal(back, src)


@pytest.mark.parametrize("orientation,expected", [(1, (20, 30)), (3, (20, 30)), (6, (30, 20)), (8, (30, 20))])
def test_exif_orientation_applied(tmp_path, orientation, expected):
    array = np.zeros((20, 30, 3), np.uint8)
    array[:5, :5] = 255  # a white top-left corner marks where "up" is
    im = Image.fromarray(array)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.jpg", exif=exif, quality=95)
    photo = read_image(tmp_path / "o.jpg")
    assert photo.size == expected
    corner = {1: (0, 0), 3: (-1, -1), 6: (0, -1), 8: (-1, 0)}[orientation]
    assert photo.rgb[corner[0] * 2, corner[1] * 2].mean() > 0.8  # the marked corner moved where EXIF says


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright_as_pillow_does(tmp_path, orientation):
    """All eight orientations, mirrored ones (5 transpose, 7 transverse) included, against Pillow's exif_transpose."""
    from PIL import ImageOps

    array = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 4).astype(np.uint8)  # every pixel distinct
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = np.round(read_image(tmp_path / "o.png").rgb * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)


def test_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "text.png").write_text("this is not an image\n")
    (tmp_path / "empty.jpg").write_bytes(b"")
    good = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(good, format="PNG")
    (tmp_path / "trunc.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    jpg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpg, format="JPEG")
    (tmp_path / "trunc.jpg").write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    cases = {
        "text.png": "not an image",
        "empty.jpg": "empty file",
        "trunc.png": "truncated",
        "trunc.jpg": "truncated",
        "missing.png": "no such file",
    }
    for name, reason in cases.items():
        with pytest.raises(InvdnError, match=reason) as info:
            read_image(tmp_path / name)
        assert "\n" not in str(info.value)


def test_decompression_bomb_refused(tmp_path):
    # A 20000 x 20000 PNG header with a tiny body: refused from the header, before decoding.
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 1_000_000
    with pytest.raises(InvdnError, match="bomb"):
        read_image(tmp_path / "bomb.png")
    with pytest.raises(InvdnError, match="pixel limit"):
        read_image(tmp_path / "bomb.png", max_pixels=1000)


def test_photo_write_is_atomic_on_failure(tmp_path, monkeypatch):
    import invdn_mobile.imageio as imageio

    def broken(photo):
        raise InvdnError("PNG encoding failed")

    monkeypatch.setattr(imageio, "encode_png", broken)
    with pytest.raises(InvdnError):
        imageio.write_image(tmp_path / "x.png", Photo(np.zeros((4, 4, 3), np.float32)))
    assert list(tmp_path.iterdir()) == []


def test_icc_profile_kept(tmp_path):
    from PIL import ImageCms

    from invdn_mobile.imageio import write_image

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.jpg", icc_profile=icc, quality=95)
    photo = read_image(tmp_path / "in.jpg")
    assert photo.icc == icc
    write_image(tmp_path / "out.png", photo.with_rgb(photo.rgb * 0.5))
    with Image.open(tmp_path / "out.png") as out:
        out.load()
        assert out.info["icc_profile"] == icc and out.size == (40, 24)
        np.testing.assert_allclose(np.asarray(out, np.float64), np.round(photo.rgb * 0.5 * 255), atol=0.51)


def test_unsupported_kinds_are_one_line_errors(tmp_path):
    import os

    Image.fromarray(np.full((8, 8), 0.5, np.float32), "F").save(tmp_path / "float.tif")
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    cases = {
        "float.tif": "floating-point pixels",
        "anim.gif": "holds 3 frames",
        "pipe.png": "not a regular file",  # reading it would block forever
        "loop.png": "looping symbolic link",
    }
    for name, reason in cases.items():
        with pytest.raises(InvdnError, match=reason) as info:
            read_image(tmp_path / name)
        assert "\n" not in str(info.value)


def test_only_our_pixel_limit_counts(tmp_path, monkeypatch):
    # Pillow's own bomb limit (89 MP by default) must not refuse photos under ours.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png").size == (64, 64)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored


@pytest.mark.parametrize("bits", [8, 16])
def test_gray_alpha_written_as_gray_alpha_png(tmp_path, bits):
    rng = np.random.default_rng(bits)
    dtype, top = (np.uint8, 255) if bits == 8 else (np.uint16, 65535)
    gray = rng.integers(0, top + 1, (13, 7), dtype=dtype)
    alpha = rng.integers(0, top + 1, (13, 7), dtype=dtype)
    rgb = np.repeat((gray.astype(np.float32) / top)[:, :, None], 3, axis=2)
    write_image(tmp_path / "la.png", Photo(rgb, bits, alpha, True))
    data = (tmp_path / "la.png").read_bytes()
    assert data[24:26] == bytes([bits, 4])  # IHDR: bit depth, colour type 4 (gray + alpha)
    back = cv2.imread(str(tmp_path / "la.png"), cv2.IMREAD_UNCHANGED)  # libpng decodes it independently
    assert back.dtype == dtype
    np.testing.assert_array_equal(back[:, :, 0], gray)
    np.testing.assert_array_equal(back[:, :, -1], alpha)
    photo = read_image(tmp_path / "la.png")
    assert photo.gray and photo.bits == bits
    np.testing.assert_array_equal(photo.alpha, alpha)
    np.testing.assert_allclose(photo.rgb[:, :, 1] * top, gray, atol=0.01)
