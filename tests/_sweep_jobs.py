"""A deterministic, deliberately slow job kind for the sweep tests (kill / resume)."""

from __future__ import annotations

import time
import typing
from dataclasses import dataclass, field

import xarray as xr

from l2m_sim.sweep import Job, register_job


@register_job
@dataclass(frozen=True)
class SlowSquare(Job):
    kind: typing.ClassVar[str] = "slow_square"
    grid_dims: typing.ClassVar[tuple] = ("a", "b")
    a: int = field(default=0, metadata={"min": 0})
    b: float = 1.0
    sleep: float = field(default=0.0, metadata={"min": 0.0, "max": 5.0})
    fail_on: int = -1

    def run(self):
        time.sleep(self.sleep)
        if self.a == self.fail_on:
            raise RuntimeError(f"deliberate failure at a = {self.a}")
        return xr.Dataset({"value": ((), self.a**2 * self.b, {"units": "1"})})
