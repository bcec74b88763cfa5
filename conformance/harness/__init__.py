"""The loader regression harness: run the fixture corpus, and differential fuzzing, against any client's loader.

A client's loader, in any language, speaks the loader protocol (``schemas/loader-io.schema.json``): a JSON
request on stdin, a JSON response on stdout. ``protocol`` runs such a command within timeouts and output caps,
``exchanges`` is the loopback server that hosted requests fetch from (and that records what they fetched),
``cases`` turns corpus cases into protocol requests and what the reference concludes of them, ``compare``
judges a loader's answer, ``expectations`` reads a loader's declared divergences, ``fuzz`` searches for inputs on
which a loader and the reference disagree, ``reference`` is the reference loader behind the protocol
(``python -m conformance.loader``), and ``plugin`` is the thin pytest layer (``--loader-cmd``).
"""
