"""`runtrack agent`, command trials and the Hydra sweeper under hostile and edge-case
input, as a demanding user of W&B sweeps or Hydra would feed them: values full of shell
metacharacters, quotes, newlines and unicode; placeholders in odd places; bad counts and
ids; children that fail, get killed, log NaN or print on stdout under --json; agents
killed mid-trial; Hydra overrides that cannot be searched.

Every test asserts the documented behaviour (docs/sweeps.md "Agents", docs/cli.md
"runtrack agent", docs/hydra.md). A behaviour that is wrong today is kept asserting the
right thing and marked ``xfail(strict=True)`` with the defect in its reason."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

import runtrack
from _cli_run import invoke
from _support import as_from_a_terminal, run_hydra_example, subprocess_env
from hydra_plugins.runtrack_sweeper.runtrack_sweeper import RuntrackSweeper, format_value
from runtrack.entities import SweepTrial
from runtrack.errors import ValidationError
from runtrack.sweeps.agent import render_command
from runtrack.sweeps.spec import check_command, normalize

pytestmark = pytest.mark.usefixtures("sdk")

CHILD = Path(__file__).with_name("_hostile_child.py")
X = {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}}


# -- helpers -------------------------------------------------------------------------------
def make_sweep(
    params: dict[str, Any], trials: int = 1, project: str = "hostile", **extra: Any
) -> str:
    spec = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": params,
        "budget": {"trials": trials},
        "seed": 0,
        **extra,
    }
    return runtrack.Api().create_sweep(spec, project=project).id


def child(mode: str, out: Path, *args: str) -> list[str]:
    """The argv of the trial program (after --)."""
    return [sys.executable, str(CHILD), mode, str(out), *args]


def received(out: Path) -> list[dict[str, Any]]:
    """What each trial process received, in order."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def trials_of(sweep_id: str) -> list[SweepTrial]:
    return runtrack.Api().sweep(sweep_id).trials()


def no_trial_left_running(sweep_id: str) -> None:
    """No trial handed out and then abandoned: each is failed (or never handed out)."""
    states = [t.state for t in trials_of(sweep_id)]
    assert "running" not in states, states
    api = runtrack.Api()
    for t in trials_of(sweep_id):
        assert api.run(t.run_id).status != "running", t  # type: ignore[arg-type]


def trial(params: dict[str, Any], number: int = 0) -> SweepTrial:
    return SweepTrial("sw", number, "run1", "running", params, None, (), None, None, None)


def norm(params: dict[str, Any], command: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"metric": {"name": "loss", "goal": "minimize"}, "parameters": params}
    if command is not None:
        spec["command"] = command
    return normalize(spec)


# -- render_command: values reach the argv exactly, never through a shell ------------------
HOSTILE = {
    "space": "a b",
    "quotes": 'it\'s "quoted"',
    "semicolon": "x; touch PWNED_SEMI",
    "subst": "$(touch PWNED_SUBST)",
    "backtick": "`touch PWNED_TICK`",
    "newline": "line1\nline2",
    "unicode": "ünïcødé 🙂",
    "placeholder": "${x}",  # a value holding ${...} is not expanded again
    "dollar": "$HOME",
    "empty": "",
    "flag": "--count=5",
}


def test_render_passes_each_value_verbatim_as_one_argument() -> None:
    params = {"x": {"values": [0.5, 0.25]}, **{k: {"value": v} for k, v in HOSTILE.items()}}
    sp = norm(params)
    t = trial({"x": 0.25})
    argv = render_command(
        ["prog", *(f"${{{k}}}" for k in HOSTILE), "--q=${quotes}", "${x}:${space}"], sp, t
    )
    assert argv == ["prog", *HOSTILE.values(), "--q=" + HOSTILE["quotes"], "0.25:a b"]
    assert render_command(["${args}"], sp, t) == [
        "--x=0.25",
        *(f"--{k}={v}" for k, v in HOSTILE.items()),
    ]
    # Hydra's syntax: each value reads back through Hydra's parser as itself
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    got = render_command(["${args_no_hyphens}"], sp, t)[1:]
    assert [(o.key_or_group, o.value()) for o in parser.parse_overrides(got)] == list(
        HOSTILE.items()
    )


