"""`canaria fetch`: stream a model to a file, verify its SHA-256, retry with backoff."""

from canaria_operator.fetch.core import CHUNK, fetch, verify
from canaria_operator.fetch.errors import FetchError
from canaria_operator.fetch.s3 import s3_request

__all__ = ["CHUNK", "FetchError", "fetch", "s3_request", "verify"]
