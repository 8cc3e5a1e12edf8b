"""`runtrack sweep create|ls|show|stop` and `runtrack agent`, as people and scripts use
them: JSON that parses and holds what docs/sweeps.md promises, readable tables, and bad
input refused with one clear line (or a JSON error object), never a traceback, and
nothing half-created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runtrack
from _cli_run import Out, invoke

pytestmark = pytest.mark.usefixtures("sdk")


# -- helpers -----------------------------------------------------------------------------
def sweeps() -> list[dict[str, Any]]:
    r = invoke("sweep", "ls", "--json")
    assert r.code == 0 and not r.crashed, r.err
    doc = r.json()
    assert isinstance(doc, list)
    return doc


def assert_refused(r: Out, *needles: str, as_json: bool = False) -> None:
    """Exit code non-zero, no traceback, and one clear line on stderr (or one JSON error
    object on stdout) holding every needle (case-insensitive)."""
    assert not r.crashed, f"unhandled exception (a traceback for the user): {r.crashed}"
    assert r.code != 0
    assert "Traceback" not in r.out + r.err
    if as_json:
        doc = r.json()
        assert isinstance(doc, dict) and set(doc) == {"error"}, doc
        assert doc["error"]["code"] and doc["error"]["message"]
        text = doc["error"]["message"]
    else:
        assert r.out == ""
        lines = [ln for ln in r.err.splitlines() if ln.strip()]
        assert len(lines) == 1, r.err
        assert lines[0].startswith("error: "), r.err
        text = lines[0]
    for n in needles:
        assert n.lower() in text.lower(), (n, text)


SPEC = """\
metric: {name: loss, goal: minimize}
parameters:
  x: {distribution: uniform, min: -1, max: 1}
budget: {trials: 2}
seed: 4
"""

TRIAL = """\
import runtrack

with runtrack.init() as run:
    x = run.config["x"]
    run.log({"loss": (x - 0.3) ** 2})
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def trial_script(tmp_path: Path, text: str = TRIAL, name: str = "trial.py") -> Path:
    return write(tmp_path, name, text)


def spec_with_command(tmp_path: Path, extra: str = "", script: Path | None = None) -> Path:
    script = script or trial_script(tmp_path)
    return write(
        tmp_path,
        "spec.yaml",
        SPEC + f"command: ['{sys.executable}', '{script}']\n" + extra,
    )


def create(spec_file: Path, *args: str) -> str:
    r = invoke("sweep", "create", str(spec_file), *args)
    assert r.code == 0 and not r.crashed, (r.err, r.crashed)
    return r.out.strip()


def populate(project: str = "imp", objectives: int = 1) -> str:
    """A finished sweep of 12 trials, told by hand (cheap: no processes)."""
    metrics = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
    spec: dict[str, Any] = {
        "method": "random",
        "parameters": {
            "x": {"distribution": "uniform", "min": -1.0, "max": 1.0},
            "noise": {"distribution": "uniform", "min": 0.0, "max": 1.0},
            "opt": {"values": ["adam", "sgd"]},
        },
        "budget": {"trials": 12},
        "seed": 3,
    }
    if objectives == 1:
        spec["metric"] = metrics[0]
    else:
        spec["metrics"] = metrics
    sw = runtrack.Api().create_sweep(spec, project=project)
    while (t := sw.ask()) is not None:
        loss = (t.params["x"] - 0.3) ** 2
        sw.tell(t, loss if objectives == 1 else [loss, -abs(t.params["x"] + 0.5)])
    return sw.id


