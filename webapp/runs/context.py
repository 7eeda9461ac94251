"""The NodeContext a worker gives a running node (see orchestration/nodes/base.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from orchestration.nodes.base import NodeError, Upstream, WaitForChild
from orchestration.providers import build
from orchestration.providers.base import LLMCall, Provider, ProviderConfig
from webapp.runs.events import publish_tokens

log = logging.getLogger(__name__)
TOKEN_FLUSH_S = 0.05  # at most ~20 token messages a second per step


@dataclass
class WorkerContext:
    """One step attempt's context. Secrets (provider configs) live only here, in
    the worker's memory, never in messages or events."""

    run_id: str
    node_id: str
    iteration: int
    item: int | None
    attempt: int
    idempotency_key: str
    run_inputs: dict[str, Any]
    upstream: list[Upstream]
    deadline: float | None
    step_id: int
    team_id: int
    provider_configs: dict[str, ProviderConfig]
    start_child: Any = None  # callable(workflow, version, inputs) -> child run id (sync)
    llm_calls: list[LLMCall] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    _pending: list[str] = field(default_factory=list)
    _flush_timer: asyncio.TimerHandle | None = None
    _providers: dict[str, Provider] = field(default_factory=dict)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            config = self.provider_configs.get(name)
            if config is None:
                known = ", ".join(sorted(self.provider_configs)) or "none"
                raise NodeError(
                    f"the team has no provider named {name!r} (configured: {known})",
                    retryable=False,
                )
            self._providers[name] = build(config)
        return self._providers[name]

    def emit_token(self, text: str) -> None:
        """Keep `text`; publish it with the other tokens of the next TOKEN_FLUSH_S
        (one timer per step while tokens flow, none otherwise)."""
        self.text_parts.append(text)
        self._pending.append(text)
        if self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on a loop: publish now
                self._flush()
                return
            self._flush_timer = loop.call_later(TOKEN_FLUSH_S, self._flush)

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append({"ts": time.time(), "level": level, "message": message})

    def record_llm_call(self, call: LLMCall) -> None:
        self.llm_calls.append(call)

    async def run_subworkflow(
        self, workflow: str, version: int | None, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        if self.start_child is None:
            raise NodeError("sub-workflows are not available here", retryable=False)
        child_id = await asyncio.to_thread(self.start_child, workflow, version, inputs)
        raise WaitForChild(str(child_id))

    def finish_tokens(self) -> None:
        """Publish the tokens not yet sent (the step is over)."""
        self._flush()

    def _flush(self) -> None:
        """Publish the pending tokens through the process's event publisher
        (events.publish_tokens: in order with the run's events, no channel-layer
        connection per step)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._pending:
            return
        chunk, self._pending = "".join(self._pending), []
        publish_tokens(
            int(self.run_id),
            {
                "type": "run.tokens",
                "run_id": int(self.run_id),
                "step_id": self.step_id,
                "node_id": self.node_id,
                "text": chunk,
            },
        )
