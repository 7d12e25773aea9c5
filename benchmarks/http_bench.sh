#!/usr/bin/env bash
# HTTP service benchmark (issue 3): `ocr serve` with batching on / off vs a naive FastAPI
# wrapper around RapidOCR 3.10 (benchmarks/naive_server.py, same ONNX weights), closed-loop
# load at 1, 4, 8, 16 clients; then a cache-hit run and a 10,000-request RSS soak (ours).
# One server at a time, each started fresh per run and stopped after. Tabulate with
#   .venv/bin/python benchmarks/http_compare.py OUT_DIR
#
# Usage:
#   bash benchmarks/http_bench.sh                 # everything
#   PARTS="throughput" THREADS="1" bash benchmarks/http_bench.sh
#
# Environment (all optional):
#   OUT           output dir (default var/bench/http/run-YYYYmmdd-HHMM)
#   PARTS         default "throughput cache soak"
#   THREADS       intra-op thread counts for the throughput part (default "2"); the cache
#                 and soak parts use the first one
#   CLIENTS       default "1 4 8 16"
#   SYSTEMS       default "ours-batch ours-nobatch naive"
#   DATASET       throughput images: dataset name or folder (default sroie_train_dev)
#   LIMIT         first N images of DATASET, cycled (default 20)
#   MIN_REQUESTS  measured requests per run, at least (default 60)
#   ROUNDS        ... and at least ROUNDS x clients (default 4); rounded up to a multiple of
#                 LIMIT so every image is sent equally often
#   CACHE_CLIENTS / CACHE_REQUESTS   cache-hit run (default 8 / 3000, one SROIE receipt)
#   SOAK_DATASET / SOAK_LIMIT / SOAK_CLIENTS / SOAK_REQUESTS / SOAK_WARMUP
#                 default iiit5k_train / 50 / 8 / 10000 / 200
#   PORT          default 18080
#   EXTRA_ENV     more KEY=VALUE words for every server (tuning runs), e.g.
#                 EXTRA_ENV="OCR_INFERENCE_CONCURRENCY=2 OCR_CPU_WORKERS=1"
#   QUIET_PCT / QUIET_WAIT   before each run wait (at most QUIET_WAIT s, default 600) until
#                 other jobs use < QUIET_PCT % (default 15) of the machine's CPU
#   NOISY_PCT / RETRIES      a run during which other jobs used > NOISY_PCT % (default 10)
#                 of the CPU is kept as NAME.noisyK.json and repeated, up to RETRIES (2) times
#
# Every server gets OCR_INTRA_OP_THREADS=T and the usual math-library thread variables
# (OMP_NUM_THREADS, ... = T, as models/eval/bench.set_thread_env). Ours runs with
# OCR_CACHE_MEMORY_BYTES=0 except in the cache part; "nobatch" is OCR_DET_MAX_BATCH=1
# OCR_CLS_MAX_BATCH=1 OCR_REC_BATCH_SIZE=1. Outputs: OUT/<name>.json (benchmarks/http_load.py),
# OUT/metrics/<name>.prom (GET /metrics after each run of ours), OUT/logs/<name>.log (server
# stdout+stderr), OUT/run.log. Exits 1 if any run had errors or a server died.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2

OUT="${OUT:-var/bench/http/run-$(date +%Y%m%d-%H%M)}"
read -r -a PART_LIST <<<"${PARTS:-throughput cache soak}"
read -r -a THREAD_LIST <<<"${THREADS:-2}"
read -r -a CLIENT_LIST <<<"${CLIENTS:-1 4 8 16}"
read -r -a SYSTEM_LIST <<<"${SYSTEMS:-ours-batch ours-nobatch naive}"
DATASET="${DATASET:-sroie_train_dev}"
LIMIT="${LIMIT:-20}"
MIN_REQUESTS="${MIN_REQUESTS:-60}"
ROUNDS="${ROUNDS:-4}"
CACHE_CLIENTS="${CACHE_CLIENTS:-8}"
CACHE_REQUESTS="${CACHE_REQUESTS:-3000}"
SOAK_DATASET="${SOAK_DATASET:-iiit5k_train}"
SOAK_LIMIT="${SOAK_LIMIT:-50}"
SOAK_CLIENTS="${SOAK_CLIENTS:-8}"
SOAK_REQUESTS="${SOAK_REQUESTS:-10000}"
SOAK_WARMUP="${SOAK_WARMUP:-200}"
PORT="${PORT:-18080}"
QUIET_PCT="${QUIET_PCT:-15}"
QUIET_WAIT="${QUIET_WAIT:-600}"
NOISY_PCT="${NOISY_PCT:-10}"
RETRIES="${RETRIES:-2}"
PY="$REPO/.venv/bin/python"
OCR="$REPO/.venv/bin/ocr"
PEER_PY="$REPO/.peers/rapidocr/bin/python"
URL="http://127.0.0.1:$PORT"

