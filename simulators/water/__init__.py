"""Simulated smart water meters, and a replay of the DAIAD trial."""
