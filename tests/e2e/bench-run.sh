#!/bin/sh
# Benchmark (not a test): wall time of `moat run --no-sandbox IMAGE true`
# against `docker run --rm IMAGE true`, alternating, N rounds each; prints
# the medians and their ratio (goal: <= 1.3x).
# usage: bench-run.sh [MOAT_BIN] [IMAGE] [N]
set -eu
moat=${1:-moat}
image=${2:-moat-agent:latest}
n=${3:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export MOAT_HOME="$tmp/home"
mkdir -p "$tmp/project"
now() { date +%s.%N; }
i=0
while [ "$i" -lt "$n" ]; do
	t0=$(now)
	docker run --rm "$image" true
	t1=$(now)
	"$moat" run --no-sandbox --image "$image" "$tmp/project" -- true \
	    2>/dev/null
	t2=$(now)
	echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$tmp/docker"
	echo "$t1 $t2" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$tmp/moat"
	i=$((i + 1))
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
d=$(med "$tmp/docker")
m=$(med "$tmp/moat")
echo "docker run --rm $image true: median ${d}s over $n"
echo "moat run --no-sandbox $image true: median ${m}s over $n"
echo "$m $d" | awk '{ printf "ratio: %.2fx\n", $1 / $2 }'
