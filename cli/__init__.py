"""The `palvelupiste` command."""
