#!/usr/bin/env python3
"""The real DNS path of `moat proxy` (issues 3 and 8): no --resolve.

The test re-executes itself under `unshare --net --mount --fork` (as
root), so everything below happens in private namespaces and no packet
leaves the machine:

  moat side (the test's own namespace)      origin side (second netns)
    lo 127.0.0.1, ::1: canary origin          1.2.3.4, 2600:db8:1::4:
    127.0.0.53:53 DNS responder (UDP)           public origin :80/:443
    1.2.3.1/24, 2600:db8:1::1/64 -- veth -- 10.9.9.9, 192.168.77.7,
    routes to the private addresses           169.254.169.254, fd00:9::9:
    /etc/resolv.conf bind-mounted:              canary origin :80/:443
      nameserver 127.0.0.53

The DNS responder answers A/AAAA from a table the test controls (private,
metadata, loopback, CGNAT, the host's own address, IPv6 ULA/mapped/NAT64,
mixed public+private answers, CNAME chains, NXDOMAIN, silence, answers held
until the client left, and a rebinding name that answers public once and
127.0.0.1 afterwards) and records every query.  `moat proxy` ($MOAT_BIN) is driven with curl, plain
http:// and https:// through CONNECT (--cacert $MOAT_CA); each test
asserts the exact status, X-Moat-Blocked header and body, what the public
origin recorded and that the canaries (every refused address) recorded
nothing.

Run: MOAT_BIN=build/moat python3 tests/integ/test_dns.py [-v] [Test.name]
(ctest: test_dns_integ).  Exit 77 (skipped) only when unprivileged or
when network/mount namespaces cannot be created.
"""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MOAT = os.environ.get("MOAT_BIN", "moat")
WAIT = 20  # seconds: the bound on every wait (never a timing assertion)
INNER = "MOAT_TEST_DNS_INNER"

sys.path.insert(0, HERE)
from test_proxy import Proc, read_line  # noqa: E402  (shared helpers)

DNS_ADDR = "127.0.0.53"
MOAT_IP = "1.2.3.1"
PUB_IP = "1.2.3.4"
PRIV_IPS = ("10.9.9.9", "192.168.77.7", "169.254.169.254")
# global IPv6 on both sides, so evdns (AI_ADDRCONFIG) asks for AAAA too
MOAT_IP6 = "2600:db8:1::1"
PUB_IP6 = "2600:db8:1::4"
ULA_IP6 = "fd00:9::9"
CONNECT_TIMEOUT_MS = 2000

# name -> list of addresses, or a behaviour ("silent", "nx", "rebind")
ZONE = {
    "pub.test": [PUB_IP],
    "private10.test": ["10.9.9.9"],
    "private192.test": ["192.168.77.7"],
    "metadata.test": ["169.254.169.254"],
    "loop.test": ["127.0.0.1"],
    "cgnat.test": ["100.64.0.1"],
    "self.test": [MOAT_IP],
    "mixed.test": ["10.9.9.9", PUB_IP, "127.0.0.1"],
    "mixed-loop-first.test": ["127.0.0.1", "169.254.169.254", PUB_IP],
    "allbad.test": ["192.168.77.7", "127.0.0.1"],
    "ula.test": [ULA_IP6],
    "mapped.test": ["::ffff:127.0.0.1"],
    "mapped-meta.test": ["::ffff:169.254.169.254"],
    "nat64-private.test": ["64:ff9b::a09:909"],
    "pub6.test": [PUB_IP6],
    "dual.test": [PUB_IP, PUB_IP6],
    "v4pub-v6ula.test": [PUB_IP, ULA_IP6],
    "v4priv-v6pub.test": ["10.9.9.9", PUB_IP6],
    "cname-private.test": ("cname", "target.example", ["10.9.9.9"]),
    "cname-public.test": ("cname", "target.example", [PUB_IP]),
    "many.test": [f"10.9.{i}.{i}" for i in range(1, 25)] + [PUB_IP],
    "held.test": ("held", ["10.9.9.9"]),
    "silent.test": "silent",
    "nx.test": "nx",
    "rebind.test": "rebind",
    "rebind-tls.test": "rebind",
    "rebind-ka.test": "rebind",
    "denied.test": [PUB_IP],
    "allowed.test": [PUB_IP],
    "exact-private.test": ["10.9.9.9"],
    "a.wild.test": ["10.9.9.9"],
    "b.wild.test": [PUB_IP],
}
CERT_NAMES = [n for n in ZONE if n not in ("silent.test", "nx.test")]


