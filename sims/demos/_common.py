"""Shared bits of the teaching demos: argument parsing and figure saving."""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"


def parse(doc: str, argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--fast", action="store_true",
                    help="small sizes (seconds; what the test suite runs)")
    ap.add_argument("--out", type=Path, default=FIGURES,
                    help=f"folder for the figure (default {FIGURES})")
    return ap.parse_args(argv)


def save(fig, out: Path, name: str) -> Path:
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path
