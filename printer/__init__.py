"""The kiosk's ticket printer: layout, ESC/POS rendering, connections, status and faults.

Imports core and runtime only. Nothing here knows about Kivy, MQTT or the event store; the
kiosk turns `PrinterMonitor` transitions into printer.fault / printer.recovered events.
"""