def skip(msg):
    print(f"SKIP: {msg}", file=sys.stderr)
    sys.exit(77)


def reexec_in_namespaces():
    """Runs this file again inside new network and mount namespaces."""
    if os.geteuid() != 0:
        skip("needs root for network and mount namespaces")
    if shutil.which("unshare") is None or shutil.which("ip") is None \
            or shutil.which("nsenter") is None:
        skip("unshare, nsenter or ip is missing")
    probe = subprocess.run(["unshare", "--net", "--mount", "--fork", "true"],
                           capture_output=True, timeout=WAIT)
    if probe.returncode != 0:
        skip("cannot create namespaces: " + probe.stderr.decode().strip())
    env = dict(os.environ)
    env[INNER] = "1"
    env["MOAT_BIN"] = os.path.abspath(MOAT) if os.sep in MOAT else MOAT
    r = subprocess.run(["unshare", "--net", "--mount", "--fork",
                        "--propagation", "private", "--",
                        sys.executable, os.path.abspath(__file__)] +
                       sys.argv[1:], env=env)
    sys.exit(r.returncode)


def run(*argv):
    r = subprocess.run(argv, capture_output=True, timeout=WAIT)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.decode()}")
    return r.stdout.decode()


# ---------------------------------------------------------------------------
# The DNS responder


def qname_at(msg, off):
    labels = []
    for _ in range(128):
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        if n & 0xc0:
            raise ValueError("compression in a question")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    raise ValueError("name too long")


class DNS:
    """A tiny authoritative UDP responder on 127.0.0.53:53.

    evdns in libevent 2.1 (Debian 12) queries over UDP only and never sets
    up TCP, so no TCP listener is needed; answers are far below 512 bytes.
    """

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((DNS_ADDR, 53))
        self.s.settimeout(0.2)
        self.lock = threading.Lock()
        self.queries = []          # (name, qtype, txid)
        self.rebind_ids = {}       # name -> set of A transaction ids seen
        self.held = []             # (answer, peer) kept until release()
        self.stopping = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def count(self, name, qtype=None):
        with self.lock:
            return len([q for q in self.queries if q[0] == name and
                        (qtype is None or q[1] == qtype)])

    def txids(self, name, qtype=1):
        with self.lock:
            return len({q[2] for q in self.queries
                        if q[0] == name and q[1] == qtype})

    def stop(self):
        self.stopping = True
        self.t.join(WAIT)
        self.s.close()

    def loop(self):
        while not self.stopping:
            try:
                msg, peer = self.s.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                out = self.answer(msg)
            except (ValueError, IndexError, struct.error):
                continue
            if isinstance(out, tuple):      # held: sent by release()
                with self.lock:
                    self.held.append((out[1], peer))
            elif out is not None:
                self.s.sendto(out, peer)

    def release(self):
        """Sends every held answer now."""
        with self.lock:
            held, self.held = self.held, []
        for out, peer in held:
            self.s.sendto(out, peer)

    def answer(self, msg):
        txid, flags, qd = struct.unpack("!HHH", msg[:6])
        if flags & 0x8000 or qd != 1:
            return None
        name, off = qname_at(msg, 12)
        qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        question = msg[12:off + 4]
        name = name.lower().rstrip(".")
        with self.lock:
            self.queries.append((name, qtype, txid))
        entry = ZONE.get(name)
        rcode = 0
        addrs = []
        if entry == "silent":
            return None
        if entry is None or entry == "nx":
            rcode = 3
        elif entry == "rebind":
            with self.lock:
                seen = self.rebind_ids.setdefault((name, qtype), [])
                if txid not in seen:
                    seen.append(txid)
                first = seen[0] == txid
            addrs = [PUB_IP if first else "127.0.0.1"]
        else:
            addrs = entry
        held = isinstance(entry, tuple) and entry[0] == "held"
        if held:
            addrs = entry[1]
        rrs = b""
        n = 0
        owner = 0xc00c
        if isinstance(entry, tuple) and entry[0] == "cname":
            # CNAME to another name plus that name's addresses
            target = b"".join(bytes([len(x)]) + x.encode()
                              for x in entry[1].split(".")) + b"\0"
            rrs += struct.pack("!HHHIH", 0xc00c, 5, 1, 5, len(target))
            off_target = 12 + len(question) + len(rrs)
            rrs += target
            owner = 0xc000 | off_target
            n = 1
            addrs = entry[2]
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            want = 28 if fam == socket.AF_INET6 else 1
            if qtype != want or qclass != 1:
                continue
            data = socket.inet_pton(fam, a)
            rrs += struct.pack("!HHHIH", owner, want, 1, 5, len(data))
            rrs += data
            n += 1
        hdr = struct.pack("!HHHHHH", txid, 0x8400 | (flags & 0x0100) | rcode,
                          1, n, 0, 0)
        return ("held", hdr + question + rrs) if held else \
            hdr + question + rrs


