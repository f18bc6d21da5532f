"""``pumpctl.cli.main`` in this process builds the whole argument parser on every call, as
the console script does once per process: about 13 ms each, and the suite calls ``main``
about a thousand times. Here the parser is built once per environment (the defaults of
``--port`` and ``--clinician`` come from it) and reused: parsing leaves it as it was."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable

import pumpctl.cli


def install() -> None:
    build: Callable[[], argparse.ArgumentParser] | None = getattr(pumpctl.cli, "_parser", None)
    if build is None:  # built elsewhere now: nothing to share
        return

    @functools.lru_cache(maxsize=16)
    def built(environment: frozenset[tuple[str, str]]) -> argparse.ArgumentParser:
        assert build is not None
        return build()

    def parser() -> argparse.ArgumentParser:
        return built(frozenset(os.environ.items()))

    pumpctl.cli._parser = parser
