"""The vocabulary of run events, appended per run with a gap-free `seq`.

Each event is (seq, type, payload, ts). Payload shapes (all JSON; times in ms,
money in USD as a decimal string or null when unpriced, tokens as ints):

- run.queued      {"run_id", "workflow_id", "version"}
- run.started     {}
- run.succeeded   {"outputs", "totals"}
- run.failed      {"error", "totals"}
- run.cancelled   {"reason", "totals"}
- run.waiting     {"reason"}                       (backpressure / waiting on a child)
- step.queued     {"step_id", "node_id", "iteration", "item", "attempt", "queue"}
- step.started    {"step_id", "node_id", "iteration", "item", "attempt", "worker"}
- step.succeeded  {"step_id", "node_id", ..., "latency_ms", "tokens_in", "tokens_out", "cost_usd"}
- step.failed     {"step_id", "node_id", ..., "error", "will_retry"}
- step.retrying   {"step_id", "node_id", ..., "attempt", "delay_ms", "error"}
- step.skipped    {"step_id", "node_id", "iteration", "item"}
- step.cancelled  {"step_id", "node_id", ...}
- step.log        {"step_id", "node_id", "level", "message"}   (node logs)
- llm.call        {"step_id", "node_id", "provider", "model", "tokens_in", "tokens_out",
                   "cost_usd", "ttft_ms", "latency_ms", "retries", "simulated"}

Token deltas are not stored as events: they are published live only and
coalesced (see the monitoring layer); the final text is stored with the step.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    RUN_QUEUED = "run.queued"
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_WAITING = "run.waiting"
    STEP_QUEUED = "step.queued"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    STEP_SKIPPED = "step.skipped"
    STEP_CANCELLED = "step.cancelled"
    STEP_LOG = "step.log"
    LLM_CALL = "llm.call"