mkdir -p "$OUT/logs" "$OUT/metrics" || exit 2
RUN_LOG="$OUT/run.log"
FAILED=()
SERVER_PID=""

log() {
    local msg
    msg="$(date '+%F %T') $*"
    echo "$msg"
    echo "$msg" >>"$RUN_LOG"
}

load_now() { uptime | sed -e 's/.*load average[s]*: */load /'; }

busy_pct() {  # busy_pct SECONDS: machine-wide busy CPU % over that many seconds (/proc/stat)
    local a b
    read -r -a a < <(head -n 1 /proc/stat)
    sleep "$1"
    read -r -a b < <(head -n 1 /proc/stat)
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    ((total > 0)) && echo $((100 * (total - idle) / total)) || echo 0
}

# Before each run (no server of ours is up): wait until the machine is quiet, i.e. other jobs
# use under QUIET_PCT % of the CPUs, for at most QUIET_WAIT seconds; then go on regardless.
wait_quiet() {
    local waited=0 pct
    while :; do
        pct=$(busy_pct 3)
        if ((pct < QUIET_PCT)); then
            ((waited > 0)) && log "  quiet after ${waited} s (busy ${pct} %)"
            return 0
        fi
        if ((waited >= QUIET_WAIT)); then
            log "  machine still busy (${pct} % CPU) after ${waited} s: running anyway (NOISY)"
            return 0
        fi
        ((waited == 0)) && log "  machine busy (${pct} % CPU by other jobs): waiting"
        sleep 7
        waited=$((waited + 10))
    done
}

thread_env() {  # thread_env T -> KEY=VALUE words for env(1)
    local t="$1" v
    for v in OMP_NUM_THREADS OMP_THREAD_LIMIT MKL_NUM_THREADS OPENBLAS_NUM_THREADS \
        BLIS_NUM_THREADS NUMEXPR_NUM_THREADS VECLIB_MAXIMUM_THREADS; do
        printf '%s=%s ' "$v" "$t"
    done
    printf 'OCR_INTRA_OP_THREADS=%s' "$t"
}

# start_server NAME SYSTEM THREADS [EXTRA_ENV...]: background server, wait for /readyz
start_server() {
    local name="$1" system="$2" t="$3"
    shift 3
    local -a envs
    read -r -a envs <<<"$(thread_env "$t")"
    envs+=("OCR_PORT=$PORT" "$@")
    # shellcheck disable=SC2206  # EXTRA_ENV is a list of KEY=VALUE words
    [[ -n "${EXTRA_ENV:-}" ]] && envs+=($EXTRA_ENV)
    case "$system" in
        ours-batch) envs+=(OCR_CACHE_MEMORY_BYTES=0) ;;
        ours-nobatch)
            envs+=(OCR_CACHE_MEMORY_BYTES=0 OCR_DET_MAX_BATCH=1 OCR_CLS_MAX_BATCH=1
                OCR_REC_BATCH_SIZE=1) ;;
        ours-cache) ;;
    esac
    wait_quiet
    local t0 t1
    t0=$(date +%s.%N)
    if [[ "$system" == naive ]]; then
        env "${envs[@]}" "$PEER_PY" benchmarks/naive_server.py --port "$PORT" --threads "$t" \
            >"$OUT/logs/$name.log" 2>&1 &
    else
        env "${envs[@]}" "$OCR" serve --port "$PORT" >"$OUT/logs/$name.log" 2>&1 &
    fi
    SERVER_PID=$!
    echo "env: ${envs[*]}" >>"$OUT/logs/$name.env"
    for _ in $(seq 1 600); do
        if curl -sf "$URL/readyz" >/dev/null 2>&1; then
            t1=$(date +%s.%N)
            log "  $name: server pid $SERVER_PID ready in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "  $name: server died during start (see $OUT/logs/$name.log)"
            return 1
        fi
        sleep 0.5
    done
    log "  $name: not ready after 300 s"
    return 1
}

