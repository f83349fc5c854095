"""`make run` / `make serve`: start the local stack and replay a simulated market day on it.

python -m sandbox.run [--sellers N] [--trades N] [--seed N] [--serve] [--chaos]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sandbox.chaos import ChaosPlan
from sandbox.market.clock import FakeClock
from sandbox.replay import Replay
from sandbox.stack import LocalStack, StackFailed
from sandbox.world import default_sellers, generate, market_midnight

LOG_PATH = Path("build/run.log")


@dataclass
class Progress:
    """A one-line progress bar on stderr (no dependency needed for a bar)."""

    total: float
    width: int = 32
    last: float = 0.0

    def show(self, done: float, label: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < self.total:
            return
        self.last = now
        frac = min(1.0, done / self.total) if self.total else 1.0
        bar = "█" * int(frac * self.width) + "·" * (self.width - int(frac * self.width))
        sys.stderr.write(f"\r  [{bar}] {frac * 100:5.1f}%  {label:<48}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    shops = len(default_sellers())
    parser.add_argument("--sellers", type=int, default=shops, help=f"how many simulated shops (default {shops})")
    parser.add_argument("--trades", type=int, default=40, help="trades per shop in the day (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", action="store_true", help="keep the stack up after the replay until Ctrl-C")
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="replay under faults (lost, duplicated, late pushes; marketplace errors, a ban, an expired session; "
        "a worker crash; DynamoDB throttling) and check the invariants",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    day = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))
    clock = FakeClock(day.astimezone(UTC) - timedelta(days=1))
    sellers = default_sellers(args.trades)[: max(1, args.sellers)]
    trades, events = generate(day, sellers, seed=args.seed)
    started = time.monotonic()
    print(
        f"haoping local stack — replaying market day {day.date()} (GMT+8): {len(sellers)} shops, {len(trades)} trades"
    )
    stack = LocalStack(clock)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    LOG_PATH.parent.mkdir(exist_ok=True)
    log = LOG_PATH.open("w", encoding="utf-8")
    try:
        with app_output_to(log):
            stack.start()
    except StackFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        ep = stack.endpoints
        print(f"  AWS (moto) {ep.aws} · marketplace {ep.marketplace} · app {ep.app}")
        print(f"  app logs and metrics (JSON lines): {LOG_PATH}")
        with app_output_to(log):
            replay = Replay(
                stack, sellers, trades, events, day, chaos=ChaosPlan(seed=args.seed) if args.chaos else None
            )
            replay.onboard()
        nick, shop_id = next(iter(replay.seller_ids.items()))
        print(f"  dashboard of {nick} (one-time login link): {dashboard_url(stack, shop_id)}")
        with app_output_to(log):
            progress = Progress(total=replay.horizon_seconds)
            replay.run(on_tick=lambda done, label: progress.show(done, label))
            progress.close()
            report = replay.report(wall_seconds=time.monotonic() - started)
        print(report.text)
        if args.serve:
            print(f"\nStack is up. App: {stack.endpoints.app}  (Ctrl-C to stop)")
            print(f"Dashboard of {nick} (one-time login link, a fresh one): {dashboard_url(stack, shop_id)}")
            ops = f".venv/bin/python -m chalicelib.ops --endpoint {ep.aws} --table-prefix {stack.prefix}"
            print(f"Operator CLI: {ops} <command>")
            while True:
                time.sleep(1)
        return 0 if report.ok else 1
    except KeyboardInterrupt:
        print("\nstopped")
        return 130
    finally:
        stack.stop()
        log.close()


def dashboard_url(stack: LocalStack, seller_id: str) -> str:
    """A one-time login link to the seller's dashboard: the app exchanges its code, once, for the HttpOnly
    session cookie, so the printed link holds no session and is dead after the first click.

    The link outlives the replayed horizon, since the stack's clock runs through a few weeks of market time.
    """
    from chalicelib.services.sessions.seller_sessions import login_link_code

    code = login_link_code(seller_id, now=stack.clock.now(), ttl=timedelta(days=40))
    return f"{stack.endpoints.app}/login?{urlencode({'code': code})}"


@contextlib.contextmanager
def app_output_to(stream):
    """Send the app's JSON logs and EMF metrics (both written to stdout, as in Lambda) to ``stream``."""
    from chalicelib.telemetry import logger

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    handlers = [h for h in logging.getLogger(logger.name).handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(stream) for h in handlers]
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


if __name__ == "__main__":
    sys.exit(main())
