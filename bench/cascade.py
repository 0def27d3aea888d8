"""Cascade benchmark: a fast member answers where it is sure, the fine-tuned encoder answers the rest (SST-2 dev, one run).

    python bench/cascade.py                     # finds the three artifacts in .bench-cache/frontier/runs, or trains them
    python bench/cascade.py --fast A --default B --encoder C
    nlp_lib runtime C --to onnx-int8 --out C8 && python bench/cascade.py --fast A --default B --encoder C --encoder-int8 C8

Rows (every figure measured in this run, in this process, one after the other):
  members alone     the fast recipe (configs/fast.yaml), the default recipe and the encoder (configs/encoder.yaml)
  TF-IDF + LR       scikit-learn TfidfVectorizer (word 1-2 grams) + LogisticRegression, trained on SST-2 train
  cascades          fast -> encoder and default -> encoder at thresholds chosen for a share passed on (10%, 20%, 30%;
                    a share needs no labels, so choosing it on dev is fair) and for a target accuracy of 89.5%, chosen
                    on one half of dev and measured on the other, both ways (cross-fitted: the labels that choose the
                    threshold never score it)

Columns: dev acc (872 sentences), share of texts the encoder answers, batch texts/s (`predict` over dev x4, 3,488 texts,
median of --reps), and the speed-up over the encoder alone in the same run.
"""
import argparse, json, os, statistics, sys, time, warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = ROOT / '.bench-cache' / 'frontier' / 'runs'
sys.path.insert(0, str(HERE))
warnings.filterwarnings('ignore')


def _latest(kind: str) -> str | None:
    arts = sorted((RUNS / kind).glob('*/artifact/manifest.json'))
    return str(arts[-1].parent) if arts else None


def _artifact(kind: str, given: str | None, recipe: list[str]) -> str:
    if given: return given
    if (found := _latest(kind)): return found
    from inference import train_artifact              # bench/inference.py: trains a recipe in a child process
    return train_artifact(kind, recipe, RUNS / kind)


def _speed(predict, texts, reps: int) -> float:
    predict(texts[:256])                               # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); predict(texts); times.append(time.perf_counter() - t0)
    return len(texts) / statistics.median(times)


