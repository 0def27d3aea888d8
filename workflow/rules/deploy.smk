# Deployment: push the evaluated artifact to the store as <store>/<version>/, then serve that version and check its answers.

rule push:
    """`nlp_lib push`: copies the artifact to <store>/<version>/ (manifest last) and points the aliases (<store>/latest) at it.
    It waits for evaluate and report, so a model is pushed only once it has been scored. pushed.txt holds the version URI it prints.
    The store itself is not tracked; it never overwrites a version, so a new model needs a new version (config version)."""
    input:
        manifest=rules.train.output.manifest,
        metrics=rules.evaluate.output[0],
        report=rules.report.output[0],
    output:
        f"{OUT}/pushed.txt",
    params:
        store=STORE,
        version=quoted(["--version", VERSION] if VERSION else []),
        aliases=quoted([a for name in ALIASES for a in ("--alias", name)] if ALIASES else ["--no-alias"]),
    log:
        f"{OUT}/logs/push.log",
    shell:
        "nlp_lib push {ARTIFACT:q} {params.store:q} {params.version} {params.aliases} > {output:q} 2> {log:q}"


SMOKE_TARGET = setting("smoke", "target", default="pushed")
if SMOKE_TARGET not in ("pushed", "artifact"): raise WorkflowError(f"config smoke.target: {SMOKE_TARGET!r}: give pushed or artifact")


rule smoke:
    """Start `nlp_lib serve` on the pushed version (or on the local artifact: smoke.target), wait for /ready, POST /predict,
    check the answer, stop the server (workflow/scripts/smoke.py, bounded by smoke.timeout)."""
    input:
        pushed=rules.push.output[0],
        manifest=rules.train.output.manifest,
    output:
        f"{OUT}/smoke.json",
    params:
        target=quoted(["--artifact-from", f"{OUT}/pushed.txt"] if SMOKE_TARGET == "pushed" else ["--artifact", ARTIFACT]),
        texts=quoted(setting("smoke", "texts", default=["a gripping, funny film", "a dull mess"])),
        timeout=setting("smoke", "timeout", default=180),
    log:
        f"{OUT}/logs/smoke.log",
    shell:
        "{PY} {workflow.basedir}/scripts/smoke.py {params.target} --timeout {params.timeout} --out {output:q} {params.texts} > {log:q} 2>&1"
