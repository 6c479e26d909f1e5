"""The load generator lives with the demo (``canaria demo`` uses it too)."""

from canaria_devtools.demo.traffic import LoadGenerator, Record

__all__ = ["LoadGenerator", "Record"]