@pytest.mark.parametrize(
    "value",
    [1e-05, 0.30000000000000004, 1e16, 5e-324, 1.7976931348623157e308, 2.0, 0.1, -3.5e-07],
)
def test_render_writes_floats_with_repr_so_they_round_trip(value: float) -> None:
    sp = norm({"f": {"values": [value, 7]}})
    t = trial({"f": value})
    [alone, adjacent, arg] = render_command(["${f}", "--lr=${f}", "${args}"], sp, t)
    assert alone == repr(value) and float(alone) == value
    assert adjacent == f"--lr={value!r}" and arg == f"--f={value!r}"


def test_render_bool_none_and_int_values() -> None:
    sp = norm({"b": {"values": [True, False]}, "n": {"value": None}, "i": {"value": 2**53 + 1}})
    argv = render_command(["${b}", "${n}", "${i}", "${args}"], sp, trial({"b": True}))
    # JSON spelling (true / null), as Hydra reads them; ints exactly
    assert argv == [
        "true",
        "null",
        "9007199254740993",
        "--b=true",
        "--n=null",
        "--i=9007199254740993",
    ]


def test_render_drops_arguments_of_an_inactive_conditional_parameter() -> None:
    sp = norm(
        {
            "opt": {"values": ["adam", "sgd"]},
            "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.9, "when": {"opt": "sgd"}},
        }
    )
    cmd = ["p", "--m=${momentum}", "--opt=${opt}", "${momentum}x${opt}", "${args}"]
    assert render_command(cmd, sp, trial({"opt": "adam"})) == ["p", "--opt=adam", "--opt=adam"]
    assert render_command(cmd, sp, trial({"opt": "sgd", "momentum": 0.5})) == [
        "p",
        "--m=0.5",
        "--opt=sgd",
        "0.5xsgd",
        "--opt=sgd",
        "--momentum=0.5",
    ]


def test_text_that_is_no_placeholder_is_passed_literally() -> None:
    sp = norm(X)
    argv = render_command(["$x", "${x", "x}", "{x}", "$", "$$"], sp, trial({"x": 0.5}))
    assert argv == ["$x", "${x", "x}", "{x}", "$", "$$"]


def test_a_doubled_dollar_writes_a_placeholder_as_text() -> None:
    sp = norm(X, command=["bash", "-c", "echo $${HOME} $${x} ${x}", "--v=$$${x}"])
    argv = render_command(sp["command"], sp, trial({"x": 0.5}))
    assert argv == ["bash", "-c", "echo ${HOME} ${x} 0.5", "--v=$${x}"]
    check_command(["p", "$${anything at all}"], sp)  # literal text: never refused


