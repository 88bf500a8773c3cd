#!/usr/bin/env python3
"""Which pattern fits, measured like for like (issue 15).

usage: compare.py run [--quick] [--only=SECTIONS] [--transports=LIST]
       compare.py render [--quick]

`run` drives the same workload over every transport -- pipe, kafka, amqp,
mqtt at QoS 1 and at QoS 0 -- and over a plain Python pipeline per broker
(py_pipeline.py: confluent-kafka, pika, paho-mqtt) as the yardstick that is
not ours, then calls `render`.  `render` draws the figures and writes the
markdown tables from the CSVs alone, so committed CSVs reproduce them.

Sections (--only=sweep,sensor,codec,crash; default all):

  sweep   cpu records, JSON, generate -> process -> sink at fixed offered
          rates (COMPARE_RATES, default 100 1000 5000 10000 20000), each
          cell COMPARE_WARMUP s of warm-up (not counted) then COMPARE_SECONDS
          s measured, COMPARE_REPS repetitions.  Cells run rate by rate; at
          each rate the repetitions are interleaved over the transports in
          a rotated order, so a noisy minute does not favour one.  A
          transport's sweep stops after the first rate it does not sustain.
          The Python pipelines run at COMPARE_PY_RATES (default 1000).
  sensor  the seed's complex records: COMPARE_PHONES simulated phones
          (one generator each, 1 batch/s like the Sensor Logger app).
  codec   the sweep's cell at COMPARE_COST_RATE (5000/s) with MessagePack,
          for the cost per record of both codecs.
  crash   per broker transport at 1000/s: SIGKILL the processor and start
          it again with the same --client-id; SIGKILL the broker and start
          it again (MQTT's consumers with -X shared=false, the setting the
          README gives for surviving broker restarts).  Recovery = from the
          SIGKILL until the first record generated after it is stored; then
          `streamctl verify`.

What a cell measures (sink database columns of every row):
  e2e       stored_ns - intended_ns (from the intended send time: a stalled
            generator shows as latency; the generator never sends early)
  gen->proc processed_ns - intended_ns, proc->sink stored_ns - processed_ns
  send      sent_ns - intended_ns (how far the generator fell behind)
  stalls    gaps > 100 ms between consecutive stored rows
  achieved  measured rows / (last - first stored time of those rows)
  cpu       user+sys seconds of every process (wait4 rusage; the broker
            from /proc/<pid>/stat over the cell), peak RSS
  wire      loopback bytes (all hops, both directions' protocol
            overhead) per record: /sys/class/net/lo tx_bytes over the cell
A rate is sustained when achieved >= 95% of offered, every record arrived
(at QoS 0: at most 0.1% missing), and e2e p99 < 1 s.  Saturation is the
highest rate sustained with e2e p99 < 100 ms.

The brokers are private to this run (scripts/brokers.sh with their own
directory and ports, COMPARE_*_PORT), started here and stopped at the end,
so the crash section may kill them and nothing else shares them.

Output: bench/results/compare.csv (one row per cell), compare-crash.csv,
compare-timeline.csv, compare.md (the tables REPORT section 4 embeds),
docs/img/compare-{latency,cost,recovery}.png.  --quick: seconds per cell,
into bench/results/quick (what `make test` runs so the harness cannot rot);
it exits non-zero when a cell failed or an at-least-once cell lost data.
"""
import csv
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(ROOT, "scripts", "bench")
CACHE = os.environ.get("STREAMCTL_CACHE", os.path.join(ROOT, ".cache"))
SC = os.environ.get("STREAMCTL", os.path.join(ROOT, "build", "streamctl"))
VENV_PY = os.path.join(CACHE, "venv", "bin", "python")


def env_list(name, default):
    return [x for x in os.environ.get(name, default).split() if x]


def env_num(name, default):
    return float(os.environ.get(name, default))


QUICK = "--quick" in sys.argv
if QUICK:
    RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench", "results", "quick"))
    IMG = os.environ.get("BENCH_IMG", os.path.join(RESULTS, "img"))
    DEF = dict(rates="100 1000", seconds=3, warmup=1, reps=1, py_rates="1000", phones=3,
               sensor_seconds=3, cost_rate=1000, crash_seconds=10, crash_at=4)
else:
    RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench", "results"))
    IMG = os.environ.get("BENCH_IMG", os.path.join(ROOT, "docs", "img"))
    DEF = dict(rates="100 1000 5000 10000 20000", seconds=30, warmup=3, reps=3,
               py_rates="1000", phones=10, sensor_seconds=30, cost_rate=5000,
               crash_seconds=25, crash_at=8)
RATES = [int(x) for x in env_list("COMPARE_RATES", DEF["rates"])]
SECONDS = env_num("COMPARE_SECONDS", DEF["seconds"])
WARMUP = env_num("COMPARE_WARMUP", DEF["warmup"])
REPS = int(env_num("COMPARE_REPS", DEF["reps"]))
PY_RATES = [int(x) for x in env_list("COMPARE_PY_RATES", DEF["py_rates"])]
PHONES = int(env_num("COMPARE_PHONES", DEF["phones"]))
SENSOR_SECONDS = env_num("COMPARE_SENSOR_SECONDS", DEF["sensor_seconds"])
COST_RATE = int(env_num("COMPARE_COST_RATE", DEF["cost_rate"]))
CRASH_SECONDS = env_num("COMPARE_CRASH_SECONDS", DEF["crash_seconds"])
CRASH_AT = env_num("COMPARE_CRASH_AT", DEF["crash_at"])
DRAIN_TIMEOUT = env_num("COMPARE_DRAIN_TIMEOUT", 60)
LOAD_MAX = env_num("COMPARE_LOAD_MAX", 1.5)  # load1 above this before a cell: noted

