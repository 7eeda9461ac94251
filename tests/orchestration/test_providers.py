"""Providers (orchestration/providers/) against the Simulator over real HTTP.

Each test runs its calls in `asyncio.run`, as a Celery task does. Provider names
are unique per test, because concurrency limits are process-wide per provider.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest
from genai_prices import Usage, calc_price

from orchestration.providers import (
    ChatRequest,
    LLMCall,
    Message,
    ModelPrice,
    ProviderConfig,
    ProviderError,
    ToolSpec,
    build,
)
from orchestration.providers.pricing import price_call, price_per_mtok
from orchestration.providers.retry import (
    ProcessSemaphore,
    backoff_s,
    redact,
    retry_after_s,
    semaphore_for,
)

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
    },
)


def simulator(fake_llm: str, **overrides: Any) -> ProviderConfig:
    settings: dict[str, Any] = {
        "name": f"Simulator-{uuid.uuid4().hex[:8]}",
        "kind": "openai",
        "base_url": fake_llm + "/v1",
        "simulated": True,
        "timeout_s": 10.0,
        "max_retries": 3,
        **overrides,
    }
    return ProviderConfig(**settings)


def ask(text: str, **request: Any) -> ChatRequest:
    return ChatRequest(model="sim-small", messages=(Message("user", text),), **request)


def run_chat(config: ProviderConfig, request: ChatRequest, **kwargs: Any) -> LLMCall:
    return asyncio.run(build(config).chat(request, **kwargs))


def stats(fake_llm: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(fake_llm + "/_fake/stats").json()
    return result


def reset(fake_llm: str) -> int:
    """Reset the Simulator's stats; returns requests still in flight (from other tests)."""
    httpx.post(fake_llm + "/_fake/reset")
    in_flight: int = stats(fake_llm)["in_flight"]
    return in_flight


def test_a_call_records_text_tokens_ttft_and_latency(fake_llm: str) -> None:
    config = simulator(fake_llm)
    prompt = "Name three rivers [[fake:latency_ms=50]]"
    request = ChatRequest(
        model="sim-small", messages=(Message("system", "Be brief."), Message("user", prompt))
    )
    call = run_chat(config, request)
    assert call.text == "Simulated answer to: Name three rivers"
    assert call.provider == config.name
    assert call.model == "sim-small"
    assert call.tokens_in == math.ceil((len("Be brief.") + len(prompt)) / 4)
    assert call.tokens_out == math.ceil(len(call.text) / 4)
    assert call.ttft_ms is not None
    assert 50 <= call.ttft_ms <= call.latency_ms
    assert call.retries == 0
    assert call.finish_reason == "stop"
    assert call.simulated is True
    assert call.cost_usd is None


def test_streamed_deltas_reach_on_token_and_join_to_the_text(fake_llm: str) -> None:
    tokens: list[str] = []
    call = run_chat(
        simulator(fake_llm),
        ask("Tell me about the sea and its many shores [[fake:tps=100]]"),
        on_token=tokens.append,
    )
    assert len(tokens) >= 5
    assert "".join(tokens) == call.text


def test_429_is_retried_honouring_retry_after(fake_llm: str) -> None:
    key = uuid.uuid4().hex
    request = ask(f"hi [[fake:error=429,times=2,key={key},retry_after=0.2]]")
    started = time.monotonic()
    call = run_chat(simulator(fake_llm), request)
    elapsed = time.monotonic() - started
    assert call.retries == 2
    assert elapsed >= 0.4
    assert call.latency_ms >= 400
    assert call.text.startswith("Simulated answer to: hi")


def test_500_is_retried_then_given_up_as_retryable(fake_llm: str) -> None:
    reset(fake_llm)
    config = simulator(fake_llm, max_retries=2)
    with pytest.raises(ProviderError) as caught:
        run_chat(config, ask("x [[fake:error=500,retry_after=0.01]]"))
    assert caught.value.retryable is True
    assert caught.value.status == 500
    assert config.name in str(caught.value)
    assert "sim-small" in str(caught.value)
    assert "HTTP 500" in str(caught.value)
    assert "gave up after 2 retries" in str(caught.value)
    assert stats(fake_llm)["by_status"] == {"500": 3}


@pytest.mark.parametrize(
    ("path", "prompt", "status"),
    [
        ("/v1", "x [[fake:error=400]]", 400),
        ("/v1", "x [[fake:error=401]]", 401),
        ("/elsewhere/v1", "x", 404),
    ],
)
def test_client_errors_are_not_retried(fake_llm: str, path: str, prompt: str, status: int) -> None:
    secret = "sk-test-" + uuid.uuid4().hex
    config = simulator(fake_llm, base_url=fake_llm + path, api_key=secret)
    provider = build(config)  # imports the SDK outside the timed part
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        asyncio.run(provider.chat(ask(prompt)))
    assert time.monotonic() - started < 1
    assert caught.value.retryable is False
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in repr(config)


