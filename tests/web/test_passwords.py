"""argon2 with the library's default parameters (the production ones), off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher

from tui_engine.web.passwords import hash_secret_async, use_hasher, verify_secret_async


async def test_default_parameters_hash_and_verify_without_blocking_the_loop() -> None:
    previous = use_hasher(PasswordHasher())
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        hashed = await hash_secret_async("correct horse")
        ok, bad, missing = await asyncio.gather(
            verify_secret_async(hashed, "correct horse"),
            verify_secret_async(hashed, "wrong"),
            verify_secret_async(None, "anything"),
        )
        task.cancel()
        assert hashed.startswith("$argon2id$") and "m=65536,t=3,p=4" in hashed
        assert (ok, bad, missing) == (True, False, False)
        assert ticks > 10  # the loop kept running while argon2 worked in threads
    finally:
        use_hasher(previous)
