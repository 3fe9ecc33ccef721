"""An example application server for tui-engine's ``webhook`` step: say an account's balance.

    python examples/webhook-balance/server.py --port 8099 --secret-file examples/webhook-balance/secret.txt

It checks the request's signature (``X-Tui-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``),
looks the account up by the digits the caller entered (``entry``) and answers with a step: the
balance spoken with ``say:``, then back to the main menu. An unknown account hears a prompt
of the dialplan and is asked again. Only aiohttp is needed (tui-engine depends on it anyway).
"""

import argparse
import hashlib
import hmac
import json
import time
from pathlib import Path

from aiohttp import web

ACCOUNTS = {"1234": 4210, "5678": 99}  # account number -> balance in cents (a real one asks a database)


def signed(request_body: bytes, header: str, secret: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or abs(time.time() - int(parts["t"])) > 300:
        return False  # no time, or too old: a replayed request
    expected = hmac.new(secret, parts["t"].encode() + b"." + request_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


async def balance(request: web.Request) -> web.Response:
    body = await request.read()
    if not signed(body, request.headers.get("X-Tui-Signature", ""), request.app["secret"]):
        raise web.HTTPUnauthorized(text="bad signature")
    call = json.loads(body)
    cents = ACCOUNTS.get(call["entry"])
    if cents is None:
        return web.json_response({"play": "unknown-account", "goto": "account"})
    dollars, rest = divmod(cents, 100)
    return web.json_response(
        {"play": "balance-is", "say": f"{dollars} dollars and {rest} cents.", "goto": "main"}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret-file", type=Path, required=True)
    args = parser.parse_args()
    app = web.Application()
    app["secret"] = args.secret_file.read_bytes().strip()
    app.router.add_post("/balance", balance)
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
