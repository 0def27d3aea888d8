"""Text pairs on MRPC (paraphrase or not): nlp_lib's word-level pair model and the fine-tuned encoder beside TF-IDF pair features + logistic regression, in one run.

    python bench/pairs.py                                   # every row (the encoder takes ~10-20 min on a 2-core CPU)
    python bench/pairs.py --only tfidf --only word
    python bench/pairs.py --only encoder --set trainer.lr=2e-4

Data: the Microsoft Research Paraphrase Corpus (Dolan & Brockett 2005), GLUE's split: train.tsv 4,080 pairs, test.tsv 1,725
(`$NLP_LIB_DATA/mrpc`, read as distributed: byte-order mark, CRLF, unbalanced quotes). nlp_lib's rows train on train.tsv with 10%
held out for validation (the `mrpc` named dataset); every row is scored on test.tsv: accuracy and F1 of the paraphrase class.

Rows:
  majority   always "paraphrase"
  tfidf      TF-IDF word 1-2 grams (fitted on the training texts) of each text, features |u - v|, u * v, cosine and length
             difference, logistic regression (the issue's anchor: 72.5% / 81.6 F1)
  word       `nlp_lib train data.name=mrpc`: the default recipe's BiGRU.v1 (word vectors) wrapped in nlp_lib.Pair.v1
             ([u; v; |u - v|; u * v], InferSent, and the five lexical-overlap features of the two texts)
  word-no-overlap  the same without the overlap features (`architecture.pair.overlap=false`)
  fast       the same with SWEM.v1 (configs/fast.yaml)
  encoder    `nlp_lib train configs/encoder.yaml data.name=mrpc preprocess.max_len=128 trainer.lr=1e-4 trainer.epochs=5`:
             all-MiniLM-L6-v2 reading `[CLS] a [SEP] b [SEP]` with segment ids. The rate and epochs were chosen on the validation
             split (10% of train.tsv): 78.7% at 5e-5 x 3 epochs (encoder.yaml's SST-2 rate), 80.4% at 1e-4 x 5
Published: BERT-base 84.8% accuracy / 88.9 F1 on GLUE's MRPC test (Devlin et al. 2019) -- a figure from the paper, not measured here.
"""
import argparse, json, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sst2 import _child
from encoder import recipe
from multilabel import COMMON, bench_args

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / '.bench-cache'

PRELUDE = COMMON + '''
D = data_dir('mrpc')
def read(name):
    with open(D / name, encoding='utf-8-sig', newline='') as f: rows = [l.rstrip('\\r\\n').split('\\t') for l in f][1:]
    return [r[3] for r in rows], [r[4] for r in rows], np.array([int(r[0]) for r in rows])
'''

def run_tfidf() -> dict:
    return _child(PRELUDE + '''
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
(ta, tb, ty), (sa, sb, sy) = read('train.tsv'), read('test.tsv')
t0 = time.perf_counter()
vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(ta + tb)
def feats(a, b):
    u, v = vec.transform(a), vec.transform(b)
    cos = np.asarray(u.multiply(v).sum(1))
    ld = np.abs(np.array([len(x.split()) - len(y.split()) for x, y in zip(a, b)], dtype=float))[:, None]
    return sp.hstack([abs(u - v), u.multiply(v), sp.csr_matrix(cos), sp.csr_matrix(ld / 10)]).tocsr()
clf = LogisticRegression(C=4.0, max_iter=5000).fit(feats(ta, tb), ty)
train_s = time.perf_counter() - t0
t0 = time.perf_counter(); p = clf.predict(feats(sa, sb)); speed = len(sa) / (time.perf_counter() - t0)
print(json.dumps({'accuracy': accuracy_score(sy, p), 'f1': f1_score(sy, p), 'train_s': train_s, 'texts_s': speed,
                  'majority': float((sy == 1).mean()), 'majority_f1': f1_score(sy, np.ones_like(sy)), 'peak_mb': peak_mb()}))
''')

