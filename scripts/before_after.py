"""The README's picture: a crop of a noisy sample photo, the same crop denoised by `invdn denoise` with the bundled
weights, and the clean photo; PSNR over the whole photo in each label.

    invdn denoise samples/noisy/cups.png -o /tmp/pic && python scripts/before_after.py /tmp/pic/cups.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from invdn_mobile.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent


def main(denoised: Path, name: str = "cups.png", out: Path = ROOT / "docs" / "img" / "before_after.png") -> None:
    photos = [
        Image.open(p).convert("RGB") for p in (ROOT / "samples/noisy" / name, denoised, ROOT / "samples/clean" / name)
    ]
    clean = np.asarray(photos[2], dtype=np.float32) / 255
    scores = [psnr(clean, np.asarray(p, dtype=np.float32) / 255) for p in photos[:2]]
    labels = [f"noisy (camera ISO 3200): {scores[0]:.1f} dB", f"invdn denoise: {scores[1]:.1f} dB", "clean"]
    w, h = photos[0].size
    box = (w // 2 - 120, h // 2 - 90, w // 2 + 120, h // 2 + 90)
    pad, top, size = 8, 26, (360, 270)
    sheet = Image.new("RGB", (3 * size[0] + 4 * pad, size[1] + top + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (photo, label) in enumerate(zip(photos, labels)):
        x = pad + i * (size[0] + pad)
        sheet.paste(photo.crop(box).resize(size, Image.NEAREST), (x, top))
        draw.text((x, 7), label, fill="black")
    sheet.save(out, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
