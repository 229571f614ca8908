#!/usr/bin/env python3
"""End-to-end tests of `moat run` against the real Docker engine.

usage: e2e.py SCENARIO [runc|runsc]

Each scenario starts real things (a TLS origin on 127.0.0.1, the moat
binary, containers, network namespaces it owns), asserts exact outcomes,
and cleans up whatever happens.  Exit 0 pass, 1 fail, 77 skip (only when
the Docker daemon is unreachable).

Environment: MOAT_BIN (the moat binary), MOAT_SRC (the source tree),
MOAT_E2E_IMAGE (default: moat-agent:latest when present, else a small
image built from host files by mkimage.sh as moat-e2e:latest).
"""
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
MOAT = os.environ.get("MOAT_BIN", "moat")
SRC = os.environ.get("MOAT_SRC",
                     os.path.dirname(os.path.dirname(os.path.dirname(
                         os.path.abspath(__file__)))))
# Deadline for one moat run; the suite is not timed, this only stops hangs.
RUN_TIMEOUT = 180
# The test secret: never printed, only its hash is compared.
SECRET = "moat-e2e-secret-" + "%016x" % random.getrandbits(64)


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("ok - " + what, flush=True)


def sh(argv, timeout=120, check_rc=True, env=None, input=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env, input=input, text=True)
    if check_rc and p.returncode != 0:
        raise Fail("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                           p.stderr.strip()))
    return p


def docker_ok():
    try:
        return sh(["docker", "version", "--format", "{{.Server.Version}}"],
                  timeout=30, check_rc=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image():
    img = os.environ.get("MOAT_E2E_IMAGE")
    if img:
        return img
    if sh(["docker", "image", "inspect", "moat-agent:latest"],
          check_rc=False).returncode == 0:
        return "moat-agent:latest"
    if sh(["docker", "image", "inspect", "moat-e2e:latest"],
          check_rc=False).returncode != 0:
        sh([os.path.join(SRC, "tests/e2e/mkimage.sh"), "moat-e2e:latest"],
           timeout=300)
    return "moat-e2e:latest"


class Origin:
    """tests/integ/origin.py over TLS on 127.0.0.1 (ephemeral port), with
    a certificate from a test CA; it records what it received."""

    def __init__(self, tmp, certfile, keyfile):
        self.record = os.path.join(tmp, "origin.jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tests/integ/origin.py"),
             "--https-port", "0", "--cert", certfile, "--key", keyfile,
             "--record", self.record], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise Fail("origin.py did not start")
        self.port = json.loads(line)["https_port"]

    def seen(self):
        """The requests received: (target, {lowercase header: [values]})."""
        out = []
        try:
            with open(self.record) as f:
                for line in f:
                    r = json.loads(line)
                    h = {}
                    for k, v in r["headers"]:
                        h.setdefault(k.lower(), []).append(v)
                    out.append((r["target"], h))
        except FileNotFoundError:
            pass
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Env:
    """Per-scenario temp dirs, MOAT_HOME, certificates, a grant."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.tmp = tempfile.mkdtemp(prefix="moat-e2e-")
        os.chmod(self.tmp, 0o755)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home, 0o700)
        self.project = os.path.join(self.tmp, "project")
        os.mkdir(self.project)
        self.env = dict(os.environ, MOAT_HOME=self.home)
        self.env.pop("MOAT_RUNTIME", None)
        self.cleanups = []
        self.image = image()
        self.make_certs()
        self.origin = Origin(self.tmp, self.cert, self.key)
        # The agent's URL for the origin; the proxy dials 127.0.0.1.
        self.api = "api.example.test:%d" % self.origin.port
        self.cleanups.append(self.origin.stop)

    def make_certs(self):
        d = self.tmp
        self.ca = os.path.join(d, "origin-ca.pem")
        cakey = os.path.join(d, "origin-ca.key")
        self.key = os.path.join(d, "origin.key")
        self.cert = os.path.join(d, "origin.pem")
        csr = os.path.join(d, "origin.csr")
        ext = os.path.join(d, "ext.cnf")
        sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", cakey, "-out",
            self.ca, "-days", "2", "-subj", "/CN=moat e2e origin CA"])
        sh(["openssl", "req", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
            "-out", csr, "-subj", "/CN=api.example.test"])
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:api.example.test,"
                    "DNS:other.example.test,DNS:api.github.com\n"
                    "extendedKeyUsage=serverAuth\n")
        sh(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca,
            "-CAkey", cakey, "-CAcreateserial", "-out", self.cert,
            "-days", "2", "-extfile", ext])

    def grant(self, name="e2eapi"):
        p = sh([MOAT, "grant", name, "--host", self.api], env=self.env,
               input=SECRET, check_rc=False)
        if p.returncode != 0:
            raise Fail("moat grant: " + p.stderr.strip())

    def agent_yaml(self, text):
        with open(os.path.join(self.project, "agent.yaml"), "w") as f:
            f.write(text)

    def run_args(self, extra=(), cmd=()):
        args = [MOAT, "run", "--image", self.image,
                "--resolve", self.api + ":127.0.0.1",
                "--upstream-ca", self.ca]
        if self.runtime == "runc":
            args.append("--no-sandbox")
        args += list(extra)
        args.append(self.project)
        if cmd:
            args += ["--"] + list(cmd)
        return args

    def run(self, extra=(), cmd=(), input=None, env=None):
        p = subprocess.run(self.run_args(extra, cmd), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=RUN_TIMEOUT, env=env or self.env,
                           stdin=subprocess.DEVNULL if input is None
                           else None, input=input)
        return p

    def close(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:   # keep cleaning up
                print("cleanup: %s" % e)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_id_of(stderr):
    m = re.search(r"moat: run (run-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}) ", stderr)
    return m.group(1) if m else None


def labelled(kind, run_id):
    """Containers (kind 'ps') or networks ('network') of one run."""
    if kind == "ps":
        argv = ["docker", "ps", "-aq", "--filter", "label=moat.run=" + run_id]
    else:
        argv = ["docker", "network", "ls", "-q", "--filter",
                "label=moat.run=" + run_id]
    return sh(argv).stdout.split()


def fw_chain_name(run_id):
    # As runtime/firewall.c names it: the id, or a BLAKE2b-88 of a long one.
    if len(run_id) <= 23:
        return "MOAT-" + run_id
    return "MOAT-h" + hashlib.blake2b(run_id.encode(),
                                      digest_size=11).hexdigest()


def fw_chains(run_id):
    if shutil.which("iptables") is None:
        return []
    out = sh(["iptables", "-S"], check_rc=False).stdout
    return [l for l in out.splitlines() if fw_chain_name(run_id) in l]


# moat returns once the container is gone; its firewall rule and the
# emptied network are removed by a detached child right after (about
# 0.1 s).  Give it this long.
NETWORK_GONE_S = 20


def gone(what):
    end = time.time() + NETWORK_GONE_S
    while what() != [] and time.time() < end:
        time.sleep(0.1)
    return what() == []


def network_gone(run_id):
    return gone(lambda: labelled("network", run_id))


def assert_torn_down(run_id, what):
    check(labelled("ps", run_id) == [], what + ": no container left")
    check(gone(lambda: fw_chains(run_id)), what + ": the firewall chain is "
          "removed (within %d s of moat's exit)" % NETWORK_GONE_S)
    check(network_gone(run_id), what + ": the network is removed (within "
          "%d s of moat's exit)" % NETWORK_GONE_S)


def grep_tree(root, needle):
    hits = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            try:
                with open(p, "rb") as fh:
                    if needle.encode() in fh.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


def metadata(env, run_id):
    with open(os.path.join(env.home, "runs", run_id, "metadata.json")) as f:
        return json.load(f)


# ---- scenarios ------------------------------------------------------------

# Prints the origin's hash of the Authorization header it received, then
# the container's environment (proxy token redacted) for the host to search.
def agent_script(api):
    return ('curl -sS https://' + api + '/auth-hash; echo; '
            'echo "proxy-set=${HTTPS_PROXY:+yes}"; '
            'echo "--- env"; env | sed "s/moat:[0-9a-f]*@/moat:T@/"; '
            'echo "--- environ"; tr "\\0" "\\n" </proc/1/environ | '
            'sed "s/moat:[0-9a-f]*@/moat:T@/"')


def sc_inject(env):
    """The credential reaches the origin; the container never holds it."""
    env.grant()
    want = hashlib.sha256(("Bearer " + SECRET).encode()).hexdigest()
    p = env.run(extra=["--grant", "e2eapi", "--keep"],
                cmd=["sh", "-c", agent_script(env.api)])
    rid = run_id_of(p.stderr)
    if rid:
        env.cleanups.append(lambda: sh(["docker", "rm", "-f",
                                        "moat-" + rid], check_rc=False))
        insp = sh(["docker", "inspect", "moat-" + rid],
                  check_rc=False).stdout
        check('"Env": [' in insp and SECRET not in insp,
              "docker inspect (argv, env, labels, mounts) holds no secret")
        sh(["docker", "rm", "-f", "moat-" + rid])
    print(p.stderr)
    check(p.returncode == 0, "moat run exits 0 (got %d)" % p.returncode)
    check(rid is not None, "moat run prints the run id")
    mode = "docker+gvisor" if env.runtime == "runsc" else "docker"
    check("(runtime docker, sandbox %s)" % mode in p.stderr,
          "moat run prints runtime and sandbox mode " + mode)
    lines = p.stdout.splitlines()
    check(lines[0] == want,
          "the origin received Authorization: Bearer <secret> "
          "(sha256 matches)")
    envpart = p.stdout.split("--- env\n")[1]
    # Both sections list the proxy variable.  (Their order is the
    # runtime's: gVisor's /proc/1/environ may start with HTTPS_PROXY.)
    sections = envpart.split("--- environ\n")
    ok = (len(sections) == 2 and
          all(re.search(r"^HTTPS_PROXY=http://moat:T@", x, re.M)
              for x in sections))
    if not ok:
        print("stdout was: %r" % p.stdout)
    check(ok, "env and /proc/1/environ were read")
    check(SECRET not in envpart and SECRET[-12:] not in envpart,
          "env and /proc/1/environ in the container hold no secret")
    check("proxy-set=yes" in lines, "HTTPS_PROXY is set in the container")
    seen = [h for t, h in env.origin.seen() if t == "/auth-hash"]
    check(len(seen) == 1 and seen[0]["host"] == [env.api]
          and "proxy-authorization" not in seen[0]
          and len(seen[0]["authorization"]) == 1,
          "origin saw one request, Host api.example.test, no "
          "Proxy-Authorization")
    check(SECRET not in p.stdout and SECRET not in p.stderr,
          "the secret is not in moat's output")
    check(grep_tree(env.home, SECRET) == [],
          "the secret is nowhere in plain text under MOAT_HOME")
    md = metadata(env, rid)
    check(md["state"] == "exited" and md["exit_status"] == 0
          and md["grants"] == ["e2eapi"] and md["sandbox"] == mode
          and md["image"] == env.image,
          "metadata.json records grants, sandbox, image, exit 0")
    # logs.txt holds the agent's output; trace shows the request.
    lg = sh([MOAT, "logs", rid], env=env.env).stdout
    check(lg == p.stdout, "moat logs RUN prints the agent's output")
    tr = sh([MOAT, "trace", "--network", rid], env=env.env).stdout
    print(tr)
    check(re.search(r"\n\S+ GET https://" + re.escape(env.api) +
                    r"/auth-hash 200 \d+/\d+ allow injected=Authorization\n",
                    tr) is not None and
          re.search(r"^\S+ CONNECT " + re.escape(env.api) + r" 200 ",
                    tr) is not None,
          "moat trace --network shows the request and the injected header")
    ls = json.loads(sh([MOAT, "list", "--json"], env=env.env).stdout)
    check([r["id"] for r in ls] == [rid] and ls[0]["exit_status"] == 0,
          "moat list --json shows the run")
    assert_torn_down(rid, "after exit")


def sc_exit_status(env):
    p = env.run(cmd=["sh", "-c", "echo out; echo err >&2; exit 7"])
    check(p.returncode == 7, "exit status 7 passes through (got %d)"
          % p.returncode)
    check(p.stdout == "out\n", "stdout is the agent's")
    check(p.stderr.endswith("err\n"), "the agent's stderr reaches stderr")
    rid = run_id_of(p.stderr)
    check(metadata(env, rid)["exit_status"] == 7, "metadata has exit 7")
    lg = sh([MOAT, "logs", rid], env=env.env).stdout
    check(sorted(lg.splitlines()) == ["err", "out"],
          "logs.txt has both streams")
    # PID 1 cannot be SIGKILLed from inside: the agent's child crashes.
    p = env.run(cmd=["sh", "-c", "sleep 100 & kill -9 $!; wait $!; exit $?"])
    check(p.returncode == 137, "an agent killed by SIGKILL gives 137 (got %d)"
          % p.returncode)
    p = env.run(extra=["-i"], cmd=["sh", "-c", "read l; echo got:$l"],
                input="hello\n")
    check(p.returncode == 0 and p.stdout == "got:hello\n",
          "-i passes stdin to the agent")
    assert_torn_down(rid, "after exit 7")
    # --keep: the container stays (labelled moat.keep=1), the rest goes.
    p = env.run(extra=["--keep", "--name", "kept", "-e", "FOO=bar"],
                cmd=["sh", "-c", "echo $FOO"])
    rid = run_id_of(p.stderr)
    name = "moat-" + rid
    env.cleanups.append(lambda: sh(["docker", "rm", "-f", name],
                                   check_rc=False))
    check(p.returncode == 0 and p.stdout == "bar\n",
          "-e FOO=bar reaches the agent")
    check("moat: kept container %s (remove it with: docker rm %s)"
          % (name, name) in p.stderr, "--keep says how to remove it")
    check(labelled("ps", rid) != [] and network_gone(rid),
          "--keep: the container stays, the network goes")
    sh([MOAT, "clean"], env=env.env)
    check(labelled("ps", rid) != [], "moat clean leaves a kept container")
    check(metadata(env, rid)["name"] == "kept", "--name is recorded")


def proxy_of(var="$HTTP_PROXY"):
    # gateway and port out of http://moat:<token>@GW:PORT
    return ('hp=' + var + '; a=${hp##*@}; a=${a%/}; gw=${a%:*}; '
            'port=${a##*:}; ')


def sc_token(env):
    """Without the token the proxy answers 407."""
    p = env.run(cmd=["sh", "-c", proxy_of() +
                     'curl -s -o /dev/null -w "%{http_code}\\n" '
                     '-x "http://$gw:$port" http://api.example.test/; '
                     'curl -s -o /dev/null -w "%{http_code}\\n" '
                     '-x "http://moat:wrong@$gw:$port" '
                     'http://api.example.test/'])
    check(p.returncode == 0, "moat run ok")
    check(p.stdout.splitlines() == ["407", "407"],
          "no token and a wrong token get 407 (got %r)" % p.stdout)


def sc_strict(env):
    env.agent_yaml("network:\n  policy: strict\n  allow:\n"
                   "    - \"%s\"\n" % env.api)
    p = env.run(cmd=["sh", "-c",
                     'curl -s -o /dev/null -w "%{http_code}\\n" '
                     'https://' + env.api + '/auth-hash; '
                     'curl -s -o /dev/null -w "%{http_code}\\n" '
                     'http://other.example.test/x; '
                     'curl -s -D - -o /dev/null '
                     'http://other.example.test/x | '
                     'grep -i "^x-moat-blocked" | tr -d "\\r"'])
    print(p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    check(lines[:2] == ["200", "403"],
          "strict: listed host 200, unlisted host 403 (got %r)" % lines)
    check(len(lines) == 3 and lines[2].lower().startswith("x-moat-blocked:"),
          "the 403 says why in X-Moat-Blocked")


class Outside:
    """An 'outside' host: a netns with a veth pair and an HTTP origin."""

    def __init__(self):
        n = random.randrange(1, 60)
        self.ns = "moat-e2e-%d-%d" % (os.getpid(), n)
        self.veth = "me2e%dh" % (os.getpid() % 100000)
        self.peer = "me2e%dn" % (os.getpid() % 100000)
        self.host_ip = "10.213.%d.1" % n
        self.ns_ip = "10.213.%d.2" % n
        self.port = 18080
        self.proc = None
        sh(["ip", "netns", "add", self.ns])
        try:
            sh(["ip", "link", "add", self.veth, "type", "veth", "peer",
                "name", self.peer])
            sh(["ip", "link", "set", self.peer, "netns", self.ns])
            sh(["ip", "addr", "add", self.host_ip + "/30", "dev", self.veth])
            sh(["ip", "link", "set", self.veth, "up"])
            ns = ["ip", "netns", "exec", self.ns]
            sh(ns + ["ip", "addr", "add", self.ns_ip + "/30", "dev",
                     self.peer])
            sh(ns + ["ip", "link", "set", self.peer, "up"])
            sh(ns + ["ip", "link", "set", "lo", "up"])
            sh(ns + ["ip", "route", "add", "default", "via", self.host_ip])
            self.proc = subprocess.Popen(
                ns + [sys.executable, "-m", "http.server", "--bind",
                      self.ns_ip, str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Wait (bounded) until it answers from the host.
            for _ in range(100):
                try:
                    socket.create_connection((self.ns_ip, self.port),
                                             timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        sh(["ip", "link", "del", self.veth], check_rc=False)
        sh(["ip", "netns", "del", self.ns], check_rc=False)


def sc_isolation(env):
    """Only the proxy gets out: bypass fails, host services are shut."""
    out = Outside()
    env.cleanups.append(out.close)
    url = "http://%s:%d/" % (out.ns_ip, out.port)
    # The same request from a plain container on the default bridge gets
    # out, so the check below can fail.
    rtargs = ["--runtime", "runsc"] if env.runtime == "runsc" else []
    p = sh(["docker", "run", "--rm"] + rtargs + [env.image, "curl", "-s",
           "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", url],
           check_rc=False)
    check(p.stdout == "200",
          "a plain docker run reaches the outside host (got %r)" % p.stdout)

    # A host service on all interfaces.
    hs = http.server.ThreadingHTTPServer(("0.0.0.0", 0),
                                         http.server.SimpleHTTPRequestHandler)
    hs.daemon_threads = True
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    env.cleanups.append(hs.server_close)
    env.cleanups.append(hs.shutdown)
    hport = hs.server_address[1]
    script = (proxy_of() +
              'echo "bypass=$(curl -s -m 5 --noproxy "*" -o /dev/null '
              '-w "%{http_code}" ' + url + ')"; '
              'echo "host=$(curl -s -m 5 --noproxy "*" -o /dev/null '
              '-w "%{http_code}" http://$gw:' + str(hport) + '/)"; '
              'echo "viaproxy-outside=$(curl -s -m 10 -o /dev/null '
              '-w "%{http_code}" ' + url + ')"; '
              'echo "proxy=$(curl -s -o /dev/null -w "%{http_code}" '
              'https://' + env.api + '/auth-hash)"')
    p = env.run(cmd=["sh", "-c", script])
    print(p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    check("bypass=000" in lines,
          "a request that bypasses the proxy does not get out")
    check("viaproxy-outside=403" in lines,
          "through the proxy a private address is refused (403)")
    check("proxy=200" in lines, "the proxy still works")
    if os.geteuid() == 0 and shutil.which("iptables"):
        check("host=000" in lines,
              "with the firewall rule a host service on 0.0.0.0 is "
              "unreachable")
        # Without the rule it is reachable: prove the check can fail.
        net = "moat-e2e-net-%d" % os.getpid()
        sh(["docker", "network", "create", "--internal", net])
        env.cleanups.append(lambda: sh(["docker", "network", "rm", net],
                                       check_rc=False))
        gw = sh(["docker", "network", "inspect", net, "--format",
                 "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]).stdout.strip()
        p = sh(["docker", "run", "--rm", "--network", net] + rtargs +
               [env.image, "curl", "-s", "-m", "10", "-o", "/dev/null",
                "-w", "%{http_code}", "http://%s:%d/" % (gw, hport)],
               check_rc=False)
        check(p.stdout == "200",
              "without moat's rule the host service is reachable from an "
              "internal network (got %r)" % p.stdout)


def wait_for(pred, what, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    raise Fail("timed out waiting for " + what)


def start_bg(env, cmd):
    errf = open(os.path.join(env.tmp, "bg.err"), "w+")
    # Its own process group, as a shell gives a foreground job.
    p = subprocess.Popen(env.run_args(cmd=cmd), stdout=subprocess.DEVNULL,
                         stderr=errf, stdin=subprocess.DEVNULL, env=env.env,
                         start_new_session=True)

    def rid():
        errf.seek(0)
        return run_id_of(errf.read())
    wait_for(lambda: rid() is not None or p.poll() is not None,
             "the run id")
    r = rid()
    if r is None:
        errf.seek(0)
        raise Fail("moat run did not start: " + errf.read())
    wait_for(lambda: sh(["docker", "ps", "-q", "--filter",
                         "label=moat.run=" + r]).stdout.strip() != "",
             "the container to run")
    env.cleanups.append(lambda: p.poll() is None and (p.kill(), p.wait()))
    with open("/proc/%d/limits" % p.pid) as f:
        core = [l.split()[4:6] for l in f if l.startswith("Max core")]
    check(core == [["0", "0"]], "moat runs with RLIMIT_CORE 0 (no core "
          "dump can hold a secret)")
    if os.geteuid() == 0 and shutil.which("iptables"):
        check(len(fw_chains(r)) >= 3,
              "while it runs the run's firewall chain is installed")
    return p, r


LOOP = ["sh", "-c", "trap 'echo stopping; exit 3' TERM INT; "
        "while :; do sleep 1; done"]


def sc_signals(env):
    for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        p, rid = start_bg(env, LOOP)
        if sig == signal.SIGINT:
            # Ctrl-C: the whole foreground group, the engine's CLI too.
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        rc = p.wait(timeout=RUN_TIMEOUT)
        check(rc == want, "%s: moat exits %d (got %d)"
              % (sig.name, want, rc))
        assert_torn_down(rid, sig.name)
        md = metadata(env, rid)
        check(md["state"] == "exited" and md["exit_status"] == want,
              sig.name + ": metadata.json finished")
        lg = sh([MOAT, "logs", rid], env=env.env).stdout
        check(lg == "stopping\n",
              sig.name + ": the agent was told to stop and its output was "
              "kept")
    sc_double_int(env)


def sc_stalled_output(env):
    """Nobody reads moat's stdout for a while: the agent's writes wait,
    the proxy (same event loop) keeps serving."""
    env.grant()
    marker = os.path.join(env.project, "curl-done")
    script = ('(head -c 2000000 /dev/zero | tr "\\0" a; echo) & '
              'curl -s -o /dev/null -w "%{http_code}" https://' + env.api +
              '/auth-hash > /workspace/curl-done.tmp; '
              'mv /workspace/curl-done.tmp /workspace/curl-done; wait')
    p = subprocess.Popen(env.run_args(extra=["--grant", "e2eapi"],
                                      cmd=["sh", "-c", script]),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, env=env.env)
    env.cleanups.append(lambda: p.poll() is None and (p.kill(), p.wait()))
    # stdout is a pipe nobody reads yet: it fills after 64 KiB.
    wait_for(lambda: os.path.exists(marker), "the agent's request while "
             "moat's stdout is stalled")
    with open(marker) as f:
        check(f.read() == "200", "the proxy answered while moat's output "
              "was stalled")
    out = p.stdout.read()
    rc = p.wait(timeout=RUN_TIMEOUT)
    check(rc == 0 and len(out) == 2000001,
          "then all the output arrives (%d bytes, exit %d)" % (len(out), rc))


def sc_tty(env):
    """-i on a terminal: a TTY inside, the session still in moat logs."""
    if shutil.which("script") is None:
        raise Fail("script(1) (util-linux) is needed for a terminal")
    cmd = " ".join("'%s'" % a for a in env.run_args(
        extra=["-i"], cmd=["sh", "-c", "test -t 0 && test -t 1 && "
                           "echo tty-inside; exit 4"]))
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, text=True,
                       timeout=RUN_TIMEOUT, env=env.env)
    print(p.stdout)
    check(p.returncode == 4, "-i on a terminal: exit status 4 (got %d)"
          % p.returncode)
    rid = run_id_of(p.stdout)
    check(rid is not None and "tty-inside" in p.stdout,
          "the agent has a terminal on stdin and stdout")
    lg = sh([MOAT, "logs", rid], env=env.env).stdout
    # script(1) feeds the session a NUL, which the terminal echoes as ^@.
    check(lg.replace("^@", "").rstrip("\r\n") == "tty-inside",
          "moat logs has the terminal session (got %r)" % lg)
    assert_torn_down(rid, "after a terminal session")


DESKTOP_DOCKER = r"""#!/bin/sh
# Docker Desktop as moat sees it: the real daemon, `docker info` saying
# "Docker Desktop".  `docker run` is not run: it records its argv and env,
# then uses the proxy from the host the way a Desktop VM would reach it.
REAL=%(real)s
LOG=%(log)s
printf '%%s
' "docker $*" >>"$LOG"
case "$1" in
info)
	"$REAL" "$@" | sed 's/$/ (Docker Desktop)/'
	exit 0 ;;
