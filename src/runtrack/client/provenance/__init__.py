"""Provenance captured with no user code: git state, environment, command, Hydra, seeds and
dataset hashes. Each capture lives in its own module and imports nothing heavy at import
time; the SDK (``runtrack.init`` / ``Run``) calls them and records what they return.
"""
