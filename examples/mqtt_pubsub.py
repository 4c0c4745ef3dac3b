# MQTT with umqtt.simple (micropython-lib) over bsdnet: subscribe to a command topic, greet, and
# echo every command back. bsdnet.install() makes the stack the `socket` that umqtt imports; its
# blocking reads drive the interface, so no asyncio is needed.
import board  # type: ignore[import-not-found]  # boards/<name>.py deployed as board.py: chip, pins, addresses
import bsdnet
from bsdnet import tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

BROKER = "10.7.0.1"  # edit: your MQTT broker (a dotted quad)

nic = board.interface()
nic.active(True)
# address, netmask, gateway, DNS: board.py's, or your own ("192.168.1.50", "255.255.255.0", "192.168.1.1", "8.8.8.8")
nic.ifconfig((board.IP, board.NETMASK, board.GATEWAY, board.DNS))
bsdnet.install()  # from here on `import socket` is bsdnet's

from umqtt.simple import MQTTClient  # type: ignore[import-untyped]  # noqa: E402  after install(): it imports socket

client = MQTTClient("bsdnet-" + board.IP, BROKER)


def on_message(topic, msg):
    print("received", topic, msg)
    client.publish(b"bsdnet/echo", msg)


client.set_callback(on_message)
client.connect()
client.subscribe(b"bsdnet/cmd")
client.publish(b"bsdnet/hello", ("board %s up" % board.IP).encode(), retain=True)
print("mqtt: connected to", BROKER)
while True:
    client.wait_msg()  # blocks until a message comes; the read drives the interface meanwhile
