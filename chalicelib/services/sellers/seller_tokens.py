"""Use case: keep a seller's marketplace tokens encrypted at rest, usable for one call, and fresh."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.marketplace.models import TokenGrant
from chalicelib.security.crypto import DecryptionFailed
from chalicelib.store import seller_writes, sellers
from chalicelib.store.idempotency import in_progress
from chalicelib.store.models import Seller
from chalicelib.telemetry import logger


def _context(seller_id: str) -> dict[str, str]:
    # The encryption context binds a ciphertext to its seller: a blob copied to another seller won't decrypt.
    return {"seller_id": seller_id, "purpose": "marketplace-token"}


def sealed(seller_id: str, grant: TokenGrant) -> seller_writes.Tokens:
    """A fresh grant as it is stored: its tokens encrypted for this seller, and its expiry instants."""
    cipher = container().token_cipher
    ctx = _context(seller_id)
    blobs = {
        "access": cipher.encrypt(grant.access_token, context=ctx),
        "refresh": cipher.encrypt(grant.refresh_token, context=ctx) if grant.refreshable else None,
    }
    exp = grant.refresh_expires_at
    return seller_writes.Tokens(blobs, int(grant.expires_at.timestamp()), int(exp.timestamp()) if exp else None)


def _decrypt(seller: Seller, which: str) -> str | None:
    blob = (seller.tokens or {}).get(which)
    if not blob:
        return None
    # Decrypted tokens are kept per container for a few minutes (``CACHE_TTLS["tokens"]``), keyed by the
    # ciphertext, so a new grant is never served an old token; a session error evicts the seller's entries.
    # A batch's records of one seller start together: one of them decrypts, the others wait for its answer.
    c = container()
    key = (seller.seller_id, which, str(blob.get("ct")) if isinstance(blob, dict) else repr(blob))
    try:
        return c.cache("tokens").get_or_load(
            key, lambda: c.token_cipher.decrypt(blob, context=_context(seller.seller_id))
        )
    except DecryptionFailed:
        logger.error("token does not decrypt", extra={"seller_id": seller.seller_id, "which": which})
        return None


def forget_tokens(seller_id: str) -> None:
    """Evict a seller's decrypted tokens from this container (the marketplace refused its session)."""
    container().cache("tokens").pop_matching(lambda key: key[0] == seller_id)


def access_token(seller: Seller, *, now: datetime) -> str | None:
    """The seller's session key for one call, or None when there is no usable token (needs re-authorization)."""
    if seller.status == "reauth" or not seller.token_expires_at or seller.token_expires_at <= now.timestamp():
        return None
    return _decrypt(seller, "access")


def refresh_token(seller: Seller, *, now: datetime) -> str | None:
    """The refresh token for one call, or None when it cannot be refreshed any more."""
    if not seller.refresh_expires_at or seller.refresh_expires_at <= now.timestamp():
        return None
    return _decrypt(seller, "refresh")


def needs_refresh(seller: Seller, *, now: datetime, margin: timedelta) -> bool:
    """True when the access token expires within ``margin``."""
    return bool(seller.token_expires_at) and seller.token_expires_at <= (now + margin).timestamp()


def mark_reauth(seller_id: str, *, now: datetime) -> None:
    """The seller must authorize again: stop using its tokens (its tasks are held as the worker meets them)."""

    forget_tokens(seller_id)
    # One conditional write of the status alone: a grant stored meanwhile, or a settings change, is kept.
    seller = seller_writes.mark_reauth(seller_id, now=now)
    if seller is None:
        # Already waiting for the seller (or gone). The alert is keyed on the grant, so it is asked for again: an
        # invocation that timed out between the status and the alert left it unsent, and this sends it once.
        seller = sellers.get(seller_id)
        if seller is None or seller.status != "reauth":
            return
    try:
        _alert_reauth(seller_id, seller, now=now)
    except Exception as exc:
        if not in_progress(exc):
            raise
        # Another job that met the same refused grant (the permit and the backfill of one install run side by
        # side) is sending it this moment; should it die first, its own redelivery sends it.


def _alert_reauth(seller_id: str, seller: Seller, *, now: datetime) -> None:
    from chalicelib.services.alerts.alerts import alert

    alert(
        seller_id,
        "reauth_needed",
        "The marketplace no longer accepts this app's authorization; please authorize again.",
        now=now,
        once_key=f"reauth:{seller_id}:{int(seller.token_expires_at or 0)}",
    )