@pytest.mark.parametrize("token", ["${HOME}", "--lr=${lr}", "${ x }", "${X}", "${x.y}"])
def test_an_unknown_placeholder_is_refused_naming_it(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_command(["python", "t.py", token], norm(X))
    text = str(info.value)
    assert text.startswith("sweep spec: command: argument ") and repr(token) in text
    assert "is not a parameter of the sweep (parameters: x;" in text
    with pytest.raises(ValidationError, match="not a parameter"):  # the same in a spec
        norm(X, command=f"python t.py '{token}'")


def test_a_spec_command_string_is_split_like_a_shell() -> None:
    sp = norm(X, command="python 't r.py' --name '${x} and ${x}' \"--q=it's\"")
    assert sp["command"] == ["python", "t r.py", "--name", "${x} and ${x}", "--q=it's"]
    assert render_command(sp["command"], sp, trial({"x": 0.5}))[3] == "0.5 and 0.5"


@pytest.mark.parametrize("name", ["trial", "args", "run_id", "sweep_id", "interpreter"])
def test_a_parameter_named_like_a_keyword_cannot_be_a_placeholder(name: str) -> None:
    params = {name: {"values": [7, 8]}}
    with pytest.raises(ValidationError, match=rf"\$\{{{name}\}} is ambiguous.*rename"):
        norm(params, command=f"python t.py --t=${{{name}}}")
    with pytest.raises(ValidationError, match="is ambiguous"):  # a command given to the agent
        check_command(["python", "t.py", f"${{{name}}}"], norm(params))
    # the parameter itself is fine, and reaches the trial through ${args_no_hyphens}
    sp = norm(params, command="python t.py ${args_no_hyphens}")
    assert render_command(sp["command"], sp, trial({name: 7})) == ["python", "t.py", f"{name}=7"]


# -- ${args_no_hyphens}: "Hydra's override syntax" must read back as the same value --------
SAFE_FOR_HYDRA = [1e-05, 0.30000000000000004, 3, True, False, None, "plain", "a b"]
MANGLED_FOR_HYDRA = ["1", "true", "null", "a,b", "it's", "1e-05", "[1]", "ünï", "x=y"]


def _hydra_reads(token: str) -> Any:
    return OverridesParser.create().parse_override(token).value()


@pytest.mark.parametrize("value", SAFE_FOR_HYDRA, ids=repr)
def test_args_no_hyphens_reads_back_in_hydra(value: Any) -> None:
    sp = norm({"k": {"value": value}, **X})
    [token] = [
        a for a in render_command(["${args_no_hyphens}"], sp, trial({"x": 0.5})) if a[0] == "k"
    ]
    got = _hydra_reads(token)
    assert type(got) is type(value) and got == value


@pytest.mark.parametrize("value", MANGLED_FOR_HYDRA, ids=repr)
def test_args_no_hyphens_quotes_strings_hydra_would_misread(value: str) -> None:
    sp = norm({"k": {"value": value}, **X})
    [token] = [
        a for a in render_command(["${args_no_hyphens}"], sp, trial({"x": 0.5})) if a[0] == "k"
    ]
    assert _hydra_reads(f"k={format_value(value)}") == value  # the Hydra sweeper's way
    got = _hydra_reads(token)
    assert type(got) is str and got == value


# -- the agent: values, environment and config the trial process receives ------------------
def test_hostile_values_reach_the_child_exactly_through_argv_env_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNTRACK_PROJECT", "elsewhere")  # the sweep's project wins
    out = tmp_path / "got.jsonl"
    fixed = {**HOSTILE, "yes": True, "none": None, "small": 1e-05, "sum": 0.1 + 0.2}
    params = {
        "lr": {"distribution": "log_uniform", "min": 1e-6, "max": 1e-5},
        **{k: {"value": v} for k, v in fixed.items()},
        "model.depth": {"value": 3},
    }
    command = " ".join(
        [*map(shlex.quote, child("ok", out)), "--lr=${lr}", "'${quotes}'", "${semicolon}"]
    )
    sid = make_sweep(params, command=command + " ${args}")
    r = invoke("agent", sid, "--json")
    assert r.code == 0 and not r.crashed, (r.err, r.crashed)
    [doc] = json.loads(r.out)["trials"]
    assert doc["state"] == "complete"
    [got] = received(out)
    lr = got["config"]["lr"]
    assert 1e-6 <= lr <= 1e-5 and type(lr) is float
    assert got["argv"] == [
        f"--lr={lr!r}",
        HOSTILE["quotes"],
        HOSTILE["semicolon"],
        f"--lr={lr!r}",
        *(f"--{k}={v}" for k, v in HOSTILE.items()),
        "--yes=true",
        "--none=null",
        "--small=1e-05",
        "--sum=0.30000000000000004",
        "--model.depth=3",
    ]
    nested = {"lr": lr, **fixed, "model": {"depth": 3}}
    assert got["params"] == nested  # RUNTRACK_PARAMS: JSON, dotted names nested
    assert got["config"] == nested  # the run's config: the same values, same types
    assert got["env"]["RUNTRACK_SWEEP_ID"] == sid
    assert got["env"]["RUNTRACK_TRIAL_RUN"] == doc["run_id"] == got["run"]
    assert got["env"]["RUNTRACK_TRIAL_NUMBER"] == "0"
    assert not list(tmp_path.glob("PWNED*"))  # no shell ever saw a value
    api = runtrack.Api()
    assert api.run(doc["run_id"]).project == "hostile"
    assert api.runs("elsewhere") == []


# -- the agent: --count, ids, finished and stopped sweeps -----------------------------------
@pytest.mark.parametrize("count", ["0", "-5", "1.5", "1e3", "", "0x10", "one"])
def test_a_bad_count_is_a_usage_error_before_any_trial(tmp_path: Path, count: str) -> None:
    sid = make_sweep(X)
    r = invoke("agent", sid, "--count", count, "--", *child("ok", tmp_path / "o"))
    assert not r.crashed and r.code == 2 and r.out == ""
    assert "Error: Invalid value for '--count' / '-n': " in r.err
    assert ("is not in the range x>=1" if count in ("0", "-5") else "not a valid integer") in r.err
    assert "Traceback" not in r.err
    assert trials_of(sid) == [] and received(tmp_path / "o") == []


def test_a_huge_count_stops_at_the_budget(tmp_path: Path) -> None:
    sid = make_sweep(X, trials=1)
    r = invoke("agent", sid, "-n", str(10**30), "--json", "--", *child("ok", tmp_path / "o"))
    assert r.code == 0 and not r.crashed, r.err
    doc = json.loads(r.out)
    assert len(doc["trials"]) == 1 and doc["stopped"] == "budget of 1 trial spent"
    assert len(received(tmp_path / "o")) == 1


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("bad", ["", " ", "a" * 5000, "SWEEP", "../sweeps", "ab\ncd"])
def test_a_malformed_sweep_id_is_refused_in_one_line(bad: str, as_json: bool) -> None:
    r = invoke("agent", bad, *(["--json"] if as_json else []))
    assert not r.crashed and r.code == 1 and "Traceback" not in r.out + r.err
    if as_json:
        err = json.loads(r.out)["error"]
        assert err["code"] == "sweep_not_found" and "does not exist" in err["message"]
    else:
        assert r.out == "" and r.err.startswith("error: sweep ") and "does not exist" in r.err
        assert len(r.err) < 400  # a 5,000-character id is cut short in the message


def test_a_trial_run_id_is_not_a_sweep_id(tmp_path: Path) -> None:
    sid = make_sweep(X, trials=2)
    assert invoke("agent", sid, "-n", "1", "--", *child("ok", tmp_path / "o")).code == 0
    run_id = trials_of(sid)[0].run_id
    assert run_id is not None
    r = invoke("agent", run_id, "--", *child("ok", tmp_path / "o"))
    assert not r.crashed and r.code == 1
    assert r.err.startswith(f"error: sweep '{run_id}' does not exist")
    assert len(trials_of(sid)) == 1


def test_an_agent_on_a_finished_or_stopped_sweep_runs_nothing_and_says_why(
    tmp_path: Path,
) -> None:
    out = tmp_path / "o"
    done = make_sweep(X, trials=1)
    assert invoke("agent", done, "--", *child("ok", out)).code == 0
    r = invoke("agent", done, "--json", "--", *child("ok", out))
    assert r.code == 0 and json.loads(r.out) == {
        "sweep": done,
        "trials": [],
        "stopped": "budget of 1 trial spent",
    }
    stopped = make_sweep(X, trials=5)
    runtrack.Api().sweep(stopped).stop("quota; retry after 5 $(date)")
    r = invoke("agent", stopped, "--json", "--", *child("ok", out))
    assert r.code == 0 and json.loads(r.out) == {
        "sweep": stopped,
        "trials": [],
        "stopped": "the sweep was stopped (quota; retry after 5 $(date))",
    }
    r = invoke("agent", stopped, "--", *child("ok", out))
    assert (
        r.code == 0 and f"agent ran 0 trial(s) of sweep {stopped}: the sweep was stopped" in r.err
    )
    assert len(received(out)) == 1 and trials_of(stopped) == []


# -- the agent: commands that cannot start ----------------------------------------------------
def test_a_spec_without_command_and_none_given(tmp_path: Path) -> None:
    sid = make_sweep(X)
    for extra in ([], ["--"]):
        r = invoke("agent", sid, *extra)
        assert not r.crashed and r.code == 1 and r.out == ""
        assert r.err.startswith(f"error: sweep {sid} has no command: add 'command' to its spec")
    assert trials_of(sid) == []


@pytest.mark.parametrize("what", ["not on PATH", "a directory", "not executable"])
def test_a_command_that_cannot_start_fails_one_trial_and_stops(tmp_path: Path, what: str) -> None:
    program = {
        "not on PATH": "no-such-program-4711",
        "a directory": str(tmp_path),
        "not executable": str(CHILD),
    }[what]
    sid = make_sweep(X, trials=5)
    r = invoke("agent", sid, "--", program, "--x=${x}")
    assert not r.crashed and r.code == 1 and r.out == ""
    assert r.err.startswith(f"error: cannot start {program!r}: ")
    assert "trial 0 is recorded failed and the agent stops" in r.err
    [t] = trials_of(sid)
    assert t.state == "failed" and f"cannot start {program!r}" in (t.error or "")
    assert runtrack.Api().run(t.run_id).status == "failed"  # type: ignore[arg-type]
    assert runtrack.Api().sweep(sid).record.budget_used == 1


def test_a_keyword_placeholder_glued_to_text_is_refused_cleanly(tmp_path: Path) -> None:
    sid = make_sweep(X, trials=2)
    r = invoke("agent", sid, "--", *child("ok", tmp_path / "o"), "--all=${args}")
    assert not r.crashed, f"traceback for the user: {r.crashed}"
    assert r.code == 1 and r.err.startswith("error: ") and "${args}" in r.err
    no_trial_left_running(sid)


def test_a_value_that_cannot_be_an_argument_is_refused_cleanly(tmp_path: Path) -> None:
    try:
        sid = make_sweep({"s": {"values": ["a\x00b", "c"]}}, trials=2)
    except ValidationError as e:  # refused up front: fine
        assert "parameters.s" in str(e)
        return
    r = invoke("agent", sid, "--", *child("ok", tmp_path / "o"), "--s=${s}")
    assert not r.crashed, f"traceback for the user: {r.crashed}"
    assert r.code == 1 and "NUL" in r.err.upper()
    no_trial_left_running(sid)


# -- the agent: children that fail, get killed, log nothing or NaN ---------------------------
@pytest.mark.parametrize(
    ("mode", "error", "run_status"),
    [
        # the run's status: the child's own finish() when it made one (exit3, nolog, nan,
        # inf: "finished"), "killed" on SIGTERM (API.md), "failed" when the agent ends it
        # sys.exit(3) fails the run in the child (runtrack's sys.exit hook), and the
        # trial takes the run's error
        ("exit3", "the process exited with code 3 (sys.exit)", ("failed",)),
        ("nolog", "the command exited 0 but the run logged no loss", ("finished", "failed")),
        ("noinit", "the command exited 0 but the run logged no loss", ("failed",)),
        ("nan", "objective value [nan] is not finite", ("finished", "failed")),
        ("inf", "objective value [inf] is not finite", ("finished", "failed")),
        ("term", "terminated by SIGTERM", ("killed",)),
    ],
)
def test_a_child_that_does_not_deliver_fails_its_trial_and_the_agent_goes_on(
    tmp_path: Path, mode: str, error: str, run_status: tuple[str, ...]
) -> None:
    out = tmp_path / "o"
    sid = make_sweep(X, trials=2)
    r = invoke("agent", sid, "--json", "--", *child(mode, out, "${x}"))
    assert r.code == 0 and not r.crashed, (r.err, r.crashed)
    doc = json.loads(r.out)
    assert [t["state"] for t in doc["trials"]] == ["failed", "failed"]  # the agent went on
    assert all(t["values"] is None for t in doc["trials"])
    assert doc["stopped"] == "budget of 2 trials spent" and len(received(out)) == 2
    api = runtrack.Api()
    for t in trials_of(sid):
        assert t.state == "failed" and (t.error or "").startswith(error), t.error
        run = api.run(t.run_id)  # type: ignore[arg-type]
        assert run.status in run_status and run.tags["runtrack.trial_state"] == "failed"
    assert api.sweep(sid).record.best is None


def test_pruned_trials_in_a_row_do_not_stop_the_agent(tmp_path: Path) -> None:
    # a pruned command trial ends its process with an error (raise TrialPruned): that is
    # the pruner at work, not a broken script, so max_failures (5) must not count it
    out = tmp_path / "o"
    sid = make_sweep(X, trials=7)
    r = invoke("agent", sid, "--json", "--", *child("pruned", out, "${x}"))
    assert r.code == 0 and not r.crashed, (r.err, r.crashed)
    doc = json.loads(r.out)
    assert [t["state"] for t in doc["trials"]] == ["pruned"] * 7
    assert doc["stopped"] == "budget of 7 trials spent" and len(received(out)) == 7
    assert [t.state for t in trials_of(sid)] == ["pruned"] * 7


def test_a_child_killed_by_a_signal_is_reported_as_such(tmp_path: Path) -> None:
    sid = make_sweep(X)
    r = invoke("agent", sid, "--json", "--", *child("kill", tmp_path / "o"))
    assert r.code == 0 and json.loads(r.out)["trials"][0]["state"] == "failed"
    [t] = trials_of(sid)
    assert runtrack.Api().run(t.run_id).status == "failed"  # type: ignore[arg-type]
    assert "SIGKILL" in (t.error or ""), t.error


def test_a_nan_objective_fails_the_trial_and_tags_its_ended_run(tmp_path: Path) -> None:
    sid = make_sweep(X)
    assert invoke("agent", sid, "--", *child("nan", tmp_path / "o")).code == 0
    [t] = trials_of(sid)
    assert t.state == "failed" and "not finite" in (t.error or "")
    run = runtrack.Api().run(t.run_id)  # type: ignore[arg-type]
    # the child ended its run itself; it keeps that status, and says the trial failed
    assert run.status == "finished" and run.tags["runtrack.trial_state"] == "failed"


# -- the agent as a process: --json purity, Ctrl-C, SIGKILL ----------------------------------
NOISY = (
    "import os, subprocess, sys\n"
    "import runtrack\n"
    "os.write(1, b'raw fd 1 {not json\\n')\n"
    "print('print to stdout', flush=True)\n"
    "subprocess.run([sys.executable, '-c', 'print(\"from a grandchild\")'], check=True)\n"
    "run = runtrack.init()\n"
    "run.log({'loss': run.config['x']})\n"
    "run.finish()\n"
)


def agent_process(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtrack.cli", "agent", *args],
        env=subprocess_env(tmp_path, RUNTRACK_CONSOLE="0", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,  # the Ctrl-C tests send SIGINT
    )


def test_json_stdout_is_one_document_whatever_the_children_print(tmp_path: Path) -> None:
    sid = make_sweep(X, trials=2)
    proc = agent_process(
        tmp_path, sid, "--json", "--", sys.executable, "-c", NOISY, RUNTRACK_QUIET="0"
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)  # the whole of stdout, nothing else
    assert doc["sweep"] == sid and doc["stopped"] == "budget of 2 trials spent"
    assert [t["state"] for t in doc["trials"]] == ["complete", "complete"]
    assert err.count("raw fd 1 {not json") == 2 and err.count("from a grandchild") == 2
    assert err.count("print to stdout") == 2
    stored = {t.run_id: t for t in trials_of(sid)}
    assert sorted(stored) == sorted(t["run_id"] for t in doc["trials"])  # none lost, none twice
    for t in doc["trials"]:
        assert stored[t["run_id"]].values == tuple(t["values"])


def _wait_for_child(out: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = received(out) if out.exists() and out.read_text().endswith("\n") else []
        if got:
            return got[-1]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the trial process never started")


def _wait_gone(pid: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"trial process {pid} outlived its agent")


def test_ctrl_c_stops_the_child_and_fails_the_trial_without_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "o"
    sid = make_sweep(X, trials=3)
    proc = agent_process(tmp_path, sid, "--", *child("sleep", out))
    got = _wait_for_child(out, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "agent interrupted" in err
    _wait_gone(got["pid"])
    [t] = trials_of(sid)
    assert t.state == "failed" and t.error == "agent interrupted"
    assert runtrack.Api().run(got["run"]).status == "killed"


def test_ctrl_c_under_json_still_prints_one_json_document(tmp_path: Path) -> None:
    out = tmp_path / "o"
    sid = make_sweep(X, trials=3)
    proc = agent_process(tmp_path, sid, "--json", "--", *child("sleep", out))
    _wait_for_child(out, proc)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    doc = json.loads(stdout)
    assert doc.get("trials") is not None or doc.get("error") is not None


def test_an_agent_killed_mid_trial_takes_its_child_along_and_the_sweep_goes_on(
    tmp_path: Path,
) -> None:
    out = tmp_path / "o"
    sid = make_sweep(X, trials=2)
    proc = agent_process(tmp_path, sid, "--", *child("sleep", out))
    got = _wait_for_child(out, proc)
    proc.kill()
    proc.communicate(timeout=30)
    _wait_gone(got["pid"])  # Linux: the parent-death signal stopped the trial process
    # a read of the sweep settles the dead agent's trial; a new agent finishes the budget
    r = invoke("sweep", "show", sid, "--json")
    assert r.code == 0
    [dead] = json.loads(r.out)["trials"]
    assert dead["state"] == "failed" and dead["run_id"] == got["run"]
    assert runtrack.Api().run(got["run"]).status == "killed"  # its SIGTERM handler ended it
    r = invoke("agent", sid, "--json", "--", *child("ok", out))
    assert r.code == 0 and [t["state"] for t in json.loads(r.out)["trials"]] == ["complete"]
    trials = trials_of(sid)
    assert [t.number for t in trials] == [0, 1] and [t.state for t in trials] == [
        "failed",
        "complete",
    ]
    assert runtrack.Api().sweep(sid).status == "finished"


# -- Hydra sweeper: bad overrides and fields, in process ---------------------------------------
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("x=int(interval(5, 2))", "the interval starts above its end (5 > 2)"),
        ("x=tag(log, interval(-1, 1))", "a log-scale interval must start above 0, not at -1.0"),
        ("x=range(1.0, 0.5, 0.1)", "range(1.0, 0.5, 0.1) holds no value"),
        ("x=range(0, 10, -1)", "range(0, 10, -1) holds no value"),
        ("x=range(0, 1, 0)", "range(0, 1, 0) has a step of 0"),
        ("x=interval(nan, 1)", "sweep spec: parameters.x.min: nan must be finite"),
        ("x=interval(1e308, 1e309)", "sweep spec: parameters.x.max: inf must be finite"),
        ("x=choice(1, 1.0)", "sweep spec: parameters.x.values: 1.0 is listed twice (it equals 1)"),
    ],
)
def test_a_range_the_sweeper_cannot_search_is_refused_naming_the_override(
    override: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RuntrackSweeper().plan([override])
    assert str(info.value) == f"hydra sweeper: override {override!r}: {message}"
    assert runtrack.Api().sweeps() == []


def test_overrides_that_conflict() -> None:
    with pytest.raises(ValidationError) as info:  # a fixed value and a key below it
        RuntrackSweeper().plan(["optimizer=5", "optimizer.lr=interval(0, 1)"])
    assert "'optimizer' is both a value and the parent of 'optimizer.lr'" in str(info.value)
    with pytest.raises(ValidationError) as info:  # a later plain value wins: nothing left
        RuntrackSweeper().plan(["x=choice(a, b)", "x=5"])
    assert str(info.value).endswith("nothing to search: every parameter is fixed")
    # the command line wins over hydra.sweeper.params for the same key
    s, spec = RuntrackSweeper(params={"x": "interval(0, 1)", "y": "choice(a, b)"}).plan(["x=0.25"])
    assert spec["parameters"] == {"y": {"values": ["a", "b"]}, "x": {"value": 0.25}}
    assert s.constant == ("x=0.25",)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_trials": 0}, "hydra.sweeper.n_trials 0 must be an integer >= 1 or null"),
        ({"budget_seconds": 0}, "hydra.sweeper.budget_seconds 0 must be a number above 0"),
        ({"patience": 0}, "hydra.sweeper.patience 0 must be an integer >= 1 or null"),
        ({"max_failures": -1}, "hydra.sweeper.max_failures -1 must be an integer >= 0 or null"),
        ({"max_failures": True}, "hydra.sweeper.max_failures True must be an integer >= 0"),
        ({"n_trials": "3"}, "hydra.sweeper.n_trials '3' must be an integer >= 1 or null"),
        ({"seed": -1}, "hydra.sweeper.seed -1 must be an integer >= 0 or null"),
        ({"method": None}, "hydra.sweeper.method None must be one of auto, tpe, gp"),
    ],
)
def test_a_zero_budget_or_bad_field_is_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RuntrackSweeper(**fields)
    assert str(info.value).startswith("hydra sweeper: " + message)


def test_a_choice_of_one_value_is_a_search_of_one_option() -> None:
    _, spec = RuntrackSweeper().plan(["x=choice(0.5)", "y=interval(0, 1)"])
    assert spec["parameters"]["x"] == {"values": [0.5]}


def test_bad_grammar_in_sweeper_params_names_the_field() -> None:
    with pytest.raises(Exception) as info:
        RuntrackSweeper(params={"lr": "interval(0"}).plan(["y=choice(1, 2)"])
    assert "hydra.sweeper.params" in str(info.value) and "lr" in str(info.value)
    assert runtrack.Api().sweeps() == []


# -- Hydra sweeper: the example app on the command line -----------------------------------------
def hydra_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_hydra_example(tmp_path, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x=interval(1,"], "no viable alternative at input 'interval(1,'"),
        (["x=choice()"], "empty choice is not legal"),
        (["hydra.sweeper.bogus=1", "x=interval(0,1)"], "Key 'bogus' not in 'RuntrackSweeperConf'"),
        (["+hydra.sweeper.bogus=1", "x=interval(0,1)"], "unexpected keyword argument 'bogus'"),
        (
            ["hydra.sweeper.n_trials=0", "x=interval(0,1)"],
            "hydra sweeper: hydra.sweeper.n_trials 0 must be an integer >= 1 or null",
        ),
        (
            ["hydra.sweeper.budget_seconds=0", "x=interval(0,1)"],
            "hydra sweeper: hydra.sweeper.budget_seconds 0.0 must be a number above 0",
        ),
    ],
    ids=["grammar", "empty-choice", "unknown-field", "added-field", "zero-trials", "zero-seconds"],
)
def test_the_command_line_refuses_bad_input_in_a_few_clean_lines(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = hydra_cli(tmp_path, *args)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert runtrack.Api().sweeps() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["x=interval(3,1)"],
            "hydra sweeper: override 'x=interval(3,1)': the interval starts above its end",
        ),
        (["x=glob(*)"], "hydra sweeper: override 'x=glob(*)': glob() is not supported"),
        (
            ["optimizer=5", "optimizer.lr=interval(0.001,0.1)"],
            "'optimizer' is both a value and the parent of 'optimizer.lr'",
        ),
    ],
    ids=["low-above-high", "glob", "conflict"],
)
def test_a_refused_override_is_reported_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = hydra_cli(tmp_path, *args)
    assert proc.returncode == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert runtrack.Api().sweeps() == []


