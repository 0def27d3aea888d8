"""Does contrastive pre-training of the encoder help on SST-2?

    python bench/pretrain_sst2.py [--epochs N] [--seeds 0 1] [--limit N]

Trains the default config twice per seed -- once from scratch, once after `trainer.pretrain_epochs`
epochs of `ContrastivePretrainer` on the (unlabelled) training texts -- and prints dev accuracy and
training time for each. Any extra KEY=VALUE arguments are applied to both runs.
"""
import argparse, json, statistics, tempfile, time, warnings
warnings.filterwarnings('ignore')
from nlp_lib.training.config import load_config
from nlp_lib.training.run import train

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--epochs', type=int, default=2, help='pre-training epochs')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('overrides', nargs='*')
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for seed in a.seeds:
            for pre in (0, a.epochs):
                ov = a.overrides + [f'seed={seed}', f'trainer.pretrain_epochs={pre}', f'tracking.runs_dir={runs}', 'tracking.mlflow=false']
                t = time.perf_counter()
                res = train(load_config(overrides=ov), progress=False)
                rows.append({'seed': seed, 'pretrain_epochs': pre, 'accuracy': res.metrics['accuracy'],
                             'train_s': res.metrics['train_seconds'], 'total_s': time.perf_counter() - t})
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n| {'pre-training':<22} | {'seed':>4} | {'dev acc':>8} | {'train s (incl. pre-training)':>28} |")
    print(f"|{'-' * 24}|{'-' * 6}|{'-' * 10}|{'-' * 30}|")
    for r in rows:
        name = f"contrastive, {r['pretrain_epochs']} epochs" if r['pretrain_epochs'] else 'none'
        print(f"| {name:<22} | {r['seed']:>4} | {100 * r['accuracy']:>7.2f}% | {r['train_s']:>28.1f} |")
    for pre in (0, a.epochs):
        accs = [r['accuracy'] for r in rows if r['pretrain_epochs'] == pre]
        print(f"mean dev accuracy, pre-training epochs={pre}: {100 * statistics.mean(accs):.2f}% over {len(accs)} seed(s)")

if __name__ == '__main__':
    main()
