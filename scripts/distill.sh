#!/usr/bin/env bash
# Issue 13: distil the shipped MTT musicnn into cnn_sam (adaptive segments), cnn_sam (fixed
# chunks) and audio_vgg on real music, and print the comparison against the teacher.
#
#   scripts/distill.sh [OUT_DIR]          (default distill_out; `make distill` runs it)
#
# Stages, each skipped when its output exists and resumed when interrupted:
#   1. corpus    tfrecords_builder.corpora.debian_music -> $CORPUS/corpus.csv (apt-get download;
#                skipped when $CORPUS/corpus.csv exists)
#   2. teacher   musictag_tf.distill.teacher: mtt_musicnn scores of every 29.1 s clip ->
#                $OUT/teacher.csv (resumes from teacher.csv.partial). The same scores as the tagger:
#                musictag tag <files> --model=mtt_musicnn
#                --clip_seconds=29.1 --format=csv --output=teacher.csv
#   3. records   musictag-build --clip_seconds --soft_labels -> $OUT/records (finished shards kept)
#   4. train     musictag-train x 3 variants, same budget flags ($OUT/runs/<name>, resumes from
#                its checkpoints; a run is done when $OUT/runs/<name>/.done exists)
#   5. compare   musictag_tf.distill.compare on the test packages -> $OUT/comparison.md/.json
#   6. ship      musictag_tf.tag.ship_student: the student with the best validation agreement ->
#                musictag_tf/model/pretrained/cnn_sam_distilled (run + TFLite + model.json with the
#                agreement and the speed against the teacher); SHIP=0 skips it
# Environment: PYTHON (default python), CORPUS (default $OUT/corpus), EPOCHS (12), BATCH (16),
# CLIP (29.1), CHUNK (chunk_seconds, 8.0 = ModelParams), LOSS (soft_target_loss: logit_mse, the
# shipped student's; bce), CROPS (crops_per_clip: 4), SPEED_CLIPS (20), PARALLEL (0; 1 trains the
# three students at once: the same total work, and no student waits for another), SHIP (1),
# STUDENTS ("cnn_sam cnn_sam_fixed audio_vgg": which students to train, compare and ship from).
# The first comparison table in BUILD_NOTES ran LOSS=bce CROPS=1 EPOCHS=6; the shipped student
# LOSS=logit_mse CROPS=4 EPOCHS=12 STUDENTS=cnn_sam.
set -euo pipefail
OUT=${1:-distill_out}
PY=${PYTHON:-python}
CORPUS=${CORPUS:-$OUT/corpus}
EPOCHS=${EPOCHS:-12}
LOSS=${LOSS:-logit_mse}
CROPS=${CROPS:-4}
STUDENTS=${STUDENTS:-cnn_sam cnn_sam_fixed audio_vgg}
BATCH=${BATCH:-16}
CLIP=${CLIP:-29.1}
CHUNK=${CHUNK:-8.0}
SPEED_CLIPS=${SPEED_CLIPS:-20}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
mkdir -p "$OUT/runs"
stage() { echo "== $(date +%H:%M:%S) $*"; }

stage "1/6 corpus -> $CORPUS/corpus.csv"
if [ ! -f "$CORPUS/corpus.csv" ]; then
  $PY -m tfrecords_builder.corpora.debian_music --out_dir="$CORPUS"
fi

stage "2/6 teacher scores -> $OUT/teacher.csv"
if [ ! -f "$OUT/teacher.csv" ]; then
  $PY -m musictag_tf.distill.teacher --table="$CORPUS/corpus.csv" --clip_seconds="$CLIP" \
      --output="$OUT/teacher.csv"
fi

stage "3/6 records -> $OUT/records"
if [ ! -f "$OUT/records/manifest.json" ]; then
  $PY -m tfrecords_builder --table="$CORPUS/corpus.csv" --clip_seconds="$CLIP" \
      --soft_labels="$OUT/teacher.csv" --out_dir="$OUT/records" --num_workers=1
fi

# Same data and budget for the three students: audio only (the corpus has no lyrics, so cnn_sam
# takes its no-lyrics vector), alpha = 1 (soft targets; see musictag_tf/model/losses.py).
BUDGET=(--records_dir="$OUT/records" --task=tags --pos_weight=1 --epochs="$EPOCHS" --batch_size="$BATCH"
        --chunk_seconds="$CHUNK" --early_stopping_patience="$EPOCHS" --verbose=1
        --soft_target_loss="$LOSS" --crops_per_clip="$CROPS")
PIDS=()
train() {  # name, extra flags... (PARALLEL=1: in the background, log in $OUT/runs/<name>.log)
  local name=$1; shift
  stage "4/6 train $name -> $OUT/runs/$name"
  [ -f "$OUT/runs/$name/.done" ] && return 0
  if [ "${PARALLEL:-0}" = 1 ]; then
    ( $PY -m musictag_tf.train "${BUDGET[@]}" --model_dir="$OUT/runs/$name" "$@" > "$OUT/runs/$name.log" 2>&1 \
      && touch "$OUT/runs/$name/.done" ) &
    PIDS+=($!)
  else
    $PY -m musictag_tf.train "${BUDGET[@]}" --model_dir="$OUT/runs/$name" "$@"
    touch "$OUT/runs/$name/.done"
  fi
}
declare -A FLAGS_OF=([cnn_sam]="--variant=cnn_sam --use_segments=true"
                     [cnn_sam_fixed]="--variant=cnn_sam --use_segments=false"
                     [audio_vgg]="--variant=audio_vgg")
RUN_FLAGS=()
for name in $STUDENTS; do
  [ -n "${FLAGS_OF[$name]:-}" ] || { echo "unknown student $name (cnn_sam cnn_sam_fixed audio_vgg)" >&2; exit 2; }
  train "$name" ${FLAGS_OF[$name]}
  RUN_FLAGS+=(--run="$OUT/runs/$name")
done
for pid in "${PIDS[@]}"; do wait "$pid"; done  # set -e: a failed run stops here (see its .log)

stage "5/6 comparison on the test packages -> $OUT/comparison.md"
NAMED=()
for name in $STUDENTS; do NAMED+=(--run="$name=$OUT/runs/$name"); done
$PY -m musictag_tf.distill.compare --records="$OUT/records" --split=test --speed_clips="$SPEED_CLIPS" \
    "${NAMED[@]}" --output="$OUT/comparison.md"

if [ "${SHIP:-1}" != 0 ]; then
  stage "6/6 ship the student with the best validation agreement"
  $PY -m musictag_tf.tag.ship_student --records="$OUT/records" --comparison="$OUT/comparison.json" \
      "${RUN_FLAGS[@]}"
fi
stage "done"
