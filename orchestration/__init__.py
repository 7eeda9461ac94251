"""Quorum's engine: graph spec and validation, the pure planner, node types,
LLM providers, pricing and the event vocabulary.

This package never imports django, celery, channels or webapp (checked by
`make boundaries` and tests/orchestration/test_boundary.py), so the engine runs
and is tested without any of them. The web layer hands it plain data.
"""

from __future__ import annotations
