"""runtrack: experiment tracking that proves results are reproducible."""
__version__ = "0.1.0"
