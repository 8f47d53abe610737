"""The device's sync agent (outbox to the central broker, counted synced only on the central
acknowledgement) and the keeper of what comes down the wire. Device side only."""
