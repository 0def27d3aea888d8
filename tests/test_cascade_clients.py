"""A cascade artifact through the clients that take any artifact: the HTTP API (debug mode shows the route each text took,
/model describes the members) and `nlp_lib predict`, with a multi-label and a text-pair cascade beside the single-label one."""
import json, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest

NLP_LIB = Path(sys.executable).parent / 'nlp_lib'


def _members(texts, labels, pairs=None, names=None):
    from nlp_lib.inference.processor import Processor
    kw = dict(pairs=pairs, label_names=names)
    return [Processor.from_corpus(texts, labels, 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1, **kw),
            Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 16, 'n_filters': 8}, seed=2, **kw)]


def _median_threshold(fast, inputs) -> float:
    "A threshold that sends about half of `inputs` on: every route is exercised."
    from nlp_lib.inference.cascade import confidence, _cutoffs
    probs = np.stack([r.probs for r in fast.predict(inputs)])
    return float(np.median(confidence(probs, fast.multi_label, _cutoffs(fast) if fast.multi_label else 0.5)))


@pytest.fixture(scope='module')
def cascades(tmp_path_factory):
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.cascade import Cascade
    tmp = tmp_path_factory.mktemp('cascade')
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=1000)
    dev, _ = read_tsv(data_dir('sst2') / 'dev.tsv', limit=64)
    single = _members(texts, labels, names=['negative', 'positive'])
    rows = [l.split('\t') for l in (data_dir('goemotions') / 'train.tsv').read_text(encoding='utf-8').splitlines()[:300]]
    sets = [r[1].split(',') if r[1] else [] for r in rows]
    multi = _members([r[0] for r in rows], sets)
    mrpc = [l.split('\t') for l in (data_dir('mrpc') / 'train.tsv').read_text(encoding='utf-8-sig').splitlines()[1:301]]
    pair = _members([r[3] for r in mrpc], [r[0] for r in mrpc], pairs=[r[4] for r in mrpc])
    out = {}
    for name, members, inputs in (('single', single, dev), ('multi', multi, [r[0] for r in rows[:64]]),
                                  ('pair', pair, [(r[3], r[4]) for r in mrpc[:64]])):
        cas = Cascade(members, [_median_threshold(members[0], inputs)])
        out[name] = (cas, cas.save(tmp / name), inputs)
    return out


@pytest.mark.parametrize('kind', ['single', 'multi', 'pair'])
def test_api_debug_shows_the_route(cascades, kind):
    from fastapi.testclient import TestClient
    from nlp_lib.api import ServeSettings, create_app
    cas, art, inputs = cascades[kind]
    body = ({'pairs': [{'text': a, 'text_pair': b} for a, b in inputs[:16]]} if kind == 'pair' else {'texts': inputs[:16]}) | {'debug': True}
    want = cas.predict(inputs[:16])
    assert {r.member for r in want} == {'fast', 'strong'}            # both members answer some of these texts
    with TestClient(create_app(ServeSettings(artifact=str(art)))) as c:
        for _ in range(600):                                            # the model loads in the background: wait for /ready
            if c.get('/ready').status_code == 200: break
            time.sleep(0.1)
        r = c.post('/predict', json=body)
        assert r.status_code == 200, r.text
        samples = r.json()['samples']
        assert [s['member'] for s in samples] == [w.member for w in want]
        for s, w in zip(samples, want):
            route = [t for t in s['trace'] if t['step'] == 'nlp_lib.Cascade.v1']
            assert route[0]['output']['decision'].startswith('fast answers' if w.member == 'fast' else 'passed on to strong')
            assert len(route) == (1 if w.member == 'fast' else 2)
        preds = r.json()['predictions']
        if kind != 'multi': assert [p['label'] for p in preds] == [w.label for w in want]
        else: assert [[x['label'] for x in p['labels']] for p in preds] == [[x.label for x in w.labels] for w in want]
        info = c.get('/model')
        assert info.status_code == 200, info.text
        assert 'nlp_lib.Cascade.v1' in json.dumps(info.json()['architecture'])


def test_cli_predict_names_the_member(cascades):
    cas, art, inputs = cascades['single']
    r = subprocess.run([str(NLP_LIB), 'predict', str(art), '--json', *inputs[:8]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)['member'] for l in r.stdout.splitlines()] == [s.member for s in cas.predict(inputs[:8])]