# -- sweep create ----------------------------------------------------------------------------
def test_create_prints_the_id_and_json_holds_the_normalised_spec(tmp_path: Path) -> None:
    spec_file = spec_with_command(tmp_path)
    r = invoke("sweep", "create", str(spec_file), "-p", "demo")
    assert r.code == 0 and not r.crashed
    sweep_id = r.out.strip()
    assert r.out == sweep_id + "\n"  # stdout is the id alone, for $(...)
    assert "demo" in r.err and f"runtrack agent {sweep_id}" in r.err
    assert "minimize loss" in r.err and "seed 4" in r.err

    r = invoke("sweep", "create", str(spec_file), "-p", "demo", "--json")
    assert r.code == 0
    doc = r.json()
    assert doc["id"] != sweep_id and doc["project"] == "demo" and doc["status"] == "running"
    spec = doc["spec"]
    assert spec["method"] == "auto" and spec["metrics"] == [{"name": "loss", "goal": "minimize"}]
    assert spec["parameters"]["x"] == {"distribution": "uniform", "min": -1.0, "max": 1.0}
    assert spec["budget"] == {"trials": 2} and spec["seed"] == 4
    assert spec["command"][0] == sys.executable and spec["retries"] == 0
    assert doc["counts"] == {} and doc["budget_used"] == 0 and doc["best"] is None
    assert doc["pareto"] == [] and doc["stop_reason"] is None and doc["ended_at"] is None
    assert {s["id"] for s in sweeps()} == {sweep_id, doc["id"]}


