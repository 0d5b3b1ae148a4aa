"""Operator tools, one CLI (`saga`, cli.py): histories.py (replay, export), invariants.py
(`saga check`)."""
