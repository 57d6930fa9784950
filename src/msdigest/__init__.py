"""msdigest: a monthly email digest of plain-language MS research summaries."""

__version__ = "0.1.0"