def _bad_specs(tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    good_command = f"command: ['{sys.executable}', 'train.py', '--lr', '${{lr}}']\n"
    return {
        "missing": (tmp_path / "nope.yaml", ("nope.yaml", "does not exist")),
        "empty": (write(tmp_path, "empty.yaml", ""), ("empty.yaml", "is empty")),
        "list": (write(tmp_path, "list.yaml", "- a\n- b\n"), ("mapping",)),
        "scalar": (write(tmp_path, "scalar.yaml", "just text\n"), ("mapping",)),
        "unknown key": (write(tmp_path, "unk.yaml", SPEC + "bogus: 1\n"), ("bogus", "unknown")),
        "unknown placeholder": (
            write(tmp_path, "ph.yaml", SPEC + good_command),
            ("command", "${lr}", "not a parameter"),
        ),
        "unsplittable command": (
            write(tmp_path, "q.yaml", SPEC + 'command: "python \'unbalanced"\n'),
            ("command",),
        ),
        "bad range": (
            write(tmp_path, "range.yaml", SPEC.replace("min: -1, max: 1", "min: 1, max: 0")),
            ("parameters.x",),
        ),
        "no parameters": (
            write(tmp_path, "nop.yaml", "metric: {name: loss, goal: minimize}\n"),
            ("parameters",),
        ),
    }


BAD = [
    "missing",
    "empty",
    "list",
    "scalar",
    "unknown key",
    "unknown placeholder",
    "unsplittable command",
    "bad range",
    "no parameters",
]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", BAD)
def test_create_refuses_a_bad_spec_file(tmp_path: Path, case: str, as_json: bool) -> None:
    path, needles = _bad_specs(tmp_path)[case]
    r = invoke("sweep", "create", str(path), *(["--json"] if as_json else []))
    assert_refused(r, *needles, as_json=as_json)
    assert sweeps() == []
    assert invoke("ls", "--json").json() == []  # no sweep run left behind either


def test_create_refuses_a_directory(tmp_path: Path) -> None:
    for extra in ([], ["--json"]):
        r = invoke("sweep", "create", str(tmp_path), *extra)
        assert not r.crashed and r.code == 2 and r.out == ""
        assert "is a directory" in r.err and "Traceback" not in r.err
    assert sweeps() == []


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01binary\x00", "name: caf\xe9\n".encode("latin-1")],
    ids=["binary", "latin-1"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_create_refuses_a_file_that_is_not_utf8_text(
    tmp_path: Path, content: bytes, as_json: bool
) -> None:
    p = tmp_path / "spec.yaml"
    p.write_bytes(content)
    r = invoke("sweep", "create", str(p), *(["--json"] if as_json else []))
    assert_refused(r, "spec.yaml", as_json=as_json)
    assert sweeps() == []


@pytest.mark.parametrize(
    "text,needle",
    [("a: [\n", "not valid YAML"), (SPEC + "seed: 5\n", "duplicate key 'seed'")],
    ids=["invalid", "duplicate-key"],
)
def test_create_refuses_invalid_yaml(tmp_path: Path, text: str, needle: str) -> None:
    p = write(tmp_path, "bad.yaml", text)
    r = invoke("sweep", "create", str(p))
    assert not r.crashed and r.code == 1 and r.out == ""
    assert r.err.startswith(f"error: {p} is not valid YAML") and needle in r.err
    assert "Traceback" not in r.err
    r = invoke("sweep", "create", str(p), "--json")
    assert r.code == 1 and needle in r.json()["error"]["message"]
    assert sweeps() == []


def test_invalid_yaml_error_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", "metric: {name: loss}\nparameters: [\n")
    r = invoke("sweep", "create", str(p))
    assert_refused(r, "bad.yaml", "line 3")
    assert "<unicode string>" not in r.err


def test_create_with_a_bad_project_is_refused(tmp_path: Path) -> None:
    spec_file = write(tmp_path, "spec.yaml", SPEC)
    assert_refused(invoke("sweep", "create", str(spec_file), "-p", "bad project!"), "project")
    assert_refused(
        invoke("sweep", "create", str(spec_file), "-p", "bad project!", "--json"),
        "project",
        as_json=True,
    )
    assert sweeps() == []


# -- sweep ls ----------------------------------------------------------------------------------
def test_ls_table_and_json(tmp_path: Path) -> None:
    r = invoke("sweep", "ls")
    assert r.code == 0 and "no sweeps" in r.out
    assert invoke("sweep", "ls", "--json").json() == []
    a = create(write(tmp_path, "spec.yaml", SPEC), "-p", "one")
    b = populate(project="two")
    r = invoke("sweep", "ls")
    assert r.code == 0 and not r.crashed
    for needle in (a, b, "one", "two", "running", "finished", "12 complete", "loss="):
        assert needle in r.out, needle
    docs = sweeps()
    assert [d["id"] for d in docs] == [b, a]  # newest first
    by_id = {d["id"]: d for d in docs}
    assert by_id[b]["counts"] == {"complete": 12} and by_id[b]["budget_used"] == 12
    assert by_id[b]["best"] is not None and by_id[b]["status"] == "finished"
    assert by_id[a]["counts"] == {} and by_id[a]["best"] is None
    one = invoke("sweep", "ls", "one", "--json").json()
    assert [d["id"] for d in one] == [a]
    assert invoke("sweep", "ls", "no-such-project", "--json").json() == []
    assert_refused(invoke("sweep", "ls", "bad project!"), "project")
    assert_refused(invoke("sweep", "ls", "bad project!", "--json"), "project", as_json=True)


def test_ls_shows_a_pareto_front() -> None:
    sid = populate(objectives=2)
    r = invoke("sweep", "ls")
    assert r.code == 0 and sid in r.out and "Pareto front" in r.out
    (doc,) = sweeps()
    assert doc["best"] is None and len(doc["pareto"]) >= 1
    assert all(len(t["values"]) == 2 for t in doc["pareto"])


# -- sweep show ------------------------------------------------------------------------------
def test_show_json_holds_best_trial_importance_and_trials() -> None:
    sid = populate()
    r = invoke("sweep", "show", sid, "--json")
    assert r.code == 0 and not r.crashed
    doc = r.json()
    assert doc["id"] == sid and doc["status"] == "finished"
    assert doc["stop_reason"] and "12" in doc["stop_reason"]
    assert doc["counts"] == {"complete": 12} and doc["budget_used"] == 12
    trials = doc["trials"]
    assert len(trials) == 12 and sorted(t["number"] for t in trials) == list(range(12))
    for t in trials:
        assert t["state"] == "complete" and len(t["values"]) == 1 and t["run_id"]
        assert set(t["params"]) == {"x", "noise", "opt"} and t["sampler"]
        assert t["values"][0] == pytest.approx((t["params"]["x"] - 0.3) ** 2)
    best = doc["best"]
    assert best["values"][0] == min(t["values"][0] for t in trials)
    assert best["number"] in {t["number"] for t in trials}
    assert isinstance(best["started_at"], str)  # ISO time, like the trials'
    imp = doc["analysis"]["importance"]
    assert doc["analysis"]["importance_method"] == "ped_anova"
    assert set(imp) == {"x", "noise", "opt"} and max(imp, key=imp.get) == "x"
    assert sum(imp.values()) == pytest.approx(1.0, abs=1e-6)
    hist = doc["analysis"]["history"]
    assert [h["number"] for h in hist] == list(range(12))
    assert hist[-1]["best"] == pytest.approx(best["values"][0])
    # the trial's run is a tracked run: config = its parameters
    run = invoke("show", best["run_id"], "--json").json()
    assert run["config"]["x"] == best["params"]["x"]

    doc = invoke("sweep", "show", sid, "--json", "--importance", "none").json()
    assert not doc["analysis"]["importance"]


def test_show_table_says_the_budget_in_words_and_has_no_history_before_two_trials() -> None:
    spec = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "budget": {"seconds": 3600, "patience": 5},
    }
    sw = runtrack.Api().create_sweep(spec, project="words")
    t = sw.ask()
    assert t is not None
    sw.tell(t, 0.5)
    r = invoke("sweep", "show", sw.id)
    assert r.code == 0 and not r.crashed
    assert "budget 3600 s, stop after 5 trials without improvement;" in r.out
    assert "history" not in r.out  # one trial: nothing to draw


def test_show_table_is_readable() -> None:
    sid = populate()
    r = invoke("sweep", "show", sid)
    assert r.code == 0 and not r.crashed and r.err == ""
    out = r.out
    assert f"({sid})" in out and "in project imp" in out
    assert "status finished" in out and "12 complete" in out and "method random" in out
    assert "best: trial" in out and "loss=" in out and "(minimize)" in out
    assert "parameter importance (ped_anova)" in out and "%" in out
    assert "budget 12 trials;" in out  # not a dict's repr
    # the optimisation history: best so far after each of the 12 trials, first -> best
    line = next(ln for ln in out.splitlines() if ln.startswith("history"))
    assert line.startswith("history, best loss so far over 12 finished trials: ")
    assert "->" in line and "improvement" in line and any(c in line for c in "▁▂▃▄▅▆▇█")
    for col in ("trial", "state", "loss", "x", "noise", "opt", "sampler", "run"):
        assert col in out
    assert out.count("complete") >= 12
    r = invoke("sweep", "show", sid, "--no-trials", "--importance", "none")
    assert r.code == 0 and "best: trial" in r.out and "sampler" not in r.out
    assert "importance" not in r.out


def test_show_a_pareto_front() -> None:
    sid = populate(objectives=2)
    r = invoke("sweep", "show", sid)
    assert r.code == 0 and "Pareto front:" in r.out and "acc" in r.out
    doc = invoke("sweep", "show", sid, "--json").json()
    assert doc["best"] is None and doc["pareto"]
    assert {t["number"] for t in doc["pareto"]} <= {t["number"] for t in doc["trials"]}


def test_show_a_new_sweep(tmp_path: Path) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("sweep", "show", sid)
    assert r.code == 0 and "status running" in r.out and "no complete trial yet" in r.out
    doc = invoke("sweep", "show", sid, "--json").json()
    assert doc["status"] == "running" and doc["trials"] == [] and doc["best"] is None


# -- unknown and malformed ids -------------------------------------------------------------------
UNKNOWN = "zzzzzzzzzzzzzzzz"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    "cmd", [("sweep", "show"), ("sweep", "stop"), ("sweep", "resume"), ("agent",)]
)
def test_unknown_sweep_id(cmd: tuple[str, ...], as_json: bool) -> None:
    r = invoke(*cmd, UNKNOWN, *(["--json"] if as_json else []))
    assert_refused(r, "sweep", UNKNOWN, "does not exist", as_json=as_json)
    if as_json:
        assert r.json()["error"]["code"] == "sweep_not_found"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    "cmd", [("sweep", "show"), ("sweep", "stop"), ("sweep", "resume"), ("agent",)]
)
@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC"])
def test_malformed_sweep_id(cmd: tuple[str, ...], as_json: bool, bad: str) -> None:
    r = invoke(*cmd, bad, *(["--json"] if as_json else []))
    assert_refused(r, "sweep", as_json=as_json)
    text = r.json()["error"]["message"] if as_json else r.err
    assert "run '" not in text and "run ids" not in text and "runtrack ls" not in text
    if as_json:
        assert r.json()["error"]["code"] != "run_not_found"