def test_each_trial_records_its_composed_config_with_hostile_strings(tmp_path: Path) -> None:
    choices = ["a b", "it's", "1", "null", "x,y", "ünï"]
    proc = hydra_cli(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.seed=3",
        "hydra.sweeper.method=random",
        "+note=choice('a b',\"it's\",'1','null','x,y','ünï')",
        "optimizer.lr=tag(log, interval(1e-4, 1))",
        "model=choice(a,b)",
        "epochs=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = runtrack.Api()
    [view] = api.sweeps()
    assert view.spec["parameters"]["note"] == {"values": choices}
    assert view.spec["parameters"]["epochs"] == {"value": 2}
    trials = view.trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials] == ["complete"] * 4
    models = {
        "a": {"name": "a", "best_x": 0.5, "floor": 0.2},
        "b": {"name": "b", "best_x": -1.25, "floor": 0.0},
    }
    for t in trials:
        note, lr, model = (
            t.params["note"],
            t.params["optimizer.lr"],
            t.params["hydra.choices.model"],
        )
        assert type(note) is str and note in choices
        run = api.run(t.run_id)  # type: ignore[arg-type]
        assert run.config.to_dict() == {
            "x": 0.0,
            "note": note,
            "optimizer": {"lr": lr, "momentum": 0.9},
            "model": models[model],
            "epochs": 2,
            "hydra": {"choices": {"model": model}},
        }
        assert run.summary["loss"] == t.values[0]  # type: ignore[index]