# below the kernel's ephemeral range (32768-60999): a client's local port
# could otherwise take one of them between two broker starts
PORTS = {
    "KAFKA_PORT": os.environ.get("COMPARE_KAFKA_PORT", "26092"),
    "AMQP_PORT": os.environ.get("COMPARE_AMQP_PORT", "26672"),
    "MQTT_PORT": os.environ.get("COMPARE_MQTT_PORT", "26883"),
}
BROKER_ENV = dict(os.environ,
                  STREAMCTL_BROKERS_DIR=os.environ.get(
                      "COMPARE_BROKERS_DIR", os.path.join(CACHE, "compare-brokers")),
                  KAFKA_PORT=PORTS["KAFKA_PORT"],
                  KAFKA_CONTROLLER_PORT=str(int(PORTS["KAFKA_PORT"]) + 1),
                  AMQP_PORT=PORTS["AMQP_PORT"],
                  AMQP_DIST_PORT=str(int(PORTS["AMQP_PORT"]) + 100),
                  AMQP_NODENAME=os.environ.get("COMPARE_AMQP_NODENAME",
                                               "rabbit-compare@localhost"),
                  MQTT_PORT=PORTS["MQTT_PORT"],
                  MQTT_WS_PORT=str(int(PORTS["MQTT_PORT"]) + 100))
BROKERS_DIR = BROKER_ENV["STREAMCTL_BROKERS_DIR"]
URI = {
    "kafka": "kafka://127.0.0.1:%s" % PORTS["KAFKA_PORT"],
    "amqp": "amqp://guest:guest@127.0.0.1:%s/" % PORTS["AMQP_PORT"],
    "mqtt": "mqtt://127.0.0.1:%s" % PORTS["MQTT_PORT"],
}
BROKER_OF = {"kafka": "kafka", "amqp": "amqp", "mqtt": "mqtt"}
PIDFILE = {"kafka": "kafka/kafka.pid", "amqp": "amqp/rabbit.pid", "mqtt": "mqtt/mosquitto.pid"}

# label -> (implementation, transport, qos)
TRANSPORTS = {
    "pipe": ("streamctl", "pipe", None),
    "kafka": ("streamctl", "kafka", None),
    "amqp": ("streamctl", "amqp", None),
    "mqtt-qos1": ("streamctl", "mqtt", 1),
    "mqtt-qos0": ("streamctl", "mqtt", 0),
    "py-kafka": ("python", "kafka", None),
    "py-amqp": ("python", "amqp", None),
    "py-mqtt-qos1": ("python", "mqtt", 1),
}
OURS = [t for t in env_list("COMPARE_TRANSPORTS", "pipe kafka amqp mqtt-qos1 mqtt-qos0")]
PYREF = [t for t in env_list("COMPARE_PY", "py-kafka py-amqp py-mqtt-qos1")]

CELL_COLUMNS = [
    "run_id", "date", "host", "git_rev", "mode", "load1_start", "load1_end", "cores",
    "section", "impl", "transport", "qos", "codec", "source", "rate", "rep", "producers",
    "seconds", "warmup_s", "sent", "stored", "measured", "undelivered", "achieved_rate",
    "e2e_p50_ms", "e2e_p99_ms", "e2e_p999_ms", "e2e_max_ms",
    "send_p99_ms", "send_max_ms",
    "gp_p50_ms", "gp_p99_ms", "gp_p999_ms", "gp_max_ms",
    "ps_p50_ms", "ps_p99_ms", "ps_p999_ms", "ps_max_ms",
    "stalls", "max_gap_ms", "sustained", "reason",
    "cpu_gen_s", "cpu_proc_s", "cpu_sink_s", "cpu_broker_s",
    "rss_gen_kb", "rss_proc_kb", "rss_sink_kb", "rss_broker_kb",
    "payload_b", "wire_b", "rc_gen", "rc_proc", "rc_sink", "error",
]
CRASH_COLUMNS = [
    "run_id", "date", "host", "git_rev", "mode", "load1_start", "transport", "kind", "rate",
    "seconds", "kill_at_s", "sent", "stored", "recovery_s", "max_gap_ms", "verify_clean",
    "gaps", "missing", "duplicates", "restart_s", "error",
]
TIMELINE_COLUMNS = ["run_id", "transport", "kind", "t_ms", "rows"]


def log(*a):
    print("[compare %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def lo_tx_bytes():
    try:
        with open("/sys/class/net/lo/statistics/tx_bytes") as f:
            return int(f.read())
    except OSError:
        return 0


def proc_cpu_s(pid):
    """user+sys seconds of a running process (all its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(sorted_vals, q):
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, int(q * len(sorted_vals) + 0.999999) - 1))
    return sorted_vals[i]


# ---- processes ------------------------------------------------------------


def cpu_model():
    """The CPU model (/proc/cpuinfo): runs on different machines are not like for like."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip().replace(",", "").replace('"', "")
    except OSError:
        pass
    return "unknown"


class Proc:
    """A child whose CPU and peak RSS come from wait4's rusage."""

    def __init__(self, name, argv, errpath, stdin=None, stdout=None, env=None):
        self.name = name
        self.err = open(errpath, "wb")
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=self.err, env=env)
        self.pid = self.p.pid
        self.rc = None
        self.cpu = 0.0
        self.rss = 0

    def poll(self):
        if self.rc is not None:
            return self.rc
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc
        self.cpu = ru.ru_utime + ru.ru_stime
        self.rss = ru.ru_maxrss
        self.err.close()
        return self.rc

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)
        return self.rc

    def signal(self, sig):
        if self.rc is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=10):
        """SIGTERM (a graceful drain), SIGKILL after grace seconds."""
        if self.poll() is not None:
            return self.rc
        self.signal(signal.SIGTERM)
        if self.wait(grace) is None:
            self.signal(signal.SIGKILL)
            self.wait(10)
        return self.rc


def wait_ready(url, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.05)
    return False


