"""Backup and restore: one archive with the database (pg_dump), the photo store and a manifest."""
