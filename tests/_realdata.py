"""The real mouse two-photon movie used by the ``realdata`` tests.

It ships inside the ``optinist==2.4.1`` wheel on PyPI
(``sample_data/tutorial/input/sample_mouse2p_image.tiff``: 2000 x 128 x 128 uint16 frames,
somata; the frame rate is not recorded, 30 Hz is the documented assumption). The wheel is
GPL-3.0, so the movie is never committed: it is downloaded on first use with
``pip download --no-deps`` into a cache folder (``$THALAMOCORTEX_REALDATA_CACHE``, default
``~/.cache/thalamocortex/realdata``) and checked against its SHA-256.

``python tests/_realdata.py`` (``make realdata``) fetches it ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "optinist==2.4.1"
MEMBER = "sample_data/tutorial/input/sample_mouse2p_image.tiff"
SHA256 = "4859210d5f7f323d4af3470432097dec7b91776a83adae47833525a20f5568b5"
#: the movie's frame rate is not recorded in the file; 30 Hz is the documented assumption
FRAME_RATE_HZ = 30.0


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "thalamocortex" / "realdata"
    return Path(os.environ.get("THALAMOCORTEX_REALDATA_CACHE", default))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def real_movie_path() -> Path:
    """Path of the real movie, downloading and extracting it into the cache when missing."""
    cache = cache_dir()
    target = cache / Path(MEMBER).name
    if target.is_file() and _sha256(target) == SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("optinist-2.4.1-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", cache],
            check=True,
        )
        wheels = sorted(cache.glob("optinist-2.4.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z, z.open(MEMBER) as src:
        tmp = target.with_suffix(".part")
        with open(tmp, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    if _sha256(tmp) != SHA256:
        tmp.unlink()
        raise RuntimeError(f"{MEMBER} from {wheels[0]}: SHA-256 mismatch")
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    print(real_movie_path())
