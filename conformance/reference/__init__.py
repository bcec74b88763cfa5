"""The reference provider: an OpenAI-compatible server with named faults, to run the battery against.

``faults`` holds the fault table and needs nothing beyond the standard library, so the command line and the
plugin can validate ``--reference-provider=FAULT,…`` without importing the web stack; ``server`` (Starlette and
uvicorn) is imported only when a provider is actually started. ``catalog`` is what the provider publishes and
``chat`` how it answers, both free of HTTP.
"""