run)
	env | grep -i '_proxy=' | sort >"$LOG.env"
	ca=
	for a in "$@"; do
		case "$a" in *:/etc/moat-ca:ro) ca=${a%%:/etc/moat-ca:ro} ;; esac
	done
	hp=${HTTPS_PROXY#http://}
	port=${hp##*:}
	curl -s --cacert "$ca/ca-bundle.pem" 	    -x "http://${hp%%@*}@127.0.0.1:$port" 	    https://%(api)s/auth-hash >"$LOG.curl"
	exit 0 ;;
esac
exec "$REAL" "$@"
"""


def sc_desktop(env):
    """Docker Desktop: no per-run network, the proxy on 127.0.0.1 reached
    as host.docker.internal, the token still required."""
    env.grant()
    bindir = os.path.join(env.tmp, "bin")
    os.mkdir(bindir)
    log = os.path.join(env.tmp, "docker.log")
    with open(os.path.join(bindir, "docker"), "w") as f:
        f.write(DESKTOP_DOCKER % {"real": shutil.which("docker"), "log": log,
                                  "api": env.api})
    os.chmod(os.path.join(bindir, "docker"), 0o755)
    # The wrapper stands for Docker Desktop's CLI: moat must use the CLI.
    e = dict(env.env, PATH=bindir + ":" + os.environ["PATH"],
             MOAT_DOCKER_API="0")
    args = [a for a in env.run_args(extra=["--grant", "e2eapi"],
                                    cmd=["true"]) if a != "--no-sandbox"]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=e,
                       stdin=subprocess.DEVNULL)
    print(p.stderr)
    with open(log) as f:
        calls = f.read().splitlines()
    print("\n".join(calls))
    check(p.returncode == 0 and "(runtime docker, sandbox docker)" in
          p.stderr and "WARN" not in p.stderr,
          "desktop: runs without gVisor and without the Linux warning")
    check(not any("network create" in c for c in calls),
          "desktop: no per-run network")
    run = [c for c in calls if c.startswith("docker run ")]
    check(len(run) == 1 and "--network" not in run[0] and
          "--runtime" not in run[0], "desktop: docker run without "
          "--network or --runtime")
    with open(log + ".env") as f:
        penv = f.read()
    check(re.search(r"^HTTPS_PROXY=http://moat:[0-9a-f]{64}@"
                    r"host\.docker\.internal:\d+$", penv, re.M) is not None,
          "desktop: the container reaches the proxy as host.docker.internal")
    want = hashlib.sha256(("Bearer " + SECRET).encode()).hexdigest()
    with open(log + ".curl") as f:
        check(f.read() == want, "desktop: the proxy on 127.0.0.1 injects "
              "for a client with the token")


def sc_double_int(env):
    """An agent that ignores SIGTERM: a second Ctrl-C stops it at once."""
    p, rid = start_bg(env, ["sh", "-c", "trap '' TERM INT; "
                            "while :; do sleep 1; done"])
    os.killpg(p.pid, signal.SIGINT)
    errf = os.path.join(env.tmp, "bg.err")
    wait_for(lambda: "stopping the container" in open(errf).read(),
             "the first stop")
    os.killpg(p.pid, signal.SIGINT)
    rc = p.wait(timeout=RUN_TIMEOUT)
    check(rc == 130, "second Ctrl-C: moat exits 130 (got %d)" % rc)
    assert_torn_down(rid, "second Ctrl-C")


def sc_sigkill(env):
    p, rid = start_bg(env, ["sleep", "600"])
    net = labelled("network", rid)
    p.kill()
    p.wait()
    check(labelled("ps", rid) != [] and net != [],
          "after SIGKILL the container and network are still there")
    q = env.run(cmd=["true"])
    print(q.stderr)
    check(q.returncode == 0, "the next run succeeds")
    assert_torn_down(rid, "killed run cleaned up by the next run")
    ls = {r["id"]: r for r in json.loads(
        sh([MOAT, "list", "--json"], env=env.env).stdout)}
    check(ls[rid]["state"] == "killed" and ls[rid]["exit_status"] is None,
          "moat list shows the killed run as killed")
    # moat clean after that: succeeds, and this run stays cleaned up.
    c = sh([MOAT, "clean"], env=env.env)
    check(c.stdout.startswith("cleaned up "), "moat clean runs")
    assert_torn_down(rid, "after moat clean")


def sc_errors(env):
    # Missing gVisor: the real daemon, but `docker info` lists no runsc.
    # (The wrapper hides runsc from the CLI, so moat must use the CLI.)
    e = dict(env.env, PATH=os.path.join(
        SRC, "tests/integ/fake-container/no-runsc") + ":" +
        os.environ["PATH"], MOAT_DOCKER_API="0")
    args = [MOAT, "run", "--image", env.image, env.project, "--", "true"]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=e,
                       stdin=subprocess.DEVNULL)
    print(p.stderr)
    check(p.returncode != 0, "missing gVisor: non-zero exit")
    check("gVisor (runsc) is required but not available" in p.stderr and
          "To bypass (reduced isolation): moat run --no-sandbox"
          in p.stderr, "missing gVisor: the exact message and the bypass")
    check("moat: run " not in p.stderr, "missing gVisor: nothing started")
    # Stopped daemon: the real CLI pointed at a socket nobody serves
    # (Docker asked for: with Podman installed, auto would fall back).
    e = dict(env.env, DOCKER_HOST="unix://" + os.path.join(env.tmp,
                                                            "no.sock"),
             MOAT_RUNTIME="docker")
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=e,
                       stdin=subprocess.DEVNULL)
    print(p.stderr)
    check(p.returncode != 0, "daemon down: non-zero exit")
    check("cannot connect to the Docker daemon" in p.stderr
          and "gVisor" not in p.stderr,
          "daemon down: its own message, not the gVisor one")
    # A missing grant fails before anything starts, naming the command.
    p = env.run(extra=["--grant", "nosuch"], cmd=["true"])
    check(p.returncode == 2 and 'no credential "nosuch" granted; run: '
          'moat grant nosuch' in p.stderr and "moat: run " not in p.stderr,
          "missing grant: exit 2 and the moat grant command, nothing "
          "started")
    for extra, code, msg in (
            (["--resolve", "bad"], 2, 'moat: --resolve "bad": expected '
             'HOST:PORT:ADDR with a numeric address'),
            (["--resolve", "h:0:127.0.0.1"], 2, 'moat: --resolve '
             '"h:0:127.0.0.1"'),
            (["--resolve", "h:443:example.com"], 2, 'moat: --resolve '
             '"h:443:example.com"'),
            (["-e", "FOO"], 2, 'moat: -e: "FOO" is not KEY=VALUE'),
            (["-e", "HTTPS_PROXY=x"], 2, "moat: -e HTTPS_PROXY: moat sets "
             "the proxy variables; they cannot be overridden"),
            (["--runtime", "nope"], 1, 'moat: unknown runtime "nope" (from '
             '--runtime); use docker, podman, apple or auto'),
            (["--upstream-ca", "/nonexistent"], 2, "moat: --upstream-ca "
             "/nonexistent: No such file or directory")):
        p = env.run(extra=extra, cmd=["true"])
        check(p.returncode == code and msg in p.stderr and
              "moat: run " not in p.stderr,
              "%s: exit %d, %r, the agent never starts"
              % (" ".join(extra), code, msg))
    p = subprocess.run([MOAT, "run", env.project, "stray"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=env.env)
    check(p.returncode == 2 and 'unexpected argument "stray"; the command '
          'goes after "--"' in p.stderr, "a stray argument is a usage error")
    # Bad input is refused before anything exists, a run record included.
    runs = os.path.join(env.home, "runs")
    check(not os.path.exists(runs) or os.listdir(runs) == [],
          "no run record for any of these")
    # An image that is not there: the engine's 125, moat's explanation,
    # nothing pulled, nothing left behind.
    img = "moat-e2e-no-such-image:latest"
    p = env.run(extra=["--image", img], cmd=["true"])
    print(p.stderr)
    rid = run_id_of(p.stderr)
    check(p.returncode == 125 and "moat: image %s is not available "
          "locally, and moat never pulls images by itself: build the agent "
          "image with scripts/setup, or fetch it with: docker pull %s"
          % (img, img) in p.stderr, "missing image: exit 125 and how to "
          "get it")
    check(sh(["docker", "image", "inspect", img],
             check_rc=False).returncode != 0, "missing image: not pulled")
    check(rid is not None, "missing image: the run had started")
    if rid:
        assert_torn_down(rid, "missing image")


def write_run(home, rid, **kw):
    d = os.path.join(home, "runs", rid)
    os.makedirs(d, mode=0o700)
    md = {"id": rid, "name": kw.get("name", "demo"), "project": "/p",
          "image": "img", "runtime": "docker", "sandbox": "docker",
          "container": "moat-" + rid, "network": None, "grants": ["gh"],
          "pid": kw.get("pid", 1), "pid_start": kw.get("pid_start", 1),
          "start": "x", "start_unix": kw.get("start", 1700000000),
          "end": None, "end_unix": kw.get("end"),
          "state": kw.get("state", "exited"),
          "exit_status": kw.get("exit_status", 0)}
    with open(os.path.join(d, "metadata.json"), "w") as f:
        json.dump(md, f)
    return d


def sc_runs_cli(tmp):
    """moat list, logs, trace, clean over hand-written run records."""
    home = os.path.join(tmp, "home")
    # No engine reachable: clean only touches the records here, never
    # containers of other tests running at the same time.
    env = dict(os.environ, MOAT_HOME=home,
               DOCKER_HOST="unix://" + os.path.join(tmp, "no.sock"),
               PATH=os.path.join(tmp, "nobin") + ":" + "/usr/bin:/bin")
    p = sh([MOAT, "list"], env=env)
    check(p.stdout == "no runs\n", "moat list with no runs")
    check(sh([MOAT, "list", "--json"], env=env).stdout == "[]\n",
          "moat list --json with no runs")
    a = write_run(home, "run-20260101-000000-aaaaaa", exit_status=3,
                  end=1700000100)
    # A RUNNING record whose moat is gone (pid of a reaped child).
    q = subprocess.Popen(["true"])
    q.wait()
    write_run(home, "run-20260102-000000-bbbbbb", name="other",
              state="running", exit_status=None, pid=q.pid,
              start=1800000000)
    with open(os.path.join(a, "logs.txt"), "w") as f:
        f.write("line one\nline two\n")
    with open(os.path.join(a, "network.jsonl"), "w") as f:
        f.write('{"time":"2026-01-01T00:00:01.000Z","run":"x",'
                '"method":"GET","scheme":"https","host":"api.github.com",'
                '"port":443,"path":"/user","status":200,"bytes_up":120,'
                '"bytes_down":3400,"duration_ms":5,"decision":"allow",'
                '"injected":["Authorization"]}\n'
                'not json\n'
                '{"time":"2026-01-01T00:00:02.000Z","method":"CONNECT",'
                '"scheme":"tunnel","host":"evil.example","port":443,'
                '"path":"","status":403,"bytes_up":0,"bytes_down":0,'
                '"decision":"deny","injected":[],'
                '"error":"not in network.allow"}\n')
    p = sh([MOAT, "list"], env=env)
    rows = p.stdout.splitlines()
    check(len(rows) == 3 and rows[1].startswith(
        "run-20260101-000000-aaaaaa  demo             exited   3 ")
          and rows[2].split()[2] == "killed",
          "moat list: oldest first, exit status, a dead run shows killed")
    ls = json.loads(sh([MOAT, "list", "--json"], env=env).stdout)
    check([(r["id"], r["state"], r["exit_status"]) for r in ls] ==
          [("run-20260101-000000-aaaaaa", "exited", 3),
           ("run-20260102-000000-bbbbbb", "killed", None)],
          "moat list --json")
    check(sh([MOAT, "logs", "run-20260101"], env=env).stdout ==
          "line one\nline two\n", "moat logs by id prefix")
    p = sh([MOAT, "trace", "--network", "demo"], env=env)
    check(p.stdout ==
          "2026-01-01T00:00:01.000Z GET https://api.github.com:443/user 200"
          " 120/3400 allow injected=Authorization\n"
          "2026-01-01T00:00:02.000Z CONNECT evil.example:443 403"
          " 0/0 deny error=\"not in network.allow\"\n",
          "moat trace --network: one line per request (got %r)" % p.stdout)
    check("network.jsonl:2: skipping a malformed line" in p.stderr,
          "moat trace names a malformed line")
    p = sh([MOAT, "logs", "run-2026"], env=env, check_rc=False)
    check(p.returncode == 1 and 'moat: "run-2026" matches 2 runs' in
          p.stderr, "an ambiguous prefix is an error")
    p = sh([MOAT, "logs", "nope"], env=env, check_rc=False)
    check(p.returncode == 1 and 'no run "nope" (see moat list)' in p.stderr,
          "an unknown run is an error")
    p = sh([MOAT, "trace", "demo"], env=env, check_rc=False)
    check(p.returncode == 2, "moat trace without --network is a usage "
          "error")
    p = sh([MOAT, "clean"], env=env, check_rc=False)
    print(p.stdout, p.stderr)
    check("run run-20260102-000000-bbbbbb: its moat process is gone; "
          "marked killed" in p.stdout, "moat clean marks the dead run")
    with open(os.path.join(home, "runs", "run-20260102-000000-bbbbbb",
                           "metadata.json")) as f:
        md = json.load(f)
    check(md["state"] == "killed" and md["end_unix"] is not None,
          "metadata.json of the dead run now says killed, with an end")


def sc_apple(tmp):
    """moat run on Apple's runtime, through the fake `container` CLI."""
    home = os.path.join(tmp, "home")
    proj = os.path.join(tmp, "project")
    os.mkdir(proj)
    log = os.path.join(tmp, "container.log")
    env = dict(os.environ, MOAT_HOME=home, FAKE_CONTAINER_LOG=log,
               FAKE_CONTAINER_APPROOT=os.path.join(tmp, "approot"),
               FAKE_CONTAINER_RUN_EXIT="5",
               FAKE_CONTAINER_GATEWAY="192.168.77.1",
               PATH=os.path.join(SRC, "tests/integ/fake-container") + ":" +
               os.environ["PATH"])
    env.pop("MOAT_RUNTIME", None)
    p = sh([MOAT, "grant", "e2eapi", "--host", "api.example.test"],
           env=env, input=SECRET)
    p = subprocess.run([MOAT, "run", "--runtime", "apple", "--grant",
                        "e2eapi", proj, "--", "sh", "-c", "exit 5"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=env,
                       stdin=subprocess.DEVNULL)
    print(p.stderr)
    check(p.returncode == 5, "apple: the agent's exit status (got %d)"
          % p.returncode)
    rid = run_id_of(p.stderr)
    check(rid is not None and "(runtime apple, sandbox apple)" in p.stderr
          and "WARN" not in p.stderr,
          "apple: run id, runtime and sandbox printed; no gVisor warning")
    with open(log) as f:
        calls = f.read().splitlines()
    print("\n".join(calls))
    run = [c for c in calls if c.startswith("container run ")]
    # The orphan scan runs in a child of its own, alongside the set-up.
    setup = [c for c in calls if c != "container list --all --format json"]
    check(setup[:2] == ["container system status",
                        "container network inspect default"],
          "apple: checks the system, asks for the vmnet gateway")
    check(calls.count("container list --all --format json") == 1,
          "apple: looks once for containers that killed runs left")
    want = ("container run --rm --name moat-{r} -w /workspace "
            "--label moat.run={r} --label moat.pid=\\d+ "
            "--label moat.name=project -e HTTP_PROXY -e HTTPS_PROXY -e http_proxy -e https_proxy "
            "-e NO_PROXY -e no_proxy -e NODE_USE_ENV_PROXY "
            "-e SSL_CERT_FILE -e CURL_CA_BUNDLE -e REQUESTS_CA_BUNDLE "
            "-e NODE_EXTRA_CA_CERTS -e GIT_SSL_CAINFO "
            "-v {p}:/workspace -v {h}/runs/{r}/ca:/etc/moat-ca:ro "
            "moat-agent:latest sh -c exit 5").format(
                r=rid, p=re.escape(proj), h=re.escape(home))
    check(len(run) == 1 and re.fullmatch(want, run[0]) is not None,
          "apple: the exact `container run` command")
    check(not any("network create" in c or "--runtime" in c for c in calls),
          "apple: no per-run network, no runsc")
    with open(log + ".env") as f:
        cenv = f.read()
    check(re.search(r"^HTTPS_PROXY=http://moat:[0-9a-f]{64}@192\.168\.77\.1:"
                    r"\d+$", cenv, re.M) is not None,
          "apple: the proxy is reached at the vmnet gateway, with the token")
    check(SECRET not in cenv and SECRET not in "\n".join(calls),
          "apple: no secret in the container's argv or env")
    # A half set-up system is an error naming the fix.
    e = dict(env, FAKE_CONTAINER_STATE="not-running", MOAT_RUNTIME="apple")
    p = subprocess.run([MOAT, "run", proj, "--", "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT, env=e,
                       stdin=subprocess.DEVNULL)
    print(p.stderr)
    check(p.returncode != 0 and "Apple container runtime not available: "
          in p.stderr and "container system start" in p.stderr,
          "apple: not running gives its message and the command")


SCENARIOS = {
    "inject": sc_inject,
    "exit": sc_exit_status,
    "token": sc_token,
    "strict": sc_strict,
    "isolation": sc_isolation,
    "signals": sc_signals,
    "sigkill": sc_sigkill,
    "errors": sc_errors,
    "stalled": sc_stalled_output,
    "tty": sc_tty,
    "desktop": sc_desktop,
    "runs_cli": None,
    "apple": None,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in SCENARIOS:
        print(__doc__)
        return 2
    runtime = sys.argv[2] if len(sys.argv) > 2 else "runc"
    if sys.argv[1] in ("runs_cli", "apple"):
        tmp = tempfile.mkdtemp(prefix="moat-e2e-")
        try:
            (sc_runs_cli if sys.argv[1] == "runs_cli" else sc_apple)(tmp)
        except Fail as e:
            print("FAIL: %s" % e)
            return 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("PASS")
        return 0
    if not docker_ok():
        print("SKIP: the Docker daemon is not reachable")
        return SKIP
    env = Env(runtime)
    try:
        SCENARIOS[sys.argv[1]](env)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        env.close()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