# ---------------------------------------------------------------------------
# Fixtures

ORIGIN_AT = """
import asyncio, runpy, sys
hosts = sys.argv[1].split(",")
real = asyncio.start_server
def start_server(cb, host=None, port=None, **kw):
    return real(cb, hosts, port, **kw)
asyncio.start_server = start_server
sys.argv = [sys.argv[2]] + sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moat-dns-test-")
        self.procs = []
        self.dns = None
        self.mounted = False
        try:
            self.setup()
        except BaseException:
            self.close()
            raise

    def setup(self):
        d = self.dir
        # resolv.conf, only in this mount namespace
        rc = os.path.join(d, "resolv.conf")
        with open(rc, "w") as f:
            f.write(f"nameserver {DNS_ADDR}\n")
        run("mount", "--bind", rc, "/etc/resolv.conf")
        self.mounted = True
        with open("/etc/resolv.conf") as f:
            if f.read() != f"nameserver {DNS_ADDR}\n":
                raise RuntimeError("resolv.conf bind mount not visible")
        run("ip", "link", "set", "lo", "up")
        # the origin namespace: a sleeper holding a fresh netns
        hold = Proc(["unshare", "--net", "--", "sleep", "3600"])
        self.procs.append(hold)
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.time() + WAIT
        while time.time() < deadline:
            try:
                if os.readlink(f"/proc/{hold.p.pid}/ns/net") != mine:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        else:
            raise RuntimeError("origin namespace did not appear")
        pid = str(hold.p.pid)
        self.ns = ["nsenter", "-t", pid, "-n", "--"]
        run("ip", "link", "add", "moat0", "type", "veth", "peer", "name",
            "orig0", "netns", pid)
        run("ip", "addr", "add", f"{MOAT_IP}/24", "dev", "moat0")
        run("ip", "-6", "addr", "add", f"{MOAT_IP6}/64", "dev", "moat0",
            "nodad")
        run("ip", "link", "set", "moat0", "up")
        run("ip", "-6", "route", "add", f"{ULA_IP6}/128", "via", PUB_IP6)
        for a in PRIV_IPS:
            run("ip", "route", "add", f"{a}/32", "via", PUB_IP)
        run(*self.ns, "ip", "link", "set", "lo", "up")
        run(*self.ns, "ip", "addr", "add", f"{PUB_IP}/24", "dev", "orig0")
        for a in PRIV_IPS:
            run(*self.ns, "ip", "addr", "add", f"{a}/32", "dev", "orig0")
        run(*self.ns, "ip", "-6", "addr", "add", f"{PUB_IP6}/64", "dev",
            "orig0", "nodad")
        run(*self.ns, "ip", "-6", "addr", "add", f"{ULA_IP6}/128", "dev",
            "orig0", "nodad")
        run(*self.ns, "ip", "link", "set", "orig0", "up")
        # certificate for every name (verified by the proxy upstream)
        self.cert = os.path.join(d, "origin.crt")
        self.key = os.path.join(d, "origin.key")
        san = ",".join("DNS:" + n for n in CERT_NAMES)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
            "-out", self.cert, "-days", "2", "-subj", "/CN=pub.test",
            "-addext", "subjectAltName=" + san)
        self.pub = self.origin("pub", [PUB_IP, PUB_IP6], self.ns)
        self.canary_b = self.origin("canary-b", list(PRIV_IPS) + [ULA_IP6],
                                    self.ns)
        self.canary_a = self.origin("canary-a", ["127.0.0.1", "::1"], [])
        self.dns = DNS()

    def origin(self, name, hosts, prefix):
        record = os.path.join(self.dir, name + ".jsonl")
        p = Proc(prefix + [sys.executable, "-c", ORIGIN_AT, ",".join(hosts),
                           os.path.join(HERE, "origin.py"), "--http-port",
                           "80", "--https-port", "443", "--cert", self.cert,
                           "--key", self.key, "--record", record])
        self.procs.append(p)
        line = read_line(p.p.stdout, time.time() + WAIT)
        if line is None or json.loads(line) != {"http_port": 80,
                                                 "https_port": 443}:
            raise RuntimeError(f"origin {name} did not start: {line} "
                               + p.stderr())
        p.record = record
        return p

    def proxy(self, *extra, connect_timeout_ms=CONNECT_TIMEOUT_MS):
        log = os.path.join(self.dir, f"network{len(self.procs)}.jsonl")
        argv = [MOAT, "proxy", "-v", "--listen", "127.0.0.1:0", "--log", log,
                "--upstream-ca", self.cert, "--limit",
                f"connect-timeout-ms={connect_timeout_ms}"] + list(extra)
        p = Proc(argv)
        self.procs.append(p)
        vals = {}
        deadline = time.time() + WAIT
        while "MOAT_CA" not in vals:
            line = read_line(p.p.stdout, deadline)
            if line is None:
                raise RuntimeError("proxy did not start: " + p.stderr())
            k, _, v = line.partition("=")
            vals[k] = v
        p.url = vals["HTTP_PROXY"]
        p.ca = vals["MOAT_CA"]
        p.log = log
        return p

    def close(self):
        if self.dns is not None:
            self.dns.stop()
        for p in reversed(self.procs):
            p.stop()
            err = p.stderr()
            p.errf.close()
            if "ERROR: AddressSanitizer" in err or "runtime error" in err \
                    or p.p.returncode not in (0, -signal.SIGTERM):
                print(f"child {p.p.args[:2]} exited {p.p.returncode}:\n"
                      f"{err[-6000:]}", file=sys.stderr)
                self.failed_children = True
        if self.mounted:
            subprocess.run(["umount", "/etc/resolv.conf"],
                           capture_output=True, timeout=WAIT)
        shutil.rmtree(self.dir, ignore_errors=True)


ENV = None


def setUpModule():
    global ENV
    ENV = Env()


def tearDownModule():
    if ENV is None:
        return
    ENV.close()
    if getattr(ENV, "failed_children", False):
        raise RuntimeError("a child process crashed or reported errors")


def records(p):
    try:
        with open(p.record) as f:
            return [json.loads(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []


def curl(proxy, *urls, extra=()):
    """curl through proxy; returns a list of (status, head, body), one per
    final response (CONNECT and interim responses skipped), and stderr."""
    argv = ["curl", "-sS", "-i", "--max-time", str(WAIT), "-x", proxy.url,
            "--cacert", proxy.ca] + list(extra) + list(urls)
    r = subprocess.run(argv, capture_output=True, timeout=WAIT + 5)
    out = r.stdout
    res = []
    while out:
        head, sep, rest = out.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        code = int(lines[0].split(b" ")[1])
        hd = head.decode("latin-1")
        if 100 <= code < 200 or (code == 200 and b"Connection established"
                                 in lines[0] or b"Connection Established"
                                 in lines[0]):
            out = rest
            continue
        n = None
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        if n is None:
            body, out = rest, b""
        else:
            body, out = rest[:n], rest[n:]
        res.append((code, hd, body))
    return res, r.stderr.decode("latin-1")


def header(head, name):
    for ln in head.split("\r\n")[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class Base(unittest.TestCase):
    proxy_args = ()
    connect_timeout_ms = CONNECT_TIMEOUT_MS

    @classmethod
    def setUpClass(cls):
        cls.px = ENV.proxy(*cls.proxy_args,
                           connect_timeout_ms=cls.connect_timeout_ms)

    def setUp(self):
        self.n_pub = len(records(ENV.pub))
        self.n_canary = (len(records(ENV.canary_a)),
                         len(records(ENV.canary_b)))

    def tearDown(self):
        # nothing may reach a refused address (each test blames only itself)
        self.assertEqual(records(ENV.canary_a)[self.n_canary[0]:], [],
                         "a refused loopback address was connected to")
        self.assertEqual(records(ENV.canary_b)[self.n_canary[1]:], [],
                         "a refused private address was connected to")

    def new_pub(self):
        return records(ENV.pub)[self.n_pub:]

    def one(self, url, extra=()):
        res, err = curl(self.px, url, extra=extra)
        self.assertEqual(len(res), 1, f"{url}: {res!r} {err}")
        return res[0]

    def fetch(self, url):
        """(status, head, body) as the client sees them.  For https:// the
        status and head come from curl's CONNECT and the body (which curl
        does not print) from the same CONNECT sent on a raw socket; both
        must agree.  Each https:// fetch thus asks the proxy twice."""
        code, head, body = self.one(url)
        if url.startswith("https://") and code != 200:
            host = url.split("/")[2]
            rcode, rhead, rbody = connect_raw(self.px, host + ":443")
            self.assertEqual(rcode, code, rhead)
            self.assertEqual(header(rhead, "X-Moat-Blocked"),
                             header(head, "X-Moat-Blocked"))
            self.assertEqual(body, b"")
            body = rbody
        return code, head, body

    def blocked(self, url, name, reason, hint):
        """url must be refused with 403, this reason and this hint."""
        code, head, body = self.fetch(url)
        self.assertEqual(code, 403, head)
        self.assertEqual(header(head, "X-Moat-Blocked"), reason)
        self.assertEqual(body.decode("latin-1"),
                         f"moat: blocked {name} ({reason}): {hint}\n")
        self.assertEqual(self.new_pub(), [])
        host, port = name.rsplit(":", 1)
        e = wait_log(self.px, host, int(port), 403)
        self.assertEqual(e["decision"], "deny")
        self.assertEqual(e["error"], f"blocked {name} ({reason}): {hint}")


