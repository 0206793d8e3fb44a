#!/usr/bin/env bash
# Runs the benchmarks of bench/ (every baseline in the same run) and writes docs/benchmarks.md with PNG plots in
# docs/img/benchmarks/. Needs the dev install (bash scripts/demo.sh or scripts/test.sh bootstrap it).
#
#   bash scripts/bench.sh            # the full run (1 GB values, 1,000-way mapped task): about an hour
#   BENCH_QUICK=1 bash scripts/bench.sh   # 256 MB local values, a 100-way mapped task, fewer repeats
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN=$(mktemp -d "${TMPDIR:-/tmp}/results-bench-run.XXXXXX")
if [[ -n "${BENCH_QUICK:-}" ]]; then
    SCALE=1.0 LOCAL_MB=256 CLOUD_MB=100 SIZES="1 10 100 1024" WIDTH=100 REPEAT=2 SCALE_REPEAT=1 MIXIN_REPEAT=1
    TASKFLOW_ITEMS=14000000
else
    SCALE=1.0 LOCAL_MB=1024 CLOUD_MB=100 SIZES="1 10 100 1024" WIDTH=1000 REPEAT=3 SCALE_REPEAT=2 MIXIN_REPEAT=3
    TASKFLOW_ITEMS=14000000
fi
echo "==> results in $RUN"
echo "==> XCom backend methods vs orjson floor, default serde, common-io"
$PY bench/xcom_codec_bench.py --repeat "$REPEAT" --scale "$SCALE" --json "$RUN/codec.json"
echo "==> TaskFlow end to end: @task and @task.result passing a large list"
$PY bench/taskflow_bench.py --items "$TASKFLOW_ITEMS" --repeat 1 --json "$RUN/taskflow.json"
echo "==> LocalResult vs raw file I/O"
$PY bench/local_result_bench.py --size-mb "$LOCAL_MB" --repeat 2 --json "$RUN/local.json"
echo "==> S3/GCS/Azure Results vs raw clients"
$PY bench/cloud_result_bench.py --size-mb "$CLOUD_MB" --repeat "$REPEAT" --json "$RUN/cloud.json"
echo "==> scale: value size, mapped task with per-index targets"
# shellcheck disable=SC2086
$PY bench/scale_bench.py --sizes $SIZES --width "$WIDTH" --repeat "$SCALE_REPEAT" --json "$RUN/scale.json"
echo "==> ResultMixin overhead"
$PY bench/mixin_overhead_bench.py --repeat "$MIXIN_REPEAT" 2>/dev/null | grep -v '^\s*$' | tail -9 > "$RUN/mixin.txt" || true
$PY bench/report.py "$RUN" docs/benchmarks.md docs/img/benchmarks
echo "==> cache key computation (appended to docs/benchmarks.md)"
$PY bench/cache_key_bench.py --repeat "$REPEAT" --json "$RUN/cache_key.json" --markdown >> docs/benchmarks.md
