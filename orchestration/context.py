"""LocalContext: the in-process NodeContext, for tests and local (CLI) runs.

It is a real context, not a mock: providers are real `Provider`s, tokens, log
lines and LLM calls are collected in lists in the order they happen, and child
workflows run through an optional async callback.

    ctx = LocalContext(providers={"Simulator": build(config)}, run_inputs={"topic": "tea"})
    outputs = await LLMNode(LLMNode.parse_config({})).run(ctx, {"in": ["hello"]})
    ctx.tokens, ctx.llm_calls
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from orchestration.nodes.base import NodeError, Upstream
from orchestration.providers.base import LLMCall, Provider

#: (workflow name or id, version or None for latest, inputs) -> the child's outputs
SubworkflowRunner = Callable[[str, int | None, dict[str, Any]], Awaitable[dict[str, Any]]]


def make_key(run_id: str, node_id: str, iteration: int, item: int | None) -> str:
    """The idempotency key of a node instance (and map item), the same on every
    attempt: "<run>:<node>:<iteration>:<item or ->", e.g. "r1:fetch:0:-"."""
    return f"{run_id}:{node_id}:{iteration}:{'-' if item is None else item}"


@dataclass
class LogLine:
    """One `ctx.log` call. level: "debug" | "info" | "warning" | "error"."""

    level: str
    message: str


@dataclass
class LocalContext:
    """A complete NodeContext running in this process.

    `providers` maps provider names to providers; `subworkflows` (optional) runs
    a child workflow and returns its outputs. `tokens`, `logs` and `llm_calls`
    collect what the node streamed, logged and called. `idempotency_key` is
    computed from run_id, node_id, iteration and item when the context is made;
    use `for_step` (or dataclasses.replace) for another node instance.
    """

    providers: dict[str, Provider] = field(default_factory=dict)
    run_inputs: dict[str, Any] = field(default_factory=dict)
    upstream: list[Upstream] = field(default_factory=list)
    run_id: str = "local"
    node_id: str = "node"
    iteration: int = 0
    item: int | None = None
    attempt: int = 1
    deadline: float | None = None
    subworkflows: SubworkflowRunner | None = None
    tokens: list[str] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    llm_calls: list[LLMCall] = field(default_factory=list)
    idempotency_key: str = field(init=False)

    def __post_init__(self) -> None:
        self.idempotency_key = make_key(self.run_id, self.node_id, self.iteration, self.item)

    def for_step(
        self,
        node_id: str,
        *,
        iteration: int = 0,
        item: int | None = None,
        attempt: int = 1,
        upstream: list[Upstream] | None = None,
    ) -> LocalContext:
        """A context for another node instance of the same run: same providers,
        run inputs and subworkflow runner; fresh tokens, logs and calls."""
        return replace(
            self,
            node_id=node_id,
            iteration=iteration,
            item=item,
            attempt=attempt,
            upstream=list(upstream or []),
            tokens=[],
            logs=[],
            llm_calls=[],
        )

    @property
    def text(self) -> str:
        """Every streamed token, joined."""
        return "".join(self.tokens)

    def provider(self, name: str) -> Provider:
        """The provider named `name`. Raises NodeError(retryable=False) naming it
        and the configured ones when there is none."""
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers)) or "none"
            raise NodeError(
                f"no provider named {name!r} (configured: {known})", retryable=False
            ) from None

    def emit_token(self, text: str) -> None:
        """Collect one streamed text delta."""
        self.tokens.append(text)

    def log(self, message: str, level: str = "info") -> None:
        """Collect one log line."""
        self.logs.append(LogLine(level, message))

    def record_llm_call(self, call: LLMCall) -> None:
        """Collect one LLM call (tokens, cost, latency)."""
        self.llm_calls.append(call)

    async def run_subworkflow(
        self, workflow: str, version: int | None, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        """The child's outputs from the `subworkflows` callback. Raises
        NodeError(retryable=False) when this context has no callback, and
        whatever the callback raises."""
        if self.subworkflows is None:
            raise NodeError(
                f"cannot run workflow {workflow!r}: subworkflows are not available here",
                retryable=False,
            )
        return await self.subworkflows(workflow, version, inputs)
