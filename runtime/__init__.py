"""Process glue several layers need: systemd notify and watchdog, the one atomic file write, the
devices' small status files, the doctor's check primitives. Imports core only."""
