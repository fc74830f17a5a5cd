"""Water rules for the homes of elderly people living alone, on event time.

engine.WaterRules takes readings, away notices and the fleet watermark and returns episode
changes. Each rule is one small module with its decisions documented where they are made:
intervals (what one interval says: zero, flow, register down, jump), usage (no_usage, spike),
flow (continuous_flow, tap_open), device (meter_tamper, meter_offline with its deadline heap),
state (the per-meter JSON state), thresholds (the parameters).
"""

from rules.water.engine import ReadingOutcome, WaterRules

__all__ = ["ReadingOutcome", "WaterRules"]