stop_server() {
    local name="$1"
    [[ -n "$SERVER_PID" ]] || return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "  $name: SERVER DIED during the run (see $OUT/logs/$name.log)"
        FAILED+=("$name(died)")
        SERVER_PID=""
        return 1
    fi
    kill -TERM "$SERVER_PID"
    for _ in $(seq 1 120); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

cleanup() { [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null; }
trap cleanup EXIT

# run_load NAME SYSTEM ARGS...: the load generator against the running server
run_load() {
    local name="$1" system="$2"
    shift 2
    local -a extra=()
    [[ "$system" == ours* ]] && extra+=(--metrics)
    log "  $name: load $* ($(load_now))"
    "$PY" benchmarks/http_load.py --url "$URL/v1/ocr" --pid "$SERVER_PID" --label "$name" \
        --json "$OUT/$name.json" "${extra[@]}" "$@" 2>&1 | tee -a "$RUN_LOG"
    local rc=${PIPESTATUS[0]}
    if [[ "$system" == ours* ]]; then
        curl -sf "$URL/metrics" >"$OUT/metrics/$name.prom" || true
    fi
    ((rc == 0)) || FAILED+=("$name")
}

requests_for() {  # max(MIN_REQUESTS, ROUNDS x clients), rounded up to a multiple of LIMIT
    local c="$1" n
    n=$((ROUNDS * c))
    ((n < MIN_REQUESTS)) && n=$MIN_REQUESTS
    echo $(((n + LIMIT - 1) / LIMIT * LIMIT))
}

foreign_pct() {  # foreign_pct FILE.json: other jobs' share of the CPU during the measured phase
    "$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1])).get("cpu",{}).get("foreign_cpu_pct") or 0))' "$1" 2>/dev/null || echo 0
}

# one_run NAME SYSTEM THREADS LOAD_ARGS...: fresh server, load, stop. A run during which
# other jobs took more than NOISY_PCT % of the CPU is kept as NAME.noisyK.json and repeated
# (at most RETRIES times); the last attempt stands either way.
one_run() {
    local name="$1" system="$2" t="$3" attempt=0 pct
    shift 3
    while :; do
        if ((attempt)); then log "run $name (attempt $((attempt + 1)))"; else log "run $name"; fi
        if ! start_server "$name" "$system" "$t"; then
            FAILED+=("$name(start)")
            stop_server "$name"
            return
        fi
        run_load "$name" "$system" "$@"
        stop_server "$name"
        pct=$(foreign_pct "$OUT/$name.json")
        if ((pct <= NOISY_PCT)) || ((attempt >= RETRIES)); then
            ((pct > NOISY_PCT)) && log "  $name: NOISY (other jobs took ${pct} % CPU), kept"
            return
        fi
        attempt=$((attempt + 1))
        log "  $name: other jobs took ${pct} % of the CPU: kept as $name.noisy$attempt.json, repeating"
        mv "$OUT/$name.json" "$OUT/$name.noisy$attempt.json"
    done
}

log "http benchmark -> $OUT"
log "parts: ${PART_LIST[*]} | threads: ${THREAD_LIST[*]} | clients: ${CLIENT_LIST[*]} | systems: ${SYSTEM_LIST[*]}"
log "machine: $(nproc) cpus, $(load_now)"
log "code: $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --porcelain 2>/dev/null | wc -l) paths changed or untracked)"
if [[ " ${SYSTEM_LIST[*]} " == *" naive "* && ! -x "$PEER_PY" ]]; then
    log "no $PEER_PY: run bash benchmarks/setup_peers.sh rapidocr and"
    log "  .peers/rapidocr/bin/pip install fastapi uvicorn python-multipart"
    exit 2
fi

for part in "${PART_LIST[@]}"; do
    case "$part" in
    throughput)
        for t in "${THREAD_LIST[@]}"; do
            for system in "${SYSTEM_LIST[@]}"; do
                for c in "${CLIENT_LIST[@]}"; do
                    one_run "$system-t$t-c$c" "$system" "$t" --dataset "$DATASET" \
                        --limit "$LIMIT" --clients "$c" --requests "$(requests_for "$c")" \
                        --warmup $((c > 4 ? c : 4))
                done
            done
        done
        ;;
    cache)
        t="${THREAD_LIST[0]}"
        for c in 1 "$CACHE_CLIENTS"; do
            one_run "cache-hit-t$t-c$c" ours-cache "$t" --dataset "$DATASET" --limit 1 \
                --clients "$c" --requests "$CACHE_REQUESTS" --warmup 100
        done
        ;;
    soak)
        t="${THREAD_LIST[0]}"
        one_run "soak-t$t-c$SOAK_CLIENTS" ours-batch "$t" --dataset "$SOAK_DATASET" \
            --limit "$SOAK_LIMIT" --clients "$SOAK_CLIENTS" --requests "$SOAK_REQUESTS" \
            --warmup "$SOAK_WARMUP" --rss-every 10
        ;;
    *) log "unknown part $part (throughput, cache, soak)"; exit 2 ;;
    esac
done

log "done: $(load_now)"
if ((${#FAILED[@]})); then
    log "FAILED / errors: ${FAILED[*]}"
    exit 1
fi
log "all runs clean; tabulate: $PY benchmarks/http_compare.py $OUT"