def test_a_hanging_call_times_out_and_is_retried(fake_llm: str) -> None:
    config = simulator(fake_llm, timeout_s=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        run_chat(config, ask("wait [[fake:hang]]"))
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    assert caught.value.retryable is True
    assert "timed out" in str(caught.value)
    assert "gave up after 1 retry" in str(caught.value)


def test_cancelling_a_hanging_call_returns_promptly_and_frees_its_slot(fake_llm: str) -> None:
    config = simulator(fake_llm, timeout_s=60, max_concurrency=1)
    base = stats(fake_llm)["in_flight"]

    async def scenario() -> float:
        task = asyncio.create_task(build(config).chat(ask("[[fake:hang]]")))
        await asyncio.sleep(0.3)
        assert semaphore_for(config).in_use == 1
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2
    assert semaphore_for(config).in_use == 0
    # The slot is usable again, and the server saw the client go.
    assert run_chat(config, ask("next")).text == "Simulated answer to: next"
    deadline = time.monotonic() + 2
    while stats(fake_llm)["in_flight"] != base and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats(fake_llm)["in_flight"] == base


def test_asyncio_timeout_around_chat_aborts_it(fake_llm: str) -> None:
    config = simulator(fake_llm, timeout_s=60)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(build(config).chat(ask("[[fake:hang]]")), timeout=0.3)

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 2
    assert semaphore_for(config).in_use == 0


def test_concurrency_limit_holds_across_parallel_calls(fake_llm: str) -> None:
    config = simulator(fake_llm, max_concurrency=3)
    base = reset(fake_llm)

    async def scenario() -> list[LLMCall]:
        provider = build(config)
        calls = [provider.chat(ask(f"call {i} [[fake:latency_ms=60]]")) for i in range(12)]
        return await asyncio.gather(*calls)

    results = asyncio.run(scenario())
    assert len(results) == 12
    assert stats(fake_llm)["max_in_flight"] - base == 3
    assert stats(fake_llm)["requests"] == 12


def test_concurrency_limit_holds_across_threads_and_event_loops(fake_llm: str) -> None:
    config = simulator(fake_llm, max_concurrency=3)
    base = reset(fake_llm)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def calls() -> None:
            provider = build(config)
            await asyncio.gather(
                *(provider.chat(ask(f"t{n} {i} [[fake:latency_ms=40]]")) for i in range(4))
            )

        try:
            asyncio.run(calls())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert stats(fake_llm)["requests"] == 12
    assert stats(fake_llm)["max_in_flight"] - base == 3


def test_tool_call_round_trip(fake_llm: str) -> None:
    config = simulator(fake_llm)
    user = Message("user", "Weather in Oslo?")
    first = run_chat(config, ChatRequest(model="sim-small", messages=(user,), tools=(WEATHER,)))
    assert first.finish_reason == "tool_calls"
    (call,) = first.tool_calls
    assert call.name == "get_weather"
    assert call.id
    jsonschema.validate(json.loads(call.arguments), WEATHER.parameters)

    history = (
        user,
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "Sunny, 21 degrees", tool_call_id=call.id),
    )
    second = run_chat(config, ChatRequest(model="sim-small", messages=history, tools=(WEATHER,)))
    assert second.tool_calls == ()
    assert "Sunny, 21 degrees" in second.text


def test_response_schema_gives_valid_json(fake_llm: str) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "points": {"type": "array", "maxItems": 2}},
        "required": ["title", "points"],
    }
    call = run_chat(simulator(fake_llm), ask("Summarise Rome", response_schema=schema))
    jsonschema.validate(json.loads(call.text), schema)


