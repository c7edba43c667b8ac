"""``python -m tests.stripe_server --port N``: serve the fake Stripe on 127.0.0.1:N."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .ratelimit import PROFILES
from .routing import Config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.stripe_server", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=12111)
    ap.add_argument("--rate-limits", choices=sorted(PROFILES), default="live")
    ap.add_argument("--webhook-retry-seconds", type=float, default=1.0,
                    help="first retry delay; doubles per attempt")
    ap.add_argument("--webhook-max-attempts", type=int, default=4)
    ap.add_argument("--meter-session-ttl", type=int, default=900,
                    help="seconds a v2 meter event session token stays valid")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    config = Config(webhook_retry_seconds=args.webhook_retry_seconds,
                    webhook_max_attempts=args.webhook_max_attempts,
                    meter_session_ttl=args.meter_session_ttl)
    uvicorn.run(create_app(config, args.rate_limits), host=args.host, port=args.port,
                log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
