"""Few labels on SST-2: 100 and 1,000 labelled training sentences (a stratified draw, one per seed), the rest of the training split
as unlabelled text, accuracy on the dev file (872); three seeds per row, mean ± std.

    python bench/few_labels.py                               # the default rows
    python bench/few_labels.py --sizes 100 --seeds 0 1 2 --only tfidf --only default
    python bench/few_labels.py --set semi.limit=40000        # extra overrides for the nlp_lib rows

Rows:
  tfidf       TF-IDF word 1-2 grams + logistic regression on the labelled sentences only (the same draw as nlp_lib's:
              `labelled_subset`, seeded by data.split_seed)
  default     the default recipe with the semi-supervised trainer (`semi.enabled=true`) and `trainer.compare_supervised=true`,
              which also trains the default recipe supervised-only from the same seed on the same labelled batches: one run gives
              the "supervised only" and the "semi-supervised" rows. The unlabelled text is a seeded sample of `semi.limit`
              sentences of the rest of the split (20,000 by default here: 2-core CPU time), 5 epochs, each a pass over it.
  pretrain    the default recipe initialised from a contrastively pre-trained artifact: a run pre-trains the BiGRU encoder on
              the labelled and the same 20,000 unlabelled sentences (trainer.pretrain_epochs=2) and trains 1 epoch; a second run
              starts from its artifact (`architecture.init_from`) and trains on the labelled sentences as many times as the
              supervised-only row sees them (5 x the semi-supervised epochs' repeats).
  encoder     `--only encoder`: the encoder recipe (configs/encoder.yaml: all-MiniLM-L6-v2 fine-tuned, lr 5e-5, bs 32) with the
              semi-supervised trainer (strong views on its word pieces) and its supervised-only comparison, as `default`; a
              5,000-sentence unlabelled sample and 3 epochs (two weak-and-strong MiniLM passes of 128 texts a step are slow on a CPU).
              Not in the default rows: hours on 2 CPU cores for 3 seeds.
Published anchors (not measured here): SetFit (Tunstall et al. 2022) on SST-2 reports about 80-86% with 8-64 labels per class
(paraphrase-mpnet-base); USB (Wang et al. 2022) reports IMDb/Amazon/Yelp few-label error tables, not SST-2.
"""
import argparse, json, os, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sst2 import _child

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / '.bench-cache'
PRELUDE = '''
import json, warnings, time
warnings.filterwarnings('ignore')
import numpy as np
from nlp_lib.datasets import data_dir
'''

def run_tfidf(n: int, seed: int) -> dict:
    return _child(PRELUDE + f'''
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from nlp_lib.training.data import read_table, labelled_subset
tx, ty = read_table(data_dir('sst2') / 'train.tsv'); vx, vy = read_table(data_dir('sst2') / 'dev.tsv')
keep, _ = labelled_subset([int(y) for y in ty], {n}, {seed})
vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([tx[i] for i in keep])
clf = LogisticRegression(C=4.0, max_iter=5000).fit(vec.transform([tx[i] for i in keep]), [ty[i] for i in keep])
print(json.dumps({{'accuracy': float(np.mean(clf.predict(vec.transform(vx)) == np.array(vy)))}}))
''')

def run_default(runs: str, n: int, seed: int, extra: list[str]) -> dict:
    ov = [f'data.labelled_limit={n}', f'data.split_seed={seed}', f'seed={seed}', 'semi.enabled=true', 'trainer.compare_supervised=true',
          'semi.limit=20000', 'trainer.epochs=5', f'tracking.runs_dir={runs}', 'tracking.mlflow=false'] + extra
    return _child(PRELUDE + f'''
from nlp_lib.training.config import load_config
from nlp_lib.training.run import train
res = train(load_config(overrides={ov!r}), progress=False)
m = res.metrics
print(json.dumps({{'semi': m['accuracy'], 'sup': m['supervised_only_accuracy'], 'mask_rate': m.get('semi_mask_rate'), 'train_s': m['train_seconds']}}))
''', timeout=4 * 3600)

