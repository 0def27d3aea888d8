"""The batch report (`nlp_lib.report.write_report`) at scale and in a browser.

1. Memory does not grow with the file: the peak RSS of a child process reporting on a 200,000-row TSV stays within
   1.2x of the same on a 20,000-row one (rows: SST-2 training sentences, cycled, with their labels).
2. With its output piped (a log, not a terminal), the progress bar writes a few lines, not one per update.
3. The page renders in headless Chromium without console messages, shows its plots, and a screenshot is saved
   (into the test's tmp_path, and into $NLP_LIB_SCREENSHOTS when that is set).
"""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, browse

pytestmark = pytest.mark.filterwarnings('ignore::FutureWarning')   # fastai's torch.jit.script warning under torch 2.14


def _sst2():
    from nlp_lib.datasets import data_dir
    return data_dir('sst2')


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    "A small, untrained TextCNN fitted on 2,000 SST-2 training sentences: equal numbers, not good ones, are tested here."
    from nlp_lib.datasets import read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(_sst2() / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3,
                                 label_names=['negative', 'positive'])
    return proc.save(tmp_path_factory.mktemp('report') / 'artifact')


def _tsv(path: Path, n: int) -> Path:
    "A labelled TSV of `n` rows cycled from SST-2's training set."
    from nlp_lib.datasets import read_tsv
    texts, labels = read_tsv(_sst2() / 'train.tsv')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('sentence\tlabel\n')
        for i in range(n): f.write(f'{texts[i % len(texts)]}\t{labels[i % len(labels)]}\n')
    return path


CHILD = """
import json, resource, sys, warnings
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)    # on a small, shared machine torch's intra-op threads wait on each other: 8x slower under load
from nlp_lib.report import write_report
r = write_report(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
print(json.dumps({'n': r['n'], 'accuracy': r['accuracy'], 'seconds': r['seconds'],
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _report_in_child(artifact, data, out) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', CHILD, str(artifact), str(data), str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return {**json.loads(r.stdout.strip().splitlines()[-1]), 'wall_s': round(time.perf_counter() - t0, 1)}


def test_memory_does_not_grow_with_the_file(artifact, tmp_path):
    small = _report_in_child(artifact, _tsv(tmp_path / 'small.tsv', 20_000), tmp_path / 'out_small')
    large = _report_in_child(artifact, _tsv(tmp_path / 'large.tsv', 200_000), tmp_path / 'out_large')
    print(f"\n20k rows: {small}\n200k rows: {large}")
    assert (small['n'], large['n']) == (20_000, 200_000)
    import pyarrow.parquet as pq
    assert pq.ParquetFile(tmp_path / 'out_large' / 'predictions.parquet').metadata.num_rows == 200_000
    with open(tmp_path / 'out_large' / 'predictions.csv', encoding='utf-8') as f: assert sum(1 for _ in f) == 200_001   # SST-2 texts have no newlines
    assert large['peak_rss_mb'] <= 1.2 * small['peak_rss_mb'], f"peak RSS {large['peak_rss_mb']:.0f} MB on 200k rows vs {small['peak_rss_mb']:.0f} MB on 20k"


def _save_screenshot(png: Path):
    if os.environ.get('NLP_LIB_SCREENSHOTS'):
        dest = Path(os.environ['NLP_LIB_SCREENSHOTS'])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, dest / png.name)


def _ink(png: Path) -> float:
    "Share of the screenshot's pixels that are not (near) white: a blank or broken page has almost none."
    from matplotlib.image import imread
    img = imread(png)[..., :3]
    return float((img.min(-1) < 0.9).mean())


@pytest.mark.parametrize('kind', ['labelled', 'unlabelled'])
def test_report_renders_in_chromium(chromium, artifact, tmp_path, kind):
    from nlp_lib.report import write_report
    data = _sst2() / 'dev.tsv'
    if kind == 'unlabelled':
        data = tmp_path / 'dev_unlabelled.tsv'
        data.write_text('sentence\n' + ''.join(l.split('\t')[0] + '\n' for l in (_sst2() / 'dev.tsv').read_text().splitlines()[1:]))
    res = write_report(artifact, data, tmp_path / 'out', progress=False)
    page = Path(res['paths']['report_html'])
    text = page.read_text()
    assert not re.search(r'''(?:src|href)\s*=\s*["']?\s*(?:https?:)?//''', text, re.I)
    assert '<script' not in text.lower() and '<link' not in text.lower()
    png = tmp_path / f'report_{kind}.png'
    dom, console = browse(page.as_uri(), screenshot=png, wait_ms=2000, size=(1280, 3000 if kind == 'labelled' else 1000))
    _save_screenshot(png)
    assert console == [], console
    assert '<h1>Batch report</h1>' in dom and '872 rows' in dom
    assert dom.count('src="data:image/png;base64,') == (4 if kind == 'labelled' else 1)
    assert ('Most confident mistakes' in dom) == (kind == 'labelled')
    assert _ink(png) > 0.03, f'the screenshot looks blank ({_ink(png):.1%} ink)'


PROGRESS = """
import sys, warnings
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)
from nlp_lib.report import write_report
write_report(sys.argv[1], sys.argv[2], sys.argv[3], chunk_size=100, progress=True)
"""


def test_progress_bar_is_quiet_in_a_log(artifact, tmp_path):
    data = _tsv(tmp_path / 'rows.tsv', 20_000)
    r = subprocess.run([sys.executable, '-c', PROGRESS, str(artifact), str(data), str(tmp_path / 'out')],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    draws = [d for d in re.split(r'[\r\n]+', r.stderr) if d.startswith('report:')]
    assert 1 <= len(draws) <= 3, draws            # 200 updates in a few seconds: drawn at the start and the end only
    assert '20000/20000' in draws[-1], draws