# -- sweep stop ------------------------------------------------------------------------------------
def test_stop_show_and_stop_again(tmp_path: Path) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("sweep", "stop", sid, "--reason", "enough for today")
    assert r.code == 0 and not r.crashed
    assert r.out.strip() == f"sweep {sid} stopped: enough for today"
    shown = invoke("sweep", "show", sid)
    assert "status stopped (enough for today)" in shown.out
    doc = invoke("sweep", "show", sid, "--json").json()
    assert doc["status"] == "stopped" and doc["stop_reason"] == "enough for today"
    ended = doc["ended_at"]
    assert ended is not None
    # stopping again is harmless: the first stop stands
    r = invoke("sweep", "stop", sid, "--reason", "another", "--json")
    assert r.code == 0
    again = r.json()
    assert again["status"] == "stopped" and again["stop_reason"] == "enough for today"
    assert again["ended_at"] == ended
    listed = {d["id"]: d for d in sweeps()}
    assert listed[sid]["status"] == "stopped"


def test_stop_default_reason_and_a_finished_sweep(tmp_path: Path) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    doc = invoke("sweep", "stop", sid, "--json").json()
    assert doc["status"] == "stopped" and doc["stop_reason"] == "stopped by request"
    done = populate()
    r = invoke("sweep", "stop", done, "--json")
    assert r.code == 0 and r.json()["status"] == "finished"  # a finished sweep stays finished


