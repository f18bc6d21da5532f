"""Each request gives up at its own deadline, whatever the requests before it were given:
one timer keeps the deadline of whichever request is in flight."""

from __future__ import annotations

import asyncio

import pytest

from pumpctl.client import PumpClient
from pumpctl.keystore import Keystore
from pumpctl.link.errors import NoResponse
from pumpctl.testing.targets import InProcessSimulator


def test_a_short_deadline_after_a_long_one_is_kept() -> None:
    sim = InProcessSimulator().start()

    async def run() -> None:
        async with await PumpClient.open(sim.port, keys=Keystore(sim.keystore_path)) as client:
            transactions = client.transactions
            transactions.deadline_s, transactions.retries = 600.0, 0
            answered = await client.status()  # leaves a timer set for ten minutes on
            transactions.deadline_s = 0.05
            with sim.frozen(), pytest.raises(NoResponse):
                # Bounded far above 0.05 s and far below the earlier request's 600 s.
                await asyncio.wait_for(client.status(), 10)
            assert transactions.counters.timeouts == 1
            assert (await client.status()) == answered  # the line goes on as before

    try:
        asyncio.run(run())
    finally:
        sim.cleanup()
