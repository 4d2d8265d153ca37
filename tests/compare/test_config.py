"""compare's config: the example file, shared online keys passed through, method entries, errors that name the key."""

import dataclasses
from pathlib import Path

import pytest

from preflab.compare import CompareConfig, method_entries, seed_list
from preflab.compare.config import SHARED_KEYS, _PER_RUN, check, online_settings
from preflab.config import ConfigError, build
from preflab.online import OnlineConfig

EXAMPLE = Path(__file__).parents[2] / "examples" / "configs" / "compare_heterogeneous.yaml"


def test_the_example_names_six_methods_five_seeds_three_rounds():
    cfg = build(CompareConfig, EXAMPLE)
    check(cfg)
    entries = method_entries(cfg)
    assert [e.label for e in entries] == ["iterative_dpo", "sppo", "inpo", "mnpo", "online_ipo", "nash_md"]
    assert entries[3].params == {"history": 2}
    assert seed_list(cfg) == [0, 1, 2, 3, 4] and cfg.rounds == 3 and cfg.task == "heterogeneous"
    assert (cfg.prompts_per_round, cfg.steps_per_round, cfg.eval_samples, cfg.sft_examples, cfg.sft_steps) == \
        (48, 12, 24, 1000, 100)


def test_every_online_setting_is_shared_or_set_per_run():
    names = {f.name for f in dataclasses.fields(OnlineConfig)}
    assert names == set(SHARED_KEYS) | set(_PER_RUN)
    assert {"prompts_per_round", "steps_per_round", "lr", "eval_samples", "sft_steps", "sft_lr"} <= set(SHARED_KEYS)


def test_one_runs_settings_pass_through_to_online_config(tmp_path):
    cfg = build(CompareConfig, None, ["methods=[{name: mnpo_h4, method: mnpo, params: {history: 4}}]", "lr=0.002",
                                      "params={'*': {beta: 0.2}, mnpo: {eta: 0.01}}", "temperature=0.7"])
    (entry,) = method_entries(cfg)
    kw = online_settings(cfg, entry, 3, tmp_path / "run", tmp_path / "sft")
    online = OnlineConfig(**kw)
    assert online.methods == ["mnpo"] and online.seed == 3 and online.lr == 0.002 and online.temperature == 0.7
    assert online.params == {"*": {"beta": 0.2}, "mnpo": {"eta": 0.01, "history": 4}}
    assert online.start_from == str(tmp_path / "sft") and online.output_dir == str(tmp_path / "run")
    assert online.progress is False
    sft = OnlineConfig(**online_settings(cfg, None, 3, tmp_path / "s", None))
    assert sft.methods == [] and sft.start_from is None
    assert cfg.params == {"*": {"beta": 0.2}, "mnpo": {"eta": 0.01}}        # the shared params are not mutated


def test_seeds_may_be_a_count():
    assert seed_list(build(CompareConfig, None, ["seeds=3"])) == [0, 1, 2]
    assert seed_list(build(CompareConfig, None, ["seeds=[4, 9]"])) == [4, 9]
    with pytest.raises(ConfigError, match="twice"):
        seed_list(build(CompareConfig, None, ["seeds=[1, 1]"]))


@pytest.mark.parametrize("override, message", [
    ("prompts_per_rond=8", "unknown key 'prompts_per_rond'; did you mean 'prompts_per_round'?"),
    ("arena.sample=8", "unknown key 'arena.sample'; did you mean 'arena.samples'?"),
    ("stats.resample=8", "did you mean 'stats.resamples'?"),
    ("lr=fast", "'lr' must be a number"),
])
def test_a_bad_key_names_the_nearest_valid_one(override, message):
    with pytest.raises(ConfigError) as err:
        build(CompareConfig, None, [override])
    assert message in str(err.value)


def test_a_bad_key_in_the_file_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(EXAMPLE.read_text().replace("steps_per_round:", "step_per_round:"))
    with pytest.raises(ConfigError, match=r"did you mean 'steps_per_round'\? \(in .*c\.yaml\)"):
        build(CompareConfig, path)


@pytest.mark.parametrize("methods, message", [
    ("[inpo, {name: m2, method: mnpo, parms: {history: 2}}]", "unknown key 'methods[1].parms'; did you mean 'methods[1].params'?"),
    ("[mnpoo]", "'methods[0]': unknown online method 'mnpoo'; did you mean 'mnpo'?"),
    ("[inpo, inpo]", "'methods[1].name': label 'inpo' appears twice"),
    ("[{name: sft, method: inpo}]", "'sft' is the starting policy's name"),
    ("[{name: a/b, method: inpo}]", "folder-safe label"),
    ("[{name: x, method: inpo, params: 3}]", "'methods[0].params' must be a mapping"),
    ("[]", "non-empty list"),
])
def test_method_entries_are_validated(methods, message):
    cfg = build(CompareConfig, None, [f"methods={methods}"])
    with pytest.raises(ConfigError) as err:
        method_entries(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize("override, message", [
    ("task=heterogenous", "did you mean 'heterogeneous'?"),
    ("model=gpt2", "choose tiny"),
    ("model=smollm2", "plays task 'instructions'"),
    ("rounds=0", "'rounds' must be >= 1"),
    ("workers=0", "'workers' must be >= 1"),
    ("stats.level=95", "'stats.level' must lie in (0, 1)"),
])
def test_check_catches_what_the_types_cannot(override, message):
    with pytest.raises(ConfigError) as err:
        check(build(CompareConfig, None, [override]))
    assert message in str(err.value)


def test_the_cli_rejects_a_bad_key_before_any_work(tmp_path, capsys):
    from preflab.cli import main

    assert main(["compare", "--config", str(EXAMPLE), f"output_dir={tmp_path / 'c'}", "eval_sample=4"]) == 2
    assert "unknown key 'eval_sample'; did you mean 'eval_samples'?" in capsys.readouterr().err
    assert main(["compare", "--config", str(EXAMPLE), f"output_dir={tmp_path / 'c'}", "methods=[inpo, ipo]"]) == 2
    assert "methods[1]" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
