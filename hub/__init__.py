"""The site's queue authority: turns commands into events and publishes live state."""
