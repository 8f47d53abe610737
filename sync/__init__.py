"""MQTT plumbing, the device sync agent and the central ingest."""