# -- sweep resume ----------------------------------------------------------------------------------
def test_resume_a_stopped_then_a_spent_sweep(tmp_path: Path) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    invoke("sweep", "stop", sid)
    r = invoke("sweep", "resume", sid)
    assert r.code == 0 and not r.crashed and r.err == ""
    assert r.out.startswith(f"sweep {sid} running: budget ")
    assert f"run trials with: runtrack agent {sid}" in r.out
    assert invoke("sweep", "show", sid, "--json").json()["status"] == "running"

    done = populate()  # 12 of 12 trials used
    r = invoke("sweep", "resume", done)
    assert_refused(r, "budget of 12 trials spent", "--trials N")
    r = invoke("sweep", "resume", done, "--trials", "5", "--json")
    assert r.code == 0 and not r.crashed
    doc = r.json()
    assert doc["status"] == "running" and doc["spec"]["budget"] == {"trials": 17}
    assert doc["stop_reason"] is None and doc["ended_at"] is None


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    "args", [["--trials", "0"], ["--trials", "x"], ["--seconds", "0"], ["--seconds", "-5"]]
)
def test_resume_refuses_bad_options(tmp_path: Path, args: list[str], as_json: bool) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    invoke("sweep", "stop", sid)
    r = invoke("sweep", "resume", sid, *args, *(["--json"] if as_json else []))
    assert r.code != 0 and not r.crashed
    assert ("--trials" if "--trials" in args else "--seconds") in (r.out + r.err)
    assert invoke("sweep", "show", sid, "--json").json()["status"] == "stopped"


def test_stop_refuses_an_overlong_reason(tmp_path: Path) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    assert_refused(invoke("sweep", "stop", sid, "--reason", "r" * 1001), "reason")
    assert invoke("sweep", "show", sid, "--json").json()["status"] == "running"


