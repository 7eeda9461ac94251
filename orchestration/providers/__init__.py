"""LLM providers: `build(config)` gives the Provider for a team's configuration.

Implementations are found through a registry of lazy dotted paths (as
healthchecks finds its integrations), so importing this package loads neither
SDK; `build` imports the one a configuration needs. The contract and its data
types live in `providers.base` and are re-exported here.
"""

from __future__ import annotations

import importlib

from orchestration.providers.base import (
    ChatRequest,
    LLMCall,
    Message,
    ModelPrice,
    Provider,
    ProviderConfig,
    ProviderError,
    ProviderKind,
    ToolCall,
    ToolSpec,
)

__all__ = [
    "PROVIDER_KINDS",
    "ChatRequest",
    "LLMCall",
    "Message",
    "ModelPrice",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderKind",
    "ToolCall",
    "ToolSpec",
    "build",
]

#: kind -> "module:ClassName" of its implementation.
PROVIDER_KINDS: dict[str, str] = {
    "openai": "orchestration.providers.openai_compat:OpenAICompatProvider",
    "anthropic": "orchestration.providers.anthropic:AnthropicProvider",
}


def build(config: ProviderConfig) -> Provider:
    """The Provider for `config`, chosen by `config.kind`.

    Raises ValueError for an unknown kind. Cheap: SDK clients are made per call.
    """
    try:
        path = PROVIDER_KINDS[config.kind]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_KINDS))
        raise ValueError(f"unknown provider kind {config.kind!r} (known: {known})") from None
    module_name, _, class_name = path.partition(":")
    provider: Provider = getattr(importlib.import_module(module_name), class_name)(config)
    return provider


def warm_up() -> None:
    """Import every provider implementation and its SDK now (openai and
    anthropic take a second or more to import), so that a worker's first step
    does not spend its lease importing them inside its event loop."""
    for path in PROVIDER_KINDS.values():
        importlib.import_module(path.partition(":")[0])
