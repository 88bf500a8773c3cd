#!/usr/bin/env python3
"""compose-env.py - the streamctl services of a compose file, as local processes.

    compose-env.py FILE list                 service role replicas, one a line
    compose-env.py FILE vars                 every STREAMCTL_* name the file sets
    compose-env.py FILE local [--out DIR]    the local instances (see below)

A pipeline service is one whose command is a streamctl role (generate,
process, sink) and whose environment sets STREAMCTL_* variables; brokers and
UIs are not. YAML anchors and merge keys (<<) are resolved by PyYAML.

`local` prints one line per instance, in start order (sinks, processors,
generators): "<instance> <role> <service>", and with --out writes
DIR/<instance>.env holding its environment as KEY=VALUE lines and creates
the volume directories. The
environment is exactly the service's STREAMCTL_* variables, except these
rewrites, which map the containers' network and volumes onto one machine:

  STREAMCTL_BROKER   host list -> the local broker(s) of the same scheme
                     (LOCAL_KAFKA_BOOTSTRAP, LOCAL_AMQP_HOSTPORT,
                     LOCAL_MQTT_HOSTPORT); AMQP credentials -> LOCAL_AMQP_USERINFO
                     (the local RabbitMQ has only guest, loopback only);
                     LOCAL_BROKER replaces the whole URI.
  STREAMCTL_REPLICATION_FACTOR  capped at LOCAL_KAFKA_BROKERS (a single local
                     node cannot hold 3 replicas).
  STREAMCTL_LISTEN   address -> 127.0.0.1; the port a service publishes
                     (ports: "8080:8080") -> LOCAL_HTTP_PORT if set.
  STREAMCTL_METRICS  address -> 127.0.0.1; port -> LOCAL_METRICS_BASE + n, one
                     per instance (every container has its own 9100).
  paths              values under a volume's mount point (sink-data:/data)
                     -> LOCAL_VOLUMES_DIR/<volume>/...
  STREAMCTL_CLIENT_ID  (added, consumers only, unless the file sets it) the
                     default "<namespace>-<role>-<hostname>" is unique per
                     container but shared by every process on one host (an
                     MQTT broker would let them take each other's session):
                     "<namespace>-<instance>-<hostname>" instead, as stable.
  STREAMCTL_SOURCE_ID  (added, replicas of a generator only) likewise
                     "<source>-<hostname>-<instance>".

Replicas: SCALE="process=3,..." (like docker compose --scale); default 1.
Exit 2 with a message on a usage error or an unreadable file.
"""
import os
import re
import socket
import sys

try:
    import yaml
except ImportError:
    sys.exit("compose-env: python3 module yaml missing (Debian: apt-get install python3-yaml)")

ROLES = ("generate", "process", "sink")
ORDER = {"sink": 0, "process": 1, "generate": 2}


def die(msg):
    print("compose-env: " + msg, file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        die("cannot read %s: %s" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        die("%s: no services" % path)
    return doc


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):  # ["KEY=VALUE", ...]
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in env.items()}


def role_of(svc):
    cmd = svc.get("command")
    if isinstance(cmd, str):
        cmd = cmd.split()
    if cmd and cmd[0] in ROLES:
        return cmd[0]
    return None


def pipeline(doc):
    """[(name, role, env, service)] of the streamctl services, in file order."""
    out = []
    for name, svc in doc["services"].items():
        svc = svc or {}
        env = environment(svc)
        role = role_of(svc)
        if role and any(k.startswith("STREAMCTL_") for k in env):
            out.append((name, role, {k: v for k, v in env.items() if k.startswith("STREAMCTL_")}, svc))
    return out


def scale():
    out = {}
    for item in filter(None, os.environ.get("SCALE", "").replace(" ", ",").split(",")):
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)=([0-9]+)", item)
        if not m:
            die("bad SCALE item '%s' (want service=N)" % item)
        out[m.group(1)] = int(m.group(2))
    return out


def split_hostport(s):
    """'h:p' -> (h, p); '[v6]:p' kept whole as host; no port -> (s, None)."""
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*):([0-9]+)", s)
    return (m.group(1), m.group(2)) if m else (s, None)