# -- agent -----------------------------------------------------------------------------------------
def test_agent_runs_command_trials_with_count_then_to_the_end(tmp_path: Path) -> None:
    sid = create(spec_with_command(tmp_path), "-p", "agents")
    r = invoke("agent", sid, "--count", "1", "--json")
    assert r.code == 0 and not r.crashed, r.err
    doc = r.json()
    assert doc["sweep"] == sid and doc["stopped"] == "count of 1 trial reached"
    (t,) = doc["trials"]
    assert t["number"] == 0 and t["state"] == "complete" and len(t["values"]) == 1 and t["run_id"]
    # the next agent, without --count, runs until the budget is spent
    r = invoke("agent", sid)
    assert r.code == 0 and r.out == ""
    assert f"agent ran 1 trial(s) of sweep {sid}: budget of 2 trials spent" in r.err
    assert "best so far: trial" in r.err and "loss=" in r.err
    shown = invoke("sweep", "show", sid, "--json").json()
    assert shown["status"] == "finished" and shown["counts"] == {"complete": 2}
    best = shown["best"]
    assert best["values"][0] == min(t["values"][0] for t in shown["trials"])
    for tr in shown["trials"]:
        assert tr["values"][0] == pytest.approx((tr["params"]["x"] - 0.3) ** 2)
        run = invoke("show", tr["run_id"], "--json").json()
        assert run["status"] == "finished" and run["config"]["x"] == tr["params"]["x"]
        assert run["project"] == "agents"
    # an agent on a finished sweep exits cleanly, saying why
    r = invoke("agent", sid)
    assert r.code == 0 and "ran 0 trial(s)" in r.err and "budget of 2 trials spent" in r.err
    r = invoke("agent", sid, "--json")
    assert r.code == 0
    assert r.json() == {"sweep": sid, "trials": [], "stopped": "budget of 2 trials spent"}


def test_agent_count_beyond_the_budget_stops_at_the_budget(tmp_path: Path) -> None:
    script = trial_script(tmp_path)
    sid = create(write(tmp_path, "spec.yaml", SPEC.replace("trials: 2", "trials: 1")))
    r = invoke("agent", sid, "-n", "5", "--json", "--", sys.executable, str(script))
    assert r.code == 0
    doc = r.json()
    assert len(doc["trials"]) == 1 and "budget of 1 trial spent" in doc["stopped"]


def test_agent_prints_a_line_per_trial_unless_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNTRACK_QUIET")
    sid = create(spec_with_command(tmp_path))
    r = invoke("agent", sid, "--count", "1")
    assert r.code == 0 and r.out == ""
    assert "trial 0: complete loss=" in r.err and "(best " in r.err and " s\n" in r.err
    r = invoke("agent", sid, "--count", "1", "--quiet")
    assert r.code == 0 and "trial 1:" not in r.err and "agent ran 1 trial(s)" in r.err


