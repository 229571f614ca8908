#!/usr/bin/env python3
"""Writes the hand-made seed corpora of the fuzz drivers (run once; the
campaigns' minimised finds live next to them)."""
import base64, hashlib, os, sys

here = os.path.dirname(os.path.abspath(__file__))
TOK = "11" * 32
PA = "Proxy-Authorization: Bearer " + TOK + "\r\n"
PAB = ("Proxy-Authorization: Basic " +
       base64.b64encode(("moat:" + TOK).encode()).decode() + "\r\n")


def put(driver, data):
    if isinstance(data, str):
        data = data.encode("latin-1")
    d = os.path.join(here, "corpus", driver)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# authority: 2 port bytes, "pattern\nhost"
for pat, host, port in [
        ("api.example.com", "API.Example.COM.", 443),
        ("*.example.com", "example.com", 443),
        ("*.example.com", "a.b.example.com", 80),
        ("*.example.com:8443", "x.example.com", 8443),
        ("10.0.0.5", "10.0.0.5", 443), ("[::1]:8080", "[::1]:8080", 8080),
        ("[2001:db8::1]", "2001:DB8:0:0::1", 443),
        ("localhost", "127.0.0.1:80", 80), ("x", "::ffff:127.0.0.1", 443),
        ("x", "169.254.169.254", 80), ("x", "[fe80::1]:443", 443),
        ("x", "0.0.0.0", 80), ("x", "100.64.1.1", 443),
        ("x", "64:ff9b::a00:1", 443), ("x", "2002:c0a8:101::", 443),
        ("*.xn--bcher-kva.de", "www.xn--bcher-kva.de", 443),
        ("https://x", "a..b", 1), ("a@b", "-a.com", 1),
        ("*", "127.1", 80), ("a_b.c", "0x7f.1:443", 443)]:
    put("authority", bytes([port >> 8, port & 255]) +
        (pat + "\n" + host).encode())

# auth: mode byte, then an edit script
put("auth", b"\x00Bearer " + TOK.encode())
put("auth", b"\x00Basic " + base64.b64encode(b"moat:" + TOK.encode()))
for m in range(1, 5):
    put("auth", bytes([m]))
    put("auth", bytes([m, 0, ord("b")]))
    put("auth", bytes([m, 0xff, 40]))
    put("auth", bytes([m, 200, ord("=")]))
    put("auth", bytes([m, 6, ord(" "), 7, ord(" ")]))

SEED = b"\x07\x00\x03\xff\x10\x01\x00\x20"
SEED1 = b"\x00" * 8
SEEDBIG = b"\xff" * 8


def req(preset, client, seed=SEED):
    put("request", bytes([preset]) + seed + client.encode("latin-1"))


T = "GET / HTTP/1.1\r\nHost: secret.test\r\n\r\n"
req(1, T)
req(1, T, SEED1)
req(1, T + T, SEEDBIG)
req(1, "GET /a?b=c HTTP/1.1\r\nHost: secret.test\r\nAuthorization: x\r\n"
    "authorization: y\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n"
    "Proxy-Authorization: z\r\nProxy-Connection: k\r\nTE: trailers\r\n"
    "Upgrade: h2c\r\n\r\n")
req(1, "POST /p HTTP/1.1\r\nHost: secret.test:443\r\nContent-Length: 5\r\n"
    "\r\nhello")
req(1, "POST /p HTTP/1.1\r\nHost: secret.test\r\nTransfer-Encoding: "
    "chunked\r\n\r\n5\r\nhello\r\n0\r\nT: x\r\n\r\n")
req(1, "POST / HTTP/1.1\r\nHost: secret.test\r\nContent-Length: 4\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
req(1, "POST / HTTP/1.1\r\nHost: secret.test\r\nTransfer-Encoding: "
    "chunked, identity\r\n\r\n0\r\n\r\n")
req(1, "GET / HTTP/1.1\r\nHost: secret.test\r\nX: a\r\n b\r\n\r\n")
req(1, "GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n")
req(1, "GET http://secret.test/ HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(1, "GET https://secret.test/x HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(1, "GET https://evil.test/x HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(1, "TRACE / HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(1, "GET ?q HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(1, "GET / HTTP/1.0\r\n\r\n")
req(1, "GET / HTTP/1.1\r\nHost: SECRET.TEST.\r\n\r\n")
req(1, "GET / HTTP/1.1\r\nHost: secret.test\r\nHost: evil.test\r\n\r\n")
req(1, "GET / HTTP/1.1\r\nHost: secret.test\r\n\r\nGET / HTTP/1.1\r\n"
    "Host: secret.test\r\n\r\nXXXX\r\n\r\n")
req(1, "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test\r\n\r\n")
req(2, "GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: mine\r\n\r\n")
req(3, "GET / HTTP/1.1\r\nHost: secret.test:8443\r\n\r\n")
req(4, "GET / HTTP/1.1\r\nHost: api.wild.test\r\n\r\n")
req(0, "GET http://secret.test/ HTTP/1.1\r\nHost: secret.test\r\n" + PA +
    "\r\n")
req(0, "GET http://evil.test:8080/x?y HTTP/1.1\r\nHost: evil.test:8080\r\n"
    + PAB + "\r\n")
req(0, "GET http://secret.test/ HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(0, "GET / HTTP/1.1\r\nHost: secret.test\r\n" + PA + "\r\n")
req(0, "CONNECT secret.test:443 HTTP/1.1\r\n" + PA + "\r\n\x16"
    "GET / HTTP/1.1\r\nHost: secret.test\r\n\r\n")
req(0, "CONNECT evil.test:443 HTTP/1.1\r\n" + PA + "\r\nraw bytes")
req(0, "CONNECT [::1]:443 HTTP/1.1\r\n" + PA + "\r\n\x16"
    "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n")
req(0, "GET http://[2001:db8::1]:81/ HTTP/1.1\r\n" + PA + "\r\n")
req(0, "GET http://secret.test/ HTTP/1.1\r\n" + PA.lower() + PA + "\r\n")
req(0, "GET /\x00 HTTP/1.1\r\n\r\n")
req(0, "GET / HTTP/1.1\nHost: a\n\n")
req(0, "GET / HTTP/1.1\rHost: a\r\n\r\n")


def resp(preset, client, up, seed=SEED):
    put("response", bytes([preset]) + seed + client.encode("latin-1") +
        b"|UP|" + up.encode("latin-1"))


G = "GET / HTTP/1.1\r\nHost: secret.test\r\n\r\n"
H = "HEAD / HTTP/1.1\r\nHost: secret.test\r\n\r\n"
P = "GET http://evil.test/ HTTP/1.1\r\n" + PA + "\r\n"
for up in [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhelloHTTP/1.1 200 OK"
        "\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"
        "\r\n0\r\nX-T: 1\r\n\r\nEXTRA",
        "HTTP/1.1 200 OK\r\n\r\nuntil close",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1"
        "\r\n\r\nx",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "ffffffffffffffffff\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\nraw",
        "HTTP/1.1 200 OK\r\nConnection: close, X-H\r\nX-H: a\r\n"
        "Keep-Alive: 5\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.0 200 OK\r\n\r\nbody",
        "HTTP/1.1 302 Found\r\nLocation: http://evil.test/\r\n"
        "Content-Length: 0\r\n\r\n",
        "garbage\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        "short"]:
    resp(1, G, up)
    resp(1, G + G, up, SEEDBIG)
    resp(2, H, up)
    resp(0, P, up, SEED1)
put("response", bytes([1]) + SEED + b"HTTP/1.1 200 OK\r\nContent-Length: "
    b"1\r\n\r\nx")
