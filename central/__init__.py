"""The central side: the ingest (exactly once, acknowledged after its own commit), the central
database, publishing site configuration and appointment lists down the wire."""