def test_agent_command_after_dashes_with_placeholders(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    script = trial_script(
        tmp_path,
        "import json, os, sys\n"
        "import runtrack\n"
        "with runtrack.init() as run:\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], "
        "'params': json.loads(os.environ['RUNTRACK_PARAMS']), 'config': run.config.to_dict(),"
        " 'run': run.id}))\n"
        "    run.log({'loss': run.config['x'] ** 2})\n",
    )
    spec = write(
        tmp_path,
        "spec.yaml",
        SPEC.replace("budget:", "  tag: {value: hello}\nbudget:")
        + "command: ['/no/such/binary', '${x}']\n",
    )
    sid = create(spec)
    r = invoke(
        "agent", sid, "-n", "1", "--json", "--", "${interpreter}", str(script), "${args}",
        "--trial=${trial}", "--sweep=${sweep_id}", "--run=${run_id}",
    )  # fmt: skip
    assert r.code == 0, r.err
    (t,) = r.json()["trials"]
    assert t["state"] == "complete"
    got = json.loads(seen.read_text())
    x = got["config"]["x"]
    assert got["argv"] == [
        f"--x={x!r}",
        "--tag=hello",
        "--trial=0",
        f"--sweep={sid}",
        f"--run={t['run_id']}",
    ]
    assert got["params"] == {"x": x, "tag": "hello"} and got["config"]["tag"] == "hello"
    assert got["run"] == t["run_id"] and t["values"] == [pytest.approx(x**2)]


def test_agent_with_a_failing_command_fails_the_trial_and_goes_on(tmp_path: Path) -> None:
    script = trial_script(
        tmp_path,
        "import runtrack\nwith runtrack.init() as run:\n    raise RuntimeError('boom in trial')\n",
    )
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("agent", sid, "--json", "--", sys.executable, str(script))
    assert r.code == 0 and not r.crashed
    doc = r.json()
    assert [t["state"] for t in doc["trials"]] == ["failed", "failed"]
    assert all(t["values"] is None for t in doc["trials"])
    shown = invoke("sweep", "show", sid, "--json").json()
    assert shown["counts"] == {"failed": 2} and shown["best"] is None
    assert all("boom in trial" in t["error"] for t in shown["trials"])
    for t in shown["trials"]:
        assert invoke("show", t["run_id"], "--json").json()["status"] == "failed"
    # a bare non-zero exit (no runtrack.init at all) fails the trial with the exit code
    sid = create(write(tmp_path, "spec2.yaml", SPEC))
    r = invoke("agent", sid, "-n", "1", "--json", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert r.code == 0 and r.json()["trials"][0]["state"] == "failed"
    (t,) = invoke("sweep", "show", sid, "--json").json()["trials"]
    assert "exited with code 3" in t["error"]
    assert invoke("show", t["run_id"], "--json").json()["status"] == "failed"


def test_agent_trial_that_logs_no_metric_fails(tmp_path: Path) -> None:
    script = trial_script(tmp_path, "import runtrack\nwith runtrack.init() as run:\n    pass\n")
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("agent", sid, "-n", "1", "--json", "--", sys.executable, str(script))
    assert r.code == 0 and r.json()["trials"][0]["state"] == "failed"
    (t,) = invoke("sweep", "show", sid, "--json").json()["trials"]
    assert "logged no loss" in t["error"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_agent_with_a_missing_executable_says_so(tmp_path: Path, as_json: bool) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC.replace("trials: 2", "trials: 5")))
    r = invoke("agent", sid, *(["--json"] if as_json else []), "--", "no-such-exe-xyz", "${x}")
    assert not r.crashed and "Traceback" not in r.out + r.err
    assert r.code != 0
    text = json.dumps(r.json()) if as_json else r.err
    assert "no-such-exe-xyz" in text
    # the agent does not burn the whole budget on a command that can never start
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] <= 1


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_agent_without_a_command_is_refused(tmp_path: Path, as_json: bool) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("agent", sid, *(["--json"] if as_json else []))
    assert_refused(r, "has no command", "--", as_json=as_json)
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] == 0


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_agent_refuses_unknown_placeholders(tmp_path: Path, as_json: bool) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    flag = ["--json"] if as_json else []
    r = invoke("agent", sid, *flag, "--", sys.executable, "t.py", "--lr=${lr}")
    assert_refused(r, "${lr}", "not a parameter", as_json=as_json)
    r = invoke("agent", sid, *flag, "--", sys.executable, "t.py", "${}")
    assert_refused(r, "not a parameter", as_json=as_json)
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] == 0


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_agent_count_must_be_positive(tmp_path: Path, count: str) -> None:
    sid = create(spec_with_command(tmp_path))
    r = invoke("agent", sid, "--count", count)
    assert not r.crashed and r.code == 2 and r.out == ""
    assert "--count" in r.err and "Traceback" not in r.err
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] == 0


def test_agent_on_a_stopped_sweep_exits_cleanly(tmp_path: Path) -> None:
    sid = create(spec_with_command(tmp_path))
    invoke("sweep", "stop", sid)
    r = invoke("agent", sid)
    assert r.code == 0 and not r.crashed
    assert "ran 0 trial(s)" in r.err and "stopped" in r.err
    r = invoke("agent", sid, "--json")
    assert r.code == 0 and r.json()["trials"] == []
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] == 0


def test_agent_on_a_sweep_stopped_with_a_reason_says_it_is_stopped(tmp_path: Path) -> None:
    sid = create(spec_with_command(tmp_path))
    invoke("sweep", "stop", sid, "--reason", "enough")
    r = invoke("agent", sid)
    assert r.code == 0 and "enough" in r.err and "stopped" in r.err


