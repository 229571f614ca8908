"""Fixtures shared by the adversarial suite and the soak/fault scripts.

Real parts only: the real `moat proxy` ($MOAT_BIN), real TLS origins on
127.0.0.1 (tests/integ/origin.py, and a scripted raw TLS origin here for
malformed upstream replies), certificates made with `cryptography` under
one test CA that the proxy trusts through --upstream-ca.
"""

import datetime
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MOAT_SRC", os.path.dirname(os.path.dirname(HERE)))
MOAT = os.environ.get("MOAT_BIN", "moat")
ORIGIN = os.path.join(SRC, "tests", "integ", "origin.py")
WAIT = 20  # the bound on every wait, seconds (never a timing assertion)


def read_line(f, deadline):
    buf = b""
    while time.time() < deadline:
        r, _, _ = select.select([f], [], [], 0.2)
        if r:
            c = os.read(f.fileno(), 1)
            if not c:
                return None
            if c == b"\n":
                return buf.decode()
            buf += c
    return None


class Proc:
    """A child in its own session, stopped by pid."""

    def __init__(self, argv, env=None):
        self.errf = tempfile.TemporaryFile()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=self.errf, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode("latin-1")


# ---- certificates -------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn))
            .issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca, names, expired=False):
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        nb, na = now - datetime.timedelta(days=10), \
            now - datetime.timedelta(days=1)
    else:
        nb, na = now - datetime.timedelta(days=1), \
            now + datetime.timedelta(days=2)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def write_pair(d, stem, pair):
    key, cert = pair
    kp, cp = os.path.join(d, stem + ".key"), os.path.join(d, stem + ".crt")
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cp, kp


# ---- origins ------------------------------------------------------------

class Origin:
    """tests/integ/origin.py on ephemeral ports, recording to a file."""

    def __init__(self, d, stem, cert, key):
        self.record = os.path.join(d, stem + ".jsonl")
        open(self.record, "w").close()
        self.proc = Proc([sys.executable, ORIGIN, "--http-port", "0",
                          "--https-port", "0", "--cert", cert, "--key", key,
                          "--record", self.record])
        line = read_line(self.proc.p.stdout, time.time() + WAIT)
        if line is None:
            raise RuntimeError("origin did not start: " + self.proc.stderr())
        ports = json.loads(line)
        self.hp, self.sp = ports["http_port"], ports["https_port"]

    def raw(self):
        with open(self.record, "rb") as f:
            return f.read()

    def records(self):
        with open(self.record) as f:
            return [json.loads(x) for x in f if x.strip()]


class RawTLSOrigin:
    """A scripted TLS (or plain) origin: for each request head received
    on a connection, sends the next reply of `replies` (bytes, or None to
    close).  Records the raw bytes it received."""

    def __init__(self, cert, key, tls=True, ctx=None):
        self.replies = []
        self.received = bytearray()
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        if tls and ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
        self.ctx = ctx if tls else None
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.ls.settimeout(0.5)
        while not self.stopped:
            try:
                s, _ = self.ls.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._conn, args=(s,),
                             daemon=True).start()

    def _conn(self, s):
        try:
            s.settimeout(WAIT)
            if self.ctx:
                s = self.ctx.wrap_socket(s, server_side=True)
            buf = b""
            i = 0
            while True:
                while b"\r\n\r\n" not in buf:
                    b = s.recv(65536)
                    if not b:
                        return
                    buf += b
                    with self.lock:
                        self.received += b
                buf = buf.split(b"\r\n\r\n", 1)[1]
                with self.lock:
                    reply = self.replies[i] if i < len(self.replies) else None
                i += 1
                if reply is None:
                    return
                s.sendall(reply)
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.ls.close()


# ---- the proxy ----------------------------------------------------------

def start_proxy(d, args, env_extra, tag="proxy"):
    log = os.path.join(d, tag + ".jsonl")
    argv = [MOAT, "proxy", "-v", "--listen", "127.0.0.1:0", "--log", log]
    argv += list(args)
    e = dict(os.environ)
    e.update(env_extra)
    p = Proc(argv, env=e)
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
    p.token = p.url.split("moat:")[1].split("@")[0]
    p.port = int(p.url.rsplit(":", 1)[1].strip("/"))
    return p


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def close_wait(pid):
    """Sockets of pid in CLOSE_WAIT (state 08 in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "08" and parts[9] in inodes:
                        n += 1
        except FileNotFoundError:
            pass
    return n


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_until(pred, limit=WAIT):
    """Polls pred until true or the bound passes; returns its last value."""
    deadline = time.time() + limit
    v = pred()
    while not v and time.time() < deadline:
        time.sleep(0.1)
        v = pred()
    return v
