"""``python -m mossnet.bench``: speed, memory, size and quality of every MossNet build.

One module per job: ``methods`` (what is measured and how each one is loaded), ``artifacts``
(build or reuse exported artifacts through the real exporters), ``inputs`` (job sizes and test
images), ``timing``, ``rss`` + ``child`` (peak memory, one job per fresh process), ``stream``
(row-streaming output), ``quality``, ``machine``, ``published``, ``report`` and ``plots``."""