def rewrite_broker(uri):
    if os.environ.get("LOCAL_BROKER"):
        return os.environ["LOCAL_BROKER"]
    m = re.fullmatch(r"([a-z0-9+.-]+)://(?:([^@/]*)@)?([^/?]*)(.*)", uri)
    if not m:
        return uri
    scheme, userinfo, _hosts, rest = m.groups()
    if scheme == "kafka":
        hosts = os.environ.get("LOCAL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    elif scheme in ("amqp", "amqps"):
        hosts = os.environ.get("LOCAL_AMQP_HOSTPORT", "127.0.0.1:5672")
        if userinfo is not None:
            userinfo = os.environ.get("LOCAL_AMQP_USERINFO", "guest:guest")
    elif scheme in ("mqtt", "mqtts", "tcp", "ssl", "ws", "wss"):
        hosts = os.environ.get("LOCAL_MQTT_HOSTPORT", "127.0.0.1:1883")
    else:
        return uri
    return "%s://%s%s%s" % (scheme, userinfo + "@" if userinfo is not None else "", hosts, rest)


def mounts(svc):
    """[(mount point, volume name)] of named volumes, longest mount point first."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            src, dst = v.get("source"), v.get("target")
        else:
            parts = str(v).split(":")
            src, dst = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
        if src and dst and not src.startswith((".", "/", "~")):
            out.append((dst.rstrip("/") or "/", src))
    return sorted(out, key=lambda m: -len(m[0]))


def rewrite_path(value, svc, voldir):
    for dst, vol in mounts(svc):
        if value == dst or value.startswith(dst + "/"):
            return os.path.join(voldir, vol) + value[len(dst):]
    return value


def local_env(env, svc, metrics_port, role, inst, replicas):
    out = dict(env)
    host = socket.gethostname()
    if role in ("process", "sink") and not out.get("STREAMCTL_CLIENT_ID"):
        out["STREAMCTL_CLIENT_ID"] = "%s-%s-%s" % (out.get("STREAMCTL_NAMESPACE") or "streamctl", inst, host)
    if role == "generate" and replicas > 1 and not out.get("STREAMCTL_SOURCE_ID"):
        out["STREAMCTL_SOURCE_ID"] = "%s-%s-%s" % (out.get("STREAMCTL_SOURCE") or "cpu", host, inst)
    if "STREAMCTL_BROKER" in out:
        out["STREAMCTL_BROKER"] = rewrite_broker(out["STREAMCTL_BROKER"])
    if "STREAMCTL_REPLICATION_FACTOR" in out and os.environ.get("LOCAL_KAFKA_BROKERS"):
        try:
            rf = int(out["STREAMCTL_REPLICATION_FACTOR"])
            out["STREAMCTL_REPLICATION_FACTOR"] = str(min(rf, int(os.environ["LOCAL_KAFKA_BROKERS"])))
        except ValueError:
            pass
    if out.get("STREAMCTL_LISTEN"):
        _host, port = split_hostport(out["STREAMCTL_LISTEN"])
        port = os.environ.get("LOCAL_HTTP_PORT") or port or "8080"
        out["STREAMCTL_LISTEN"] = "127.0.0.1:" + port
    if out.get("STREAMCTL_METRICS"):
        out["STREAMCTL_METRICS"] = "127.0.0.1:%d" % metrics_port
    voldir = os.environ.get("LOCAL_VOLUMES_DIR", "volumes")
    for k in ("STREAMCTL_DB", "STREAMCTL_CSV", "STREAMCTL_STATS"):
        if out.get(k):
            out[k] = rewrite_path(out[k], svc, voldir)
    return out


def main(argv):
    if len(argv) < 3 or argv[2] not in ("list", "vars", "local"):
        die("usage: compose-env.py FILE list|vars|local [--out DIR]")
    doc = load(argv[1])
    svcs = pipeline(doc)
    if not svcs:
        die("%s: no streamctl services" % argv[1])
    reps = scale()
    for name in reps:
        if name not in [s[0] for s in svcs]:
            die("SCALE names no streamctl service '%s'" % name)
    if argv[2] == "list":
        for name, role, _env, _svc in svcs:
            print(name, role, reps.get(name, 1))
        return 0
    if argv[2] == "vars":
        names = set()
        for _name, _role, env, _svc in svcs:
            names.update(env)
        print("\n".join(sorted(names)))
        return 0
    out_dir = None
    if len(argv) == 5 and argv[3] == "--out":
        out_dir = argv[4]
    elif len(argv) != 3:
        die("usage: compose-env.py FILE local [--out DIR]")
    if out_dir:  # the services' named volumes, as local directories
        voldir = os.environ.get("LOCAL_VOLUMES_DIR", "volumes")
        for _name, _role, _env, svc in svcs:
            for _dst, vol in mounts(svc):
                os.makedirs(os.path.join(voldir, vol), exist_ok=True)
    base = int(os.environ.get("LOCAL_METRICS_BASE", "19100"))
    n = 0
    ordered = sorted(svcs, key=lambda s: ORDER[s[1]])  # stable: file order within a role
    for name, role, env, svc in ordered:
        count = reps.get(name, 1)
        for i in range(1, count + 1):
            inst = name if count == 1 else "%s-%d" % (name, i)
            lenv = local_env(env, svc, base + n, role, inst, count)
            n += 1
            print(inst, role, name)
            if out_dir:
                with open(os.path.join(out_dir, inst + ".env"), "w") as f:
                    for k in sorted(lenv):
                        if "\n" in lenv[k]:
                            die("%s: %s holds a newline" % (name, k))
                        f.write("%s=%s\n" % (k, lenv[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
