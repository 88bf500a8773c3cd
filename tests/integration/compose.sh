#!/usr/bin/env bash
# Containers without an engine: the compose stacks, the Kubernetes manifests,
# the image's Dockerfile and health probe, and `make docker`, checked
# statically against the binary they run (no Docker engine is needed).
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
# A python3 with the yaml module (python3-yaml): $PYTHON, python3 or Debian's.
if [ -z "${PYTHON:-}" ]; then
	for PYTHON in python3 /usr/bin/python3; do
		"$PYTHON" -c 'import yaml' 2>/dev/null && break
	done
fi
PY=$PYTHON
STACKS="kafka amqp mqtt"

"$SC" --print-env-names >"$WORK/env-names" 2>&1
check "streamctl --print-env-names lists variables" grep -q '^STREAMCTL_BROKER$' "$WORK/env-names"

# --- compose files --------------------------------------------------------------

for s in $STACKS; do
	if command -v docker-compose >/dev/null 2>&1; then
		check "docker-compose config accepts compose/$s.yml" docker-compose -f "compose/$s.yml" config -q
	else
		not_ok "docker-compose config accepts compose/$s.yml (docker-compose is not installed: scripts/setup.sh installs it)"
	fi
done

# Facts about each stack, printed by python as "ok|FAIL <description>" lines.
"$PY" - "$STACKS" >"$WORK/facts" 2>&1 <<'PY'
import re, sys, yaml
pinned = re.compile(r"^[a-z0-9./-]+:[A-Za-z0-9._-]+$")
def dflt(v):
    """A compose value with its variables at their defaults: ${VAR:-x} -> x."""
    if isinstance(v, list):
        return [dflt(x) for x in v]
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(v))
for s in sys.argv[1].split():
    doc = yaml.safe_load(open("compose/%s.yml" % s))
    svcs = doc["services"]
    def fact(ok, what):
        print("%s compose/%s.yml: %s" % ("ok" if ok else "FAIL", s, what))
    pipe = {n: v for n, v in svcs.items()
            if (v.get("command") or [None])[0] in ("generate", "process", "sink")}
    env = {n: v.get("environment") or {} for n, v in pipe.items()}
    others = [dflt(v["image"]) for n, v in svcs.items() if n not in pipe]
    fact(all(pinned.match(i) and not i.endswith(":latest") for i in others),
         "every broker/UI image is pinned to a version (%s)" % ", ".join(others))
    fact(sorted(e.get("STREAMCTL_SOURCE") for n, e in env.items() if pipe[n]["command"][0] == "generate")
         == ["cpu", "http", "sensor"], "generators cpu, sensor and http")
    http = [n for n, e in env.items() if e.get("STREAMCTL_SOURCE") == "http"]
    fact(len(http) == 1 and env[http[0]].get("STREAMCTL_LISTEN") == "0.0.0.0:8080"
         and "8080:8080" in dflt(pipe[http[0]].get("ports", [])),
         "the HTTP ingest listens on 0.0.0.0:8080, published as 8080 (by default)")
    gens = [n for n, v in pipe.items() if v["command"][0] == "generate"]
    cons = [n for n, v in pipe.items() if v["command"][0] != "generate"]
    fact(all((pipe[g].get("depends_on") or {}).get(c, {}).get("condition") == "service_healthy"
             for g in gens for c in ("process", "sink"))
         and all((pipe[c].get("healthcheck") or {}).get("test", [])[1:] == ["streamctl-healthcheck", "readyz"] for c in cons),
         "generators start once process and sink are ready (healthcheck /readyz, depends_on service_healthy)")
    proc = svcs.get("process", {})
    fact("process" in pipe and "container_name" not in proc and not proc.get("ports"),
         "process is scalable (no container_name, no host ports)")
    fact(all(e.get("STREAMCTL_METRICS") == "0.0.0.0:9100" for e in env.values()),
         "every pipeline service sets STREAMCTL_METRICS=0.0.0.0:9100")
    fact(all(e.get("STREAMCTL_TRANSPORT") == s for e in env.values()),
         "every pipeline service uses STREAMCTL_TRANSPORT=%s" % s)
    sink = [n for n, v in pipe.items() if v["command"][0] == "sink"]
    vols = pipe[sink[0]].get("volumes", []) if sink else []
    fact(len(sink) == 1 and env[sink[0]].get("STREAMCTL_DB", "").startswith("/data/")
         and any(str(v).split(":")[0] in (doc.get("volumes") or {}) and str(v).split(":")[1] == "/data" for v in vols),
         "one sink, its database in a named volume at /data")
    brokers = [n for n in svcs if n not in pipe and "healthcheck" in svcs[n] and not n.endswith("-ui")]
    fact(brokers and all(
            all((v.get("depends_on") or {}).get(b, {}).get("condition") == "service_healthy" for b in brokers)
            for v in pipe.values()),
         "pipeline services wait for the healthy broker(s) %s" % ",".join(brokers))
    if s == "kafka":
        nodes = [n for n in svcs if re.fullmatch(r"kafka[0-9]", n)]
        ke = [svcs[n]["environment"] for n in nodes]
        fact(len(nodes) == 3 and all(dflt(svcs[n]["image"]) == "apache/kafka:4.1.1" for n in nodes),
             "three apache/kafka:4.1.1 nodes")
        fact(sorted(e["KAFKA_NODE_ID"] for e in ke) == ["1", "2", "3"]
             and all(e["KAFKA_PROCESS_ROLES"] == "broker,controller" for e in ke)
             and all(e["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093" for e in ke)
             and len({e["CLUSTER_ID"] for e in ke}) == 1,
             "KRaft combined nodes 1-3, one quorum, one cluster id")
        fact(all(e["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and e["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
                 and e["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3" for e in ke),
             "replication factor 3, min.insync.replicas 2")
        fact(any(dflt(p).startswith("9000:") for n, v in svcs.items() if "ui" in n for p in v.get("ports", [])),
             "a cluster UI on port 9000")
        fact(all(e.get("STREAMCTL_BROKER") == "kafka://kafka1:9092,kafka2:9092,kafka3:9092"
                 and e.get("STREAMCTL_REPLICATION_FACTOR") == "3" and e.get("STREAMCTL_PARTITIONS") == "6"
                 for e in env.values()), "the pipeline uses all three brokers, RF 3, 6 partitions")
    if s == "amqp":
        r = svcs["rabbitmq"]
        user, pw = r["environment"]["RABBITMQ_DEFAULT_USER"], r["environment"]["RABBITMQ_DEFAULT_PASS"]
        fact(user != "guest" and all(e.get("STREAMCTL_BROKER") == "amqp://%s:%s@rabbitmq:5672/" % (user, pw)
                                     for e in env.values()),
             "the pipeline logs in as the broker's own user, not guest")
        fact(dflt(r["image"]).startswith("rabbitmq:3.13") and dflt(r["image"]).endswith("-management")
             and "15672:15672" in dflt(r.get("ports", [])), "RabbitMQ 3.13 management UI on 15672")
    if s == "mqtt":
        m = svcs["mosquitto"]
        fact(all(e.get("STREAMCTL_BROKER") == "mqtt://mosquitto:1883" and e.get("STREAMCTL_QOS") == "1"
                 for e in env.values()), "the pipeline uses mqtt://mosquitto:1883 at QoS 1")
        fact(any(e.get("STREAMCTL_INPUT") == "sensorlogger" and e.get("STREAMCTL_TOPIC") == "sensor-logger"
                 for e in env.values()), "a processor reads the app's raw topic sensor-logger")
        fact(any(str(v).startswith("./mosquitto.conf:/mosquitto/config/mosquitto.conf") for v in m["volumes"])
             and {"1883:1883", "9001:9001"} <= set(dflt(m.get("ports", []))), "mosquitto.conf mounted, 1883 and 9001 published")
PY
while read -r verdict desc; do
	if [ "$verdict" = ok ]; then ok "$desc"; else not_ok "$desc"; fi
done <"$WORK/facts"
check "the compose checks ran" grep -q '^ok ' "$WORK/facts"
grep -v -E '^(ok|FAIL) ' "$WORK/facts" | head -n 20

conf=compose/mosquitto.conf
check "mosquitto.conf: a TCP listener on 1883" grep -Eq '^listener 1883( |$)' "$conf"
check "mosquitto.conf: a websockets listener on 9001" \
	awk '/^listener 9001/ { l = 1; next } /^listener/ { l = 0 } l && /^protocol websockets/ { f = 1 } END { exit !f }' "$conf"
check "mosquitto.conf: max_queued_messages raised above the default 1000" \
	awk '$1 == "max_queued_messages" && ($2 == 0 || $2 > 1000) { f = 1 } END { exit !f }' "$conf"
check "mosquitto.conf: persistence on" grep -Eq '^persistence true' "$conf"
# The real broker (Debian's, from scripts/setup.sh) parses the file, with
# the listener on a free port and the data in scratch.
mport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/^listener 1883.*/listener $mport 127.0.0.1/" -e '/^listener 9001/,/^protocol websockets/d' \
	-e "s|^persistence_location .*|persistence_location $WORK/|" "$conf" >"$WORK/m.conf"
mosq_parses() {
	local out rc
	out=$(timeout 2 mosquitto -c "$WORK/m.conf" 2>&1)
	rc=$?
	# timeout's 124: still running after 2 s, so the configuration was accepted
	[ "$rc" -eq 124 ] || { printf 'exit %s\n%s\n' "$rc" "$out"; return 1; }
}
check "mosquitto accepts compose/mosquitto.conf" mosq_parses

# --- no drift between the containers and the binary ----------------------------

{
	for s in $STACKS; do "$PY" scripts/compose-env.py "compose/$s.yml" vars; done
	"$PY" - <<'PY'
import glob, yaml
for f in sorted(glob.glob("compose/k8s/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if not d:
            continue
        if d.get("kind") == "ConfigMap":
            for k in d.get("data") or {}:
                print(k)
        spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in spec.get("containers") or []:
            for e in c.get("env") or []:
                print(e["name"])
PY
	sed -n 's/^ENV //p; s/^ *\(STREAMCTL_[A-Z_]*\)=.*/\1/p' docker/Dockerfile | grep -o 'STREAMCTL_[A-Z_]*'
} | grep '^STREAMCTL_' | sort -u >"$WORK/used"
check "the containers set STREAMCTL_* variables (found $(wc -l <"$WORK/used"))" test "$(wc -l <"$WORK/used")" -ge 10
sort -u "$WORK/env-names" >"$WORK/known"
comm -23 "$WORK/used" "$WORK/known" >"$WORK/unknown"
if [ -s "$WORK/unknown" ]; then
	not_ok "every STREAMCTL_* variable of compose/, compose/k8s/ and the image is one streamctl reads" \
		"unknown: $(tr '\n' ' ' <"$WORK/unknown")"
else
	ok "every STREAMCTL_* variable of compose/, compose/k8s/ and the image is one streamctl reads"
fi

# Each compose service's configuration, as the binary understands it: the
# role accepts the environment (print-config exits 0 and shows the values).
for s in $STACKS; do
	"$PY" scripts/compose-env.py "compose/$s.yml" local --out "$WORK" >"$WORK/inst-$s"
	while read -r inst role _svc; do
		cfg_ok() {
			local out vars
			mapfile -t vars <"$WORK/$inst.env"
			out=$(env -i PATH="$PATH" "${vars[@]}" "$SC" "$role" --print-config 2>&1) ||
				{ printf '%s\n' "$out"; return 1; }
			grep -qx "STREAMCTL_TRANSPORT=$s" <<<"$out" || { printf '%s\n' "$out"; return 1; }
		}
		check "compose/$s.yml $inst: 'streamctl $role' accepts its environment" cfg_ok
	done <"$WORK/inst-$s"
done

# The local runner's rewrites: only what a container owns changes.
rewrite() {
	LOCAL_KAFKA_BOOTSTRAP=127.0.0.1:9092 LOCAL_KAFKA_BROKERS=1 LOCAL_AMQP_HOSTPORT=127.0.0.1:5672 \
		LOCAL_MQTT_HOSTPORT=127.0.0.1:1883 LOCAL_VOLUMES_DIR=$WORK/vol LOCAL_METRICS_BASE=19100 \
		SCALE=process=2 "$PY" scripts/compose-env.py "compose/$1.yml" local --out "$WORK/loc-$1" >"$WORK/loc-$1.list"
}
for s in $STACKS; do
	mkdir -p "$WORK/loc-$s"
	check "compose-env.py maps compose/$s.yml onto local processes" rewrite "$s"
done
check_eq "kafka: broker host names -> the local broker" "STREAMCTL_BROKER=kafka://127.0.0.1:9092" \
	"$(grep BROKER "$WORK/loc-kafka/sink.env")"
check_eq "kafka: replication factor capped at the one local broker" "STREAMCTL_REPLICATION_FACTOR=1" \
	"$(grep REPLICATION "$WORK/loc-kafka/sink.env")"
check_eq "amqp: the local broker, with its guest user" "STREAMCTL_BROKER=amqp://guest:guest@127.0.0.1:5672/" \
	"$(grep BROKER "$WORK/loc-amqp/process-1.env")"
check_eq "mqtt: the local broker" "STREAMCTL_BROKER=mqtt://127.0.0.1:1883" "$(grep BROKER "$WORK/loc-mqtt/gen-cpu.env")"
check_eq "the HTTP ingest listens on loopback" "STREAMCTL_LISTEN=127.0.0.1:8080" \
	"$(grep LISTEN "$WORK/loc-mqtt/gen-phone.env")"
check_eq "the sink database moves from the volume to a local directory" \
	"STREAMCTL_DB=$WORK/vol/sink-data/streamctl.db" "$(grep '_DB=' "$WORK/loc-amqp/sink.env")"
check_eq "--scale process=2 gives two processors" "process-1 process-2" \
	"$(awk '$3 == "process" { printf "%s%s", s, $1; s = " " }' "$WORK/loc-kafka.list")"
check_eq "each instance its own metrics port" "$(wc -l <"$WORK/loc-mqtt.list")" \
	"$(cat "$WORK"/loc-mqtt/*.env | grep METRICS | sort -u | wc -l)"
check_eq "start order: sink, processors, generators" "sink process process process generate generate generate" \
	"$(awk '{ printf "%s%s", s, $2; s = " " }' "$WORK/loc-mqtt.list")"
same_names() {
	local s=$1 svc=$2 inst=$3
	diff <(cut -d= -f1 "$WORK/loc-$s/$inst.env" | grep -vx STREAMCTL_CLIENT_ID | sort) \
		<("$PY" -c 'import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
print("\n".join(sorted(k for k in d["services"][sys.argv[2]]["environment"] if k.startswith("STREAMCTL_"))))' \
			"compose/$s.yml" "$svc")
}
check_eq "local consumers get distinct client ids (one host, not one container each)" \
	"$(grep -h CLIENT_ID "$WORK"/loc-mqtt/*.env | wc -l)" "$(grep -h CLIENT_ID "$WORK"/loc-mqtt/*.env | sort -u | wc -l)"
check_eq "...one per consumer: sink, 2 processors, the app's processor" 4 "$(grep -h CLIENT_ID "$WORK"/loc-mqtt/*.env | wc -l)"
for s in $STACKS; do
	check "$s: the local sink has exactly the compose sink's variables (+ client id)" same_names "$s" sink sink
	check "$s: the local ingest has exactly the compose ingest's variables" same_names "$s" gen-phone gen-phone
done

# --- Kubernetes manifests ----------------------------------------------------------

"$PY" - >"$WORK/k8s" 2>&1 <<'PY'
import glob, os, yaml
def fact(ok, what):
    print("%s %s" % ("ok" if ok else "FAIL", what))
kus = yaml.safe_load(open("compose/k8s/kustomization.yaml"))
files = sorted(os.path.basename(f) for f in glob.glob("compose/k8s/*.yaml") if not f.endswith("kustomization.yaml"))
fact(kus.get("kind") == "Kustomization" and sorted(kus.get("resources", [])) == files,
     "k8s: kustomization.yaml lists every manifest (%d)" % len(files))
docs = []
for f in files:
    for d in yaml.safe_load_all(open("compose/k8s/" + f)):
        if d is not None:
            docs.append((f, d))
bad = [f for f, d in docs if not (isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
                                  and (d.get("metadata") or {}).get("name"))]
fact(docs and not bad, "k8s: all %d documents load and have apiVersion, kind, metadata.name%s"
     % (len(docs), (" (not: %s)" % bad) if bad else ""))
by = {}
for f, d in docs:
    by.setdefault(d["kind"], []).append(d)
fact([d["metadata"]["name"] for d in by.get("Namespace", [])] == ["streamctl"], "k8s: namespace streamctl")
topics = sorted(d["metadata"]["name"] for d in by.get("KafkaTopic", []))
want = sorted("streamctl." + t for t in ("raw.cpu", "raw.sensor", "processed.cpu", "processed.sensor", "deadletter"))
fact(topics == want and all(d["apiVersion"] == "kafka.strimzi.io/v1beta2" for d in by["KafkaTopic"]),
     "k8s: one KafkaTopic per stream (%s)" % ", ".join(topics))
kafka = by.get("Kafka", [{}])[0]
pools = by.get("KafkaNodePool", [])
fact(kafka.get("apiVersion") == "kafka.strimzi.io/v1beta2"
     and (kafka.get("metadata", {}).get("annotations") or {}).get("strimzi.io/kraft") == "enabled"
     and sum(p["spec"]["replicas"] for p in pools) == 3
     and all(set(p["spec"]["roles"]) == {"controller", "broker"} for p in pools),
     "k8s: Strimzi Kafka in KRaft with 3 broker+controller nodes")
kinds = {(d["kind"], d["metadata"]["name"]) for f, d in docs}
fact({("Deployment", "gen-cpu"), ("Deployment", "gen-sensor"), ("Deployment", "gen-phone"),
      ("Deployment", "process"), ("StatefulSet", "sink"), ("Service", "gen-phone"),
      ("ConfigMap", "streamctl-env")} <= kinds, "k8s: generators, processor, sink, ingest Service, ConfigMap")
sts = [d for d in by.get("StatefulSet", []) if d["metadata"]["name"] == "sink"]
fact(sts and sts[0]["spec"].get("volumeClaimTemplates"), "k8s: the sink keeps its database on a PVC")
so = by.get("ScaledObject", [{}])[0]
trig = (so.get("spec", {}).get("triggers") or [{}])[0]
fact(so.get("spec", {}).get("scaleTargetRef", {}).get("name") == "process" and trig.get("type") == "kafka"
     and trig["metadata"].get("consumerGroup") == "streamctl.process" and trig["metadata"].get("lagThreshold"),
     "k8s: KEDA scales process on the lag of group streamctl.process")
PY
while read -r verdict desc; do
	if [ "$verdict" = ok ]; then ok "$desc"; else not_ok "$desc"; fi
done <"$WORK/k8s"
check "the k8s checks ran" grep -q '^ok ' "$WORK/k8s"
grep -v -E '^(ok|FAIL) ' "$WORK/k8s" | head -n 20

# A real schema check: Kubernetes' kinds (kubernetes-validate, strict) and
# the Strimzi and KEDA resources against their CRDs' schemas.
k8s_valid() {
	scripts/k8s-validate.sh >"$WORK/k8s-valid" 2>&1
	local rc=$?
	cat "$WORK/k8s-valid"
	return "$rc"
}
check "compose/k8s: every resource passes its schema (Kubernetes 1.31 strict; Strimzi, KEDA CRDs)" k8s_valid
check_eq "...17 resources checked, none failed" "17 0" \
	"$(grep -c '^ok ' "$WORK/k8s-valid") $(grep -c '^FAIL ' "$WORK/k8s-valid")"
mkdir -p "$WORK/k8s-bad"
cp compose/k8s/*.yaml "$WORK/k8s-bad/"
sed -i '0,/replicas: 3/s//replicas: "three"/' "$WORK/k8s-bad/kafka.yaml"
sed -i '0,/^kind: Deployment$/s//kind: Deployment\nbogus: 1/' "$WORK/k8s-bad/process.yaml"
K8S_DIR=$WORK/k8s-bad scripts/k8s-validate.sh >"$WORK/k8s-bad.out" 2>&1
check_eq "the schema check fails a bad KafkaNodePool and a Deployment with an unknown field" 2 \
	"$(grep -cE '^FAIL .*(kafkanodepool/dual-role.*replicas must be integer|deployment/process.*bogus)' "$WORK/k8s-bad.out")"

# --- the image ----------------------------------------------------------------------

df=docker/Dockerfile
check "Dockerfile: Debian 12 base pinned to a dated/point tag" \
	grep -Eq '^ARG DEBIAN_TAG=(bookworm-[0-9]{8}-slim|12\.[0-9]+-slim)$' "$df"
check "Dockerfile: the base is an argument, the pinned Debian by default" grep -Fxq 'ARG BASE_IMAGE=debian:${DEBIAN_TAG}' "$df"
check "Dockerfile: two stages" test "$(grep -c '^FROM \${BASE_IMAGE} AS' "$df")" -eq 2
check "Dockerfile: the build runs make, not make test" \
	sh -c "grep -Eq '^RUN make ' '$df' && ! grep -Eq 'make.* (test|check)( |$)' '$df'"
check "Dockerfile: a non-root user" grep -Eq '^USER streamctl' "$df"
check "Dockerfile: ENTRYPOINT streamctl" grep -Fxq 'ENTRYPOINT ["streamctl"]' "$df"
check "Dockerfile: a HEALTHCHECK" grep -Eq '^HEALTHCHECK .*' "$df"
check ".dockerignore leaves out .cache and the build dirs" \
	sh -c "grep -qx .cache .dockerignore && grep -qx 'build-\*' .dockerignore && grep -qx build .dockerignore"

# Every library the binary needs comes from a package the runtime stage installs.
runtime_pkgs() {
	sed -n '/AS runtime/,$p' "$df" | tr ' \\' '\n\n' | grep -E '^lib[a-z0-9.+-]+$'
}
needed_pkgs() {
	local lib path
	for lib in $(readelf -d "$SC" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
		dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1
	done | sort -u | grep -v '^libc6$'
}
missing_libs() {
	local m
	m=$(comm -23 <(needed_pkgs) <(runtime_pkgs | sort -u))
	[ -z "$m" ] || { echo "not installed by the runtime stage: $m"; return 1; }
}
check "the runtime stage installs every library package the binary links ($(needed_pkgs | tr '\n' ' '))" missing_libs

# The health probe: healthy when /healthz answers 200, unhealthy otherwise.
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" - "$port" >/dev/null 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
srv=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/healthz"
check_exit 0 "healthcheck: /healthz 200 on 0.0.0.0:$port is healthy" env STREAMCTL_METRICS=0.0.0.0:$port sh docker/healthcheck.sh
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
check_exit 1 "healthcheck: nothing listening is unhealthy (exit 1)" env STREAMCTL_METRICS=0.0.0.0:$port sh docker/healthcheck.sh

# make docker: one clear line where no engine answers; a docker build otherwise.
mkdir -p "$WORK/nodocker" "$WORK/fakedocker"
printf '#!/bin/sh\nexit 1\n' >"$WORK/nodocker/docker"
printf '#!/bin/sh\n[ "$1" = info ] && exit 0\necho "docker $*" >"%s"\n' "$WORK/fakedocker/args" >"$WORK/fakedocker/docker"
chmod +x "$WORK/nodocker/docker" "$WORK/fakedocker/docker"
PATH="$WORK/nodocker:$PATH" make -s docker >"$WORK/md.out" 2>"$WORK/md.err"
check_eq "make docker without an engine exits non-zero" 1 "$([ $? -ne 0 ] && echo 1 || echo 0)"
check_eq "make docker without an engine says so in one line" \
	"make docker: no Docker engine reachable (docker info failed); the image cannot be built on this machine" \
	"$(PATH="$WORK/nodocker:$PATH" scripts/docker-build.sh 2>&1)"
check_grep "make docker passes that line on" "^make docker: no Docker engine reachable" "$WORK/md.err"
PATH="$WORK/fakedocker:$PATH" make -s docker >/dev/null 2>&1
version=$(sed -n 's/^#define STREAMCTL_VERSION "\(.*\)"$/\1/p' src/app/cli.h)
check_eq "with an engine, make docker builds docker/Dockerfile from the repo root as streamctl:latest" \
	"docker build -f docker/Dockerfile -t streamctl:latest -t streamctl:$version ." \
	"$(cat "$WORK/fakedocker/args" 2>/dev/null)"
check_grep "compose/k8s pins the image to that version" "newTag: \"$version\"" compose/k8s/kustomization.yaml

finish
