"""`nlp_lib.batch.predict_dataset` on a real local Ray cluster (two CPUs): with one and with two actors, the predictions of a few
thousand SST-2 sentences equal the in-process `Processor.predict`, row for row.

The UDF itself (columns, pairs, label sets, a missing column) is tested in-process in `nbs/clients/26_batch.ipynb`; this checks what only Ray
shows: the class travels to the actors by reference, each actor loads the artifact from its path, and the blocks come back complete
and in order.
"""
import logging, os, sys, time
import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip('ray')


@pytest.fixture(scope='module')
def sst2_rows():
    from nlp_lib.datasets import data_dir, read_tsv
    texts, _ = read_tsv(data_dir('sst2') / 'train.tsv', limit=3000)
    return texts


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    return proc, proc.save(tmp_path_factory.mktemp('batch-ray') / 'artifact')


@pytest.fixture(scope='module')
def cluster():
    "A local Ray instance with two CPUs and a small object store, quiet, always shut down."
    ctx = ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                   runtime_env={'env_vars': {'NLP_LIB_DATA': os.environ.get('NLP_LIB_DATA', '')}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    try: yield ctx
    finally: ray.shutdown()


@pytest.mark.parametrize('actors', [1, 2])
def test_predict_dataset_equals_predict(cluster, artifact, sst2_rows, actors):
    from nlp_lib.batch import predict_dataset
    proc, path = artifact
    df = pd.DataFrame({'id': np.arange(len(sst2_rows)), 'text': sst2_rows})
    t0 = time.monotonic()
    ds = ray.data.from_pandas([df[i::8] for i in range(8)])   # 8 blocks already in the object store: no read task competes with the actors for the 2 CPUs
    out = predict_dataset(ds, path, batch_size=128, concurrency=actors, num_cpus=1).to_pandas()
    assert time.monotonic() - t0 < 60
    assert list(out.columns) == ['id', 'text', 'label', 'score']
    out = out.sort_values('id', kind='stable').reset_index(drop=True)     # Ray may return blocks out of order
    assert out['id'].tolist() == df['id'].tolist() and out['text'].tolist() == sst2_rows
    ref = proc.predict(sst2_rows, batch_size=128)
    assert out['label'].tolist() == [r.label for r in ref]
    np.testing.assert_allclose(out['score'].to_numpy(), [r.score for r in ref], rtol=0, atol=1e-6)

