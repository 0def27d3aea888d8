"""Cross-validation the way a user runs it: 5-fold stratified CV of the default recipe on 5,000 SST-2 training sentences (per fold
and mean ± std, each fold's model also scored on the held-out dev file), and a grouped-CV demonstration on IMDb reviews, whose
`movie` column is a real group (up to 30 reviews of one film), beside plain stratified folds of the same rows.

    python bench/cv.py                 # both tables (~10-20 min on a 2-core CPU)
    python bench/cv.py --only sst2

Every figure comes from `nlp_lib.training.crossval.cross_validate`, the function behind `nlp_lib cv`. The grouped demonstration
compares the out-of-fold accuracy with films kept whole against folds that split films: the gap is how much a random split
flatters a model by validating it on films it trained on. A fast architecture (FastText.v1, bigrams, no word vectors) is used for
IMDb, whose reviews are long.
"""
import argparse, json, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sst2 import _child

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / '.bench-cache'

def run_cv(overrides: list[str], timeout: int = 3 * 3600) -> dict:
    return _child(f'''
import json, warnings
warnings.filterwarnings('ignore')
from nlp_lib.training.config import load_config
from nlp_lib.training.crossval import cross_validate
res = cross_validate(load_config(overrides={overrides!r}), progress=False)
print(json.dumps({{'folds': res.folds, 'summary': res.summary, 'run_dir': str(res.run_dir)}}))
''', timeout=timeout)

def imdb_sample(n: int = 5000) -> Path:
    "A seeded, shuffled sample of IMDb's training reviews (the file is sorted by label), written once."
    out = CACHE / f'imdb-{n}.tsv'
    if not out.exists():
        import pandas as pd
        from nlp_lib.datasets import data_dir
        pd.read_csv(data_dir('imdb') / 'train.tsv', sep='\t', quoting=3).sample(n, random_state=0).to_csv(out, sep='\t', index=False)
    return out

def table(title: str, res: dict, keys=('accuracy', 'macro_f1', 'test_accuracy')):
    keys = [k for k in keys if k in res['summary']]
    print(f'\n{title}\n')
    print('| fold | ' + ' | '.join(f'{k:>13}' for k in keys) + ' |')
    print('|-----:|' + '|'.join('-' * 15 for _ in keys) + '|')
    for f in res['folds']: print(f"| {f['fold']:>4} | " + ' | '.join(f"{100 * f[k]:>12.2f}%" if k != 'macro_f1' else f"{f[k]:>13.4f}" for k in keys) + ' |')
    s = res['summary']
    print('| mean ± std | ' + ' | '.join(f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}%" if k != 'macro_f1' else f"{s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in keys) + ' |')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', choices=['sst2', 'grouped'], action='append')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    todo = a.only or ['sst2', 'grouped']
    CACHE.mkdir(exist_ok=True)
    runs = str(CACHE / 'cv-runs')
    out = {}
    print(f'{os.cpu_count()} CPU cores, no GPU')
    if 'sst2' in todo:
        out['sst2'] = r = run_cv(['data.limit=5000', 'cv.folds=5', f'tracking.runs_dir={runs}'])
        table('SST-2: 5-fold stratified CV of the default recipe on the first 5,000 training sentences; test = the held-out dev file (872)', r)
    if 'grouped' in todo:
        common = [f'data.train={imdb_sample()}', 'data.text_col=text', 'cv.folds=5', 'preprocess.max_len=256', 'architecture.name=nlp_lib.FastText.v1',
                  'architecture.word_vectors=null', 'trainer.epochs=5', 'trainer.lr=0.02', f'tracking.runs_dir={runs}', 'tracking.mlflow=false']
        out['grouped'] = g = run_cv(common + ['data.group_col=movie'])
        out['ungrouped'] = u = run_cv(common)
        table('IMDb, 5,000 training reviews: 5 folds grouped by film (data.group_col=movie: no film in two folds)', g, ('accuracy', 'macro_f1'))
        table('IMDb, the same 5,000 reviews: 5 stratified folds that ignore the film', u, ('accuracy', 'macro_f1'))
    if a.json: Path(a.json).write_text(json.dumps(out, indent=2))

if __name__ == '__main__':
    main()
