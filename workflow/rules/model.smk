# The model: check the inputs, train, then score the artifact on the held-out data (metrics.json) and write its report.

rule test:
    "Cheap checks before training: the data files parse as training reads them, and the training config resolves (nlp_lib train --print-config)."
    input:
        data=[p for p in (TRAIN, VALID, EVAL) if p],
        recipe=[TRAIN_CONFIG] if TRAIN_CONFIG else [],
    output:
        data=f"{OUT}/checks/data.json",
        config=f"{OUT}/checks/config.yaml",
    params:
        train_args=TRAIN_ARGS,
        files=quoted(["--train", TRAIN] + (["--valid", VALID] if VALID else []) + ["--eval", EVAL]),
        cols=COL_ARGS,
    log:
        f"{OUT}/logs/test.log",
    shell:
        "nlp_lib train {params.train_args} --print-config > {output.config:q} 2> {log:q}\n"
        "{PY} {workflow.basedir}/scripts/check_data.py {params.files} {params.cols} --out {output.data:q} >> {log:q} 2>&1"


rule train:
    """`nlp_lib train`; the run directory is <results>/runs/<timestamp>-<model> (its name is only known once it starts),
    so the artifact it prints is copied to the fixed path <results>/<model>/artifact, and train.txt keeps what train printed.
    The output is the artifact's manifest.json, not directory(...): Snakemake marks a directory output with a
    .snakemake_timestamp file, and nlp_lib refuses an artifact holding a file its manifest does not list."""
    input:
        data=[p for p in (TRAIN, VALID) if p],
        recipe=[TRAIN_CONFIG] if TRAIN_CONFIG else [],
        checked=rules.test.output.config,
    output:
        manifest=f"{ARTIFACT}/manifest.json",
        summary=f"{OUT}/train.txt",
    params:
        train_args=TRAIN_ARGS,
        artifact=ARTIFACT,
    log:
        f"{OUT}/logs/train.log",
    shell:
        "nlp_lib train {params.train_args} --quiet > {output.summary:q} 2> {log:q}\n"
        "artifact=$(sed -n 's/^artifact: *//p' {output.summary:q})\n"
        "test -f \"$artifact/manifest.json\" || {{ echo 'nlp_lib train printed no artifact path' >> {log:q}; exit 1; }}\n"
        "rm -rf {params.artifact:q}\n"
        "cp -R \"$artifact\" {params.artifact:q}"


rule evaluate:
    "`nlp_lib evaluate --json` on the held-out data: the metrics as a JSON file."
    input:
        manifest=rules.train.output.manifest,
        data=EVAL,
    output:
        f"{OUT}/metrics.json",
    params:
        cols=COL_ARGS,
    log:
        f"{OUT}/logs/evaluate.log",
    shell:
        "nlp_lib evaluate {ARTIFACT:q} {input.data:q} {params.cols} --json > {output:q} 2> {log:q}"


rule report:
    "`nlp_lib report` on the held-out data: report.html, predictions (CSV, Parquet) and summary.json."
    input:
        manifest=rules.train.output.manifest,
        data=EVAL,
    output:
        directory(f"{OUT}/report"),
    params:
        cols=COL_ARGS,
    log:
        f"{OUT}/logs/report.log",
    shell:
        "nlp_lib report {ARTIFACT:q} {input.data:q} {params.cols} --out {output:q} --quiet > {log:q} 2>&1"
