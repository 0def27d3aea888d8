"""The workflow's `test` step: read each data file as training will (nlp_lib's reader) and check it can train and score a model.

    python check_data.py --train TRAIN [--valid VALID] --eval EVAL [--text-col C] [--label-col C] --out data.json

Fails (exit 1, one line per problem) on a missing or unreadable file, a file with no usable rows, a training file with fewer
than two labels, or validation/evaluation labels the training data never has. Writes rows, bad rows and label counts as JSON.
"""
import argparse, json, sys
from collections import Counter
from pathlib import Path


def column(v: str | None, default: str) -> str | int:
    "A column name, or a position counted from 0 (a number is always a position, as in the nlp_lib CLI)."
    v = default if v is None else v
    return int(v) if v.isdigit() else v


def summary(path: str, text_col, label_col) -> dict:
    "Rows, bad rows and label counts of one file, read with `nlp_lib.training.data.read_examples`."
    from nlp_lib.training.data import read_examples, BadRows
    bad = BadRows()
    ex = read_examples(path, text_col=text_col, label_col=label_col, report=bad)
    labels = Counter(l for ls in ex.labels for l in (ls if isinstance(ls, list) else [ls]))
    return {'path': str(path), 'rows': len(ex.texts), 'bad_rows': bad.total, 'bad_row_reasons': bad.counts, 'labels': dict(sorted(labels.items()))}


def problems(report: dict) -> list[str]:
    "What makes the data unusable for training and scoring, one line each."
    out = [f"{role}: {r['path']}: no usable rows" for role, r in report.items() if not r['rows']]
    train = set(report['train']['labels'])
    if report['train']['rows'] and len(train) < 2: out.append(f"train: {report['train']['path']}: {len(train)} label(s); a classifier needs 2 or more")
    for role in ('valid', 'eval'):
        if role in report and (unknown := set(report[role]['labels']) - train):
            out.append(f"{role}: {report[role]['path']}: labels never seen in training: {sorted(unknown)[:10]}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--train', required=True)
    p.add_argument('--valid')
    p.add_argument('--eval', required=True)
    p.add_argument('--text-col')
    p.add_argument('--label-col')
    p.add_argument('--out', required=True, help='JSON file to write')
    a = p.parse_args(argv)
    text_col, label_col = column(a.text_col, 'sentence'), column(a.label_col, 'label')
    report, errors = {}, []
    for role in ('train', 'valid', 'eval'):
        f = getattr(a, role)
        if f is None: continue
        try: report[role] = summary(f, text_col, label_col)
        except (OSError, ValueError) as e: errors.append(f'{role}: {f}: {e}')
    if not errors: errors = problems(report)
    if errors:
        print('\n'.join(errors), file=sys.stderr)
        return 1
    Path(a.out).write_text(json.dumps(report, indent=2) + '\n')
    print(', '.join(f"{role} {r['rows']} rows ({r['bad_rows']} bad)" for role, r in report.items()))
    return 0


if __name__ == '__main__': sys.exit(main())
