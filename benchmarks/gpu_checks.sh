#!/usr/bin/env bash
# The GPU measurements the open issues still need, in one call on a machine with one CUDA GPU
# and bayesflight installed with the embedded model converted (`bayesflight fetch-model`):
#   mfu    training MFU: SmolLM2-135M and Qwen2.5-0.5B shapes, fused AdamW, eager and compiled
#   eval   evaluation questions/s: one user at a time against 64 users together
#   levers reproduce --config docs/configs/levers.yaml sized to MINUTES by --time-budget, then
#          the belief-state model evaluated on the exact statements (evaluate --mode given)
#   probe  after levers: linear probes of the taught models' hidden states (bayesflight probe),
#          on the dialogues of docs/results.md's CPU probe of the original model: did
#          teaching make the Bayesian answer readable inside the model, if not at its output?
#   scratch a 1.1M-parameter llama from `bayesflight init-model` taught on 64k belief-state
#          flight-2 dialogues for 4,000 steps of 64 (docs/results.md: on the CPU it stayed
#          at uniform answers through 2,800 steps of 32), then evaluated writing its own
#          statements (belief) and on the exact ones (given)
#          (SCRATCH_STEPS=N sets the steps, e.g. 3 for a check of the part on a CPU)
# Each part has its own time limit, so a slow compile cannot eat the others' time; every log
# goes to OUT/*.log. Usage: benchmarks/gpu_checks.sh OUT [PARTS] [MINUTES]
#   e.g. benchmarks/gpu_checks.sh gpu-out mfu,eval        (about 6 minutes)
#        benchmarks/gpu_checks.sh gpu-out levers,probe 8  (about 12 minutes)
#        benchmarks/gpu_checks.sh gpu-out scratch          (at most 10 minutes)
set -uo pipefail
out=${1:?usage: benchmarks/gpu_checks.sh OUT [mfu,eval,levers,probe,scratch] [MINUTES]}
parts=${2:-mfu,eval}
minutes=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
tokenizer=$(python -c "from bayesflight.llm.embedded import DEFAULT_MODEL, embedded_spec, \
ensure_converted; print(ensure_converted(embedded_spec(DEFAULT_MODEL)))") || exit 2

run() {  # run NAME SECONDS COMMAND...: the command's output to OUT/NAME.log, its status kept
  local name=$1 seconds=$2
  shift 2
  echo "+ $*" | tee "$out/$name.log"
  timeout "$seconds" "$@" >>"$out/$name.log" 2>&1
  echo "$name: exit $? ($(date -u +%H:%M:%S))" | tee -a "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1
python -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, \
peft.__version__)" >>"$out/gpu.txt" 2>&1

if [[ ,$parts, == *,mfu,* ]]; then
  train=(python "$here/bench_train.py" --model "$tokenizer" --device cuda --full
         --methods "ours bf16" --steps 8 --fused-adamw)
  run mfu-smollm2 90 "${train[@]}" --random-arch smollm2-135m --batch-size 32
  run mfu-smollm2-compiled 240 "${train[@]}" --random-arch smollm2-135m --batch-size 32 --compile
  run mfu-qwen2 90 "${train[@]}" --random-arch qwen2-0.5b --batch-size 16
fi
if [[ ,$parts, == *,eval,* ]]; then
  run eval-together 240 python "$here/bench_eval_together.py" --device cuda --users 48 \
    --heldout 30 --rounds 5 --batch-size 32 --together-batch-size 256 --users-at-once 64
fi
if [[ ,$parts, == *,levers,* ]]; then
  run levers $((minutes * 60 + 180)) bayesflight reproduce --scale gpu --no-progress \
    --config "$here/../docs/configs/levers.yaml" --time-budget "$minutes" --out "$out/levers"
  # The belief-state model acting on the exact statements: its gap to belief mode is the cost
  # of writing them, on reproduce's own evaluation set (as --time-budget sized it).
  evalset=$(python -c "import json, sys; k = json.load(open(sys.argv[1])); s = k['scale']; \
print('--users', s['eval_users'], '--heldout', s['eval_heldout'], '--rounds', s['eval_rounds'], \
'--seed', k['seed'])" "$out/levers/reproduce.json") || exit 2
  run given 180 bayesflight evaluate --model "$out/levers/models/bayesian-statements-taught" \
    --mode given --user-pool eval $evalset --batch-size 256 --no-progress --out "$out/given"
fi
if [[ ,$parts, == *,probe,* ]]; then
  for side in "train 1 500" "eval 7 300"; do
    read -r pool seed n <<<"$side"
    bayesflight generate --teacher bayesian --dialogues "$n" --user-pool "$pool" --seed "$seed" \
      --out "$out/probe-$pool.jsonl" >/dev/null || exit 2
  done
  for model in bayesian-taught oracle-taught; do
    run "probe-$model" 240 bayesflight probe --model "$out/levers/models/$model" \
      --data "$out/probe-train.jsonl" --test "$out/probe-eval.jsonl" --batch-size 16 \
      --targets teacher,prior-majority,cheapest --layers 0,6,12,18,24,30 --out "$out/probe-$model"
  done
fi
if [[ ,$parts, == *,scratch,* ]]; then
  # The metrics.jsonl of the run is the measurement even if the time limit stops it: the
  # teacher-forced agreement with the teacher and the digit's NLL against ln 3 every step.
  steps=${SCRATCH_STEPS:-4000}
  bayesflight init-model --out "$out/scratch" >"$out/scratch.log" 2>&1 || exit 2
  bayesflight generate --teacher bayesian --statements --domain flight-2 --dialogues 65536 \
    --user-pool train --seed 1 --out "$out/scratch-stated.jsonl" >>"$out/scratch.log" 2>&1 \
    || exit 2
  run scratch-train 330 bayesflight train --data "$out/scratch-stated.jsonl" \
    --model "$out/scratch" --full --lr 2e-3 --batch-size 64 --max-steps "$steps" \
    --dtype bf16 --checkpoint-every 1000 --no-progress --out "$out/scratch-taught"
  for mode in belief given; do  # its own statements (and how often they are the teacher's)
    run "scratch-$mode" 90 bayesflight evaluate --model "$out/scratch-taught" --mode "$mode" \
      --domain flight-2 --user-pool eval --users 5 --heldout 48 --seed 0 --batch-size 256 \
      --no-progress --out "$out/scratch-$mode"
  done
fi
