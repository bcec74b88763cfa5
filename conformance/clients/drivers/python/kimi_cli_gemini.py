"""Kimi Code CLI with a provider of type ``gemini`` (or ``google_genai``): kosong's ``GoogleGenAI`` over the
``google-genai`` SDK, driven through ``kosong.step`` with a toolset, so kosong's own reading of the parts decides
what the client sees.

As MoonshotAI/kimi-cli builds and drives it (read at 4a550ef):
- ``src/kimi_cli/llm.py``: ``GoogleGenAI(model=, base_url=provider.base_url, api_key=, default_headers=
  custom_headers)``; ``with_thinking("high")`` when thinking is on for a model that can think, else nothing.
- ``packages/kosong/src/kosong/contrib/chat_provider/google_genai.py`` (the same file as kosong 0.56.0):
  ``genai.Client(http_options=HttpOptions(base_url=…, headers=…), api_key=…)`` with no ``api_version``, so the
  SDK's own default (``v1`` in google-genai 3.x) is put after the base URL: requests go to
  ``{root}/v1/models/{model}:streamGenerateContent?alt=sse`` with the key in ``x-goog-api-key``; the system
  prompt as ``system_instruction``, every tool as a ``functionDeclaration`` with ``parameters_json_schema``; a
  part with ``thought`` is thinking, other text the answer, a ``functionCall`` a tool call (id
  ``{name}_{id or a local number}``, arguments ``json.dumps(args)``); the usage is the last ``usageMetadata``
  seen; tool results go back as one user turn of ``functionResponse`` parts named after the call.
- ``src/kimi_cli/soul/kimisoul.py``: each step is ``kosong.step`` with the agent's toolset, retried on connection
  errors, timeouts, an empty response and HTTP 429/500/502/503 (3 attempts, ``config.py``), as in
  ``kimi_cli.py``.
Nothing is added: a step that hangs is cut by ``turn.py``'s deadline.

Run with the drivers' interpreter: ``python kimi_cli_gemini.py`` reads request lines on stdin (see ``turn.py``).
"""

from __future__ import annotations

import sys

from kimi_cli import KimiCli
from kosong.contrib.chat_provider.google_genai import GoogleGenAI
from turn import Request, serve


class KimiCliGemini(KimiCli):
    """``kimi_cli.py``'s steps, retries and reading of the reply, over kosong's ``GoogleGenAI``."""

    name = "kimi-cli-gemini"

    def reads_reasoning(self, request: Request) -> bool:
        return request.reasoning

    def _provider(self, request: Request) -> GoogleGenAI:  # type: ignore[override]
        provider = GoogleGenAI(
            model=request.model,
            base_url=request.root,
            api_key=request.api_key,
            default_headers=request.headers or None,
        )
        return provider.with_thinking("high") if request.reasoning else provider


if __name__ == "__main__":
    sys.exit(serve(KimiCliGemini()))
