"""Artifacts in object storage against a real S3 API on 127.0.0.1: moto's server, spoken to by s3fs (through fsspec) and boto3.

moto's in-process `mock_aws` does not intercept s3fs (it patches botocore, s3fs talks through aiobotocore), so the
tests start `ThreadedMotoServer` on a free local port and point every client at it with `AWS_ENDPOINT_URL`, as a
user points them at MinIO or another S3-compatible store. Covered: push, load (in-process and by the CLI), listing
versions, the local cache, an interrupted upload, a tampered object, and credentials that never reach a stored
object or an output.
"""
import json, os, subprocess, sys
from pathlib import Path
import pytest

NLP_LIB = Path(sys.executable).parent / 'nlp_lib'
KEY, SECRET = 'nlp-lib-test-key', 'nlp-lib-test-secret-7f3a91'


@pytest.fixture(scope='module')
def s3(tmp_path_factory):
    "A moto S3 server on 127.0.0.1 with an empty bucket `models`; the environment that reaches it."
    pytest.importorskip('moto.server', reason='moto[server] is part of the dev extra')
    import logging
    from moto.server import ThreadedMotoServer
    logging.getLogger('werkzeug').setLevel(logging.ERROR)     # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {'AWS_ACCESS_KEY_ID': KEY, 'AWS_SECRET_ACCESS_KEY': SECRET, 'AWS_DEFAULT_REGION': 'us-east-1',
           'AWS_ENDPOINT_URL': f'http://{host}:{port}', 'NLP_LIB_CACHE': str(tmp_path_factory.mktemp('cache'))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3
    client = boto3.client('s3')
    client.create_bucket(Bucket='models')
    yield client, env
    server.stop()
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v


@pytest.fixture(scope='module')
def artifacts(tmp_path_factory):
    "Two small SST-2 processors (different seeds), saved."
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=1000)
    out = []
    for seed in (1, 2):
        proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 16, 'n_filters': 8}, seed=seed, label_names=['negative', 'positive'])
        out.append((proc, proc.save(tmp_path_factory.mktemp(f'art{seed}') / 'artifact')))
    return out


def cli(*args, env, timeout=120):
    return subprocess.run([str(NLP_LIB), *map(str, args)], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def keys(client, prefix=''):
    return sorted(o['Key'] for o in client.list_objects_v2(Bucket='models', Prefix=prefix).get('Contents', []))


def test_push_list_load_and_cache(s3, artifacts, tmp_path):
    from nlp_lib.inference import storage
    from nlp_lib.inference.processor import Processor
    client, env = s3
    (p1, a1), (p2, a2) = artifacts
    r = cli('push', a1, 's3://models/sst2', '--version', '1.0.0', env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 's3://models/sst2/1.0.0'
    names = sorted(p.name for p in a1.iterdir())
    assert keys(client, 'sst2/') == ['sst2/1.0.0/' + n for n in names] + ['sst2/latest']
    alias = json.loads(client.get_object(Bucket='models', Key='sst2/latest')['Body'].read())
    assert alias['version'] == '1.0.0' and len(alias['manifest_sha256']) == 64

    # load by model, alias and version: one download, then the cache
    d = storage.resolve_artifact('s3://models/sst2')
    assert d.parent == Path(env['NLP_LIB_CACHE']) / 'artifacts'
    assert storage.resolve_artifact('s3://models/sst2/latest') == d == storage.resolve_artifact('s3://models/sst2/1.0.0')
    mtime = (d / 'model.safetensors').stat().st_mtime_ns
    texts = ['a gripping, funny film', 'a dull, lifeless mess', 'it is a movie']
    got = Processor.load('s3://models/sst2/latest').predict(texts)
    assert [s.probs.tolist() for s in got] == [s.probs.tolist() for s in p1.predict(texts)]
    assert (d / 'model.safetensors').stat().st_mtime_ns == mtime          # not downloaded again

    # the CLI predicts from the URI; a new version behind `latest` is noticed
    r = cli('predict', 's3://models/sst2/latest', *texts, '--json', env=env)
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)['label'] for l in r.stdout.splitlines()] == [s.label for s in p1.predict(texts)]
    r = cli('push', a2, 's3://models/sst2', '--alias', 'latest', '--alias', 'champion', env=env)
    assert r.returncode == 0, r.stderr
    import nlp_lib
    auto = f'{nlp_lib.__version__}-1'
    assert r.stdout.strip() == f's3://models/sst2/{auto}'
    d2 = storage.resolve_artifact('s3://models/sst2/latest')
    assert d2 != d and storage.resolve_artifact('s3://models/sst2/champion') == d2
    assert [s.probs.tolist() for s in Processor.load('s3://models/sst2').predict(texts)] == [s.probs.tolist() for s in p2.predict(texts)]
    r = cli('versions', 's3://models/sst2', '--json', env=env)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert {v['version']: (v['complete'], v['aliases']) for v in rows} == {'1.0.0': (True, []), auto: (True, ['champion', 'latest'])}

    # versions are immutable
    r = cli('push', a2, 's3://models/sst2', '--version', '1.0.0', env=env)
    assert r.returncode == 2 and 'never overwritten' in r.stderr and 'Traceback' not in r.stderr