def wait_file(path, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def final_stats(path):
    last = {}
    try:
        with open(path) as f:
            for line in f:
                if '"final":true' in line:
                    last = json.loads(line)
    except (OSError, ValueError):
        pass
    return last


# ---- brokers ---------------------------------------------------------------


def brokers(*args, check=True):
    r = subprocess.run([os.path.join(ROOT, "scripts", "brokers.sh"), *args], env=BROKER_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("brokers.sh %s failed: %s" % (" ".join(args), r.stdout.strip()))
    return r.stdout


def broker_pid(transport):
    try:
        with open(os.path.join(BROKERS_DIR, PIDFILE[transport])) as f:
            return int(f.read().strip())
    except (OSError, ValueError, KeyError):
        return 0


# ---- one pipeline run --------------------------------------------------------


class Pipeline:
    """generate -> process -> sink of one cell, over one transport."""

    def __init__(self, label, work, codec="json", source="cpu"):
        self.label = label
        self.impl, self.transport, self.qos = TRANSPORTS[label]
        self.work = work
        self.codec = codec
        self.source = source
        self.ns = "cmp%d%d" % (os.getpid(), time.monotonic_ns() % 10**9)
        self.db = os.path.join(work, self.ns + ".db")
        self.gens = []
        self.proc = self.sink = None
        # consumer -X options; the crash cells give MQTT's consumers plain
        # subscriptions: Mosquitto 2.0.11 does not restore $share ones after a
        # restart, so with them what is published before the consumers
        # subscribe again is dropped (README, MQTT), which a broker kill would
        # measure instead of streamctl's recovery
        self.consumer_x = []
        self.extra_procs = []  # processors killed in a crash run
        self.table = "cpu_stats" if source == "cpu" else "sensor_features"

    def sc_common(self, role="generate"):
        a = ["--transport=" + self.transport, "--progress=never", "--stats-interval=0"]
        if role != "sink":
            a.append("--codec=" + self.codec)
        if self.transport != "pipe":
            a += ["--broker=" + URI[self.transport], "--namespace=" + self.ns]
        if self.qos is not None:
            a.append("--qos=%d" % self.qos)
        return a

    def py_common(self):
        a = ["--transport=" + self.transport, "--broker=" + URI[self.transport],
             "--namespace=" + self.ns]
        if self.qos is not None:
            a.append("--qos=%d" % self.qos)
        return a

    def path(self, name):
        return os.path.join(self.work, "%s-%s" % (self.ns, name))

    def start_consumers(self, idle_exit):
        """Sink and processor, started and ready before the first record."""
        if self.transport == "pipe":
            return True
        if self.impl == "python":
            py = [VENV_PY, os.path.join(BENCH, "py_pipeline.py")]
            self.sink = Proc("sink", py + ["sink"] + self.py_common() + [
                "--client-id=%s-sink" % self.ns, "--idle-exit=%d" % idle_exit,
                "--ready-file=" + self.path("sink.ready"), "--db=" + self.db],
                self.path("sink.err"))
            self.proc = self.start_proc(idle_exit)
            return (wait_file(self.path("sink.ready"), self.sink)
                    and wait_file(self.path("proc.ready"), self.proc))
        sport = free_port()
        self.sink = Proc("sink", [SC, "sink"] + self.sc_common("sink") + self.consumer_x + [
            "--client-id=%s-sink" % self.ns, "--db=" + self.db, "--idle-exit=%d" % idle_exit,
            "--stats=" + self.path("sink.stats"), "--metrics=127.0.0.1:%d" % sport],
            self.path("sink.err"))
        self.proc = self.start_proc(idle_exit)
        return (wait_ready("http://127.0.0.1:%d/readyz" % sport, self.sink)
                and wait_ready("http://127.0.0.1:%d/readyz" % self.proc_port, self.proc))

    def start_proc(self, idle_exit, tag="proc"):
        if self.impl == "python":
            ready = self.path(tag + ".ready")
            self.proc_ready = ready
            return Proc(tag, [VENV_PY, os.path.join(BENCH, "py_pipeline.py"), "proc"]
                        + self.py_common() + ["--client-id=%s-proc" % self.ns,
                                              "--idle-exit=%d" % idle_exit,
                                              "--ready-file=" + ready], self.path(tag + ".err"))
        self.proc_port = free_port()
        return Proc(tag, [SC, "process"] + self.sc_common() + self.consumer_x + [
            "--client-id=%s-proc" % self.ns, "--idle-exit=%d" % idle_exit,
            "--stats=" + self.path(tag + ".stats"),
            "--metrics=127.0.0.1:%d" % self.proc_port], self.path(tag + ".err"))

    def start_generators(self, rate, seconds, producers=1):
        if self.transport == "pipe":
            g = Proc("gen", [SC, "generate"] + self.sc_common() + self.gen_args(rate, seconds, 0),
                     self.path("gen.err"), stdout=subprocess.PIPE)
            self.proc = Proc("proc", [SC, "process"] + self.sc_common() + [
                "--stats=" + self.path("proc.stats")], self.path("proc.err"),
                stdin=g.p.stdout, stdout=subprocess.PIPE)
            g.p.stdout.close()
            self.sink = Proc("sink", [SC, "sink"] + self.sc_common("sink") + [
                "--db=" + self.db, "--stats=" + self.path("sink.stats")], self.path("sink.err"),
                stdin=self.proc.p.stdout)
            self.proc.p.stdout.close()
            self.gens = [g]
            return
        for i in range(producers):
            if self.impl == "python":
                argv = [VENV_PY, os.path.join(BENCH, "py_pipeline.py"), "gen"] + self.py_common() + [
                    "--rate=%g" % rate, "--duration=%g" % seconds,
                    "--source-id=%s-cpu-%d" % (self.ns, i)]
            else:
                argv = [SC, "generate"] + self.sc_common() + self.gen_args(rate, seconds, i) + [
                    "--client-id=%s-gen%d" % (self.ns, i)]
            self.gens.append(Proc("gen%d" % i, argv, self.path("gen%d.err" % i)))

    def gen_args(self, rate, seconds, i):
        a = ["--source=" + self.source, "--rate=%g" % rate, "--duration=%g" % seconds,
             "--source-id=%s-%s-%d" % (self.ns, self.source, i),
             "--stats=" + self.path("gen%d.stats" % i)]
        if self.source == "sensor":
            a += ["--device-id=phone-%02d" % i, "--seed=%d" % (i + 1)]
        return a

    def sent(self):
        n = 0
        for i, g in enumerate(self.gens):
            st = final_stats(self.path("gen%d.stats" % i))
            if st:
                n += int(st.get("out", 0))
            else:  # the Python generator prints its summary on stderr
                try:
                    with open(self.path("gen%d.err" % i)) as f:
                        for line in f:
                            if line.startswith("{"):
                                n += int(json.loads(line).get("sent", 0))
                except (OSError, ValueError):
                    pass
        return n

    def payload_bytes(self):
        tot = n = 0
        for i in range(len(self.gens)):
            st = final_stats(self.path("gen%d.stats" % i))
            tot += int(st.get("bytes_out", 0))
            n += int(st.get("out", 0))
        return tot / n if n else 0.0

    def stored(self):
        try:
            c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            n = c.execute("SELECT COUNT(*) FROM %s" % self.table).fetchone()[0]
            c.close()
            return n
        except sqlite3.Error:
            return 0

    def drain(self, sent, timeout):
        """Wait until every record sent is stored (or no progress for
        `timeout` s), then stop the consumers with SIGTERM (their drain).
        Over a pipe, process and sink end by themselves at end of input."""
        if self.transport == "pipe":
            for p in (self.proc, self.sink):
                if p.wait(timeout) is None:
                    p.stop()
            return
        last, last_t = -1, time.monotonic()
        while True:
            n = self.stored()
            if n >= sent:
                break
            if n != last:
                last, last_t = n, time.monotonic()
            elif time.monotonic() - last_t > timeout:
                break
            if self.sink.poll() is not None:
                break
            time.sleep(0.1)
        for p in (self.proc, self.sink):
            if p is not None:
                p.stop()


def rows_of(db, table):
    c = sqlite3.connect(db)
    rows = c.execute("SELECT intended_ns, sent_ns, processed_ns, stored_ns FROM %s" % table).fetchall()
    c.close()
    return rows


def latency_stats(rows, warmup_s, seconds):
    """The cell's figures over the records intended in the measured window."""
    out = {}
    if not rows:
        return out, []
    t0 = min(r[0] for r in rows)
    lo, hi = t0 + int(warmup_s * 1e9), t0 + int((warmup_s + seconds) * 1e9)
    win = [r for r in rows if lo <= r[0] < hi]
    out["measured"] = len(win)
    if not win:
        return out, []
    e2e = sorted((s - i) / 1e6 for i, _, _, s in win)
    send = sorted((se - i) / 1e6 for i, se, _, _ in win)
    gp = sorted((p - i) / 1e6 for i, _, p, _ in win)
    ps = sorted((s - p) / 1e6 for _, _, p, s in win)
    for name, v in (("e2e", e2e), ("gp", gp), ("ps", ps)):
        out[name + "_p50_ms"] = pct(v, 0.5)
        out[name + "_p99_ms"] = pct(v, 0.99)
        out[name + "_p999_ms"] = pct(v, 0.999)
        out[name + "_max_ms"] = v[-1]
    out["send_p99_ms"] = pct(send, 0.99)
    out["send_max_ms"] = send[-1]
    stored = sorted(r[3] for r in win)
    gaps = [(b - a) / 1e6 for a, b in zip(stored, stored[1:])]
    out["stalls"] = sum(1 for g in gaps if g > 100)
    out["max_gap_ms"] = max(gaps) if gaps else 0.0
    span = (stored[-1] - stored[0]) / 1e9
    out["achieved_rate"] = (len(win) - 1) / span if span > 0 else 0.0
    return out, stored


class Run:
    def __init__(self):
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.host = socket.gethostname() + "/" + cpu_model()
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, text=True).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "src",
                                "transports"]).returncode
        self.rev = rev + ("+dirty" if dirty else "")
        self.mode = "quick" if QUICK else "full"
        self.work = tempfile.mkdtemp(prefix="compare-")
        self.failures = []

    def meta(self):
        return {"run_id": self.run_id, "date": self.date, "host": self.host,
                "git_rev": self.rev, "mode": self.mode, "cores": os.cpu_count()}

    def append(self, name, columns, row):
        path = os.path.join(RESULTS, name)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: fmt(row.get(k, "")) for k in columns})

    # -- a measured cell --------------------------------------------------
    def cell(self, section, label, rate, rep, codec="json", source="cpu", producers=1,
             seconds=None, warmup=None):
        seconds = SECONDS if seconds is None else seconds
        warmup = WARMUP if warmup is None else warmup
        impl, transport, qos = TRANSPORTS[label]
        pl = Pipeline(label, self.work, codec=codec, source=source)
        row = dict(self.meta(), section=section, impl=impl, transport=label,
                   qos="" if qos is None else qos, codec=codec, source=source, rate=rate,
                   rep=rep, producers=producers, seconds=seconds, warmup_s=warmup,
                   load1_start=load1())
        err, sent, wire = "", 0, 0
        idle = int(DRAIN_TIMEOUT) + 30  # the drain below ends consumers, not idle-exit
        try:
            if not pl.start_consumers(idle):
                err = "consumers not ready"
            bpid = broker_pid(transport) if transport != "pipe" else 0
            cpu_b0, lo0 = proc_cpu_s(bpid) if bpid else 0.0, lo_tx_bytes()
            if not err:
                pl.start_generators(rate, warmup + seconds, producers)
                for g in pl.gens:
                    if g.wait(warmup + seconds + 120) is None:
                        g.stop()
                        err = "generator did not finish"
                    elif g.rc != 0:
                        err = "generator exit %d" % g.rc
            sent = pl.sent()
            pl.drain(sent, DRAIN_TIMEOUT)
            if bpid:
                row["cpu_broker_s"] = proc_cpu_s(bpid) - cpu_b0
                row["rss_broker_kb"] = proc_rss_kb(bpid)
            wire = lo_tx_bytes() - lo0
        finally:
            for p in pl.gens + [pl.proc, pl.sink]:
                if p is not None:
                    p.stop(5)
        row["load1_end"] = load1()
        stored_rows = rows_of(pl.db, pl.table) if os.path.exists(pl.db) else []
        st, _ = latency_stats(stored_rows, warmup, seconds)
        row.update(st)
        row["sent"] = sent
        row["stored"] = len(stored_rows)
        row["undelivered"] = max(0, sent - len(stored_rows))
        row["cpu_gen_s"] = sum(g.cpu for g in pl.gens)
        row["rss_gen_kb"] = max([g.rss for g in pl.gens] or [0])
        for k, p in (("proc", pl.proc), ("sink", pl.sink)):
            row["cpu_%s_s" % k] = p.cpu if p else 0
            row["rss_%s_kb" % k] = p.rss if p else 0
        row["rc_gen"] = ",".join(str(g.rc) for g in pl.gens)
        row["rc_proc"] = pl.proc.rc if pl.proc else ""
        row["rc_sink"] = pl.sink.rc if pl.sink else ""
        row["payload_b"] = pl.payload_bytes()
        row["wire_b"] = wire / sent if sent and transport != "pipe" else 0
        if not err and pl.sink and pl.sink.rc not in (0, -15):
            err = "sink exit %s" % pl.sink.rc
        if not err and pl.proc and pl.proc.rc not in (0, -15):
            err = "process exit %s" % pl.proc.rc
        row["error"] = err
        ok, reason = sustained(row, rate * producers if source == "cpu" else producers, qos)
        row["sustained"] = int(ok)
        row["reason"] = reason
        self.append("compare.csv", CELL_COLUMNS, row)
        log("%-7s %-12s %6s/s rep %d: %s sent %s stored, achieved %.0f/s, e2e p50 %.2f p99 %.2f "
            "max %.1f ms, %s stalls%s" % (section, label, rate, rep, sent, len(stored_rows),
                                         row.get("achieved_rate", 0), row.get("e2e_p50_ms", 0),
                                         row.get("e2e_p99_ms", 0), row.get("e2e_max_ms", 0),
                                         row.get("stalls", "?"),
                                         "" if ok else " -- NOT sustained: " + reason))
        if err or (row["undelivered"] and qos != 0):
            self.failures.append("%s %s %s/s: %s" % (section, label, rate,
                                                     err or "%d undelivered" % row["undelivered"]))
        if not os.environ.get("COMPARE_KEEP"):
            for f in os.listdir(self.work):
                if f.startswith(pl.ns):
                    os.unlink(os.path.join(self.work, f))
        return row

    # -- a crash cell -----------------------------------------------------
    def crash(self, label, kind, rate):
        impl, transport, qos = TRANSPORTS[label]
        pl = Pipeline(label, self.work)
        if transport == "mqtt" and impl != "python":
            pl.consumer_x = ["-X", "shared=false"]
        row = dict(self.meta(), transport=label, kind=kind, rate=rate, seconds=CRASH_SECONDS,
                   kill_at_s=CRASH_AT, load1_start=load1())
        err, restart_s, t_kill, sent = "", 0.0, 0, 0
        try:
            if not pl.start_consumers(int(DRAIN_TIMEOUT) + 60):
                err = "consumers not ready"
            else:
                pl.start_generators(rate, CRASH_SECONDS)
                time.sleep(CRASH_AT)
                t0 = time.monotonic()
                t_kill = time.time_ns()
                if kind == "processor":
                    pl.proc.signal(signal.SIGKILL)
                    pl.proc.wait(10)
                    pl.extra_procs.append(pl.proc)
                    pl.proc = pl.start_proc(int(DRAIN_TIMEOUT) + 60, tag="proc2")
                else:
                    bpid = broker_pid(transport)
                    t_kill = time.time_ns()
                    os.kill(bpid, signal.SIGKILL)
                    while os.path.exists("/proc/%d" % bpid) and time.monotonic() - t0 < 10:
                        time.sleep(0.01)
                    brokers("start", BROKER_OF[transport])
                restart_s = time.monotonic() - t0
                for g in pl.gens:
                    if g.wait(CRASH_SECONDS + 180) is None:
                        g.stop()
                        err = "generator did not finish"
                    elif g.rc != 0:
                        err = "generator exit %d" % g.rc
            sent = pl.sent()
            pl.drain(sent, DRAIN_TIMEOUT)
        finally:
            for p in pl.gens + [pl.proc, pl.sink] + pl.extra_procs:
                if p is not None:
                    p.stop(5)
        rows = rows_of(pl.db, pl.table) if os.path.exists(pl.db) else []
        after = [r for r in rows if r[0] > t_kill] if t_kill else []
        row["sent"] = sent
        row["stored"] = len(rows)
        row["recovery_s"] = (min(r[3] for r in after) - t_kill) / 1e9 if after else ""
        stored = sorted(r[3] for r in rows)
        gaps = [(b - a) / 1e6 for a, b in zip(stored, stored[1:])]
        row["max_gap_ms"] = max(gaps) if gaps else 0
        row["restart_s"] = restart_s
        v = subprocess.run([SC, "verify", "--db=" + pl.db, "--expect=%d" % sent],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        row["verify_clean"] = int(v.returncode == 0)
        row.update(parse_verify(v.stdout))
        row["error"] = err
        self.append("compare-crash.csv", CRASH_COLUMNS, row)
        if t_kill:
            bins = {}
            for r in rows:
                t = (r[3] - t_kill) // 100_000_000 * 100
                bins[t] = bins.get(t, 0) + 1
            lo_t = -int(CRASH_AT * 1000)
            hi_t = int((CRASH_SECONDS - CRASH_AT) * 1000) + 10000
            for t in range(lo_t, hi_t, 100):
                self.append("compare-timeline.csv", TIMELINE_COLUMNS,
                            {"run_id": self.run_id, "transport": label, "kind": kind,
                             "t_ms": t, "rows": bins.get(t, 0)})
        log("crash   %-12s %-9s: %d sent, %d stored, recovery %s s, verify %s%s" % (
            label, kind, sent, len(rows), fmt(row["recovery_s"]),
            "clean" if row["verify_clean"] else "NOT clean: " + v.stdout.strip().splitlines()[-1],
            " (" + err + ")" if err else ""))
        if err or not row["verify_clean"]:
            self.failures.append("crash %s %s: %s" % (label, kind, err or "verify not clean"))
        return row


def parse_verify(text):
    """gaps / missing / duplicates from streamctl verify's output."""
    out = {"gaps": 0, "missing": 0, "duplicates": 0}
    for line in text.splitlines():
        if line.startswith("verify: ") and ("clean" in line):
            for part in line.replace(":", ",").split(","):
                w = part.split()
                if len(w) >= 2 and w[0].isdigit() and w[1] in ("gaps", "missing"):
                    out[w[1]] = int(w[0])
        if "duplicates refused" in line:
            for part in line.split(";"):
                w = part.split()
                if len(w) >= 3 and w[0].isdigit() and w[1] == "duplicates":
                    out["duplicates"] += int(w[0])
    return out


def sustained(row, offered, qos):
    if row.get("error"):
        return False, row["error"]
    sent = row.get("sent") or 0
    und = row.get("undelivered") or 0
    if sent == 0:
        return False, "nothing sent"
    if und and (qos != 0 or und > 0.001 * sent):
        return False, "%d of %d not delivered" % (und, sent)
    ach = row.get("achieved_rate") or 0
    if offered and ach < 0.95 * offered:
        return False, "achieved %.0f of %d/s" % (ach, offered)
    if (row.get("e2e_p99_ms") or 0) >= 1000:
        return False, "e2e p99 %.0f ms" % row["e2e_p99_ms"]
    return True, ""


def fmt(v):
    if isinstance(v, float):
        return "%.3f" % v if abs(v) < 1e6 else "%.0f" % v
    return v


def rotate(lst, k):
    k %= max(1, len(lst))
    return lst[k:] + lst[:k]


# ---- the sections ----------------------------------------------------------


def run_sweep(run):
    stopped = {}
    for rate in RATES:
        active = [t for t in OURS if t not in stopped]
        if rate in PY_RATES:
            active += PYREF
        if not active:
            break
        results = {t: [] for t in active}
        for rep in range(1, REPS + 1):
            for t in rotate(active, rep - 1):
                results[t].append(run.cell("sweep", t, rate, rep))
        for t in active:
            if t in PYREF:
                continue
            ok = sum(int(r["sustained"]) for r in results[t])
            if ok * 2 <= len(results[t]):
                stopped[t] = rate
                why = "; ".join(sorted({r["reason"] for r in results[t] if r["reason"]}))
                log("sweep: %s stops at %d/s (%s)" % (t, rate, why))


def run_sensor(run):
    for rep in range(1, int(env_num("COMPARE_SENSOR_REPS", 1)) + 1):
        for t in rotate(OURS, rep - 1):
            run.cell("sensor", t, 1, rep, source="sensor", producers=PHONES,
                     seconds=SENSOR_SECONDS, warmup=2)


def run_codec(run):
    for rep in range(1, int(env_num("COMPARE_COST_REPS", 1)) + 1):
        for t in rotate(OURS, rep - 1):
            run.cell("codec", t, COST_RATE, rep, codec="msgpack")


def run_crash(run):
    for t in [x for x in OURS if x in ("kafka", "amqp", "mqtt-qos1")]:
        for kind in ("processor", "broker"):
            run.crash(t, kind, 1000 if not QUICK else 200)


def cmd_run():
    only = "sweep,sensor,codec,crash"
    for a in sys.argv[2:]:
        if a.startswith("--only="):
            only = a.split("=", 1)[1]
    sections = only.split(",")
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(IMG, exist_ok=True)
    if not os.access(SC, os.X_OK):
        sys.exit("compare: no streamctl binary at %s (run make)" % SC)
    if PYREF and not os.access(VENV_PY, os.X_OK):
        sys.exit("compare: no Python venv at %s (scripts/bench/lib.sh bench_venv makes it)"
                 % VENV_PY)
    need = sorted({TRANSPORTS[t][1] for t in OURS + PYREF} - {"pipe"})
    run = Run()
    log("run %s rev %s, %s mode, load %.2f; rates %s, %g s + %g s warm-up, %d reps"
        % (run.run_id, run.rev, run.mode, load1(), RATES, SECONDS, WARMUP, REPS))
    t_start = time.monotonic()
    log("starting private brokers (%s) in %s" % (" ".join(need), BROKERS_DIR))
    print(brokers("start", *need).strip(), file=sys.stderr)
    times = {}
    try:
        for name, fn in (("sweep", run_sweep), ("sensor", run_sensor), ("codec", run_codec),
                         ("crash", run_crash)):
            if name in sections:
                t0 = time.monotonic()
                fn(run)
                times[name] = time.monotonic() - t0
    finally:
        if not os.environ.get("COMPARE_KEEP_BROKERS"):
            brokers("stop", *need, check=False)
    times["total"] = time.monotonic() - t_start
    with open(os.path.join(RESULTS, "compare-times.csv"), "a") as f:
        for k, v in times.items():
            f.write("%s,%s,%s,%.0f\n" % (run.run_id, run.mode, k, v))
    log("done in %.0f s (%s)" % (times["total"], ", ".join(
        "%s %.0f s" % (k, v) for k, v in times.items() if k != "total")))
    render(run.run_id)
    if run.failures:
        for f in run.failures:
            log("FAILED: " + f)
        sys.exit(1)


# ---- render: figures and tables from the CSVs -----------------------------


def read_csv(name, run_id=None):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if run_id is None and rows:
        # the newest run that has sweep cells
        ids = [r["run_id"] for r in rows if r.get("section", "sweep") == "sweep"] or \
              [r["run_id"] for r in rows]
        run_id = max(ids)
    return [r for r in rows if r["run_id"] == run_id]


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError, TypeError):
        return float("nan")


