"""The webhook senders' TLS settings: made once per process, and as strict as httpx's own."""

from __future__ import annotations

import ssl

from openoms.services.webhooks.sending import tls_context


def test_every_sender_shares_one_tls_context_that_verifies_certificates_and_hosts() -> None:
    context = tls_context()
    assert tls_context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded
