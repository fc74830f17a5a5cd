"""How a grid worker answers a dispatched alert: whether, how fast, and what they write. Pure and seeded.

Grounded in the target of Chinese grid governance, "minute-level response, hour-level disposal"
(分钟级响应、小时级处置): a worker accepts within minutes, walks over within a quarter of an hour,
and closes most cases within the hour. Each step's delay is lognormal (human response times are
right-skewed: most are quick, a few are very late), given as a median and a 95th percentile.
A share of workers never answer at all, so the SLA escalation is exercised.

Delays are real-world seconds; the simulator divides them by its speed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Z95 = 1.6448536269514722  # the standard normal's 95th percentile


@dataclass(frozen=True, slots=True)
class Delay:
    """A lognormal delay given by its median and 95th percentile, in seconds."""

    median_s: float
    p95_s: float

    @property
    def sigma(self) -> float:
        return math.log(self.p95_s / self.median_s) / Z95

    def draw(self, rng: random.Random) -> float:
        # Clipped at three sigma (about the 99.9th percentile): a demo must not wait for a
        # one-in-ten-thousand straggler, and a worker cannot answer in no time at all.
        value = rng.lognormvariate(math.log(self.median_s), self.sigma)
        return min(max(value, 5.0), self.median_s * math.exp(3 * self.sigma))

    def scaled(self, factor: float) -> Delay:
        return Delay(self.median_s * factor, self.p95_s * factor)


# Accepting (接单): median 2 min, p95 10 min for a warning; a critical alert is taken twice as fast.
ACCEPT = Delay(120.0, 600.0)
ACCEPT_FACTOR = {"critical": 0.5, "warning": 1.0, "info": 1.5}
# Getting there (到场): on foot or by e-bike within the grid; a critical alert makes one hurry.
TRAVEL = Delay(720.0, 1800.0)
TRAVEL_FACTOR = {"critical": 0.75, "warning": 1.0, "info": 1.0}
# Handling it on site (处置): a home visit takes about 25 min; talking an e-bike out of a lift about 10.
WORK = Delay(1500.0, 3600.0)
WORK_BY_TYPE = {
    "elevator.ebike": Delay(600.0, 1500.0),
    "water.tap_open": Delay(600.0, 1500.0),
}

ACCEPT_NOTES = ("已接单", "已接单，马上出发", "收到，正在赶往现场")
ARRIVE_NOTES = ("已到场", "已到现场，正在核实", "已到场，正在敲门")
RESOLVE_NOTES: dict[str, tuple[str, ...]] = {
    "water.no_usage": (
        "已处置：老人安好", "已处置：老人外出走亲戚，已联系家属", "已处置：老人身体不适，已送医并通知家属",
    ),
    "water.continuous_flow": ("已处置：水管漏水，已关阀门并报修", "已处置：马桶水箱漏水，已关闭进水阀"),
    "water.tap_open": ("已处置：水龙头忘关，已关闭，老人安好", "已处置：协助老人关闭水龙头"),
    "water.spike": ("已处置：家中来客，用水正常", "已处置：爆管，已关总阀并通知物业"),
    "water.meter_offline": ("已处置：水表电池耗尽，已报修", "已处置：水表通信故障，已通知水务公司"),
    "water.meter_tamper": ("已处置：水表完好，已拍照留存", "已处置：水表被拆动，已报水务公司"),
    "elevator.ebike": ("已处置：电动车已劝离电梯", "已处置：已劝离电动车并宣传消防安全"),
}
RESOLVE_DEFAULT = ("已处置：现场核实无异常",)

STEPS = ("accept", "arrive", "resolve")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one worker will do with one alert. The delays are per step: accept after the notify,
    arrive after accepting, resolve after arriving (seconds, before the simulator's speed-up)."""

    answers: bool
    accept_s: float
    arrive_s: float
    resolve_s: float
    notes: tuple[str, str, str]  # the accept, arrive and resolve notes

    def steps(self) -> list[tuple[str, float, str]]:
        """(action, delay after the previous step, note), in order; empty when the worker never answers."""
        if not self.answers:
            return []
        return list(zip(STEPS, (self.accept_s, self.arrive_s, self.resolve_s), self.notes, strict=True))


def plan(alert_type: str, severity: str, rng: random.Random, *, ignore: float = 0.1) -> Plan:
    """Draw one worker's answer to one alert; `ignore` is the chance that they never answer."""
    if not 0.0 <= ignore <= 1.0:
        raise ValueError(f"ignore must be between 0 and 1, not {ignore}")
    answers = rng.random() >= ignore
    accept = ACCEPT.scaled(ACCEPT_FACTOR.get(severity, 1.0)).draw(rng)
    travel = TRAVEL.scaled(TRAVEL_FACTOR.get(severity, 1.0)).draw(rng)
    work = WORK_BY_TYPE.get(alert_type, WORK).draw(rng)
    notes = (
        rng.choice(ACCEPT_NOTES),
        rng.choice(ARRIVE_NOTES),
        rng.choice(RESOLVE_NOTES.get(alert_type, RESOLVE_DEFAULT)),
    )
    return Plan(answers, accept, travel, work, notes)