def run_encoder(runs: str, n: int, seed: int, extra: list[str]) -> dict:
    "The encoder recipe (configs/encoder.yaml) with the semi-supervised trainer and its supervised-only comparison, as `run_default`."
    return run_default(runs, n, seed, [f'architecture.pretrained=minilm-l6', 'architecture.name=nlp_lib.Encoder.v1', 'architecture.word_vectors=null',
                                       'augment.enabled=false', 'loss.label_smoothing=0.0', 'trainer.bs=32', 'trainer.lr=5e-5', 'preprocess.max_len=64',
                                       'semi.limit=5000', 'trainer.epochs=3'] + extra)

def run_pretrain(runs: str, n: int, seed: int, extra: list[str]) -> dict:
    common = [f'data.labelled_limit={n}', f'data.split_seed={seed}', f'seed={seed}', 'semi.limit=20000', f'tracking.runs_dir={runs}', 'tracking.mlflow=false']
    epochs = 5 * -(-20000 // (4 * n))     # as many passes over the labelled sentences as the supervised-only row's 5 epochs with their repeats
    return _child(PRELUDE + f'''
from nlp_lib.training.config import load_config
from nlp_lib.training.run import train
a = train(load_config(overrides={common + ['trainer.pretrain_epochs=2', 'trainer.epochs=1'] + extra!r}), progress=False)
b = train(load_config(overrides={common!r} + [f'architecture.init_from={{a.artifact}}', 'trainer.epochs={epochs}'] + {[e for e in extra if not e.startswith(('architecture.', 'preprocess.'))]!r}), progress=False)
print(json.dumps({{'accuracy': b.metrics['accuracy']}}))
''', timeout=4 * 3600)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', choices=['tfidf', 'default', 'pretrain', 'encoder'], action='append')
    ap.add_argument('--sizes', type=int, nargs='+', default=[100, 1000])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--set', action='append', default=[], help='extra config override for the nlp_lib rows')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    todo = a.only or ['tfidf', 'default', 'pretrain']     # encoder: only when asked (--only encoder)
    CACHE.mkdir(exist_ok=True)
    runs = str(CACHE / 'few-labels-runs')
    res: dict = {}
    for n in a.sizes:
        for s in a.seeds:
            if 'tfidf' in todo: res.setdefault((n, 'TF-IDF 1-2g + LR (labelled only)'), []).append(run_tfidf(n, s)['accuracy'])
            if 'default' in todo:
                r = run_default(runs, n, s, a.set)
                res.setdefault((n, 'default recipe, supervised only'), []).append(r['sup'])
                res.setdefault((n, 'default recipe + semi-supervised'), []).append(r['semi'])
                print(f'n={n} seed={s}: supervised {r["sup"]:.4f}  semi {r["semi"]:.4f}  mask rate {r["mask_rate"]}', file=sys.stderr, flush=True)
            if 'encoder' in todo:
                r = run_encoder(runs, n, s, a.set)
                res.setdefault((n, 'encoder recipe (MiniLM-L6), supervised only'), []).append(r['sup'])
                res.setdefault((n, 'encoder recipe (MiniLM-L6) + semi-supervised'), []).append(r['semi'])
                print(f'n={n} seed={s} encoder: supervised {r["sup"]:.4f}  semi {r["semi"]:.4f}  mask rate {r["mask_rate"]}', file=sys.stderr, flush=True)
            if 'pretrain' in todo: res.setdefault((n, 'default recipe from a contrastively pre-trained artifact'), []).append(run_pretrain(runs, n, s, a.set)['accuracy'])
    print(f"\nSST-2 dev accuracy (872), labelled subsets of the training split, {len(a.seeds)} seeds (mean ± std); {os.cpu_count()} CPU cores, no GPU"
          + (f"; overrides {' '.join(a.set)}" if a.set else '') + '\n')
    print(f"| {'labels':>6} | {'model':<58} | {'accuracy':>16} | per seed |")
    print(f"|{'-' * 8}|{'-' * 60}|{'-' * 18}|----------|")
    for (n, name), v in res.items():
        v = np.array(v)
        print(f"| {n:>6} | {name:<58} | {100 * v.mean():>6.2f} ± {100 * v.std(ddof=1) if len(v) > 1 else 0:>5.2f}% | {' '.join(f'{100 * x:.1f}' for x in v)} |")
    print('\ntargets: 1,000 labels: default + semi >= 80%; 100 labels: >= 72%; semi-supervised above supervised-only by more than twice the seed std')
    if a.json: Path(a.json).write_text(json.dumps({f'{n}|{k}': v for (n, k), v in res.items()}, indent=2))

if __name__ == '__main__':
    main()