def test_a_trial_whose_config_cannot_be_composed_stops_the_sweep(tmp_path: Path) -> None:
    proc = hydra_cli(tmp_path, "hydra.sweeper.n_trials=3", "nokey=interval(0,1)")
    assert proc.returncode == 1
    assert "Could not override 'nokey'" in proc.stderr and "Traceback" not in proc.stderr
    [view] = runtrack.Api().sweeps()
    assert view.status == "stopped" and "nokey" in (view.record.stop_reason or "")
    [t] = view.trials()  # one failed trial, no more launched
    assert t.state == "failed" and "the job could not be launched" in (t.error or "")
    assert runtrack.Api().run(t.run_id).status == "failed"  # type: ignore[arg-type]


def test_the_trials_stderr_reaches_the_agents_stderr_whole_and_live_bars_included(
    tmp_path: Path,
) -> None:
    """The agent relays a trial's standard error (to keep its last line for the error):
    every byte arrives, carriage returns (progress bars) and a final line without a
    newline included."""
    code = (
        "import sys\n"
        "for i in range(2000): sys.stderr.write(f'\\r{i:06d} ' + 'x' * 100)\n"
        "sys.stderr.write('\\nlast words'); sys.exit(2)\n"
    )
    sid = make_sweep(X)
    proc = agent_process(tmp_path, sid, "--json", "--", sys.executable, "-c", code)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert [t["state"] for t in json.loads(out)["trials"]] == ["failed"]  # stdout: JSON only
    bars = [f"\r{i:06d} " + "x" * 100 for i in range(2000)]
    # 216 kB, in order, nothing lost (the test reads text: universal newlines make \r \n)
    assert ("".join(bars) + "\nlast words").replace("\r", "\n") in err
    [t] = trials_of(sid)
    assert t.state == "failed" and t.error is not None
    assert t.error.endswith("exited with code 2; last line of its stderr: last words")