def wait_log(px, host, port, status):
    """The last network.jsonl entry for host:port with status, waiting at
    most WAIT for the proxy to write it."""
    deadline = time.time() + WAIT
    while True:
        try:
            with open(px.log) as f:
                es = [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            es = []
        es = [e for e in es if e["host"] == host and e["port"] == port and
              e["status"] == status]
        if es or time.time() > deadline:
            break
        time.sleep(0.05)
    if not es:
        raise AssertionError(f"no log entry {host}:{port} {status}")
    return es[-1]


def allow_hint(name):
    return f'add network.allow: ["{name}"] in agent.yaml (under network:)'


def host_hint(port):
    return (f"add network.host: [{port}] in agent.yaml (under network:) "
            f"to let the agent reach port {port} on this host")


def connect_raw(px, authority):
    """Sends CONNECT authority with the token on a raw socket; returns
    (status, head, body) read until the proxy closes (bounded by WAIT)."""
    cred = px.url.split("//", 1)[1].rsplit("@", 1)[0]
    port = int(px.url.rsplit(":", 1)[1])
    auth = base64.b64encode(cred.encode()).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    out = b""
    try:
        s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                  f"Proxy-Authorization: Basic {auth}\r\n\r\n".encode())
        deadline = time.time() + WAIT
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
            head, sep, rest = out.partition(b"\r\n\r\n")
            if sep:
                n = header(head.decode("latin-1"), "Content-Length")
                if n is not None and len(rest) >= int(n):
                    break
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    hd = head.decode("latin-1")
    return int(hd.split(" ")[1]) if hd else 0, hd, body


