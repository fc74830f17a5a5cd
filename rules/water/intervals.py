"""Pure decisions about one interval between two accepted readings, and the limits they use.

An interval (prev, cur) has dt seconds and dv litres (the register's difference). The register
makes a long gap's TOTAL known; only its spread in time is unknown, so each rule decides for
itself what a long interval may prove (see the rule modules).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from rules.water.thresholds import WaterThresholds

# A register step this small is float noise, not use.
ZERO_L = 1e-6
# A meter's register has a resolution (1 L, sometimes 10 L): a jump is judged with this slack so
# that two readings a few seconds apart with one count between them are not "faster than a pipe".
JUMP_SLACK_L = 10.0
# Reporting jitter: a zero-volume stretch of 0.95 quiet hours counts as a quiet hour (4 x 14:59 min).
QUIET_JITTER = 0.95
# Intervals remembered to learn the reporting interval (a running median of these).
LEARN_INTERVALS = 7
# The learnt interval stays within [configured / 4, configured * 4].
LEARN_BOUND = 4.0
# A meter's habitual longest silence (some upload every few hours) is learnt from silences up to
# this many learnt intervals; longer ones are outages, not habits. It fades over about a month.
USUAL_GAP_MAX_INTERVALS = 8.0
# 180 days, chosen on the validation half of the DAIAD meters (sha256 of the id even): 30, 90, 180 days gave
# 8.2, 6.2, 5.7 alert changes per meter-month there, every silence of 24 h or more still inside an offline
# episode. DAIAD's meters report every 41-300 min: a 5-h interval seen ten days ago is still their habit.
USUAL_GAP_FADE_S = 180 * 86400.0
# A silence is suspicious once it is this much longer than the meter's habitual longest one.
USUAL_GAP_MARGIN = 1.25


class Kind(IntEnum):
    """What an interval says about use."""

    ZERO = 0  # no use at all (register unchanged or a small backstep)
    FLOW = 1  # use, volume known
    DOWN = 2  # the register went down beyond jitter: reset, exchange or tamper; volume unknown
    JUMP = 3  # faster than a household pipe: a glitch or tamper; volume unknown


@dataclass(frozen=True, slots=True)
class Limits:
    """The thresholds in the units the rules compute in (seconds, litres per second)."""

    t: WaterThresholds
    no_usage_warning_s: float
    no_usage_critical_s: float
    no_usage_step_l: float  # kept points of the no-usage history are at least this far apart
    flow_warning_s: float
    flow_critical_s: float
    quiet_s: float
    flow_interval_max_s: float
    tap_lps: float
    tap_s: float
    max_pipe_lps: float
    tamper_clear_s: float
    offline_critical_s: float
    offline_learn_s: float
    offline_clear_s: float
    offline_clear_max_s: float
    reporting_s: float

    @classmethod
    def of(cls, t: WaterThresholds) -> Limits:
        return cls(
            t=t,
            no_usage_warning_s=t.no_usage_warning_h * 3600,
            no_usage_critical_s=t.no_usage_critical_h * 3600,
            no_usage_step_l=max(t.no_usage_max_l / 20, 0.01),
            flow_warning_s=t.continuous_flow_warning_h * 3600,
            flow_critical_s=t.continuous_flow_critical_h * 3600,
            quiet_s=t.quiet_hour_min * 60,
            flow_interval_max_s=t.quiet_hour_min * 60 * t.flow_interval_tolerance,
            tap_lps=t.tap_open_lpm / 60,
            tap_s=t.tap_open_min * 60,
            max_pipe_lps=t.max_pipe_lpm / 60,
            tamper_clear_s=t.tamper_clear_h * 3600,
            offline_critical_s=t.offline_critical_h * 3600,
            offline_learn_s=t.offline_learn_h * 3600,
            offline_clear_s=t.offline_clear_h * 3600,
            offline_clear_max_s=max(t.offline_clear_max_h, t.offline_clear_h) * 3600,
            reporting_s=t.reporting_interval_min * 60,
        )


def classify(dt_s: float, dv_l: float, lim: Limits) -> Kind:
    """The kind of an interval of dt_s seconds (> 0) and dv_l litres."""
    if dv_l < 0:
        return Kind.ZERO if -dv_l <= lim.t.register_backstep_l else Kind.DOWN
    if dv_l > lim.max_pipe_lps * dt_s + JUMP_SLACK_L:
        return Kind.JUMP
    return Kind.FLOW if dv_l > ZERO_L else Kind.ZERO


def learnt_interval_s(recent: list[float], lim: Limits) -> float:
    """The meter's reporting interval: the median of its recent intervals, bounded around the configured one.

    With fewer than three intervals seen the configured interval stands. The median ignores a
    single outage or a burst of retries; the bounds keep an operator's setting meaningful.
    """
    if len(recent) < 3:
        return lim.reporting_s
    ordered = sorted(recent)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return min(max(median, lim.reporting_s / LEARN_BOUND), lim.reporting_s * LEARN_BOUND)


def learn_gap(usual_gap_s: float, dt_s: float, lag_s: float, interval_s: float, lim: Limits) -> float:
    """The habitual longest silence after an interval of dt_s that arrived lag_s behind the fleet.

    A fading maximum of two kinds of silence a meter may have by habit:
    - readings far apart (dt), up to USUAL_GAP_MAX_INTERVALS intervals: longer is an outage;
    - readings that are complete (dt about one interval) but arrive late, lag_s behind the fleet
      watermark: a meter that uploads its readings in batches every few hours. Such an upload
      lag is learnt up to half the critical silence.
    """
    faded = usual_gap_s * math.exp(-dt_s / USUAL_GAP_FADE_S)
    if dt_s <= USUAL_GAP_MAX_INTERVALS * interval_s:
        faded = max(faded, dt_s)
    if dt_s <= 1.5 * interval_s and dt_s < lag_s <= lim.offline_critical_s / 2:
        faded = max(faded, lag_s)
    return faded


def learn_recurring(pair: list[float], dt_s: float, interval_s: float, lim: Limits) -> list[float]:
    """The two longest silences beyond USUAL_GAP_MAX_INTERVALS (fading like the habit), [longest, second].

    A long silence seen once is an outage; one seen twice within the fade is the meter's habit
    (a link that drops out for ten hours every night): the second longest is learnt, up to half
    the critical silence, so a meter on a bad link is warned about once or twice, not each night.
    """
    fade = math.exp(-dt_s / USUAL_GAP_FADE_S)
    g1, g2 = (pair[0] * fade, pair[1] * fade) if len(pair) == 2 else (0.0, 0.0)
    if USUAL_GAP_MAX_INTERVALS * interval_s < dt_s < lim.offline_critical_s:
        if dt_s > g1:
            g1, g2 = dt_s, g1
        elif dt_s > g2:
            g2 = dt_s
    return [g1, g2]


def offline_dues(last_ts: float, interval_s: float, lim: Limits, usual_gap_s: float = 0.0,
                 first_ts: float | None = None) -> tuple[float, float]:
    """(warning due, critical due) of a meter silent since last_ts; warning never after critical.

    The warning waits for the missed intervals and beyond the meter's habitual longest silence:
    a meter that uploads every five hours is not offline after three hours. A meter seen for
    less than offline_learn_h (since first_ts) is still learning its cadence (an hourly batch of
    four readings looks like a silence until the first batch is in): it waits that long.
    """
    critical = last_ts + lim.offline_critical_s
    patience = max(lim.t.offline_missed_intervals * interval_s, USUAL_GAP_MARGIN * usual_gap_s)
    if first_ts is not None and last_ts - first_ts < lim.offline_learn_s:
        patience = max(patience, lim.offline_learn_s)
    warning = min(last_ts + patience, critical)
    return warning, critical
