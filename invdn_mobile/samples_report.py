"""Score denoised sample photos against their clean originals.

    python -m invdn_mobile.samples_report CLEAN_DIR DENOISED_DIR NOISY_DIR


Prints a Markdown table of PSNR/SSIM of the noisy input and of the denoised output for every photo found in all three
folders (matched by file name)."""

from __future__ import annotations

import sys
from pathlib import Path

from invdn_mobile.imageio import list_images, read_image
from invdn_mobile.metrics import psnr, ssim


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: python -m invdn_mobile.samples_report CLEAN_DIR DENOISED_DIR NOISY_DIR", file=sys.stderr)
        return 2
    clean_dir, out_dir, noisy_dir = (Path(a) for a in argv)
    print("| photo | noisy PSNR / SSIM | denoised PSNR / SSIM | gain (dB) |\n|---|---|---|---|")
    for clean_path in list_images(clean_dir):
        out_path, noisy_path = out_dir / f"{clean_path.stem}.png", noisy_dir / clean_path.name
        if not (out_path.is_file() and noisy_path.is_file()):
            continue
        clean, out, noisy = (read_image(p).rgb for p in (clean_path, out_path, noisy_path))
        p_n, p_o = psnr(clean, noisy), psnr(clean, out)
        print(
            f"| {clean_path.name} | {p_n:.2f} / {ssim(clean, noisy):.4f} | {p_o:.2f} / {ssim(clean, out):.4f} "
            f"| {p_o - p_n:+.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