class TestPermissive(Base):
    def test_public_name_http(self):
        code, head, body = self.one("http://pub.test/echo")
        self.assertEqual(code, 200, head)
        got = self.new_pub()
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["target"], "/echo")
        self.assertIn(["Host", "pub.test"], got[0]["headers"])
        self.assertFalse(got[0]["tls"])
        self.assertGreaterEqual(ENV.dns.count("pub.test", 1), 1)

    def test_public_name_https(self):
        code, head, body = self.one("https://pub.test/echo")
        self.assertEqual(code, 200, head)
        got = self.new_pub()
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0]["tls"])
        self.assertEqual(got[0]["sni"], "pub.test")

    def test_refused_answers(self):
        # (url, reason, hint) for names answering only refused addresses;
        # with several, the first refused address gives the reason
        cases = [
            ("http://private10.test/", "private address 10.9.9.9 (private)",
             allow_hint("private10.test")),
            ("https://private192.test/",
             "private address 192.168.77.7 (private)",
             allow_hint("private192.test")),
            ("http://metadata.test/latest/meta-data/",
             "link-local address 169.254.169.254 (cloud metadata)",
             allow_hint("169.254.169.254")),
            ("https://metadata.test/",
             "link-local address 169.254.169.254 (cloud metadata)",
             allow_hint("169.254.169.254")),
            ("http://loop.test/", "loopback address 127.0.0.1 (loopback)",
             host_hint(80)),
            ("https://loop.test/", "loopback address 127.0.0.1 (loopback)",
             host_hint(443)),
            ("http://cgnat.test/",
             "CGNAT address 100.64.0.1 (carrier-grade NAT)",
             allow_hint("cgnat.test")),
            # the proxy host's own (public) address on the veth
            ("http://self.test/", f"host's own address {MOAT_IP} (this host)",
             host_hint(80)),
            ("http://allbad.test/", "private address 192.168.77.7 (private)",
             allow_hint("allbad.test")),
        ]
        for url, reason, hint in cases:
            with self.subTest(url=url):
                host = url.split("/")[2]
                port = 443 if url.startswith("https") else 80
                self.blocked(url, f"{host}:{port}", reason, hint)

    def test_mixed_connects_only_checked(self):
        # issue 3: every address is checked; the refused ones are dropped
        # and only the checked public address is dialled.
        for url in ("http://mixed.test/echo", "https://mixed.test/echo",
                    "http://mixed-loop-first.test/echo"):
            code, head, _ = self.one(url)
            self.assertEqual(code, 200, f"{url}: {head}")
        got = self.new_pub()
        self.assertEqual([r["target"] for r in got], ["/echo"] * 3)
        self.assertEqual(header_of(got[0], "Host"), "mixed.test")
        self.assertEqual(got[1]["sni"], "mixed.test")
        self.assertEqual(header_of(got[2], "Host"), "mixed-loop-first.test")

    def test_ipv6_refused(self):
        self.blocked("http://ula.test/", "ula.test:80",
                     f"private address {ULA_IP6} (unique local)",
                     allow_hint("ula.test"))
        self.blocked("https://ula.test/", "ula.test:443",
                     f"private address {ULA_IP6} (unique local)",
                     allow_hint("ula.test"))
        self.blocked("http://mapped.test/", "mapped.test:80",
                     "loopback address ::ffff:127.0.0.1 (IPv4-mapped "
                     "127.0.0.1, loopback)", host_hint(80))
        self.blocked("http://mapped-meta.test/", "mapped-meta.test:80",
                     "link-local address ::ffff:169.254.169.254 (IPv4-mapped "
                     "169.254.169.254, cloud metadata)",
                     allow_hint("169.254.169.254"))
        self.blocked("http://nat64-private.test/", "nat64-private.test:80",
                     "private address 64:ff9b::a09:909 (NAT64 10.9.9.9, "
                     "private)", allow_hint("nat64-private.test"))
        self.assertGreaterEqual(ENV.dns.count("ula.test", 28), 2)

    def test_ipv6_public(self):
        for url in ("http://pub6.test/echo", "https://pub6.test/echo",
                    "http://dual.test/echo",
                    "http://v4pub-v6ula.test/echo",
                    "https://v4priv-v6pub.test/echo"):
            code, head, _ = self.one(url)
            self.assertEqual(code, 200, f"{url}: {head}")
        got = self.new_pub()
        self.assertEqual(len(got), 5)
        self.assertEqual(header_of(got[0], "Host"), "pub6.test")
        self.assertEqual(got[1]["sni"], "pub6.test")
        self.assertEqual(got[4]["sni"], "v4priv-v6pub.test")

    def test_cname(self):
        # the addresses at the end of a CNAME chain are checked like others
        self.blocked("http://cname-private.test/", "cname-private.test:80",
                     "private address 10.9.9.9 (private)",
                     allow_hint("cname-private.test"))
        code, head, _ = self.one("https://cname-public.test/echo")
        self.assertEqual(code, 200, head)
        got = self.new_pub()
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["sni"], "cname-public.test")

    def test_many_addresses_public_last(self):
        # 24 private addresses, then the public one: all checked, the
        # private ones dropped (none dialled), the public one used
        code, head, _ = self.one("http://many.test/echo")
        self.assertEqual(code, 200, head)
        self.assertEqual(len(self.new_pub()), 1)

    def test_name_spelling(self):
        # case and a trailing dot do not change what is checked
        for url, name in (("http://PRIVATE10.Test/", "private10.test:80"),
                          ("http://private10.test./", "private10.test:80")):
            code, head, body = self.one(url)
            self.assertEqual(code, 403, f"{url}: {head}")
            self.assertEqual(header(head, "X-Moat-Blocked"),
                             "private address 10.9.9.9 (private)")

    def test_nxdomain(self):
        for url in ("http://nx.test/", "https://nx.test/"):
            code, head, body = self.fetch(url)
            self.assertEqual(code, 502, head)
            self.assertIsNone(header(head, "X-Moat-Blocked"))
            self.assertEqual(body, b"moat: cannot resolve nx.test: nodename "
                             b"nor servname provided, or not known\n")
            e = wait_log(self.px, "nx.test", 443 if "https" in url else 80,
                         502)
            self.assertEqual(e["error"], body.decode()[6:-1])
        self.assertGreaterEqual(ENV.dns.count("nx.test", 1), 2)
        self.assertEqual(self.new_pub(), [])

    def test_rebinding(self):
        # First lookup: public; every later lookup: 127.0.0.1.  The request
        # reaches the public origin: the proxy dials the address it checked
        # and never asks again for the same request.  A new request resolves
        # again, gets 127.0.0.1 and is refused.  For https:// curl's CONNECT
        # and the raw CONNECT in fetch() make one lookup each.
        for scheme, name, port, lookups in (("http", "rebind.test", 80, 2),
                                            ("https", "rebind-tls.test", 443,
                                             3)):
            self.n_pub = len(records(ENV.pub))
            code, head, _ = self.one(f"{scheme}://{name}/echo")
            self.assertEqual(code, 200, head)
            got = self.new_pub()
            self.assertEqual(len(got), 1)
            self.assertEqual(header_of(got[0], "Host"), name)
            self.assertEqual(got[0]["sni"], name if port == 443 else None)
            self.assertEqual(ENV.dns.txids(name), 1)
            self.n_pub = len(records(ENV.pub))
            self.blocked(f"{scheme}://{name}/echo", f"{name}:{port}",
                         "loopback address 127.0.0.1 (loopback)",
                         host_hint(port))
            self.assertEqual(ENV.dns.txids(name), lookups)

    def test_rebinding_keepalive(self):
        # two requests on one client connection: the upstream connection to
        # the checked address is reused, no second lookup
        res, err = curl(self.px, "http://rebind-ka.test/echo",
                        "http://rebind-ka.test/echo?2")
        self.assertEqual([r[0] for r in res], [200, 200], err)
        got = self.new_pub()
        self.assertEqual([r["target"] for r in got], ["/echo", "/echo?2"])
        self.assertEqual(ENV.dns.txids("rebind-ka.test"), 1)