def test_interrupted_upload_is_never_loadable(s3, artifacts, monkeypatch):
    import fsspec
    from nlp_lib.inference import storage
    from nlp_lib.inference.artifact import ArtifactError
    from nlp_lib.inference.processor import Processor
    client, env = s3
    (p1, a1), _ = artifacts
    storage.push(a1, 's3://models/interrupted', version='1')
    fs = fsspec.core.url_to_fs('s3://models')[0]             # fsspec's cached instance: the one push uses
    real, calls = fs.put_file, []
    def dies_on_second_file(*a, **kw):
        calls.append(a)
        if len(calls) == 2: raise ConnectionError('connection reset by peer')      # the network fails half-way
        return real(*a, **kw)
    monkeypatch.setattr(fs, 'put_file', dies_on_second_file)
    with pytest.raises(ConnectionError): storage.push(a1, 's3://models/interrupted', version='2')
    monkeypatch.undo()
    assert len(keys(client, 'interrupted/2/')) == 1 and 'interrupted/2/manifest.json' not in keys(client)
    with pytest.raises(ArtifactError, match=r'interrupted/2/manifest.json: missing: an upload that did not finish'):
        Processor.load('s3://models/interrupted/2')
    assert storage.resolve_artifact('s3://models/interrupted/latest') == storage.resolve_artifact('s3://models/interrupted/1')   # the alias never moved
    assert [(v['version'], v['complete']) for v in storage.list_versions('s3://models/interrupted')] == [('1', True), ('2', False)]
    r = cli('predict', 's3://models/interrupted/2', 'fine', env=env)
    assert r.returncode == 2 and 'did not finish' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    storage.push(a1, 's3://models/interrupted', version='2')            # the same version pushed again replaces the remains
    assert Processor.load('s3://models/interrupted/2')('fine').probs.tolist() == p1('fine').probs.tolist()


def test_tampered_object_is_refused(s3, artifacts, tmp_path):
    from nlp_lib.inference import storage
    from nlp_lib.inference.artifact import ArtifactError
    client, env = s3
    (_, a1), _ = artifacts
    storage.push(a1, 's3://models/tampered', version='1')
    data = bytearray(client.get_object(Bucket='models', Key='tampered/1/model.safetensors')['Body'].read())
    data[-1] ^= 1                                                          # one bit of one weight
    client.put_object(Bucket='models', Key='tampered/1/model.safetensors', Body=bytes(data))
    with pytest.raises(ArtifactError, match=r'tampered/1/model.safetensors: sha256 does not match'):
        storage.fetch_artifact('s3://models/tampered/1', cache_dir=tmp_path)
    assert not any((tmp_path / 'artifacts').iterdir())                     # nothing half-fetched is left to load
    r = cli('predict', 's3://models/tampered/latest', 'fine', env={**env, 'NLP_LIB_CACHE': str(tmp_path / 'c2')})
    assert r.returncode == 2 and 'model.safetensors: sha256 does not match' in r.stderr and 'Traceback' not in r.stderr


def test_credentials_are_never_stored_or_shown(s3, artifacts, tmp_path):
    from nlp_lib.inference import storage
    from nlp_lib.training.transfer import parent_record
    client, env = s3
    (_, a1), _ = artifacts
    outs = [cli('push', a1, 's3://models/creds', env=env), cli('versions', 's3://models/creds', env=env),
            cli('predict', f's3://{KEY}:{SECRET}@models/creds/nosuchversion', 'x', env=env)]
    assert outs[2].returncode == 2
    for r in outs: assert SECRET not in r.stdout + r.stderr and KEY not in r.stdout + r.stderr
    for k in keys(client, 'creds/'):
        body = client.get_object(Bucket='models', Key=k)['Body'].read()
        assert SECRET.encode() not in body and KEY.encode() not in body
    rec = parent_record('s3://models/creds/latest')                       # what an init_from run records of its parent
    assert rec['uri'] == 's3://models/creds/latest' and SECRET not in json.dumps(rec)
    assert rec['manifest_sha256'] == storage.hashlib.sha256((a1 / 'manifest.json').read_bytes()).hexdigest()
