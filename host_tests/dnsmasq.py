"""dnsmasq serving DHCP and DNS on the TAP inside a test's network namespace (not a test module):
test_e2e_dhcp and test_deploy. Names: srv.bsdnet.test (Linux's address), www.bsdnet.test (a CNAME)."""
import os
import signal
import subprocess
import time

TAP = "bsd0"
HOST_IP = "10.7.0.1"
CONF = """
interface={tap}
bind-interfaces
except-interface=lo
no-resolv
no-hosts
port=53
local=/bsdnet.test/
host-record=srv.bsdnet.test,{host}
cname=www.bsdnet.test,srv.bsdnet.test
dhcp-range={pool},255.255.255.0,{lease}
dhcp-option=option:router,{host}
dhcp-option=option:dns-server,{host}
dhcp-leasefile={leases}
dhcp-authoritative
log-dhcp
log-queries
local-ttl=60
{extra}
"""


class Dnsmasq:
    """dnsmasq in the foreground inside ns, on the TAP only; its log kept; stop() kills it."""

    def __init__(self, ns, tmp, lease="2m", extra="", pool="10.7.0.50,10.7.0.99"):
        self.ns = ns
        self.tmp = tmp
        self.leases = os.path.join(tmp, "dnsmasq.leases")
        self.conf = os.path.join(tmp, "dnsmasq.conf")
        self.logfile = os.path.join(tmp, "dnsmasq.log")
        with open(self.conf, "w") as f:
            f.write(CONF.format(tap=TAP, host=HOST_IP, pool=pool, lease=lease, leases=self.leases, extra=extra))
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.logfile, "a")
        self.proc = subprocess.Popen(
            self.ns.cmd(["dnsmasq", "--keep-in-foreground", "--no-daemon", "--conf-file=" + self.conf,
                         "--pid-file=", "--user=root", "--log-facility=-"]),
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(50):  # bounded: up within 5 s, or the test says why not
            if "started, version" in self.text() or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if self.proc.poll() is not None:
            raise RuntimeError("dnsmasq exited %s:\n%s" % (self.proc.returncode, self.text()))

    def text(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except OSError:
            return ""

    def lease_lines(self):
        try:
            with open(self.leases) as f:
                return [x.split() for x in f.read().splitlines() if x.strip()]
        except OSError:
            return []

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        self.log.close()


