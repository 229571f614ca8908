"""The container fault of the soak (issue 8): `kill -9` of a real container
holding open tunnels, under runc and under gVisor (runsc).

Two halves, both against the real Docker engine and moat-agent:latest:

1. `moat proxy` bound on the gateway of an --internal Docker network made
   here (what `moat run` does).  For each runtime a container opens N
   CONNECT tunnels through $HTTPS_PROXY, completes one keep-alive request
   on each (exact body checked in the container), holds them, and is
   killed with `docker kill -s KILL`.  Afterwards: a new container gets
   an exact answer through the proxy (an injected credential, checked by
   its hash), the proxy's fd count is back to the baseline measured
   before the first container, and no socket of it is in CLOSE_WAIT.
2. `moat run` (its own proxy, network and firewall rule) with an agent
   that holds N tunnels; the container is SIGKILLed: `moat run` exits
   137 and leaves no container, network or firewall rule behind.

The proxy of `moat run` lives in the `moat run` process, which exits when
its container dies, so the "still serves, fds, CLOSE_WAIT" checks are made
in half 1, where the proxy outlives the container.
"""

import json
import os
import shutil
import subprocess
import time

from common import (WAIT, Proc, close_wait, fd_count, read_line,
                    start_proxy, wait_until)

IMAGE = os.environ.get("MOAT_SOAK_IMAGE", "moat-agent:latest")
RUNTIMES = ("runc", "runsc")

# The agent: N tunnels through $HTTPS_PROXY to $TARGET (a plain origin),
# one request on each ("hello, moat!\n" expected), then held open.
HOLD_SH = r"""set -u
p=${HTTPS_PROXY#http://}; tok=${p%%@*}; tok=${tok#moat:}
hp=${p#*@}; hp=${hp%%/*}; host=${hp%:*}; port=${hp##*:}
fds=()
for i in $(seq 1 "$N"); do
	exec {fd}<>"/dev/tcp/$host/$port" || break
	printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n' "$TARGET" \
	    "$TARGET" "Proxy-Authorization: Bearer $tok" >&"$fd"
	fds+=("$fd")
done
ok=0
head() {	# status line, then the header lines; sets len
	IFS= read -r -t 20 line <&"$1" || return 1
	case $line in "HTTP/1.1 200 "*) ;; *) echo "got: $line" >&2; return 1;; esac
	len=0
	while IFS= read -r -t 20 line <&"$1" && [ "$line" != $'\r' ]; do
		case ${line,,} in content-length:*)
			len=${line#*:}; len=${len//[!0-9]/};; esac
	done
}
for fd in "${fds[@]}"; do
	head "$fd" || continue
	printf 'GET /tiny HTTP/1.1\r\nHost: %s\r\n\r\n' "$TARGET" >&"$fd"
	head "$fd" || continue
	IFS= read -r -N "$len" -t 20 body <&"$fd" || continue
	[ "$body" = "hello, moat!"$'\n' ] && ok=$((ok+1))
done
echo "HELD $ok"
exec sleep 600
"""


def sh(argv, timeout=120, env=None):
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=env)


def no_sanitizer_report(check, err, who):
    bad = "ERROR: AddressSanitizer" in err or "runtime error" in err
    check(not bad, f"no sanitizer report from {who}"
          + (":\n" + err[-3000:] if bad else ""))


