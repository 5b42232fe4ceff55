#!/usr/bin/env bash
# Retrains the shipped predictors (HELP's device splits, ../shared/data/SOURCES.md). Seeded and
# deterministic: the same command gives the same weights. Takes about 20 minutes on 1 core.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${EDGENAS_SHARED:-../shared}/data
bin=${EDGENAS_BIN:-target/release/edgenas}
"$bin" predictor meta-train --space nb201 --data "$data/nb201_latency_help.csv" \
  --train 1080ti_1,1080ti_32,1080ti_256,silver_4114,silver_4210r,samsung_a50,pixel3,essential_ph_1,samsung_s7 \
  --valid titanx_1,titanx_32,titanx_256,gold_6240 --iterations 6000 --seed 0 -o models/nb201.predictor
"$bin" predictor meta-train --space fbnet --data "$data/fbnet_latency_help.csv" \
  --train 1080ti_1,1080ti_32,1080ti_64,silver_4114,silver_4210r,samsung_a50,pixel3,essential_ph_1,samsung_s7 \
  --valid titanx_1,titanx_32,titanx_64,gold_6240 --iterations 4000 --seed 0 -o models/fbnet.predictor
"$bin" predictor meta-train --space ofa --data "$data/ofa_latency_help.csv" \
  --train 2080ti_1,2080ti_32,2080ti_64,titan_xp_1,titan_xp_32,titan_xp_64,v100_1,v100_32,v100_64 \
  --valid titan_rtx_1,titan_rtx_32 --iterations 4000 --seed 0 -o models/ofa.predictor
