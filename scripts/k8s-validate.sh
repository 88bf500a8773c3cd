#!/usr/bin/env bash
# scripts/k8s-validate.sh - schema check of compose/k8s, offline once set up.
#
#   k8s-validate.sh [KUBERNETES_VERSION]     (default 1.31.0)
#
# Kubernetes' own kinds (Namespace, ConfigMap, Deployment, StatefulSet,
# Service): PyPI's kubernetes-validate, which carries the Kubernetes JSON
# schemas, strict (unknown fields are errors), in the venv
# $STREAMCTL_CACHE/venv-k8s. Strimzi (Kafka, KafkaNodePool, KafkaTopic) and
# KEDA (ScaledObject): the schemas of their CRDs as npm's
# @kubernetes-models/strimzi-kafka-operator (generated from Strimzi's
# strimzi-crds 0.49.0/1.0.0 release files) and @kubernetes-models/keda ship
# them, in $STREAMCTL_CACHE/k8s-crd-models, run with node. kustomization.yaml
# is kustomize's own file, not a cluster resource: no schema (its list of
# files is checked by tests/integration/compose.sh).
# K8S_DIR: another directory of manifests (default compose/k8s).
# One line per resource; exit 1 if any fails, 2 if a checker cannot be set up.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCTL_CACHE:-$ROOT/.cache}
VERSION=${1:-1.31.0}
VENV=$CACHE/venv-k8s
MODELS=$CACHE/k8s-crd-models
cd "${K8S_DIR:-$ROOT/compose/k8s}"

setup_fail() {
	printf 'k8s-validate: %s\n' "$*" >&2
	exit 2
}

if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
	python3 -m venv "$VENV" >/dev/null 2>&1 || setup_fail "python3 -m venv failed (Debian: python3-venv)"
	"$VENV/bin/pip" install -q kubernetes-validate==1.37.0 >"$CACHE/venv-k8s.log" 2>&1 ||
		setup_fail "pip install kubernetes-validate failed: see $CACHE/venv-k8s.log"
fi
if [ ! -d "$MODELS/node_modules/@kubernetes-models/keda" ] ||
	[ ! -d "$MODELS/node_modules/@kubernetes-models/strimzi-kafka-operator" ]; then
	command -v npm >/dev/null 2>&1 || setup_fail "npm missing (Debian: npm) for the Strimzi/KEDA schemas"
	mkdir -p "$MODELS"
	[ -f "$MODELS/package.json" ] || echo '{"private": true}' >"$MODELS/package.json"
	(cd "$MODELS" && npm install --no-audit --no-fund --silent \
		@kubernetes-models/strimzi-kafka-operator@1.0.1 @kubernetes-models/keda@2.0.0) >"$MODELS/npm.log" 2>&1 ||
		setup_fail "npm install of the Strimzi/KEDA models failed: see $MODELS/npm.log"
fi

rc=0
files=$(ls ./*.yaml | grep -v kustomization.yaml)
# shellcheck disable=SC2086
out=$("$VENV/bin/kubernetes-validate" -k "$VERSION" --strict $files 2>&1) || rc=1
grep -E '^(INFO|ERROR|CRITICAL)' <<<"$out" | sed 's/^INFO /ok    /; s/^ERROR /FAIL  /; s/^CRITICAL /FAIL  /' || true
grep -vE '^(INFO|WARN|ERROR|CRITICAL)' <<<"$out" | sed 's/^/      /' || true

# The custom resources, as JSON documents, checked against their CRD schemas.
# shellcheck disable=SC2086
python3 - $files <<'PY' >"$MODELS/docs.json"
import json, sys, yaml
out = []
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        if d and d.get("apiVersion", "").split("/")[0] in ("kafka.strimzi.io", "keda.sh"):
            out.append({"file": f.lstrip("./"), "doc": d})
json.dump(out, sys.stdout)
PY
cat >"$MODELS/check.mjs" <<'JS'
import { readFileSync } from "node:fs";
const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const pkg = { "kafka.strimzi.io": "strimzi-kafka-operator", "keda.sh": "keda" };
let bad = 0;
for (const { file, doc } of docs) {
	const [group, version] = doc.apiVersion.split("/");
	const what = `${file} ${doc.kind.toLowerCase()}/${doc.metadata.name} against the ${doc.apiVersion} CRD schema`;
	try {
		const mod = await import(`@kubernetes-models/${pkg[group]}/${group}/${version}/${doc.kind}`);
		new mod[doc.kind](doc).validate();
		console.log(`ok    ${what}`);
	} catch (e) {
		bad++;
		console.log(`FAIL  ${what}: ${String(e.message || e).split("\n").slice(0, 5).join("; ")}`);
	}
}
process.exit(bad ? 1 : 0);
JS
node "$MODELS/check.mjs" "$MODELS/docs.json" || rc=1
exit "$rc"