def test_agent_json_stdout_parses_when_the_trial_prints(tmp_path: Path) -> None:
    script = trial_script(
        tmp_path,
        "import runtrack\nprint('hello from the trial')\n"
        "with runtrack.init() as run:\n    print('epoch 1')\n"
        "    run.log({'loss': run.config['x'] ** 2})\n",
    )
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    agent = [sys.executable, "-m", "runtrack.cli", "agent", sid, "-n", "1", "--json"]
    proc = subprocess.run(
        [*agent, "--", sys.executable, str(script)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["sweep"] == sid and doc["trials"][0]["state"] == "complete"


# -- an agent whose trials keep failing gives up ---------------------------------------------
FAIL_ON = """\
import os, runtrack
with runtrack.init() as run:
    if int(os.environ["RUNTRACK_TRIAL_NUMBER"]) in {FAIL}:
        raise RuntimeError("broken trial " + os.environ["RUNTRACK_TRIAL_NUMBER"])
    run.log({"loss": 1.0})
"""


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_agent_gives_up_after_failures_in_a_row(tmp_path: Path, as_json: bool) -> None:
    script = trial_script(tmp_path, FAIL_ON.replace("{FAIL}", "{0, 1, 3, 4, 5, 6}"))
    sid = create(write(tmp_path, "spec.yaml", SPEC.replace("trials: 2", "trials: 20")))
    flag = ["--json"] if as_json else []
    r = invoke("agent", sid, "--max-failures", "3", *flag, "--", sys.executable, str(script))
    assert not r.crashed and r.code == 1
    if as_json:
        err = r.json()["error"]
        assert err["code"] == "trials_failing" and err["failures"] == 3 and err["sweep"] == sid
        text = err["message"]
    else:
        text = r.err
    assert "last 3 trials" in text and "broken trial 5" in text and "--max-failures 0" in text
    shown = invoke("sweep", "show", sid, "--json").json()
    # trial 2 succeeded, so the count started again at 3 and gave up at 5
    assert shown["counts"] == {"failed": 5, "complete": 1} and shown["budget_used"] == 6
    assert shown["status"] == "running"


def test_agent_with_max_failures_zero_runs_the_whole_budget(tmp_path: Path) -> None:
    script = trial_script(tmp_path, FAIL_ON.replace("{FAIL}", "range(100)"))
    sid = create(write(tmp_path, "spec.yaml", SPEC.replace("trials: 2", "trials: 6")))
    r = invoke("agent", sid, "--max-failures", "0", "--json", "--", sys.executable, str(script))
    assert r.code == 0 and [t["state"] for t in r.json()["trials"]] == ["failed"] * 6


@pytest.mark.parametrize("bad", ["-1", "x"])
def test_agent_max_failures_must_be_a_non_negative_integer(tmp_path: Path, bad: str) -> None:
    sid = create(spec_with_command(tmp_path))
    r = invoke("agent", sid, "--max-failures", bad)
    assert not r.crashed and r.code == 2 and "--max-failures" in r.err
    assert invoke("sweep", "show", sid, "--json").json()["budget_used"] == 0


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("import sys; sys.exit('cannot read data/train.csv')", "cannot read data/train.csv"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL"),
        (
            "print('\\u00e9t\\u00e9 \\u2713', file=__import__('sys').stderr); raise SystemExit(4)",
            "code 4; last line of its stderr: \u00e9t\u00e9 \u2713",
        ),
    ],
    ids=["message", "signal", "unicode"],
)
def test_a_trial_that_dies_before_its_run_records_why(
    tmp_path: Path, code: str, needle: str
) -> None:
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("agent", sid, "-n", "1", "--json", "--", sys.executable, "-c", code)
    assert r.code == 0 and r.json()["trials"][0]["state"] == "failed"
    (t,) = invoke("sweep", "show", sid, "--json").json()["trials"]
    assert needle in t["error"]


def test_a_grandchild_holding_stderr_does_not_hang_the_agent(tmp_path: Path) -> None:
    code = "import subprocess, sys; subprocess.Popen(['sleep', '20']); sys.exit('parent gone')"
    sid = create(write(tmp_path, "spec.yaml", SPEC))
    r = invoke("agent", sid, "-n", "1", "--json", "--", sys.executable, "-c", code)
    assert r.code == 0 and r.json()["trials"][0]["state"] == "failed"
    (t,) = invoke("sweep", "show", sid, "--json").json()["trials"]
    assert "parent gone" in t["error"]