def header_of(rec, name):
    vals = [v for k, v in rec["headers"] if k.lower() == name.lower()]
    return vals[0] if len(vals) == 1 else vals


class TestTimeout(Base):
    """A name whose server never answers: a bounded, readable failure.

    Its own proxy, so evdns marking the server down cannot affect others.
    """

    def silent(self, scheme, port):
        code, head, body = self.fetch(f"{scheme}://silent.test/")
        # evdns gives up only after 2 attempts of connect-timeout/2 s each
        # plus the retransmission; the connect timer, armed first and due
        # first, answers 504.
        self.assertEqual(code, 504, head)
        self.assertIsNone(header(head, "X-Moat-Blocked"))
        self.assertEqual(self.new_pub(), [])
        return body.decode("latin-1")

    def test_silent_name_http(self):
        n = ENV.dns.count("silent.test", 1)
        body = self.silent("http", 80)
        self.assertEqual(body, "moat: connecting to silent.test:80 timed "
                         f"out after {CONNECT_TIMEOUT_MS} ms\n")
        self.assertGreater(ENV.dns.count("silent.test", 1), n)

    def test_silent_name_https(self):
        body = self.silent("https", 443)
        self.assertTrue(body.startswith("moat: connecting to "), body)
        self.assertTrue(body.endswith(
            f" timed out after {CONNECT_TIMEOUT_MS} ms\n"), body)

    def test_silent_name_https_names_host(self):
        # Regression: the CONNECT-phase timeout message once used the
        # tunnel's destination, set only once the tunnel is open, and
        # read "connecting to  timed out" without the host.
        body = self.silent("https", 443)
        self.assertEqual(body, "moat: connecting to silent.test:443 timed "
                         f"out after {CONNECT_TIMEOUT_MS} ms\n")


