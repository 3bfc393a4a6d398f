"""Size limits checked before a call allocates.

Every call that allocates memory in proportion to its arguments (sampling ``n`` sequences,
the conditional standard deviations of a long hierarchical process, a vocabulary-squared
kernel) first estimates the bytes it needs and calls :func:`check_memory`, which refuses
with a ``ValueError`` naming the parameter, the limit and the memory the call would need,
instead of allocating for a long time and then dying with ``MemoryError`` (or inside a
compiled kernel).

The limit is ``L2M_SIM_MEMORY_LIMIT`` (bytes; suffixes K, M, G, T accepted, e.g. ``64G``)
when set, otherwise half of the machine's physical memory. It is read on every check, so a
test or a user can change it at run time.
"""

from __future__ import annotations

import os

__all__ = ["memory_limit", "check_memory", "format_bytes"]

_SUFFIX = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def memory_limit() -> int:
    """The most bytes one call may allocate (see the module docstring)."""
    text = os.environ.get("L2M_SIM_MEMORY_LIMIT", "").strip().upper()
    if text:
        unit = text[-1] if text[-1] in _SUFFIX and not text[-1].isdigit() else ""
        number = text[: len(text) - len(unit)] if unit else text
        try:
            value = float(number) * _SUFFIX[unit]
        except ValueError:
            raise ValueError(f"L2M_SIM_MEMORY_LIMIT must be a number of bytes (e.g. 8G), "
                             f"got {os.environ['L2M_SIM_MEMORY_LIMIT']!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise ValueError(f"L2M_SIM_MEMORY_LIMIT must be a positive finite size, got "
                             f"{os.environ['L2M_SIM_MEMORY_LIMIT']!r}")
        return int(value)
    return _physical_memory() // 2


def format_bytes(n: float) -> str:
    """``n`` bytes in a readable unit (``'1.5 GiB'``)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_memory(name: str, nbytes: float, what: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``what`` needs more than the memory limit.

    ``nbytes`` is the estimate of the call (Python ints of any size, or floats, are fine:
    nothing is allocated here).
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ValueError(
            f"{name}: {what} would need about {format_bytes(nbytes)}, over the memory limit "
            f"of {format_bytes(limit)} (set L2M_SIM_MEMORY_LIMIT to change it); use a smaller "
            f"{name}")
