"""Emulated arm64 parity (issue 18): ``env.sh`` builds the cached arm64 environment, ``guest.py``
runs artifacts inside it (standalone: never imports this package), ``parity.py`` is the host
side of ``python -m targets arm-parity``. See README.md in this folder."""
