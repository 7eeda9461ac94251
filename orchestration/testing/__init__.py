"""Test and demo helpers of the engine: the Simulator (a fake LLM server).

`python -m orchestration.testing.fakellm` runs the Simulator, an OpenAI- and
Anthropic-compatible server whose answers are deterministic and labelled
simulated (see docs/fakellm.md). Modules: `fakellm` (server and command line),
`fake_formats` (wire formats and replies), `fake_behaviour` (directives and
script rules), `fake_schema` (JSON documents generated from a JSON Schema).
"""

from __future__ import annotations
