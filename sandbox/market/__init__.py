"""Sandbox marketplace: the TOP protocol, OAuth, push delivery and fault injection, served locally."""

from sandbox.market.auth import SellerAccount
from sandbox.market.clock import FakeClock
from sandbox.market.publisher import Publisher, PushChannel
from sandbox.market.server import SandboxMarketplace

__all__ = ["FakeClock", "Publisher", "PushChannel", "SandboxMarketplace", "SellerAccount"]
