"""The team server: a thin, stateless HTTP face over a ``TrackingStore`` and an
``ArtifactStore``. ``create_app`` builds it; ``runtrack server`` runs it with Uvicorn."""
