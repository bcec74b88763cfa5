"""provider-conformance: does an LLM API provider work with coding-agent clients?

The public namespace. Data flows one way: a target is read (``jsondoc``, ``loader``), checks from the
``catalogue`` turn it into ``Finding``s, and ``report`` renders them. The pytest plugin (``plugin``) and the
command line (``cli``) are thin layers over that engine.

Exceptions raised by the engine::

    ConformanceError            anything the suite itself raises on purpose
    ├── UsageError              a command line that cannot run (pytest turns it into a usage error, exit 4)
    └── LoaderError             the reference loader refuses a document (carries a code and a JSON pointer)
        └── DocumentError       the bytes are not strict JSON (NaN, BOM, too deep, too large, not UTF-8 …)

PYTEST_DONT_REWRITE: the package asserts nothing a test reports, and ``provider-conformance check`` has imported
it before pytest starts, which pytest would otherwise warn about on every run.
"""

from conformance.errors import ConformanceError, DocumentError, LoaderError, UsageError

__version__ = "0.1.0"

__all__ = ["ConformanceError", "DocumentError", "LoaderError", "UsageError", "__version__"]
