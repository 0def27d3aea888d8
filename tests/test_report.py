"""The batch report (`nlp_lib.report.write_report`) at scale and in a browser.

1. Memory does not grow with the file: the peak RSS of a child process reporting on a 200,000-row TSV stays within
   1.2x of the same on a 20,000-row one (rows: SST-2 training sentences, cycled, with their labels).
2. With its output piped (a log, not a terminal), the progress bar writes a few lines, not one per update.
3. The page renders in headless Chromium without console messages, shows its plots, and a screenshot is saved
   (into the test's tmp_path, and into $NLP_LIB_SCREENSHOTS when that is set).
4. A multi-label model (SWEM fitted on 600 GoEmotions comments, trained for a second, thresholds tuned per label), reported
   through the CLI on 500 GoEmotions dev rows (`--label-delim ,`, or indicator columns with `--label-cols`): the summary's
   metrics are `multilabel_report`'s computed directly, the predictions are the processor's label sets, and the page holds
   the per-label table, the co-occurrence and precision-recall images and renders in Chromium (unlabelled too).
5. A text-pair model (SWEM in Pair.v1 fitted on 600 MRPC pairs) reported on MRPC with `--text-pair-col '#2 String'`: both
   texts in the predictions and in the mistakes; a pair model without the column, or a single-text model with one, is a
   one-line error with exit status 2.
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


# ---- multi-label and text-pair reports ----------------------------------------------------------------------------

def _fit_briefly(proc, texts, targets, pairs=None, epochs=60, lr=0.05):
    "A few full-batch Adam steps on `proc.model` (BCE for multi-hot targets, cross-entropy for class ids): curves that mean something."
    import torch, torch.nn.functional as F
    from nlp_lib.inference.processor import batch_ids
    from nlp_lib.sample import pad_ids
    b, y = pad_ids(batch_ids(proc.pre, texts, pairs), proc.pad_id), torch.as_tensor(targets)
    loss = F.binary_cross_entropy_with_logits if y.dim() == 2 else F.cross_entropy
    m = proc.model.train()
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for _ in range(epochs):
            opt.zero_grad(); loss(m(b.input_ids, b.lengths), y).backward(); opt.step()
    m.eval()


def _goemotions():
    from nlp_lib.datasets import data_dir
    return data_dir('goemotions')


def _mrpc():
    from nlp_lib.datasets import data_dir
    return data_dir('mrpc')


@pytest.fixture(scope='module')
def ml_artifact(tmp_path_factory):
    "SWEM on the first 600 GoEmotions training comments (every one of the 28 emotions occurs in them), raw labels the ids, display names from labels.txt."
    from nlp_lib.inference.labels import Labels
    from nlp_lib.inference.processor import Processor, default_postprocess
    from nlp_lib.sample import multi_hot
    from nlp_lib.training.metrics import tune_thresholds
    go = _goemotions()
    names = (go / 'labels.txt').read_text(encoding='utf-8').split()
    rows = [l.split('\t') for l in (go / 'train.tsv').read_text(encoding='utf-8').splitlines()[:600]]
    texts, sets = [r[0] for r in rows], [r[1].split(',') for r in rows]
    proc = Processor.from_corpus(texts, sets, 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1,
                                 label_names=[names[int(r)] for r in Labels.from_sets(sets).raw])
    assert len(proc.labels) == 28
    y = multi_hot(proc.labels.encode_sets(sets), 28)
    _fit_briefly(proc, texts, y)
    cut = np.maximum(tune_thresholds(np.stack([s.probs for s in proc.predict(texts)]), y), 0.05)
    proc = Processor(proc.pre, proc.model, default_postprocess(proc.labels.names, multi_label=True, thresholds=cut), proc.labels)
    return proc.save(tmp_path_factory.mktemp('report_ml') / 'goemotions')


@pytest.fixture(scope='module')
def go_dev(tmp_path_factory) -> Path:
    "The first 500 GoEmotions dev rows, in the file's own format: no header; text, comma-separated label ids, comment id."
    path = tmp_path_factory.mktemp('go_dev') / 'go_dev.tsv'
    path.write_text('\n'.join((_goemotions() / 'dev.tsv').read_text(encoding='utf-8').splitlines()[:500]) + '\n', encoding='utf-8')
    return path


def _cli(*args) -> tuple[int, str, str]:
    "Run `nlp_lib ARGS` in this process; exit status, stdout and stderr."
    import contextlib, io
    from nlp_lib.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _standalone(text: str):
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    for bad in ('<script', '<link', '@import', 'url(', '<iframe'): assert bad not in text.lower(), bad


def _direct_report(artifact, texts, raw_sets):
    "`multilabel_report` of the artifact's probabilities on `texts` at its own thresholds, and the results (scored as the report scores: batches of 256)."
    from nlp_lib.inference.processor import Processor
    from nlp_lib.report import label_thresholds
    from nlp_lib.training.metrics import multilabel_report
    proc = Processor.load(artifact)
    results = proc.predict(texts, batch_size=256)
    probs = np.stack([s.probs for s in results])
    return proc, results, multilabel_report(probs, proc.labels.encode_sets(raw_sets), proc.labels.names, label_thresholds(proc))


@pytest.mark.parametrize('kind', ['labelled', 'unlabelled'])
def test_multilabel_report(chromium, ml_artifact, go_dev, tmp_path, kind):
    import pandas as pd
    rows = [l.split('\t') for l in go_dev.read_text(encoding='utf-8').splitlines()]
    proc, results, direct = _direct_report(ml_artifact, [r[0] for r in rows], [r[1].split(',') for r in rows])
    if kind == 'labelled':
        args = [go_dev, '--no-header', '--text-col', '0', '--label-col', '1', '--label-delim', ',']
    else:
        data = tmp_path / 'go_texts.tsv'
        data.write_text(''.join(r[0] + '\n' for r in rows), encoding='utf-8')
        args = [data, '--no-header']
    code, out, err = _cli('report', ml_artifact, *args, '--out', tmp_path / 'out', '--quiet')
    assert code == 0, err
    s = json.loads((tmp_path / 'out' / 'summary.json').read_text(encoding='utf-8'))
    assert (s['n'], s['multi_label'], s['labelled']) == (500, True, kind == 'labelled')
    df = pd.read_parquet(tmp_path / 'out' / 'predictions.parquet')
    assert list(df.text) == [r[0] for r in rows]
    assert list(df.labels) == [';'.join(l.label for l in r.labels) for r in results]
    assert [json.loads(x) for x in df.scores] == [{l.label: l.score for l in r.labels} for r in results]
    assert s['predicted_counts'] == {n: sum(n in {l.label for l in r.labels} for r in results) for n in proc.labels.names}
    page = (tmp_path / 'out' / 'report.html').read_text(encoding='utf-8')
    _standalone(page)
    if kind == 'labelled':
        assert {k: s[k] for k in direct} == direct                        # the report's numbers are multilabel_report's
        assert f"micro-F1 {direct['micro_f1']:.4f}" in out
        assert list(df.gold) == [';'.join(proc.labels.names[int(i)] for i in sorted(map(int, r[1].split(',')))) for r in rows]
        assert '<h2>Per label</h2>' in page
        for name, v in direct['per_label'].items():                       # every label's row: precision, recall, F1, support … threshold
            assert (f'<td class="t">{name}</td><td>{v["precision"]:.3f}</td><td>{v["recall"]:.3f}</td><td>{v["f1"]:.3f}</td>'
                    f'<td>{v["support"]}</td><td>{s["predicted_counts"][name]}</td><td>{v["threshold"]:.3f}</td>') in page, name
        for alt in ('precision–recall curves', 'gold label co-occurrence', 'texts per label and labels per text'):
            assert re.search(f'<img src="data:image/png;base64,[^"]+" alt="{alt}">', page), alt
    else:
        assert 'micro_f1' not in s and 'No gold labels' in page and 'labels per text' in out
    png = tmp_path / f'report_multilabel_{kind}.png'
    dom, console = browse((tmp_path / 'out' / 'report.html').as_uri(), screenshot=png, wait_ms=2000,
                          size=(1280, 5600 if kind == 'labelled' else 1600))
    _save_screenshot(png)
    assert console == [], console
    assert '<h1>Batch report</h1>' in dom and '500 rows' in dom and 'multi-label' in dom
    assert dom.count('src="data:image/png;base64,') == (3 if kind == 'labelled' else 1)
    assert ('Most confident mistakes' in dom) == (kind == 'labelled')
    assert _ink(png) > 0.03, f'the screenshot looks blank ({_ink(png):.1%} ink)'


def test_multilabel_report_from_indicator_columns(ml_artifact, go_dev, tmp_path):
    "One 0/1 column per label (named by the raw labels, the ids) gives the same numbers as the delimited label column."
    import pandas as pd
    rows = [l.split('\t') for l in go_dev.read_text(encoding='utf-8').splitlines()]
    proc, _, direct = _direct_report(ml_artifact, [r[0] for r in rows], [r[1].split(',') for r in rows])
    df = pd.DataFrame({'text': [r[0] for r in rows]} | {l: [int(l in r[1].split(',')) for r in rows] for l in proc.labels.raw})
    df.to_csv(tmp_path / 'indicators.csv', index=False)
    positions = ','.join(str(i + 1) for i in range(len(proc.labels)))      # the raw labels are digits, so name the columns by position
    code, _, err = _cli('report', ml_artifact, tmp_path / 'indicators.csv', '--label-cols', positions, '--out', tmp_path / 'out', '--quiet')
    assert code == 0, err
    s = json.loads((tmp_path / 'out' / 'summary.json').read_text(encoding='utf-8'))
    assert {k: s[k] for k in direct} == direct


@pytest.fixture(scope='module')
def pair_artifact(tmp_path_factory):
    "SWEM inside Pair.v1 on the first 600 MRPC training pairs (BOM, CRLF, unbalanced quotes), trained briefly."
    from nlp_lib.inference.processor import Processor
    from nlp_lib.training.data import read_examples
    ex = read_examples(_mrpc() / 'train.tsv', '#1 String', 'Quality', pair_col='#2 String', limit=600)
    proc = Processor.from_corpus(ex.texts, ex.labels, 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1,
                                 label_names=['not a paraphrase', 'paraphrase'], pairs=ex.pairs)
    _fit_briefly(proc, ex.texts, proc.labels.encode(ex.labels), ex.pairs, epochs=150, lr=0.01)   # lr 0.05 leaves its ReLU head dead: constant answers
    return proc.save(tmp_path_factory.mktemp('report_pair') / 'mrpc')


def test_pair_report(chromium, pair_artifact, tmp_path):
    import html as html_mod
    import pandas as pd
    from nlp_lib.training.data import read_examples
    from nlp_lib.training.run import evaluate
    data = _mrpc() / 'test.tsv'
    code, out, err = _cli('report', pair_artifact, data, '--text-col', '#1 String', '--text-pair-col', '#2 String', '--label-col', 'Quality',
                          '--out', tmp_path / 'out', '--quiet')
    assert code == 0, err
    s = json.loads((tmp_path / 'out' / 'summary.json').read_text(encoding='utf-8'))
    ev = evaluate(pair_artifact, data, '#1 String', 'Quality', text_pair_col='#2 String')
    assert (s['n'], s['accuracy'], s['per_class'], s['text_pair_col']) == (ev['n'], ev['accuracy'], ev['per_class'], '#2 String')
    ex = read_examples(data, '#1 String', 'Quality', pair_col='#2 String')
    for f in ('predictions.parquet', 'predictions.csv'):
        df = pd.read_parquet(tmp_path / 'out' / f) if f.endswith('parquet') else pd.read_csv(tmp_path / 'out' / f, keep_default_na=False)
        assert list(df.columns[:3]) == ['text', 'text_pair', 'label']
        assert (list(df.text), list(df.text_pair)) == (ex.texts, ex.pairs)
    page = (tmp_path / 'out' / 'report.html').read_text(encoding='utf-8')
    _standalone(page)
    conf = df[['prob_not a paraphrase', 'prob_paraphrase']].max(axis=1)
    worst = df[~df.correct].assign(conf=conf).sort_values('conf', ascending=False, kind='stable').iloc[0]
    assert f'<td class="text">{html_mod.escape(worst.text)}</td><td class="text">{html_mod.escape(worst.text_pair)}</td>' in page
    png = tmp_path / 'report_pair.png'
    dom, console = browse((tmp_path / 'out' / 'report.html').as_uri(), screenshot=png, wait_ms=2000, size=(1280, 3400))
    _save_screenshot(png)
    assert console == [], console
    assert 'labelled, text pairs' in dom and '<th class="t">text pair</th>' in dom and dom.count('src="data:image/png;base64,') == 4
    assert _ink(png) > 0.03, f'the screenshot looks blank ({_ink(png):.1%} ink)'


def test_pair_and_single_text_mismatch_is_one_line(artifact, pair_artifact, tmp_path):
    mrpc, sst2_dev = _mrpc() / 'test.tsv', _sst2() / 'dev.tsv'
    cases = {'pair model, no --text-pair-col': (('report', pair_artifact, mrpc, '--text-col', '#1 String', '--label-col', 'Quality'),
                                                 'the model classifies text pairs: name the column of the second text'),
             'single-text model, --text-pair-col': (('report', artifact, sst2_dev, '--text-pair-col', 'sentence'), 'the model classifies single texts'),
             'single-label model, --label-delim': (('report', artifact, sst2_dev, '--label-delim', ','), 'the model is single-label')}
    for name, (args, msg) in cases.items():
        code, out, err = _cli(*args, '--out', tmp_path / 'out', '--quiet')
        assert code == 2, (name, code, err)
        assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err and msg in err, (name, err)
        assert err.startswith('nlp_lib report: error: '), err
    assert not (tmp_path / 'out').exists()                                   # refused before anything was written