def run_recipe(runs_dir: str, overrides: list[str], timeout: int = 4 * 3600) -> dict:
    return _child(PRELUDE + f'''
from nlp_lib.training.config import load_config
from nlp_lib.training.run import train, evaluate
from nlp_lib.inference.processor import Processor
res = train(load_config(overrides={list(overrides) + ['data.name=mrpc', f'tracking.runs_dir={runs_dir}']!r}), progress=False)
test = evaluate(res.artifact, D / 'test.tsv', text_col='#1 String', label_col='Quality', text_pair_col='#2 String')
proc = Processor.load(res.artifact)
sa, sb, _ = read('test.tsv')
pairs = list(zip(sa, sb))
proc.predict(pairs[:256], batch_size=256)
t0 = time.perf_counter(); proc.predict(pairs, batch_size=256); speed = len(pairs) / (time.perf_counter() - t0)
pos = proc.labels.names[proc.labels.raw.index('1')]
print(json.dumps({{'accuracy': test['accuracy'], 'f1': test['per_class'][pos]['f1'], 'valid_accuracy': res.metrics['accuracy'],
                  'train_s': res.metrics['train_seconds'], 'texts_s': speed, 'peak_mb': peak_mb(), 'artifact': str(res.artifact)}}))
''', timeout=timeout)

RECIPES = {
    'word': ('nlp_lib word-level: Pair.v1 around BiGRU.v1 (default)', []),
    'word-no-overlap': ('nlp_lib word-level: the same without overlap features', ['architecture.pair.overlap=false']),
    'fast': ('nlp_lib word-level: Pair.v1 around SWEM.v1 (fast)', recipe(ROOT / 'configs' / 'fast.yaml')),
    'encoder': ('nlp_lib encoder: MiniLM-L6, [CLS] a [SEP] b [SEP]', recipe(ROOT / 'configs' / 'encoder.yaml') + ['preprocess.max_len=128', 'trainer.lr=1e-4', 'trainer.epochs=5']),
}

def main():
    a, todo = bench_args(__doc__, ['tfidf', *RECIPES])
    rows = {}
    CACHE.mkdir(exist_ok=True)
    runs = str(CACHE / 'pairs-runs')
    if 'tfidf' in todo:
        r = run_tfidf()
        rows['majority class (paraphrase)'] = {'accuracy': r['majority'], 'f1': r['majority_f1'], 'train_s': 0.0, 'texts_s': None}
        rows['TF-IDF 1-2g pair features + LR'] = r
    for k in [k for k in RECIPES if k in todo]:
        name, ov = RECIPES[k]
        rows[name + (' ' + ' '.join(a.set) if a.set else '')] = r = run_recipe(runs, ov + a.set)
        print(f'{k}: artifact {r["artifact"]}', file=sys.stderr)
    print(f"\nMRPC test (1,725 pairs), trained on train.tsv (4,080 pairs; nlp_lib holds out 10% for validation); {os.cpu_count()} CPU cores, no GPU\n")
    print(f"| {'model':<58} | {'accuracy':>8} | {'F1':>6} | {'train s':>8} | {'pairs/s':>8} |")
    print(f"|{'-' * 60}|{'-' * 10}|{'-' * 8}|{'-' * 10}|{'-' * 10}|")
    for name, r in rows.items():
        sp = '–' if r.get('texts_s') is None else f"{r['texts_s']:,.0f}"
        print(f"| {name:<58} | {100 * r['accuracy']:>7.2f}% | {100 * r['f1']:>6.1f} | {r['train_s']:>8.0f} | {sp:>8} |")
    print(f"| {'published: BERT-base (Devlin et al. 2019)':<58} | {84.8:>7.2f}% | {88.9:>6.1f} | {'–':>8} | {'–':>8} |")
    print('\ntargets: the word-level pair model >= 75% accuracy; the encoder >= 84% accuracy')
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2))

if __name__ == '__main__':
    main()
