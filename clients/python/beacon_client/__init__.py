"""Send events to Beacon from Python: `Client` queues and sends in the background; `flask` and
`wsgi` record every request as an `api_call` event and every unhandled exception as an `error`."""

from beacon_client._sender import Counts
from beacon_client.client import Client

__all__ = ["Client", "Counts"]
