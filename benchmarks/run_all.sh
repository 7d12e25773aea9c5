#!/usr/bin/env bash
# Full side-by-side benchmark: ours (`ocr bench`) and every peer (benchmarks/peer_runner.py),
# one run at a time, for each thread count and dataset. Then score and tabulate with
#   .venv/bin/python benchmarks/compare.py OUT_DIR
#
# Usage:
#   bash benchmarks/run_all.sh [DATASET ...]
#
# Environment (all optional):
#   DATASETS      datasets when none are given as arguments (NAME, PATH, or either with
#                 :SPLIT, e.g. icdar2015_word_train:dev)
#                 (default: "sroie_train_dev funsd_train iiit5k_train")
#   SYSTEMS       default "ours rapidocr paddleocr tesseract"
#   THREADS       default "1 2"
#   OUT           output dir (default: var/bench/run-YYYYmmdd-HHMM)
#   LIMIT         --limit for every run (first N images)
#   LIMIT_PAGES   --limit for page sets (overrides LIMIT)
#   LIMIT_CROPS   --limit for crop sets (overrides LIMIT)
#   DATASETS_DIR  where dataset folders live (default: ../shared/datasets)
#
# A failing run is logged and skipped; the script exits 1 at the end if any run failed.
# A peer whose venv (.peers/<peer>) is missing is skipped with a message (not a failure).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2

if [[ $# -gt 0 ]]; then
    DATASET_LIST=("$@")
else
    read -r -a DATASET_LIST <<<"${DATASETS:-sroie_train_dev funsd_train iiit5k_train}"
fi
read -r -a SYSTEM_LIST <<<"${SYSTEMS:-ours rapidocr paddleocr tesseract}"
read -r -a THREAD_LIST <<<"${THREADS:-1 2}"
OUT="${OUT:-var/bench/run-$(date +%Y%m%d-%H%M)}"
DATASETS_DIR="${DATASETS_DIR:-$REPO/../shared/datasets}"

mkdir -p "$OUT/logs" || exit 2
RUN_LOG="$OUT/run.log"
STATUS="$OUT/status.tsv"
printf 'system\tdataset\tthreads\tstatus\tseconds\tlog\n' >"$STATUS"

log() {
    local msg
    msg="$(date '+%F %T') $*"
    echo "$msg"
    echo "$msg" >>"$RUN_LOG"
}

load_now() {
    # "load average: 0.12, 0.30, 0.25" part of uptime
    uptime | sed -e 's/.*load average[s]*: */load /'
}

# page set (records have "lines") or crop set; from the first record of labels.jsonl
dataset_kind() {
    local first
    first="$(head -n 1 "$1/labels.jsonl")"
    if [[ "$first" == *'"lines"'* ]]; then echo page; else echo crop; fi
}

limit_for() {
    if [[ "$1" == page ]]; then echo "${LIMIT_PAGES:-${LIMIT:-}}"; else echo "${LIMIT_CROPS:-${LIMIT:-}}"; fi
}

FAILED=()
SKIPPED=()

log "benchmark -> $OUT"
log "systems: ${SYSTEM_LIST[*]} | threads: ${THREAD_LIST[*]} | datasets: ${DATASET_LIST[*]}"
log "limits: LIMIT=${LIMIT:-} LIMIT_PAGES=${LIMIT_PAGES:-} LIMIT_CROPS=${LIMIT_CROPS:-}"
log "machine: $(nproc) cpus, $(load_now)"

# Check every dataset up front so a typo fails fast, before an hour of runs.
# A dataset may carry a :SPLIT (icdar2015_word_train:dev), passed on as PATH:SPLIT; its runs
# are named <folder>-<split>, as `ocr bench` and peer_runner.py name them.
declare -A DS_PATH DS_KIND DS_ARG DS_NAME
for d in "${DATASET_LIST[@]}"; do
    base="$d"
    split=""
    if [[ ! -e "$d" && "$d" == *:* ]]; then
        base="${d%:*}"
        split="${d##*:}"
    fi
    if [[ -f "$base/labels.jsonl" ]]; then
        path="$(cd "$base" && pwd)"
    elif [[ -f "$DATASETS_DIR/$base/labels.jsonl" ]]; then
        path="$(cd "$DATASETS_DIR/$base" && pwd)"
    else
        log "ERROR: dataset $d: no labels.jsonl (as a path or under $DATASETS_DIR)"
        exit 2
    fi
    if [[ -n "$split" ]] && ! grep -q "\"split\": *\"$split\"" "$path/labels.jsonl"; then
        log "ERROR: dataset $d: no record of split $split in $path/labels.jsonl"
        exit 2
    fi
    DS_PATH[$d]="$path"
    DS_ARG[$d]="$path${split:+:$split}"
    DS_NAME[$d]="$(basename "$path")${split:+-$split}"
    DS_KIND[$d]="$(dataset_kind "$path")"
done

for t in "${THREAD_LIST[@]}"; do
    for s in "${SYSTEM_LIST[@]}"; do
        if [[ "$s" == ours ]]; then
            exe="$REPO/.venv/bin/ocr"
        else
            exe="$REPO/.peers/$s/bin/python"
        fi
        if [[ ! -x "$exe" ]]; then
            log "SKIP $s: $exe not found (set it up: bash benchmarks/setup_peers.sh $s)"
            SKIPPED+=("$s-t$t")
            continue
        fi
        for d in "${DATASET_LIST[@]}"; do
            path="${DS_ARG[$d]}"
            name="${DS_NAME[$d]}"
            limit="$(limit_for "${DS_KIND[$d]}")"
            limit_args=()
            [[ -n "$limit" ]] && limit_args=(--limit "$limit")
            if [[ "$s" == ours ]]; then
                cmd=("$exe" bench --dataset "$path" --threads "$t" --out-dir "$OUT" --no-progress)
            else
                cmd=("$exe" benchmarks/peer_runner.py --system "$s" --dataset "$path"
                    --threads "$t" --out-dir "$OUT")
            fi
            cmd+=("${limit_args[@]}")
            step="$s-$name-t$t"
            step_log="$OUT/logs/$step.log"
            log "START $step (${DS_KIND[$d]}, limit ${limit:-all}) $(load_now)"
            start=$SECONDS
            "${cmd[@]}" >"$step_log" 2>&1
            rc=$?
            took=$((SECONDS - start))
            if [[ $rc -eq 0 ]]; then
                log "OK    $step ${took}s $(load_now)"
                printf '%s\t%s\t%s\tok\t%s\t%s\n' "$s" "$name" "$t" "$took" "$step_log" >>"$STATUS"
            else
                log "FAIL  $step rc=$rc ${took}s $(load_now); last lines of $step_log:"
                tail -n 5 "$step_log" | sed 's/^/    /' | tee -a "$RUN_LOG"
                printf '%s\t%s\t%s\tfail(rc=%s)\t%s\t%s\n' "$s" "$name" "$t" "$rc" "$took" \
                    "$step_log" >>"$STATUS"
                FAILED+=("$step")
            fi
        done
    done
done

[[ ${#SKIPPED[@]} -gt 0 ]] && log "skipped (no venv): ${SKIPPED[*]}"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "FAILED ${#FAILED[@]} run(s): ${FAILED[*]}"
    log "results: $OUT (score: .venv/bin/python benchmarks/compare.py $OUT)"
    exit 1
fi
log "all runs OK; score: .venv/bin/python benchmarks/compare.py $OUT"