class TestLateAnswer(Base):
    """Answers that arrive after the client has gone (the pending lookup is
    cancelled or its result dropped), under ASan in the sanitized build.
    A long connect timeout so that no timer races the held answers."""

    connect_timeout_ms = 20000

    def test_answer_after_client_left(self):
        cred = self.px.url.split("//", 1)[1].rsplit("@", 1)[0]
        auth = base64.b64encode(cred.encode()).decode()
        port = int(self.px.url.rsplit(":", 1)[1])
        reqs = [f"GET http://held.test/ HTTP/1.1\r\nHost: held.test\r\n"
                f"Proxy-Authorization: Basic {auth}\r\n\r\n",
                f"CONNECT held.test:443 HTTP/1.1\r\nHost: held.test:443\r\n"
                f"Proxy-Authorization: Basic {auth}\r\n\r\n"] * 3
        n = ENV.dns.count("held.test", 1)
        socks = []
        try:
            for r in reqs:
                s = socket.create_connection(("127.0.0.1", port),
                                             timeout=WAIT)
                socks.append(s)
                s.sendall(r.encode())
            # one client stays and gets the answer's verdict
            waiter = socks.pop()
            deadline = time.time() + WAIT
            while ENV.dns.count("held.test", 1) < n + len(reqs) and \
                    time.time() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(ENV.dns.count("held.test", 1),
                                    n + len(reqs))
            for s in socks:
                s.close()
            socks = [waiter]
            # the proxy still serves while the lookups are pending
            code, head, _ = self.one("http://pub.test/echo")
            self.assertEqual(code, 200, head)
            ENV.dns.release()
            out = b""
            while b"\r\n\r\n" not in out:
                b = waiter.recv(4096)
                if not b:
                    break
                out += b
            self.assertTrue(out.startswith(b"HTTP/1.1 403 "), out)
            self.assertIn(b"X-Moat-Blocked: private address 10.9.9.9 "
                          b"(private)\r\n", out)
        finally:
            for s in socks:
                s.close()
        code, head, _ = self.one("https://pub.test/echo")
        self.assertEqual(code, 200, head)
        self.assertEqual(len(self.new_pub()), 2)


