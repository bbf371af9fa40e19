"""Expiry (清零): village policies, the advance-notice preview, and the due job."""
