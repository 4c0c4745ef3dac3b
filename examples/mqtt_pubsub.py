# MQTT with umqtt.simple (micropython-lib) over bsdnet: subscribe to a command topic, greet, and
# echo every command back. bsdnet.install() makes the stack the `socket` that umqtt imports; its
# blocking reads drive the interface, so no asyncio is needed.
import bsdnet
from bsdnet import boardcfg, tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

BROKER = "10.7.0.1"  # edit: your MQTT broker (a dotted quad)

# The address comes from the board's /config.py, written by `make deploy BOARD=... PORT=... IP=...`
# (IP=dhcp: a lease, renewed while the interface is driven; or IP=192.168.1.50/24 GATEWAY=... DNS=...).
nic = boardcfg.up()
bsdnet.install()  # from here on `import socket` is bsdnet's

from umqtt.simple import MQTTClient  # type: ignore[import-untyped]  # noqa: E402  after install(): it imports socket

client = MQTTClient("bsdnet-" + nic.ifconfig()[0], BROKER)


def on_message(topic, msg):
    print("received", topic, msg)
    client.publish(b"bsdnet/echo", msg)


client.set_callback(on_message)
client.connect()
client.subscribe(b"bsdnet/cmd")
client.publish(b"bsdnet/hello", ("board %s up" % nic.ifconfig()[0]).encode(), retain=True)
print("mqtt: connected to", BROKER)
while True:
    client.wait_msg()  # blocks until a message comes; the read drives the interface meanwhile
