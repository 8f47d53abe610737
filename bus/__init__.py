"""The one way to reach a broker: the MQTT link (paho, MQTT 5), topic names, broker-config
rendering (passwords, ACLs), the hub's wire format for state and calls, the device-side hub
client and command worker, retained publish/fetch. No Kivy; imports core and runtime only."""
