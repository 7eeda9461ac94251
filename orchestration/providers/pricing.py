"""What an LLM call costs, in USD, from its token counts.

Prices come from, in order: the team's override for the model
(`ProviderConfig.price_overrides`, USD per million tokens), then the genai-prices
package (pydantic/genai-prices, a maintained price list bundled with the
package: no network) for `ProviderConfig.pricing_provider_id`. A model neither
source knows is unpriced: None, never a guess.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from genai_prices import Usage, calc_price

from orchestration.providers.base import ProviderConfig

MILLION = Decimal(1_000_000)


def price_call(
    config: ProviderConfig, model: str, tokens_in: int, tokens_out: int
) -> Decimal | None:
    """The cost in USD of one call of `model` with `tokens_in` input tokens and
    `tokens_out` output tokens; None when the model is unpriced.

    Overrides price linearly (tokens x USD per million tokens / 1,000,000);
    genai-prices also applies its tiers (e.g. long-context prices).
    """
    override = config.price_overrides.get(model)
    if override is not None:
        return (
            Decimal(tokens_in) * override.input_per_mtok
            + Decimal(tokens_out) * override.output_per_mtok
        ) / MILLION
    if not config.pricing_provider_id:
        return None
    try:
        result = calc_price(
            Usage(input_tokens=tokens_in, output_tokens=tokens_out),
            model_ref=model,
            provider_id=config.pricing_provider_id,
        )
    except LookupError:
        return None
    return result.total_price


def price_per_mtok(config: ProviderConfig, model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) price of `model` in USD per million tokens, for the
    editor's model picker; None when unpriced. For tiered genai-prices the base
    (lowest-volume) tier is given."""
    override = config.price_overrides.get(model)
    if override is not None:
        return override.input_per_mtok, override.output_per_mtok
    if not config.pricing_provider_id:
        return None
    try:
        result = calc_price(
            Usage(input_tokens=1, output_tokens=1),
            model_ref=model,
            provider_id=config.pricing_provider_id,
        )
    except LookupError:
        return None
    prices = result.model_price
    input_price = _base(getattr(prices, "input_mtok", None))
    output_price = _base(getattr(prices, "output_mtok", None))
    if input_price is None or output_price is None:
        return None
    return input_price, output_price


def _base(price: Any) -> Decimal | None:
    """A flat price as is, a tiered price's base tier, anything else None."""
    if isinstance(price, Decimal):
        return price
    base = getattr(price, "base", None)
    return base if isinstance(base, Decimal) else None