def med(vals):
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else float("nan")


def f1(v, unit=""):
    if v != v:
        return "–"
    if v >= 100:
        return "%.0f%s" % (v, unit)
    if v >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


ORDER = ["pipe", "kafka", "amqp", "mqtt-qos1", "mqtt-qos0", "py-kafka", "py-amqp", "py-mqtt-qos1"]


def groups(rows, section):
    g = {}
    for r in rows:
        if r["section"] == section:
            g.setdefault((r["transport"], int(r["rate"])), []).append(r)
    return g


def render(run_id=None):
    cells = read_csv("compare.csv", run_id)
    if not cells:
        sys.exit("compare: no cells in %s" % os.path.join(RESULTS, "compare.csv"))
    run_id = cells[0]["run_id"]
    crashes = read_csv("compare-crash.csv", run_id)
    timeline = read_csv("compare-timeline.csv", run_id)
    md = markdown(cells, crashes, run_id)
    with open(os.path.join(RESULTS, "compare.md"), "w") as f:
        f.write(md)
    plots(cells, crashes, timeline, run_id)
    log("rendered %s and the figures in %s" % (os.path.join(RESULTS, "compare.md"), IMG))


def markdown(cells, crashes, run_id):
    c0 = cells[0]
    sweep = groups(cells, "sweep")
    rates = sorted({k[1] for k in sweep})
    trs = [t for t in ORDER if any(k[0] == t for k in sweep)]
    loads = [num(r, "load1_start") for r in cells]
    out = []
    w = out.append
    w("<!-- generated by scripts/bench/compare.py render from bench/results/compare*.csv, "
      "run %s -->\n" % run_id)
    w("Run `%s` (rev %s, %s mode, %s, %s cores), %s s measured per cell after %s s of "
      "warm-up, %d repetition(s) interleaved over the transports; load average before a "
      "cell %.2f–%.2f. Medians over the repetitions.\n\n"
      % (run_id, c0["git_rev"], c0["mode"], c0["date"][:10], c0["cores"], c0["seconds"],
         c0["warmup_s"], max(int(r["rep"]) for r in cells), min(loads), max(loads)))
    w("**Latency against offered load** (cpu records, JSON; e2e from the intended send "
      "time; ms):\n\n")
    w("| transport | rate /s | achieved /s | e2e p50 | p99 | p99.9 | max | gen→proc p99 | "
      "proc→sink p99 | stalls > 100 ms | sustained |\n")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    for t in trs:
        for rate in rates:
            rs = sweep.get((t, rate))
            if not rs:
                continue
            ok = sum(int(r["sustained"]) for r in rs)
            reasons = sorted({r["reason"] for r in rs if r["reason"]})
            w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
                t, rate, f1(med(num(r, "achieved_rate") for r in rs)),
                f1(med(num(r, "e2e_p50_ms") for r in rs)),
                f1(med(num(r, "e2e_p99_ms") for r in rs)),
                f1(med(num(r, "e2e_p999_ms") for r in rs)),
                f1(med(num(r, "e2e_max_ms") for r in rs)),
                f1(med(num(r, "gp_p99_ms") for r in rs)),
                f1(med(num(r, "ps_p99_ms") for r in rs)),
                "/".join(r["stalls"] or "0" for r in rs),
                "%d of %d%s" % (ok, len(rs), (": " + "; ".join(reasons)) if reasons else "")))
    w("\n")
    # missing cells and saturation
    w("**Saturation** (highest swept rate sustained with e2e p99 < 100 ms; a sweep stops "
      "after the first rate a transport does not sustain):\n\n")
    w("| transport | saturation | first rate not sustained, and why | cells not run |\n")
    w("|---|---:|---|---|\n")
    for t in [x for x in trs if not x.startswith("py-")]:
        best, fail = None, None
        for rate in rates:
            rs = sweep.get((t, rate))
            if not rs:
                continue
            ok = sum(int(r["sustained"]) for r in rs) * 2 > len(rs)
            if ok and med(num(r, "e2e_p99_ms") for r in rs) < 100:
                best = rate
            if not ok and fail is None:
                fail = (rate, sorted({r["reason"] for r in rs if r["reason"]}))
        missing = [str(r) for r in rates if (t, r) not in sweep]
        w("| %s | %s | %s | %s |\n" % (
            t, ("%d/s" % best) if best else "below %d/s" % rates[0],
            ("%d/s: %s" % (fail[0], "; ".join(fail[1]))) if fail else "none up to %d/s" % rates[-1],
            ("%s (after the stop)" % ", ".join(missing)) if missing else "–"))
    w("\n")
    # reference rows
    py = [t for t in trs if t.startswith("py-")]
    if py:
        w("**Reference: a plain Python pipeline per broker** (scripts/bench/py_pipeline.py; "
          "same records, rate, guarantees; ms):\n\n")
        w("| pipeline | rate /s | achieved /s | e2e p50 | p99 | p99.9 | max | CPU s per M records "
          "(gen/proc/sink) |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
        for t in py:
            for ours in [{"py-kafka": "kafka", "py-amqp": "amqp", "py-mqtt-qos1": "mqtt-qos1"}[t], t]:
                for rate in rates:
                    rs = sweep.get((ours, rate))
                    if not rs or (t, rate) not in sweep:
                        continue
                    w("| %s | %d | %s | %s | %s | %s | %s | %s |\n" % (
                        ("streamctl " + ours) if ours == t.replace("py-", "") else "Python " + t[3:],
                        rate, f1(med(num(r, "achieved_rate") for r in rs)),
                        f1(med(num(r, "e2e_p50_ms") for r in rs)),
                        f1(med(num(r, "e2e_p99_ms") for r in rs)),
                        f1(med(num(r, "e2e_p999_ms") for r in rs)),
                        f1(med(num(r, "e2e_max_ms") for r in rs)),
                        " / ".join(f1(med(per_m(r, k) for r in rs)) for k in ("gen", "proc", "sink"))))
        w("\n")
    # cost
    w("**Cost per record** (CPU seconds per million records stored, per process, the broker "
      "included; peak RSS; bytes per record):\n\n")
    w("| transport | codec | rate /s | gen | proc | sink | broker | total | broker RSS MiB "
      "| payload B | loopback B (all hops) |\n")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
    codec_cells = groups(cells, "codec")
    for t in [x for x in trs if not x.startswith("py-")]:
        for codec, src in (("json", sweep), ("msgpack", codec_cells)):
            keys = [k for k in src if k[0] == t]
            if not keys:
                continue
            rate = max(k[1] for k in keys) if codec == "msgpack" else None
            if codec == "json":
                mrate = max(k[1] for k in codec_cells if k[0] == t) if any(
                    k[0] == t for k in codec_cells) else None
                rate = mrate if (t, mrate) in sweep else max(k[1] for k in keys)
            rs = src[(t, rate)]
            tot = [sum(v for v in (per_m(r, k) for k in ("gen", "proc", "sink", "broker"))
                       if v == v) for r in rs]
            w("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
                t, codec, rate, *[f1(med(per_m(r, k) for r in rs)) for k in
                                  ("gen", "proc", "sink", "broker")], f1(med(tot)),
                f1(med(num(r, "rss_broker_kb") for r in rs) / 1024) if t != "pipe" else "–",
                f1(med(num(r, "payload_b") for r in rs)),
                f1(med(num(r, "wire_b") for r in rs)) if t != "pipe" else "–"))
    w("\nThe clients' peak RSS is in the CSV but not shown: wait4 reports the peak "
      "of the forked child before exec, which includes the harness's own memory.\n\n")
    sens = groups(cells, "sensor")
    if sens:
        w("**Sensor records** (%s simulated phones, one Sensor Logger batch per second each; "
          "the pipe carries one phone, a pipe has one writer; ms):\n\n"
          % next(iter(sens.values()))[0]["producers"])
        w("| transport | batches stored | e2e p50 | p99 | max | payload B | CPU s per M batches (all) |\n")
        w("|---|---:|---:|---:|---:|---:|---:|\n")
        for t in [x for x in ORDER if (x, 1) in sens]:
            rs = sens[(t, 1)]
            w("| %s | %s | %s | %s | %s | %s | %s |\n" % (
                t, "/".join("%s of %s" % (r["stored"], r["sent"]) for r in rs),
                f1(med(num(r, "e2e_p50_ms") for r in rs)), f1(med(num(r, "e2e_p99_ms") for r in rs)),
                f1(med(num(r, "e2e_max_ms") for r in rs)), f1(med(num(r, "payload_b") for r in rs)),
                f1(med(sum(per_m(r, k) for k in ("gen", "proc", "sink", "broker")) for r in rs))))
        w("\n")
    if crashes:
        w("**Crashes** (at %s records/s; SIGKILL at %s s, restarted at once; recovery = from the "
          "SIGKILL until the first record generated after it is stored):\n\n"
          % (crashes[0]["rate"], crashes[0]["kill_at_s"]))
        w("| transport | killed | recovery s | longest gap ms | sent | stored | verify | "
          "duplicates refused |\n|---|---|---:|---:|---:|---:|---|---:|\n")
        for r in crashes:
            w("| %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
                r["transport"], r["kind"], f1(num(r, "recovery_s")), f1(num(r, "max_gap_ms")),
                r["sent"], r["stored"],
                "clean" if r["verify_clean"] == "1" else "NOT clean (%s gaps, %s missing)" % (
                    r["gaps"], r["missing"]), r["duplicates"]))
        w("\n")
    return "".join(out)


