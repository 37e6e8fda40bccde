#!/bin/bash
# Do two checkouts give the same outputs on the same seeds? Issue 35's check that the layout changed no behaviour:
# the sentiment demos, the recall demos, a sentiment evaluation and the fact benchmark (a shortened test run) on both
# embedded models, each run in OLD and NEW; then, in NEW, stores built with --init_from alone and from the recall
# template against the facts read on the fly, and a store read after another bookkeeping token.
#     git worktree add /tmp/old <commit>; bash dev/same_outputs.sh /tmp/old . /tmp/same    # about 40 min, 2 cores
set -u
OLD=$(realpath "$1"); NEW=$(realpath "$2"); OUT=$3; PY=$(command -v python)
runs() {  # $1 checkout, $2 output folder
  cd "$1"; mkdir -p "$2"
  $PY sample.py config/sample_smollm2_type_3_method.py --num_samples=2 --max_new_tokens=40 > "$2/demo_smollm2.txt" 2>/dev/null
  $PY sample.py config/sample_gemma3_type_3_method.py --num_samples=2 --max_new_tokens=40 > "$2/demo_gemma3.txt" 2>/dev/null
  $PY sample.py config/smollm2/sample_recall_my_facts.py > "$2/recall_smollm2.txt" 2>/dev/null
  $PY sample.py config/gemma3/sample_recall_my_facts.py > "$2/recall_gemma3.txt" 2>/dev/null
  $PY evaluate.py config/smollm2/eval_sentiment_table1.py --num_seeds=8 --max_new_tokens=30 --out_dir="$2/sent_smollm2" > /dev/null 2>&1
  $PY evaluate.py config/smollm2/eval_facts_test.py '--fact_counts=[1,100]' --num_facts=40 --num_seeds=5 --sample_facts=10 --out_dir="$2/facts_smollm2" > /dev/null 2>&1
  $PY evaluate.py config/gemma3/eval_facts_test.py '--fact_counts=[1,100]' --num_facts=12 --num_seeds=5 --sample_facts=6 '--conditions=["question","in_context","bm25_checked","method"]' --out_dir="$2/facts_gemma3" > /dev/null 2>&1
}
mkdir -p "$OUT"; OUT=$(realpath "$OUT")
runs "$OLD" "$OUT/old"; runs "$NEW" "$OUT/new"
for f in demo_smollm2.txt demo_gemma3.txt recall_smollm2.txt recall_gemma3.txt sent_smollm2/summary.md facts_smollm2/summary.md facts_gemma3/summary.md; do
  cmp -s "$OUT/old/$f" "$OUT/new/$f" && echo "$f: the same" || echo "$f: DIFFERS"
done
cd "$NEW"; mkdir -p "$OUT/st"
for m in smollm2 gemma3; do
  T=config/$m/sample_recall_my_facts.py
  $PY sample.py $T > "$OUT/$m.fly.txt" 2>/dev/null
  $PY build_memory.py --init_from=$m --memory=FILE:data/my_facts.txt --one_text_per_line=True --all_layers=True --mem_store="$OUT/st/$m.init" > /dev/null 2>&1
  $PY build_memory.py $T --mem_store="$OUT/st/$m.template" > /dev/null 2>&1
  for w in init template; do
    $PY sample.py $T --memory= --mem_store="$OUT/st/$m.$w" > "$OUT/$m.$w.txt" 2>/dev/null
    cmp -s "$OUT/$m.fly.txt" "$OUT/$m.$w.txt" && echo "$m, store built by --$w: answers as on the fly" || echo "$m, store built by --$w: DIFFERS"
  done
done
$PY build_memory.py --init_from=gemma3 --memory=FILE:data/my_facts.txt --one_text_per_line=True --all_layers=True '--bookkeeping_token="\n"' --mem_store="$OUT/st/gemma3.newline" > /dev/null 2>&1
$PY sample.py config/gemma3/sample_recall_my_facts.py --memory= --mem_store="$OUT/st/gemma3.newline" 2>&1 >/dev/null | tail -1
