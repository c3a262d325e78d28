"""``python -m mossnet.tools.bench``: speed, memory, size and quality of every MossNet build.

``methods`` (what is measured: registry builds plus baselines, and how each is loaded),
``stages`` (build, threads, latency, sweep, memory, profile, quality: each returns its own part
of the results), ``child`` + ``rss`` (one measurement per fresh process), ``profile`` (ETDump),
``stream`` (row-streaming output), ``inputs``, ``baselines``, ``published``, ``machine`` (and
the load), ``verdict`` (the issue's targets), ``tables`` + ``report`` (Markdown, rendered from the
results file) and ``plots``."""
