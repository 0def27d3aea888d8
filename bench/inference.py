"""Inference benchmark: nlp_lib's production and debug paths and its fast recipe beside two anchors, in one run.

    python bench/inference.py                                   # trains what it needs (about 8 minutes on 2 cores)
    python bench/inference.py --default-artifact runs/<run>/artifact --fast-artifact runs/<run2>/artifact
    python bench/inference.py --encoder-artifact runs/<run3>/artifact --encoder-only   # the encoder on torch / onnx / onnx-int8

Rows (every row is measured in its own processes, in this run):
  nlp_lib default        the default recipe (`nlp_lib train`), `Processor.predict(texts, batch_size=256)`
  nlp_lib default, debug the same model with `debug=True` (every intermediate step and its trace)
  nlp_lib fast           the fast recipe (configs/fast.yaml), production path
  TF-IDF + LR            scikit-learn TfidfVectorizer (word 1-2 grams) + LogisticRegression, pickled and re-loaded
  fastText               the `fasttext` bindings (PyPI fasttext-numpy2-wheel), supervised with its defaults (5 epochs, 100 dimensions,
                         word unigrams), trained in this run on the same SST-2 train.tsv with 2 threads; `predict` on the raw texts
  fastai AWD_LSTM        `load_learner` + `predict` (one text) / `get_preds` (batch) on an AWD_LSTM classifier the
                         script trains briefly (1 epoch on 8,000 phrases): its speed is the point, not its accuracy
  encoder torch / onnx / onnx-int8   (with --encoder-artifact, a table of their own) one fine-tuned Encoder.v1 artifact
                         (configs/encoder.yaml) as trained, and exported by `nlp_lib.inference.runtime.export_runtime` to ONNX
                         Runtime in float and with int8 weights; `agree` is the share of SST-2 dev labels equal to torch's

Columns:
  dev acc       accuracy on SST-2 dev (872 sentences)
  batch/s       texts per second over SST-2 dev x4 (3,488 texts) in one call, median of --reps runs
  p50 / p99 ms  one text at a time, over the 872 dev sentences
  cold s        process start -> first prediction (load + one text), median of 5 fresh processes; nlp_lib rows run in a
                base-only environment (`pip install nlp_lib` with the small CPU torch), the anchors in the training one
  peak MB       peak RSS of the process that measured the row
  artifact MB   what the row loads from disk

Below the table: the production path split by stage, peak RSS when streaming 10,000 and 100,000 texts, `import torch`
alone in both environments, and the size of a base-only install beside a training install.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, textwrap, time, venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / '.bench-cache'          # git-ignored: the base-only environment and the anchors' models


def _child(code: str, python: str = sys.executable, timeout: int = 1800, env: dict | None = None) -> dict:
    "Run `code` in a fresh interpreter; it prints one JSON line last."
    r = subprocess.run([python, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env={**os.environ, 'PYTHONWARNINGS': 'ignore', **(env or {})})
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-5000:])
        raise SystemExit(f'benchmark child failed with status {r.returncode}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def _wall(code: str, python: str, n: int = 5) -> float:
    "Median wall time of `python -c code` over `n` fresh processes (process start to exit)."
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([python, '-c', code], check=True, capture_output=True, cwd=ROOT, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _size_mb(path) -> float:
    p = Path(path)
    return (sum(f.stat().st_size for f in p.rglob('*') if f.is_file()) if p.is_dir() else p.stat().st_size) / 2**20


# ---------------------------------------------------------------- measuring one row (runs in a child)
MEASURE = '''
import json, resource, statistics, time, warnings
warnings.filterwarnings('ignore')
import numpy as np
from nlp_lib.datasets import data_dir, read_tsv
dev_x, dev_y = read_tsv(data_dir('sst2') / 'dev.tsv')
batch = dev_x * 4
def measure(predict_batch, predict_one, reps, extra=None):
    "predict_batch(texts) -> predicted raw labels; predict_one(text) -> anything."
    predict_batch(batch[:256]); [predict_one(t) for t in dev_x[:20]]           # warm-up
    acc = float(np.mean([str(p) == y for p, y in zip(predict_batch(dev_x), dev_y)]))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); predict_batch(batch); times.append(time.perf_counter() - t0)
    lat = []
    for t in dev_x:
        t0 = time.perf_counter(); predict_one(t); lat.append(time.perf_counter() - t0)
    out = {'acc': acc, 'per_s': len(batch) / statistics.median(times), 'p50_ms': float(np.percentile(lat, 50)) * 1e3,
           'p99_ms': float(np.percentile(lat, 99)) * 1e3, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out.update(extra() if extra else {})
    print(json.dumps(out))
'''

NLP_LIB_ROW = '''
from nlp_lib.inference.processor import Processor, batch_ids, _build
proc = Processor.load({art!r})
raw = proc.labels.raw
def stages():
    "The production path split by stage, median of the runs: encode, model, post-processing + building the results."
    enc, model, post = [], [], []
    for _ in range({reps}):
        t0 = time.perf_counter(); ids = batch_ids(proc.pre, batch); t1 = time.perf_counter()
        lg = proc._logits(ids, 256); t2 = time.perf_counter()
        res = _build(batch, [None] * len(batch), proc._post_columns(lg)); t3 = time.perf_counter()
        enc.append(t1 - t0); model.append(t2 - t1); post.append(t3 - t2)
    return {{'encode_s': statistics.median(enc), 'model_s': statistics.median(model), 'post_s': statistics.median(post)}}
measure(lambda texts: [raw[s.label_id] for s in proc.predict(texts, batch_size=256, debug={debug})],
        lambda t: proc(t, debug={debug}), {reps}, None if {debug} else stages)
'''

ENCODER_EXPORT = '''
import json, time, warnings
warnings.filterwarnings('ignore')
from nlp_lib.inference.runtime import export_runtime
t0 = time.perf_counter(); export_runtime({src!r}, {dst!r}, {runtime!r})
print(json.dumps({{'export_s': time.perf_counter() - t0}}))
'''
ENCODER_ROW = NLP_LIB_ROW.split('measure(')[0] + '''
labels = lambda: {{'labels': [raw[s.label_id] for s in proc.predict(dev_x, batch_size=256)]}}
measure(lambda texts: [raw[s.label_id] for s in proc.predict(texts, batch_size=256)], lambda t: proc(t), {reps}, lambda: stages() | labels())
'''


def encoder_rows(src: str, reps: int) -> list[dict]:
    "The fine-tuned encoder artifact `src` measured on torch, and exported to and measured on ONNX Runtime (float, int8), each in its own processes."
    out, rows = Path(tempfile.mkdtemp(prefix='nlp_lib-bench-encoder-')), []
    load_one = "from nlp_lib.inference.processor import Processor; Processor.load({art!r})('a gripping, funny film')"
    for runtime in ('torch', 'onnx', 'onnx-int8'):
        art, export_s = src, None
        if runtime != 'torch':
            print(f'exporting the encoder to {runtime} ...', file=sys.stderr)
            art = str(out / runtime)
            export_s = _child(ENCODER_EXPORT.format(src=src, dst=art, runtime=runtime))['export_s']
        r = _child(MEASURE + ENCODER_ROW.format(art=art, reps=reps))
        r.update(name=f'encoder, {runtime}', runtime=runtime, export_s=export_s, cold_s=_wall(load_one.format(art=art), sys.executable, n=3), size_mb=_size_mb(art))
        rows.append(r)
    return rows


def encoder_table(rows: list[dict]):
    torch_row = rows[0]
    print('\nSST-2, one fine-tuned Encoder.v1 (MiniLM-L6) artifact on each runtime; batch = dev x4 (3,488 texts), batch_size=256; '
          '2-core CPU, threads default (torch\'s count for ONNX Runtime too)\n')
    print('| runtime   | dev acc | agree  | batch/s | x torch | model s | p50 ms | p99 ms | cold s | peak MB | artifact MB | export s |')
    print('|-----------|---------|--------|---------|---------|---------|--------|--------|--------|---------|-------------|----------|')
    for r in rows:
        agree = sum(a == b for a, b in zip(r['labels'], torch_row['labels'])) / len(r['labels'])
        r['agree'] = agree
        print(f"| {r['runtime']:<9} | {r['acc']:7.2%} | {agree:6.2%} | {r['per_s']:7.0f} | {r['per_s'] / torch_row['per_s']:6.2f}x | {r['model_s']:7.2f} | "
              f"{r['p50_ms']:6.2f} | {r['p99_ms']:6.2f} | {r['cold_s']:6.2f} | {r['peak_mb']:7.0f} | {r['size_mb']:11.1f} | "
              f"{'n/a' if r['export_s'] is None else format(r['export_s'], '.1f'):>8} |")
    best = rows[-1]
    print(f"\ntarget: onnx-int8 >= 2x torch's batch/s ({best['per_s'] / torch_row['per_s']:.2f}x) with dev accuracy within 0.5 points "
          f"({(best['acc'] - torch_row['acc']) * 100:+.2f}) and labels agreeing on >= 99.5% of dev ({best['agree']:.2%})")

STREAM = '''
import itertools, json, resource, warnings
warnings.filterwarnings('ignore')
from nlp_lib.datasets import data_dir, read_tsv
from nlp_lib.inference.processor import Processor
texts, _ = read_tsv(data_dir('sst2') / 'train.tsv', limit=20_000)
proc = Processor.load({art!r})
n = 0
for s in proc.stream(itertools.islice(itertools.cycle(texts), {n}), batch_size=256): n += 1
print(json.dumps({{'n': n, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
'''

TFIDF_TRAIN = '''
import json, pickle, warnings
warnings.filterwarnings('ignore')
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from nlp_lib.datasets import data_dir, read_tsv
tx, ty = read_tsv(data_dir('sst2') / 'train.tsv')
model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=4.0, max_iter=2000)).fit(tx, ty)
pickle.dump(model, open({path!r}, 'wb'))
print(json.dumps({{}}))
'''
FASTTEXT_TRAIN = '''
import json, time, warnings
warnings.filterwarnings('ignore')
import fasttext
from nlp_lib.datasets import data_dir, read_tsv
tx, ty = read_tsv(data_dir('sst2') / 'train.tsv')
with open({txt!r}, 'w') as f: f.write(''.join(f'__label__{{y}} {{" ".join(x.split())}}\\n' for x, y in zip(tx, ty)))
t0 = time.perf_counter()
model = fasttext.train_supervised({txt!r}, thread=2, verbose=0)
train_s = time.perf_counter() - t0
model.save_model({path!r})
print(json.dumps({{'train_s': train_s}}))
'''
FASTTEXT_LOAD = "import fasttext; model = fasttext.load_model({path!r})"
FASTTEXT_ROW = FASTTEXT_LOAD + '''
measure(lambda texts: [l[0][len('__label__'):] for l in model.predict(texts)[0]], lambda t: model.predict(t), {reps})
'''

TFIDF_LOAD = "import pickle; model = pickle.load(open({path!r}, 'rb'))"
TFIDF_ROW = TFIDF_LOAD + '''
measure(lambda texts: model.predict(texts), lambda t: model.predict_proba([t]), {reps})
'''

FASTAI_TRAIN = '''
import json, warnings
warnings.filterwarnings('ignore')
import pandas as pd
from fastai.text.all import *
from nlp_lib.datasets import data_dir, read_tsv
tx, ty = read_tsv(data_dir('sst2') / 'train.tsv', limit=8000); vx, vy = read_tsv(data_dir('sst2') / 'dev.tsv')
df = pd.DataFrame({{'text': tx + vx, 'label': ty + vy, 'is_valid': [False] * len(tx) + [True] * len(vx)}})
set_seed(42, reproducible=True)
dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid', tok_tfm=BaseTokenizer(), bs=64, seq_len=72)
learn = text_classifier_learner(dls, AWD_LSTM, pretrained=False, drop_mult=0.5)
with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 2e-2)
learn.export({path!r})
print(json.dumps({{}}))
'''
FASTAI_LOAD = "from fastai.text.all import load_learner; learn = load_learner({path!r})"
FASTAI_ROW = '''
import warnings; warnings.filterwarnings('ignore')
''' + FASTAI_LOAD + '''
vocab = learn.dls.vocab[1]
def batch_predict(texts):
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=learn.dls.test_dl(texts, bs=256))
    return [vocab[i] for i in probs.argmax(1).tolist()]
def one(t):
    with learn.no_bar(): return learn.predict(t)
measure(batch_predict, one, {reps})
'''


# ---------------------------------------------------------------- environments and training
def base_env() -> str:
    "A virtual environment with only the base install (small CPU torch + the wheel of this checkout); built once, cached."
    env, stamp = CACHE / 'base-env', CACHE / 'base-env' / 'built-from'
    src = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    py = env / 'bin' / 'python'
    if not (stamp.exists() and stamp.read_text() == src):
        print('building the base-only environment (torch CPU + nlp_lib wheel) ...', file=sys.stderr)
        shutil.rmtree(env, ignore_errors=True)
        venv.create(env, with_pip=True)
        wheel_dir = Path(tempfile.mkdtemp())
        subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', wheel_dir, ROOT], check=True)
        subprocess.run([py, '-m', 'pip', 'install', '-q', 'torch==2.13.0'], check=True)
        subprocess.run([py, '-m', 'pip', 'install', '-q', next(wheel_dir.glob('nlp_lib-*.whl'))], check=True)
        stamp.write_text(src)
    return str(py)


def train_artifact(name: str, args: list[str], runs: Path) -> str:
    print(f'training the {name} recipe ({" ".join(args) or "defaults"}) ...', file=sys.stderr)
    out = _child(f'''
        import json, warnings
        warnings.filterwarnings('ignore')
        from nlp_lib.training.config import load_config
        from nlp_lib.training.run import train
        cfg = load_config({args[0] if args and args[0].endswith('.yaml') else None!r}, {[a for a in args if not a.endswith('.yaml')] + [f'tracking.runs_dir={runs}', 'tracking.mlflow=false']!r})
        res = train(cfg, progress=False)
        print(json.dumps({{'artifact': str(res.artifact), 'acc': res.metrics['accuracy'], 'train_s': res.metrics['train_seconds']}}))
    ''')
    print(f'  {name}: valid accuracy {out["acc"]:.4f}, {out["train_s"]:.0f} s of training', file=sys.stderr)
    return out['artifact']


def _closure_mb(python: str, extra: str | None) -> dict:
    "Installed size of nlp_lib and everything it requires (with `extra`), from the packages' RECORD files."
    return _child(f'''
        import json, re
        from importlib import metadata
        from packaging.requirements import Requirement
        seen, todo, total = set(), [('nlp_lib', {[extra] if extra else []!r})], 0
        while todo:
            name, extras = todo.pop()
            key = re.sub(r'[-_.]+', '-', name).lower()
            if key in seen: continue
            seen.add(key)
            try: dist = metadata.distribution(name)
            except metadata.PackageNotFoundError: continue
            total += sum((f.size or 0) for f in (dist.files or []))
            for r in dist.requires or []:
                req = Requirement(r)
                if req.marker is None or any(req.marker.evaluate({{'extra': e}}) for e in extras or ['']):
                    todo.append((req.name, list(req.extras)))
        print(json.dumps({{'mb': total / 2**20, 'n': len(seen)}}))
    ''', python)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--default-artifact', help='an artifact trained with the default recipe (else one is trained)')
    ap.add_argument('--fast-artifact', help='an artifact trained with configs/fast.yaml (else one is trained)')
    ap.add_argument('--reps', type=int, default=5, help='timed runs per batch measurement (median)')
    ap.add_argument('--skip-fastai', action='store_true')
    ap.add_argument('--encoder-artifact', help='a fine-tuned Encoder.v1 artifact (configs/encoder.yaml): adds its torch / onnx / onnx-int8 rows')
    ap.add_argument('--encoder-only', action='store_true', help='with --encoder-artifact: measure only the encoder rows')
    a = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    if a.encoder_artifact and a.encoder_only: return encoder_table(encoder_rows(a.encoder_artifact, min(a.reps, 3)))
    runs = Path(tempfile.mkdtemp(prefix='nlp_lib-bench-'))
    default_art = a.default_artifact or train_artifact('default', [], runs)
    fast_art = a.fast_artifact or train_artifact('fast', [str(ROOT / 'configs' / 'fast.yaml')], runs)
    tfidf = CACHE / 'tfidf.pkl'
    _child(TFIDF_TRAIN.format(path=str(tfidf)))
    print('training the fastText anchor (2 threads) ...', file=sys.stderr)
    fasttext_bin = CACHE / 'fasttext.bin'
    fasttext_s = _child(FASTTEXT_TRAIN.format(txt=str(CACHE / 'fasttext-train.txt'), path=str(fasttext_bin)))['train_s']
    fastai_pkl = CACHE / 'fastai-awd.pkl'
    if not a.skip_fastai:
        print('training the fastai anchor briefly ...', file=sys.stderr)
        _child(FASTAI_TRAIN.format(path=str(fastai_pkl)))
    base_py = base_env()

    print('measuring ...', file=sys.stderr)
    rows = []
    load_one = "from nlp_lib.inference.processor import Processor; Processor.load({art!r})('a gripping, funny film')"
    for name, art, debug in [('nlp_lib default', default_art, False), ('nlp_lib default, debug', default_art, True), ('nlp_lib fast', fast_art, False)]:
        r = _child(MEASURE + NLP_LIB_ROW.format(art=art, reps=a.reps, debug=debug))
        r.update(name=name, cold_s=_wall(load_one.format(art=art), base_py) if not debug else None, size_mb=_size_mb(art))
        rows.append(r)
    r = _child(MEASURE + TFIDF_ROW.format(path=str(tfidf), reps=a.reps))
    r.update(name='TF-IDF + LR (scikit-learn)', cold_s=_wall(TFIDF_LOAD.format(path=str(tfidf)) + "; model.predict(['a gripping, funny film'])", sys.executable),
             size_mb=_size_mb(tfidf))
    rows.append(r)
    r = _child(MEASURE + FASTTEXT_ROW.format(path=str(fasttext_bin), reps=a.reps))
    r.update(name='fastText (defaults, 2 threads)', cold_s=_wall(FASTTEXT_LOAD.format(path=str(fasttext_bin)) + "; model.predict('a gripping, funny film')", sys.executable),
             size_mb=_size_mb(fasttext_bin), train_s=fasttext_s)
    rows.append(r)
    if not a.skip_fastai:
        r = _child(MEASURE + FASTAI_ROW.format(path=str(fastai_pkl), reps=max(1, a.reps // 2)))
        r.update(name='fastai AWD_LSTM (load_learner)', cold_s=_wall(FASTAI_LOAD.format(path=str(fastai_pkl)) + "; learn.predict('a gripping, funny film')", sys.executable, n=3),
                 size_mb=_size_mb(fastai_pkl))
        rows.append(r)
    torch_base, torch_train = _wall('import torch', base_py), _wall('import torch', sys.executable)
    stream = {n: _child(STREAM.format(art=default_art, n=n))['peak_mb'] for n in (10_000, 100_000)}
    site = Path(_child("import json, site; print(json.dumps({'p': site.getsitepackages()[0]}))", base_py)['p'])
    base_mb, train_mb = _size_mb(site), _closure_mb(sys.executable, 'train')

    print('\nSST-2 inference; batch = dev x4 (3,488 texts); 2-core CPU, torch threads default\n')
    print('| model                               | dev acc | batch/s | p50 ms | p99 ms | cold s | peak MB | artifact MB |')
    print('|-------------------------------------|---------|---------|--------|--------|--------|---------|-------------|')
    f = lambda v, fmt: 'n/a' if v is None else format(v, fmt)
    for r in rows:
        print(f"| {r['name']:<35} | {r['acc']:7.2%} | {r['per_s']:7.0f} | {r['p50_ms']:6.2f} | {r['p99_ms']:6.2f} | {f(r['cold_s'], '6.2f'):>6} | {r['peak_mb']:7.0f} | {r['size_mb']:11.1f} |")
    d = rows[0]
    total = d['encode_s'] + d['model_s'] + d['post_s']
    print(f"\nproduction path by stage (default recipe, 3,488 texts): encode {d['encode_s']*1e3:.0f} ms ({d['encode_s']/total:.0%}), "
          f"model {d['model_s']*1e3:.0f} ms ({d['model_s']/total:.0%}), post-processing + results {d['post_s']*1e3:.0f} ms ({d['post_s']/total:.0%})")
    print(f"debug / production time: {d['per_s'] / rows[1]['per_s']:.2f}x")
    fast, ft = rows[2], next(r for r in rows if r['name'].startswith('fastText'))
    fast_s = json.loads((Path(fast_art).parent / 'metrics.json').read_text()).get('train_seconds') if (Path(fast_art).parent / 'metrics.json').exists() else None
    print(f"fast recipe vs fastText: dev accuracy {fast['acc']:.2%} vs {ft['acc']:.2%}, batch {fast['per_s']:.0f} vs {ft['per_s']:.0f} texts/s "
          f"({fast['per_s'] / ft['per_s']:.2f}x), p50 {fast['p50_ms']:.3f} vs {ft['p50_ms']:.3f} ms, training {f(fast_s, '.1f')} s "
          f"(train_seconds of its run) vs {ft['train_s']:.1f} s")
    print(f"cold start: import torch alone {torch_base:.2f} s (base env) / {torch_train:.2f} s (training env); "
          f"nlp_lib default load + first prediction {d['cold_s']:.2f} s (base env) = import torch + {d['cold_s'] - torch_base:.2f} s")
    print(f"streaming the default model over 10,000 / 100,000 texts: peak RSS {stream[10_000]:.0f} / {stream[100_000]:.0f} MB")
    print(f"install size: base-only environment {base_mb:.0f} MB (site-packages, CPU torch 2.13) vs nlp_lib[train] {train_mb['mb']:.0f} MB "
          f"({train_mb['n']} packages, with the CUDA build of torch that fastai pulls in)")
    print('\ntargets: default >= 5,000 texts/s with encode + post <= 15% of the time, p50 <= 2 ms, p99 <= 5 ms; fast recipe ahead of '
          'TF-IDF + LR on accuracy and batch/s; cold start <= import torch + 0.3 s; debug <= 3x production; streaming RSS flat; '
          'fast recipe >= fastText\'s batch/s at >= its accuracy, p50 <= 0.1 ms, training <= 30 s')
    if a.encoder_artifact: encoder_table(encoder_rows(a.encoder_artifact, min(a.reps, 3)))


if __name__ == '__main__':
    main()