def _acc(results, gold_ids) -> float:
    return float(np.mean([r.label_id == y for r, y in zip(results, gold_ids)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fast', help='an artifact of configs/fast.yaml')
    ap.add_argument('--default', help='an artifact of the default recipe')
    ap.add_argument('--encoder', help='an artifact of configs/encoder.yaml')
    ap.add_argument('--encoder-int8', help='the same encoder on ONNX Runtime with int8 weights (nlp_lib runtime ENCODER --to onnx-int8): '
                                           'its rows beside the torch ones, speed-ups still against the torch encoder of this run')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--first', default='fast,default', help='the first members to try, comma-separated (fast, default)')
    ap.add_argument('--batch-size', type=int, default=64)
    a = ap.parse_args()
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    from nlp_lib.inference.cascade import Cascade, choose_threshold, confidence
    import torch
    firsts = [f.strip() for f in a.first.split(',')]
    recipes = {'fast': (a.fast, [str(ROOT / 'configs' / 'fast.yaml')]), 'default': (a.default, [])}
    arts = {k: _artifact(k, *recipes[k]) for k in firsts}
    arts['encoder'] = _artifact('encoder', a.encoder, [str(ROOT / 'configs' / 'encoder.yaml')])
    strongs = ['encoder'] + (['encoder-int8'] if a.encoder_int8 else [])
    if a.encoder_int8: arts['encoder-int8'] = a.encoder_int8
    procs = {k: Processor.load(v) for k, v in arts.items()}
    D = data_dir('sst2')
    dev_x, dev_y = read_tsv(D / 'dev.tsv')
    batch = dev_x * 4
    gold = np.array(procs['encoder'].labels.encode(dev_y))
    rows, res = [], {}
    for k, p in procs.items():
        res[k] = p.predict(dev_x, batch_size=a.batch_size)
        rows.append((f'{k} alone ({p.model.type_name}' + (f' on {p.runtime.name})' if p.runtime else ')'), _acc(res[k], gold), 1.0 if k in strongs else 0.0,
                     _speed(lambda t: p.predict(t, batch_size=a.batch_size), batch, a.reps)))
    enc_speed = rows[len(firsts)][3]                           # the torch encoder's: every speed-up is against it

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    tx, ty = read_tsv(D / 'train.tsv')
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    clf = LogisticRegression(C=4.0, max_iter=2000).fit(vec.fit_transform(tx), ty)
    tf_acc = float(np.mean(clf.predict(vec.transform(dev_x)) == np.array(dev_y)))
    rows.append(('TF-IDF 1-2g + LR', tf_acc, 0.0, _speed(lambda t: clf.predict(vec.transform(t)), batch, a.reps)))

    choices = {}
    for strong, first in [(st, f) for st in strongs for f in firsts]:
        enc_ok = np.array([r.label_id for r in res[strong]]) == gold
        m = procs[first]
        conf = confidence(np.stack([r.probs for r in res[first]]))
        ok = np.array([r.label_id for r in res[first]]) == gold
        for share in (0.1, 0.2, 0.3):
            thr = float(np.sort(conf)[int(share * len(conf))])     # the share's quantile of the confidences: no labels used
            cas = Cascade([m, procs[strong]], [thr], [first, strong])
            out = cas.predict(dev_x, batch_size=a.batch_size)
            rows.append((f'{first} -> {strong}, share {share:.0%}', _acc(out, gold), np.mean([r.member == strong for r in out]),
                         _speed(lambda t: cas.predict(t, batch_size=a.batch_size), batch, a.reps)))
        # target accuracy, cross-fitted: choose on one half of dev, score on the other, both ways
        rng = np.random.default_rng(0)
        half = rng.permutation(len(dev_x)) < len(dev_x) // 2
        right, sent, thrs = np.zeros(len(dev_x), bool), np.zeros(len(dev_x), bool), []
        for fit_on in (half, ~half):
            c = choose_threshold(conf[fit_on], ok[fit_on], enc_ok[fit_on], target_accuracy=0.895)
            thrs.append(c['threshold'])
            use = ~fit_on
            sent[use] = conf[use] < c['threshold']
            right[use] = np.where(sent[use], enc_ok[use], ok[use])
        thr = float(np.mean(thrs))
        cas = Cascade([m, procs[strong]], [thr], [first, strong])
        choices[f'{first} -> {strong}'] = thrs
        rows.append((f'{first} -> {strong}, target 89.5% (cross-fit)', float(right.mean()), float(sent.mean()),
                     _speed(lambda t: cas.predict(t, batch_size=a.batch_size), batch, a.reps)))

    print(f"\nSST-2 dev (872 sentences); throughput over dev x4 (3,488 texts), batch {a.batch_size}, median of {a.reps}; "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"| {'model':<52} | {'dev acc':>8} | {'to encoder':>10} | {'texts/s':>9} | {'x encoder (torch)':>17} |")
    print(f"|{'-' * 54}|{'-' * 10}|{'-' * 12}|{'-' * 11}|{'-' * 19}|")
    for name, acc, share, sp in rows:
        print(f"| {name:<52} | {100 * acc:>7.2f}% | {100 * share:>9.1f}% | {sp:>9,.0f} | {sp / enc_speed:>16.1f}x |")
    print('\ncross-fitted thresholds (one per half): ' + '; '.join(f'{k}: {", ".join(f"{t:.4f}" for t in v)}' for k, v in choices.items()))
    print('artifacts: ' + ', '.join(f'{k} {Path(v).parent.name if Path(v).name == "artifact" else Path(v).name}' for k, v in arts.items()))
    print('\ntarget: a cascade >= 89.5% SST-2 dev at >= 5x the encoder\'s batch throughput')
    (ROOT / '.bench-cache' / 'cascade.json').write_text(json.dumps({'rows': rows, 'artifacts': arts}, indent=1))


if __name__ == '__main__':
    main()