def docker_ok():
    try:
        return sh(["docker", "version", "--format", "{{.Server.Version}}"],
                  timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _wait_held(name, deadline):
    """Polls the container's log for "HELD k"; returns k or None."""
    while time.time() < deadline:
        out = sh(["docker", "logs", name]).stdout
        for line in out.splitlines():
            if line.startswith("HELD "):
                return int(line.split()[1])
        if sh(["docker", "inspect", "-f", "{{.State.Running}}",
               name]).stdout.strip() != "true":
            return None
        time.sleep(0.3)
    return None


def proxy_half(d, check, args, env, hp, sp, want, n, res):
    """Half 1: moat proxy on a test network's gateway; containers killed."""
    net = "moat-soak-%d" % os.getpid()
    names = []
    px = None
    try:
        p = sh(["docker", "network", "create", "--internal", net])
        check(p.returncode == 0, f"docker network create --internal {net}"
              + ("" if p.returncode == 0 else ": " + p.stderr.strip()))
        if p.returncode != 0:
            return
        gw = sh(["docker", "network", "inspect", net, "--format",
                 "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]).stdout.strip()
        px = start_proxy(d, list(args) + ["--listen", gw + ":0"], env,
                         "gateway")
        pid = px.p.pid
        base = fd_count(pid)
        res["gateway_baseline_fds"] = base
        denv = dict(os.environ, HTTPS_PROXY=px.url, https_proxy=px.url)
        hold = os.path.join(d, "hold.sh")
        with open(hold, "w") as f:
            f.write(HOLD_SH)
        for rt in RUNTIMES:
            name = f"{net}-{rt}-hold"
            names.append(name)
            # The proxy URL (with its token) goes through the environment.
            p = sh(["docker", "run", "-d", "--name", name, "--runtime", rt,
                    "--network", net, "-e", "HTTPS_PROXY", "-e", f"N={n}",
                    "-e", f"TARGET=api.test:{hp}", "-v",
                    f"{hold}:/hold.sh:ro", IMAGE, "bash", "/hold.sh"],
                   env=denv)
            if p.returncode != 0:
                check(False, f"{rt}: docker run: {p.stderr.strip()}")
                continue
            held = _wait_held(name, time.time() + WAIT * 3)
            check(held == n, f"{rt}: a container holds {n} tunnels through "
                  f"moat proxy, one request done on each (HELD {held})")
            fds = fd_count(pid)
            check(fds >= base + n, f"{rt}: the proxy's fds show them "
                  f"({base} -> {fds})")
            res[f"{rt}_fds_held"] = fds
            k = sh(["docker", "kill", "-s", "KILL", name])
            check(k.returncode == 0, f"{rt}: docker kill -s KILL {name}"
                  + ("" if k.returncode == 0 else ": " + k.stderr.strip()))
            st = sh(["docker", "wait", name], timeout=WAIT * 3)
            check(st.stdout.strip() == "137",
                  f"{rt}: the container died of SIGKILL "
                  f"(status {st.stdout.strip()})")
            sh(["docker", "rm", "-f", name])
            # A new container of the same runtime gets an exact answer.
            c = sh(["docker", "run", "--rm", "--runtime", rt, "--network",
                    net, "-e", "HTTPS_PROXY", "-e", "https_proxy", "-v",
                    f"{px.ca}:/moat-ca.crt:ro", IMAGE, "curl", "-sS",
                    "--max-time", str(WAIT), "--cacert", "/moat-ca.crt",
                    "-w", "\n%{http_code}", f"https://api.test:{sp}/auth"],
                   env=denv, timeout=WAIT * 3)
            check(c.returncode == 0 and c.stdout == want + "\n200",
                  f"{rt}: after the kill the proxy still serves a new "
                  f"container: 200 and the injected credential's hash "
                  f"({c.stdout[-20:]!r} {c.stderr.strip()[:200]})")
            back = wait_until(lambda: fd_count(pid) <= base, WAIT)
            check(back, f"{rt}: proxy fds back to baseline {base} "
                  f"(now {fd_count(pid)})")
            cw = wait_until(lambda: close_wait(pid) == 0, WAIT)
            check(cw, f"{rt}: no proxy socket in CLOSE_WAIT "
                  f"({close_wait(pid)})")
    finally:
        for name in names:
            sh(["docker", "rm", "-f", name])
        if px is not None:
            px.stop()
            no_sanitizer_report(check, px.stderr(), "the gateway proxy")
        sh(["docker", "network", "rm", net])


def _can_fw():
    return shutil.which("iptables-save") is not None and os.geteuid() == 0


def _leftovers(run_id, netid):
    """What a run left: its containers, networks, firewall rule lines."""
    ctr = sh(["docker", "ps", "-aq", "--filter",
              f"label=moat.run={run_id}"]).stdout.split()
    nets = sh(["docker", "network", "ls", "-q", "--filter",
               f"label=moat.run={run_id}"]).stdout.split()
    fw = []
    if netid and _can_fw():
        out = sh(["iptables-save"]).stdout
        fw = [x for x in out.splitlines() if "br-" + netid[:12] in x]
    return ctr, nets, fw


def run_half(d, check, hp, ca_crt, n, res):
    """Half 2: `moat run` whose container is SIGKILLed."""
    moat = os.environ.get("MOAT_BIN", "moat")
    proj = os.path.join(d, "project")
    home = os.path.join(d, "home")
    os.makedirs(proj, exist_ok=True)
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(proj, "hold.sh"), "w") as f:
        f.write(HOLD_SH)
    env = dict(os.environ, MOAT_HOME=home)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
              "MOAT_RUNTIME"):
        env.pop(k, None)
    for rt in RUNTIMES:
        argv = [moat, "run", "--image", IMAGE, "--resolve",
                f"api.test:{hp}:127.0.0.1", "--upstream-ca", ca_crt,
                "-e", f"N={n}", "-e", f"TARGET=api.test:{hp}"]
        if rt == "runc":
            argv.append("--no-sandbox")
        argv += [proj, "--", "bash", "/workspace/hold.sh"]
        run = Proc(argv, env=env)
        run_id = netid = None
        try:
            line = read_line(run.p.stdout, time.time() + WAIT * 3)
            check(line == f"HELD {n}", f"moat run ({rt}): the agent holds "
                  f"{n} tunnels, one request done on each ({line})")
            ps = sh(["docker", "ps", "--filter", f"label=moat.pid="
                     f"{run.p.pid}", "--format",
                     '{{.Names}} {{.Label "moat.run"}}']).stdout.split()
            if len(ps) != 2:
                check(False, f"moat run ({rt}): its container is found by "
                      f"label moat.pid={run.p.pid} ({ps})")
                continue
            name, run_id = ps
            netid = (sh(["docker", "network", "ls", "-q", "--no-trunc",
                         "--filter", f"label=moat.run={run_id}"])
                     .stdout.strip() or None)
            live = _leftovers(run_id, netid)
            check(all(live) or (live[0] and live[1] and not _can_fw()),
                  f"moat run ({rt}): while it runs, its container, "
                  f"network and firewall rule are seen ({len(live[0])} "
                  f"container, {len(live[1])} network, {len(live[2])} "
                  "iptables lines)")
            fds = fd_count(run.p.pid)
            check(fds >= n, f"moat run ({rt}): its proxy's fds show the "
                  f"tunnels ({fds})")
            res[f"moat_run_{rt}_fds_held"] = fds
            k = sh(["docker", "kill", "-s", "KILL", name])
            check(k.returncode == 0, f"moat run ({rt}): docker kill -s KILL "
                  f"{name}" + ("" if k.returncode == 0 else ": "
                               + k.stderr.strip()))
            try:
                rc = run.p.wait(WAIT * 3)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 137, f"moat run ({rt}): exits with the agent's "
                  f"status 137 (got {rc})")
            # moat returns once the container is gone; a detached child
            # removes the emptied network (and with it Docker's own rules
            # for its bridge) about 0.1 s later: allow it 20 s.
            end = time.time() + 20
            ctr, nets, fw = _leftovers(run_id, netid)
            while (ctr or nets or fw) and time.time() < end:
                time.sleep(0.1)
                ctr, nets, fw = _leftovers(run_id, netid)
            check(netid is not None and not ctr and not nets and not fw,
                  f"moat run ({rt}): no container, network (was "
                  f"{(netid or '?')[:12]}) or firewall rule left "
                  f"(containers {ctr}, networks {nets}, rules {fw})")
        finally:
            run.stop()
            no_sanitizer_report(check, run.stderr(), f"moat run ({rt})")
            if run_id:
                for c in sh(["docker", "ps", "-aq", "--filter",
                             f"label=moat.run={run_id}"]).stdout.split():
                    sh(["docker", "rm", "-f", c])
                for x in sh(["docker", "network", "ls", "-q", "--filter",
                             f"label=moat.run={run_id}"]).stdout.split():
                    sh(["docker", "network", "rm", x])


def container_faults(d, check, args, env, hp, sp, want, ca_crt, n):
    """Both halves; returns the figures for the results."""
    res = {"container_tunnels": n}
    t0 = time.time()
    proxy_half(d, check, args, env, hp, sp, want, n, res)
    run_half(d, check, hp, ca_crt, n, res)
    res["container_fault_s"] = round(time.time() - t0, 1)
    print(json.dumps(res))
    return res
