"""Training faults (issue 10): a run killed with SIGKILL after its first epoch resumes to the very weights of an uninterrupted run,
and a runs directory that cannot hold a run is refused at start, before any data is read."""
import hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

# 2,000 SST-2 phrases, a small FastText (with dropout) without word vectors, augmentation on (its draws must survive the resume too), 3 epochs.
SMALL = ['data.limit=2000', 'data.valid_limit=300', 'architecture.name=nlp_lib.FastText.v1', 'architecture.word_vectors=null',
         'architecture.params.bigram_buckets=5000', 'architecture.params.emb_dim=32', 'trainer.epochs=3', 'trainer.lr=0.02',
         'tracking.mlflow=false', 'tracking.run_name=faults']

NLP_LIB = str(Path(sys.executable).parent / 'nlp_lib')     # the console script, as a user runs it


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([NLP_LIB, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'PYTHONWARNINGS': 'ignore'})


def _sha(artifact: Path) -> str: return hashlib.sha256((artifact / 'model.safetensors').read_bytes()).hexdigest()


def _epochs(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(l).items() if k != 'time'} for l in (run / 'metrics.jsonl').read_text().splitlines()]


def test_kill_after_first_epoch_and_resume(tmp_path):
    t0 = time.time()
    whole_runs, cut_runs = tmp_path / 'whole', tmp_path / 'cut'
    whole = _cli('train', '--quiet', *SMALL, f'tracking.runs_dir={whole_runs}')             # the uninterrupted run, alongside
    cut = _cli('train', '--quiet', *SMALL, f'tracking.runs_dir={cut_runs}')
    latest = None
    while cut.poll() is None and time.time() - t0 < 300:
        found = list(cut_runs.glob('*/checkpoint/latest.json'))
        if found:
            latest = found[0]
            cut.send_signal(signal.SIGKILL)                                          # as the OOM killer or a lost machine would
            break
        time.sleep(0.01)
    cut.wait(timeout=60)
    assert latest is not None, f'no checkpoint appeared; the run ended with {cut.returncode}: {cut.stderr.read()[-2000:]}'
    assert cut.returncode == -signal.SIGKILL
    run = latest.parent.parent
    killed_at = json.loads(latest.read_text())['epoch']
    info = json.loads((run / 'run.json').read_text())
    assert info['status'] == 'running' and killed_at < 3 and not (run / 'artifact').exists()   # it really died mid-run
    t_kill = time.time() - t0

    out, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err[-3000:]
    whole_run = next(whole_runs.glob('*-faults'))

    back = _cli('train', '--resume', run, '--quiet')                                 # nlp_lib train --resume RUN_DIR
    out, err = back.communicate(timeout=600)
    assert back.returncode == 0, err[-3000:]
    assert Path(out.split('artifact: ')[1].strip()) == run / 'artifact'

    assert _sha(run / 'artifact') == _sha(whole_run / 'artifact')                   # the same weights, to the bit
    assert _epochs(run) == _epochs(whole_run)                                        # the same epochs, logged losses included
    info = json.loads((run / 'run.json').read_text())
    assert info['status'] == 'finished' and [r['from_epoch'] for r in info['resumed']] == [killed_at]
    assert info['resumed'][0]['previous_status'] == 'running'
    assert json.loads((run / 'metrics.json').read_text())['accuracy'] == json.loads((whole_run / 'metrics.json').read_text())['accuracy']
    assert not (run / 'checkpoint').exists()                                         # removed once the artifact is saved
    print(f'killed after epoch {killed_at} at {t_kill:.1f} s; sha256 {_sha(whole_run / "artifact")[:16]} equal; total {time.time() - t0:.1f} s')

    again = _cli('train', '--resume', run)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 2 and err.strip() == f'nlp_lib train: error: {run}: the run already finished; there is nothing to resume'


def test_runs_dir_refused_at_start(tmp_path, monkeypatch):
    import shutil
    from nlp_lib.training import run as run_mod
    from nlp_lib.training.config import load_config
    from nlp_lib.training.tracking import RunStateError
    def no_data(*a, **kw): raise AssertionError('data was read before the runs directory was checked')
    monkeypatch.setattr(run_mod, 'load_run_data', no_data)
    (tmp_path / 'file').write_text('x')
    with pytest.raises(RunStateError, match='runs directory .*/file/runs cannot be created: Not a directory'):
        run_mod.train(load_config(None, SMALL + [f'tracking.runs_dir={tmp_path / "file" / "runs"}']), progress=False)
    with pytest.raises(RunStateError, match='runs directory /proc/nlp_lib_runs cannot be created'):
        run_mod.train(load_config(None, SMALL + ['tracking.runs_dir=/proc/nlp_lib_runs']), progress=False)
    full = shutil.disk_usage(tmp_path)._replace(free=100 * 2**20)
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: full)
    with pytest.raises(RunStateError, match=r'only 100 MiB free, and a run needs at least 200 MiB \(tracking.min_free_mb\)'):
        run_mod.train(load_config(None, SMALL + [f'tracking.runs_dir={tmp_path / "runs"}']), progress=False)
    assert not list((tmp_path / 'runs').iterdir())                                   # no run directory was started


def test_resume_after_pretraining_and_without_checkpoint(tmp_path):
    "A run with contrastive pre-training continues after it (the encoder is in the checkpoint); one killed before its first checkpoint (or before `data.json`) starts over."
    import shutil
    from unittest import mock
    from nlp_lib.training import trainer as trainer_mod
    from nlp_lib.training.run import train, resume
    from nlp_lib.training.config import load_config
    cfg = SMALL + ['data.limit=1500', 'trainer.pretrain_epochs=1', f'tracking.runs_dir={tmp_path}']
    whole = train(load_config(None, cfg + ['tracking.run_name=whole']), progress=False)
    real = trainer_mod.save_checkpoint
    def save_then_die(learn, path, epoch):
        real(learn, path, epoch)
        if epoch == 2: raise KeyboardInterrupt()                    # Ctrl-C after the second epoch's checkpoint
    with mock.patch.object(trainer_mod, 'save_checkpoint', save_then_die), pytest.raises(KeyboardInterrupt):
        train(load_config(None, cfg + ['tracking.run_name=cut']), progress=False)
    cut = next(tmp_path.glob('*-cut'))
    fresh = tmp_path / 'no-checkpoint'                              # the same run as if killed during pre-training
    shutil.copytree(cut, fresh); shutil.rmtree(fresh / 'checkpoint'); (fresh / 'data.json').unlink()
    (fresh / 'metrics.jsonl').write_text('{"phase": "pretrain", "epoch": 0, "train_lo')   # a line cut short by the kill
    back = resume(cut, progress=False)
    assert _sha(back.artifact) == _sha(whole.artifact)
    assert _epochs(cut) == _epochs(whole.run_dir)
    assert [(e['phase'], e['epoch']) for e in _epochs(cut)] == [('pretrain', 0), ('train', 0), ('train', 1), ('train', 2)]
    assert json.loads((cut / 'run.json').read_text())['resumed'][0] | {'at': None} == {'at': None, 'from_epoch': 2, 'previous_status': 'failed'}
    again = resume(fresh, progress=False)
    assert _sha(again.artifact) == _sha(whole.artifact) and _epochs(fresh) == _epochs(whole.run_dir)
    assert json.loads((fresh / 'data.json').read_text()) == json.loads((whole.run_dir / 'data.json').read_text())