def test_anthropic_provider_against_messages(fake_llm: str) -> None:
    config = simulator(fake_llm, kind="anthropic", base_url=fake_llm + "/v1")
    tokens: list[str] = []
    request = ChatRequest(
        model="sim-large",
        messages=(Message("system", "Be brief."), Message("user", "Describe a cat")),
        temperature=0.5,
        max_tokens=200,
    )
    call = asyncio.run(build(config).chat(request, on_token=tokens.append))
    assert call.text == "Simulated answer to: Describe a cat"
    assert "".join(tokens) == call.text
    assert call.tokens_in == math.ceil((len("Be brief.") + len("Describe a cat")) / 4)
    assert call.tokens_out == math.ceil(len(call.text) / 4)
    assert call.finish_reason == "stop"
    assert call.ttft_ms is not None
    assert call.simulated is True

    user = Message("user", "Weather in Oslo?")
    first = run_chat(config, ChatRequest(model="sim-large", messages=(user,), tools=(WEATHER,)))
    (tool_call,) = first.tool_calls
    assert first.finish_reason == "tool_calls"
    jsonschema.validate(json.loads(tool_call.arguments), WEATHER.parameters)
    history = (
        user,
        Message("assistant", None, tool_calls=(tool_call,)),
        Message("tool", "Rainy", tool_call_id=tool_call.id),
    )
    second = run_chat(config, ChatRequest(model="sim-large", messages=history, tools=(WEATHER,)))
    assert "Rainy" in second.text


def test_anthropic_provider_retries_and_classifies(fake_llm: str) -> None:
    config = simulator(fake_llm, kind="anthropic", base_url=fake_llm)
    key = uuid.uuid4().hex
    call = run_chat(config, ask(f"x [[fake:error=529,times=1,key={key},retry_after=0.05]]"))
    assert call.retries == 1
    with pytest.raises(ProviderError) as caught:
        run_chat(config, ask("x [[fake:error=403]]"))
    assert caught.value.retryable is False
    assert caught.value.status == 403


def test_build_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown provider kind"):
        build(ProviderConfig(name="x", kind="nope"))  # type: ignore[arg-type]


# ---- pricing -------------------------------------------------------------------


def test_a_team_override_wins() -> None:
    config = ProviderConfig(
        name="OpenAI",
        kind="openai",
        pricing_provider_id="openai",
        price_overrides={"gpt-4o-mini": ModelPrice(Decimal("1"), Decimal("2"))},
    )
    assert price_call(config, "gpt-4o-mini", 1_000_000, 500_000) == Decimal("2")
    assert price_per_mtok(config, "gpt-4o-mini") == (Decimal("1"), Decimal("2"))


def test_a_known_model_is_priced_by_genai_prices() -> None:
    config = ProviderConfig(name="OpenAI", kind="openai", pricing_provider_id="openai")
    expected = calc_price(
        Usage(input_tokens=1200, output_tokens=340), model_ref="gpt-4o-mini", provider_id="openai"
    ).total_price
    assert price_call(config, "gpt-4o-mini", 1200, 340) == expected
    assert expected > 0
    assert price_per_mtok(config, "gpt-4o-mini") == (Decimal("0.15"), Decimal("0.6"))


def test_unknown_models_and_unpriced_providers_are_none() -> None:
    priced = ProviderConfig(name="OpenAI", kind="openai", pricing_provider_id="openai")
    assert price_call(priced, "sim-small", 10, 10) is None
    assert price_per_mtok(priced, "sim-small") is None
    unpriced = ProviderConfig(name="Local", kind="openai")
    assert price_call(unpriced, "gpt-4o-mini", 10, 10) is None
    assert price_per_mtok(unpriced, "gpt-4o-mini") is None


def test_calls_carry_their_cost(fake_llm: str) -> None:
    override = {"sim-small": ModelPrice(Decimal("1000000"), Decimal("0"))}
    call = run_chat(simulator(fake_llm, price_overrides=override), ask("hello"))
    assert call.cost_usd == Decimal(call.tokens_in)


# ---- retry and concurrency building blocks ------------------------------------


def test_retry_after_headers() -> None:
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_backoff_is_full_jitter_capped() -> None:
    from orchestration.providers.retry import RetryPolicy

    policy = RetryPolicy(base_s=1, cap_s=5)
    assert all(0 <= backoff_s(0, policy) <= 1 for _ in range(50))
    assert all(0 <= backoff_s(10, policy) <= 5 for _ in range(50))


def test_redact_masks_the_key_and_key_like_text() -> None:
    text = redact("Incorrect API key provided: sk-proj-abcdef123456 (secret123)", "secret123")
    assert "abcdef123456" not in text
    assert "secret123" not in text


def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    semaphore = ProcessSemaphore(1)

    async def scenario() -> None:
        await semaphore.acquire()
        waiter = asyncio.create_task(semaphore.acquire())
        second = asyncio.create_task(semaphore.acquire())
        await asyncio.sleep(0.01)
        semaphore.release()  # handed to `waiter`...
        waiter.cancel()  # ...which is cancelled before it runs: `second` gets it
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.wait_for(second, timeout=1)
        assert semaphore.in_use == 1
        semaphore.release()

    asyncio.run(scenario())
    assert semaphore.in_use == 0
    with pytest.raises(ValueError, match="released more often"):
        semaphore.release()
