#!/usr/bin/env python3
"""A test origin server for moat's integration tests.

Plain HTTP and HTTPS (HTTP/1.1) on 127.0.0.1, records every request it
receives, and serves a few endpoints that exercise a proxy:

  /echo            the raw bytes received (head + body as sent on the wire)
  /auth-hash       sha256 hex of the Authorization header value (or of the
                   header named by ?h=NAME); "absent" when there is none,
                   "multiple:N" when there are N copies
  /bytes?n=N       N bytes (pattern "0123456789abcdef"...), streamed
  /upload          reads the body; replies "LEN SHA256HEX"
  /chunked         a chunked response of ?n= chunks (default 3)
  /sse?ms=M        text/event-stream: one event, a pause of M ms, another;
                   with &gate=NAME the second event waits (at most 60 s)
                   until a request for /release?name=NAME arrives
  /release?name=N  opens gate N
  /ws              WebSocket echo (text and binary frames, close)
  /redirect?to=U   302 to U
  /status?code=N   that status (no body for 1xx/204/304)
  /slow?ms=M       waits M ms before responding
  /close           responds without Content-Length and closes

Every response carries Content-Length or chunked framing (except /close),
HEAD gets no body, connections are kept alive, `Expect: 100-continue` is
answered.  Request bodies may be Content-Length or chunked.

usage: origin.py [--http-port N] [--https-port N] [--cert F --key F]
                 [--record FILE]
Port 0 picks an ephemeral port; once listening, one JSON line
{"http_port": N, "https_port": N} is printed on stdout (flushed).
--record appends one JSON object per request to FILE:
  {"port", "tls", "sni", "conn" (a number per accepted connection),
   "method", "target", "version",
   "headers": [[name, value], ...], "head": <latin-1 text of the raw head>,
   "body_len": N, "body": <latin-1 text of the decoded body, first 64 KiB>,
   "body_sha256": hex}
Stops on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import ssl
import sys
import urllib.parse

MAX_HEAD = 256 * 1024
RECORD_BODY = 64 * 1024
PATTERN = b"0123456789abcdef" * 4096  # 64 KiB
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BadRequest(Exception):
    pass


class Origin:
    def __init__(self, record):
        self.record = open(record, "a", buffering=1) if record else None
        self.nconn = 0
        self.gates = {}

    def gate(self, name):
        return self.gates.setdefault(name, asyncio.Event())

    def log(self, entry):
        if self.record:
            self.record.write(json.dumps(entry) + "\n")
            self.record.flush()

    async def read_body(self, reader, headers, wire):
        """Reads a request body; returns (decoded body, length, sha256)."""
        te = [v for k, v in headers if k.lower() == "transfer-encoding"]
        cl = [v for k, v in headers if k.lower() == "content-length"]
        h = hashlib.sha256()
        kept = bytearray()
        total = 0

        def take(data):
            nonlocal total
            h.update(data)
            total += len(data)
            if len(kept) < RECORD_BODY:
                kept.extend(data[: RECORD_BODY - len(kept)])

        if te:
            if te[-1].strip().lower() != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            while True:
                line = await reader.readuntil(b"\r\n")
                wire.extend(line)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers
                        t = await reader.readuntil(b"\r\n")
                        wire.extend(t)
                        if t == b"\r\n":
                            break
                    break
                left = size
                while left > 0:
                    data = await reader.read(min(left, 65536))
                    if not data:
                        raise ConnectionError("eof in chunk")
                    if len(wire) < RECORD_BODY:
                        wire.extend(data)
                    take(data)
                    left -= len(data)
                crlf = await reader.readexactly(2)
                wire.extend(crlf)
        elif cl:
            left = int(cl[0])
            while left > 0:
                data = await reader.read(min(left, 65536))
                if not data:
                    raise ConnectionError("eof in body")
                if len(wire) < RECORD_BODY:
                    wire.extend(data)
                take(data)
                left -= len(data)
        return bytes(kept), total, h.hexdigest()

    async def handle(self, reader, writer, port, tls):
        sslobj = writer.get_extra_info("ssl_object")
        sni = None
        if sslobj is not None:
            sni = SNI.get(id(sslobj))
        self.nconn += 1
        conn = self.nconn
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    return
                lines = head[:-4].split(b"\r\n")
                try:
                    method, target, version = lines[0].decode(
                        "latin-1").split(" ", 2)
                except ValueError:
                    return
                headers = []
                for ln in lines[1:]:
                    k, _, v = ln.decode("latin-1").partition(":")
                    headers.append([k, v.strip()])
                hmap = {}
                for k, v in headers:
                    hmap.setdefault(k.lower(), []).append(v)
                if any(v.lower() == "100-continue"
                       for v in hmap.get("expect", [])):
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                wire = bytearray(head)
                body, blen, bsha = await self.read_body(
                    reader, headers, wire)
                self.log({
                    "port": port, "tls": tls, "sni": sni, "conn": conn,
                    "method": method, "target": target,
                    "version": version, "headers": headers,
                    "head": head.decode("latin-1"),
                    "body_len": blen,
                    "body": body.decode("latin-1"),
                    "body_sha256": bsha,
                })
                keep = await self.respond(reader, writer, method, target,
                                          hmap, bytes(wire), blen, bsha)
                if not keep or "close" in ",".join(
                        hmap.get("connection", [])).lower():
                    break
        except (ConnectionError, asyncio.IncompleteReadError, BadRequest,
                ssl.SSLError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def send(self, writer, method, status, body=b"", ctype=None,
                   extra=()):
        reason = {200: "OK", 204: "No Content", 302: "Found",
                  304: "Not Modified", 101: "Switching Protocols"}.get(
                      status, "Status")
        hdrs = [f"HTTP/1.1 {status} {reason}"]
        if ctype:
            hdrs.append(f"Content-Type: {ctype}")
        hdrs.extend(extra)
        nobody = status in (204, 304) or status < 200
        if not nobody:
            hdrs.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(hdrs) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD" and not nobody:
            writer.write(body)
        await writer.drain()

    async def respond(self, reader, writer, method, target, hmap, wire,
                      blen, bsha):
        u = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = u.path
        if path == "/echo":
            await self.send(writer, method, 200, wire,
                            "application/octet-stream")
        elif path == "/auth-hash":
            name = q.get("h", "authorization").lower()
            vals = hmap.get(name, [])
            if not vals:
                out = "absent"
            elif len(vals) > 1:
                out = f"multiple:{len(vals)}"
            else:
                out = hashlib.sha256(vals[0].encode("latin-1")).hexdigest()
            await self.send(writer, method, 200, out.encode(), "text/plain")
        elif path == "/bytes":
            n = int(q.get("n", "0"))
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: "
                         f"application/octet-stream\r\nContent-Length: "
                         f"{n}\r\n\r\n".encode())
            if method != "HEAD":
                left = n
                while left > 0:
                    k = min(left, len(PATTERN))
                    writer.write(PATTERN[:k])
                    left -= k
                    await writer.drain()
            await writer.drain()
        elif path == "/upload":
            await self.send(writer, method, 200, f"{blen} {bsha}".encode(),
                            "text/plain")
        elif path == "/chunked":
            n = int(q.get("n", "3"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            if method != "HEAD":
                for i in range(n):
                    data = f"chunk {i}\n".encode()
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif path == "/sse":
            ms = int(q.get("ms", "1000"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: "
                         b"text/event-stream\r\nCache-Control: no-cache\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for i, data in enumerate((b"data: one\n\n", b"data: two\n\n")):
                if i and "gate" in q:
                    try:
                        await asyncio.wait_for(self.gate(q["gate"]).wait(),
                                               60)
                    except asyncio.TimeoutError:
                        pass
                elif i:
                    await asyncio.sleep(ms / 1000)
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif path == "/ws":
            key = hmap.get("sec-websocket-key", [""])[0].encode()
            acc = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                         b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            await writer.drain()
            await self.ws_echo(reader, writer)
            return False
        elif path == "/release":
            self.gate(q.get("name", "")).set()
            await self.send(writer, method, 200, b"released\n", "text/plain")
        elif path == "/redirect":
            await self.send(writer, method, 302, b"redirect\n", "text/plain",
                            [f"Location: {q.get('to', '/')}"])
        elif path == "/status":
            code = int(q.get("code", "200"))
            await self.send(writer, method, code, f"status {code}\n".encode(),
                            "text/plain")
        elif path == "/slow":
            await asyncio.sleep(int(q.get("ms", "1000")) / 1000)
            await self.send(writer, method, 200, b"slow\n", "text/plain")
        elif path == "/close":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\n\r\n")
            if method != "HEAD":
                writer.write(b"until the end\n")
            await writer.drain()
            return False
        else:
            await self.send(writer, method, 404, b"not found\n",
                            "text/plain")
        return True

    async def ws_echo(self, reader, writer):
        while True:
            b0, b1 = await reader.readexactly(2)
            op = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if b1 & 0x80 else b"\0" * 4
            data = bytearray(await reader.readexactly(n))
            for i in range(n):
                data[i] ^= mask[i % 4]
            if op == 8:
                writer.write(b"\x88\x00")
                await writer.drain()
                return
            hdr = bytes([0x80 | op])
            if n < 126:
                hdr += bytes([n])
            elif n < 65536:
                hdr += bytes([126]) + n.to_bytes(2, "big")
            else:
                hdr += bytes([127]) + n.to_bytes(8, "big")
            writer.write(hdr + bytes(data))
            await writer.drain()


SNI = {}


def make_ssl(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    def on_sni(sslobj, name, _ctx):
        SNI[id(sslobj)] = name
    ctx.sni_callback = on_sni
    return ctx


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--https-port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--record")
    a = ap.parse_args()
    if a.https_port is not None and not (a.cert and a.key):
        ap.error("--https-port needs --cert and --key")
    if a.http_port is None and a.https_port is None:
        ap.error("give --http-port and/or --https-port")
    o = Origin(a.record)
    out = {}
    servers = []
    if a.http_port is not None:
        s = await asyncio.start_server(
            lambda r, w: o.handle(r, w, out["http_port"], False),
            "127.0.0.1", a.http_port, limit=MAX_HEAD)
        out["http_port"] = s.sockets[0].getsockname()[1]
        servers.append(s)
    if a.https_port is not None:
        s = await asyncio.start_server(
            lambda r, w: o.handle(r, w, out["https_port"], True),
            "127.0.0.1", a.https_port, ssl=make_ssl(a.cert, a.key),
            limit=MAX_HEAD)
        out["https_port"] = s.sockets[0].getsockname()[1]
        servers.append(s)
    print(json.dumps(out), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