class TestStrict(Base):
    @classmethod
    def setUpClass(cls):
        cfg = os.path.join(ENV.dir, "agent.yaml")
        with open(cfg, "w") as f:
            f.write("network:\n  policy: strict\n  allow:\n"
                    "    - allowed.test\n"
                    "    - exact-private.test\n"
                    "    - \"*.wild.test\"\n")
        cls.cfg = cfg
        cls.proxy_args = ("--config", cfg)
        super().setUpClass()

    def test_denied_name_never_resolved(self):
        for url in ("http://denied.test/", "https://denied.test/"):
            code, head, body = self.fetch(url)
            self.assertEqual(code, 403, head)
            self.assertEqual(header(head, "X-Moat-Blocked"),
                             "not in network.allow")
            port = 443 if url.startswith("https") else 80
            self.assertEqual(body.decode(), f"moat: blocked denied.test:{port}"
                             " (not in network.allow): add \"denied.test\" "
                             f"under network.allow in {self.cfg} (line 4)\n")
        self.assertEqual(ENV.dns.count("denied.test"), 0)
        self.assertEqual(self.new_pub(), [])

    def test_allowed_name(self):
        for url in ("http://allowed.test/echo", "https://allowed.test/echo"):
            code, head, _ = self.one(url)
            self.assertEqual(code, 200, head)
        self.assertEqual(len(self.new_pub()), 2)
        self.assertGreaterEqual(ENV.dns.count("allowed.test", 1), 2)

    def test_wildcard_allows_public_not_private(self):
        code, head, _ = self.one("http://b.wild.test/echo")
        self.assertEqual(code, 200, head)
        self.assertEqual(len(self.new_pub()), 1)
        self.n_pub = len(records(ENV.pub))
        self.blocked("http://a.wild.test/", "a.wild.test:80",
                     "private address 10.9.9.9 (private)",
                     f'add "a.wild.test" under network.allow in {self.cfg} '
                     "(line 4)")


class TestStrictExactPrivate(unittest.TestCase):
    """An exact allow entry naming the host permits its private address
    (issue 3: "unless explicitly allowed ... an allow-list entry naming
    that host").  The one case where a canary must receive the request."""

    def test_exact_allow_reaches_private(self):
        cfg = os.path.join(ENV.dir, "agent-exact.yaml")
        with open(cfg, "w") as f:
            f.write("network:\n  policy: strict\n  allow:\n"
                    "    - exact-private.test\n")
        px = ENV.proxy("--config", cfg)
        before = len(records(ENV.canary_b))
        res, err = curl(px, "http://exact-private.test/echo")
        self.assertEqual([r[0] for r in res], [200], err)
        got = records(ENV.canary_b)[before:]
        self.assertEqual(len(got), 1)
        self.assertEqual(header_of(got[0], "Host"), "exact-private.test")


if __name__ == "__main__":
    if os.environ.get(INNER) != "1":
        reexec_in_namespaces()
    unittest.main()