def per_m(r, k):
    stored = num(r, "stored")
    if not stored or stored != stored:
        return float("nan")
    return num(r, "cpu_%s_s" % k) / stored * 1e6


def plots(cells, crashes, timeline, run_id):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: figures skipped")
        return
    colors = {"pipe": "tab:gray", "kafka": "tab:blue", "amqp": "tab:orange",
              "mqtt-qos1": "tab:green", "mqtt-qos0": "tab:olive", "py-kafka": "tab:blue",
              "py-amqp": "tab:orange", "py-mqtt-qos1": "tab:green"}
    sweep = groups(cells, "sweep")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, q, title in ((axes[0], "e2e_p50_ms", "p50"), (axes[1], "e2e_p99_ms", "p99")):
        for t in ORDER:
            pts = sorted((k[1], rs) for k, rs in sweep.items() if k[0] == t)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [med(num(r, q) for r in p[1]) for p in pts]
            ok = [sum(int(r["sustained"]) for r in p[1]) * 2 > len(p[1]) for p in pts]
            if t.startswith("py-"):
                ax.scatter(xs, ys, marker="D", facecolors="none", edgecolors=colors[t],
                           label="Python " + t[3:])
                continue
            if not any(y > 0 for y in ys):
                continue
            ax.plot(xs, ys, "-o", color=colors[t], label=t)
            bad = [(x, y) for x, y, o in zip(xs, ys, ok) if not o]
            if bad:
                ax.scatter(*zip(*bad), marker="x", s=80, color="red", zorder=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered rate (records/s)")
        ax.set_title("end-to-end latency %s" % title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms from intended send time to stored")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.suptitle("Latency against offered load, cpu records, JSON (run %s; red x: not sustained)"
                 % run_id, fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "compare-latency.png"), dpi=110)
    plt.close(fig)

    # cost per record per process, json and msgpack at the cost rate
    codec_cells = groups(cells, "codec")
    bars = []
    for t in [x for x in ORDER if not x.startswith("py-")]:
        for codec, src in (("json", sweep), ("msgpack", codec_cells)):
            ks = [k for k in src if k[0] == t]
            if not ks:
                continue
            if codec == "msgpack":
                rate = max(k[1] for k in ks)
            else:
                mr = [k[1] for k in codec_cells if k[0] == t]
                rate = mr[0] if mr and (t, mr[0]) in sweep else max(k[1] for k in ks)
            rs = src[(t, rate)]
            bars.append(("%s\n%s" % (t, codec), [med(per_m(r, k) for r in rs) for k in
                                                  ("gen", "proc", "sink", "broker")]))
    if bars:
        fig, ax = plt.subplots(figsize=(12, 4.5))
        bottom = [0.0] * len(bars)
        for i, (k, c) in enumerate((("generate", "tab:blue"), ("process", "tab:orange"),
                                    ("sink", "tab:green"), ("broker", "tab:red"))):
            vals = [b[1][i] if b[1][i] == b[1][i] else 0 for b in bars]
            ax.bar(range(len(bars)), vals, bottom=bottom, color=c, label=k)
            bottom = [a + v for a, v in zip(bottom, vals)]
        ax.set_xticks(range(len(bars)))
        ax.set_xticklabels([b[0] for b in bars], fontsize=8)
        ax.set_ylabel("CPU seconds per million records")
        ax.set_title("Cost per record by process, broker included (run %s)" % run_id, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(IMG, "compare-cost.png"), dpi=110)
        plt.close(fig)

    if timeline:
        kinds = sorted({r["kind"] for r in timeline})
        fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 3.2 * len(kinds)), squeeze=False)
        for ax, kind in zip(axes[:, 0], kinds):
            for t in ORDER:
                pts = [(int(r["t_ms"]) / 1000, int(r["rows"])) for r in timeline
                       if r["transport"] == t and r["kind"] == kind]
                if pts:
                    pts.sort()
                    ax.plot([p[0] for p in pts], [p[1] * 10 for p in pts], color=colors[t],
                            label=t, lw=1)
            ax.axvline(0, color="red", ls="--", lw=1)
            ax.set_title("%s SIGKILLed at t = 0 and started again" % kind, fontsize=9)
            ax.set_ylabel("records stored /s\n(100 ms bins)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, loc="upper right")
        axes[-1, 0].set_xlabel("seconds since the SIGKILL")
        fig.tight_layout()
        fig.savefig(os.path.join(IMG, "compare-recovery.png"), dpi=110)
        plt.close(fig)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "render"):
        sys.exit(__doc__.split("\n\n")[1])
    if sys.argv[1] == "run":
        cmd_run()
    else:
        rid = None
        for a in sys.argv[2:]:
            if a.startswith("--run="):
                rid = a.split("=", 1)[1]
        render(rid)


if __name__ == "__main__":
    main()
