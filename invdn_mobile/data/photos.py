"""Build the training and held-out photo folders from Debian's wallpaper packages and scikit-image's samples.

Only photographs are used (the packages also hold renders and gradients); each file's licence is from its package's
``/usr/share/doc/*/copyright``. ``apt-get download`` + ``dpkg -x`` into a cache folder; nothing is installed on the
system. Photos are downscaled (long side <= ``max_side``) and written as PNG.

    invdn photos --out data/photos
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from invdn_mobile.imageio import Photo, read_image, write_image

# (package, path inside the package, licence); chosen by looking at every image in both packages.
LOMIRI = "lomiri-wallpapers-16.04"
PLASMA = "plasma-workspace-wallpapers"
_BG = "usr/share/backgrounds"
_KDE = "usr/share/wallpapers"

TRAIN = [
    (LOMIRI, f"{_BG}/Bridge_by_Sander_Klootwijk.jpg", "CC-BY-SA-4.0, Sander Klootwijk"),
    (LOMIRI, f"{_BG}/Dragonfly_by_Bolly.jpg", "CC-BY-SA-4.0, Bolly"),
    (LOMIRI, f"{_BG}/Picture_0B_by_freespace.jpg", "CC-BY-4.0, Trevor Freespace"),
    (LOMIRI, f"{_BG}/Picture_1A_by_freespace.jpg", "CC-BY-4.0, Trevor Freespace"),
    (LOMIRI, f"{_BG}/Wine_by_Jakkub_Mede.jpg", "CC-BY-4.0, Jakub Mede"),
    (LOMIRI, f"{_BG}/aitzgorri_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, Aitzol Berasategi"),
    (LOMIRI, f"{_BG}/free_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0, Peter Nerlich"),
    (LOMIRI, f"{_BG}/friends_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, Aitzol Berasategi"),
    (LOMIRI, f"{_BG}/greentock_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0, Peter Nerlich"),
    (LOMIRI, f"{_BG}/life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, Aitzol Berasategi"),
    (LOMIRI, f"{_BG}/picosdeeuropa_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, Aitzol Berasategi"),
    (LOMIRI, f"{_BG}/seeding_by_Clements_Engelhardt.jpg", "CC0-1.0, Clemens Engelhardt"),
    (PLASMA, f"{_KDE}/BytheWater/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/ColdRipple/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/DarkestHour/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/EveningGlow/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/Grey/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/OneStandsOut/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/Path/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
]
# Never trained on: the evaluation set.
HELD_OUT = [
    (LOMIRI, f"{_BG}/sunset_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, Aitzol Berasategi"),
    (PLASMA, f"{_KDE}/ColorfulCups/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
    (PLASMA, f"{_KDE}/FallenLeaf/contents/images/2560x1600.jpg", "GPL-2+, KDE Visual Design Group"),
]
# scikit-image's bundled colour photographs (its data/README.txt gives their public-domain / CC0 sources).
SKIMAGE_HELD_OUT = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def fetch_packages(cache: Path) -> Path:
    """``apt-get download`` both packages into ``cache`` and unpack them there; returns the unpacked root."""
    root = cache / "root"
    if (root / _BG).is_dir() and (root / _KDE).is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    for package in (LOMIRI, PLASMA):
        if not list(cache.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
    for deb in sorted(cache.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def downscale(photo: Photo, max_side: int) -> Photo:
    import cv2

    h, w = photo.size
    factor = max_side / max(h, w)
    if factor < 1.0:
        size = (round(w * factor), round(h * factor))
        photo = Photo(cv2.resize(photo.rgb, size, interpolation=cv2.INTER_AREA), 8)
    return Photo(np.clip(photo.rgb, 0, 1), 8)


def build(out: Path, cache: Path, max_side: int = 1600, test_side: int = 512) -> list[str]:
    """Write ``out/train`` and ``out/test``; returns the manifest lines (also written to ``out/SOURCES.txt``)."""
    import skimage

    root = fetch_packages(cache)
    lines = []
    for split, entries, side in (("train", TRAIN, max_side), ("test", HELD_OUT, test_side)):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for package, rel, licence in entries:
            name = Path(rel).stem if package == LOMIRI else rel.split("/")[3]
            write_image(folder / f"{name}.png", downscale(read_image(root / rel), side))
            lines.append(f"{split}/{name}.png\t{package}:/{rel}\t{licence}")
    sk = Path(skimage.__file__).parent / "data"
    for fname in SKIMAGE_HELD_OUT:
        if (sk / fname).is_file():
            write_image(out / "test" / f"skimage-{Path(fname).stem}.png", downscale(read_image(sk / fname), test_side))
            lines.append(f"test/skimage-{Path(fname).stem}.png\tscikit-image:data/{fname}\tsee skimage/data/README.txt")
    (out / "SOURCES.txt").write_text("\n".join(lines) + "\n")
    return lines
