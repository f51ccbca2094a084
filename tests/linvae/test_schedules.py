"""Schedules as strategy objects (linvae.schedules): values, breakpoints, compiled forms, time
shifts, descriptions and the registries built from the classes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from linvae.schedules import (
    CLI_KINDS,
    COMPILED_KINDS,
    SCHEDULES,
    CallableSchedule,
    Constant,
    LinearRamp,
    Schedule,
    Shifted,
    StepSchedule,
    Tabulated,
    TanhAnneal,
    read_schedule,
    schedule_from_description,
    schedule_from_options,
)

LIBRARY = [
    Constant(beta=0.7),
    TanhAnneal(beta_final=1.8, gamma=0.002),
    LinearRamp(beta_final=1.2, t_ramp=150.0, beta_initial=0.1),
    StepSchedule(beta_final=1.0, t_switch=120.0, beta_initial=0.2),
    Tabulated(times=[10.0, 100.0, 250.0, 400.0], values=[0.2, 0.2, 1.7, 1.8]),
    Tabulated(times=[5.0], values=[0.3]),
]


def test_tabulated_is_linear_between_knots_and_constant_outside():
    s = Tabulated(times=[0.0, 100.0, 300.0], values=[0.5, 1.0, 3.0])
    t = np.array([-5.0, 0.0, 50.0, 100.0, 200.0, 300.0, 1e9])
    np.testing.assert_array_equal(s(t), [0.5, 0.5, 0.75, 1.0, 2.0, 3.0, 3.0])
    # exactly the knot values at the knots (no round-off in v_k + slope * 0)
    knots = Tabulated(times=[0.1, 0.7, 2.3, 9.9], values=[0.3, 1.1, 0.7, 1.9])
    np.testing.assert_array_equal(knots(np.array(knots.times)), knots.values)
    assert knots.final == 1.9 and knots.final_decay_rate == math.inf and knots.horizon == 9.9
    assert Tabulated(times=[3.0], values=[0.4])(np.array([0.0, 3.0, 7.0])).tolist() == [0.4] * 3


def test_tabulated_agrees_with_numpy_interp():
    """np.interp computes the same linear interpolation (in another order of operations):
    equal to float64 round-off, a few ulp of beta ~ 1."""
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.5, 3.0, 40))
    values = rng.uniform(0.0, 2.0, 40)
    t = rng.uniform(-5, times[-1] + 5, 1000)
    got = Tabulated(times=times, values=values)(t)
    np.testing.assert_allclose(got, np.interp(t, times, values), rtol=0, atol=1e-14)


def test_tabulated_breakpoints_are_the_knots_where_the_slope_changes():
    s = Tabulated(times=[0.0, 10.0, 20.0, 30.0, 40.0], values=[0.0, 1.0, 2.0, 2.0, 2.0])
    assert s.breakpoints == (0.0, 20.0)  # 10 is on a straight line, 30 and 40 on the plateau


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(times=[0.0, 0.0], values=[1.0, 1.0]), r"`times` .* strictly increasing"),
        (dict(times=[1.0, 0.0], values=[1.0, 1.0]), r"`times` .* strictly increasing"),
        (dict(times=[], values=[]), r"`times` .* non-empty"),
        (dict(times=[0.0, 1.0], values=[1.0]), r"`values` .* one value per time"),
        (dict(times=[0.0, 1.0], values=[1.0, -0.1]), r"`values` .* >= 0"),
        (dict(times=[0.0, math.inf], values=[1.0, 1.0]), r"`times` .* finite"),
        (dict(times=[0.0, 1.0], values=[1.0, math.nan]), r"`values` .* finite"),
        (dict(times=[[0.0, 1.0]], values=[[1.0, 1.0]]), r"`times` .* sequence"),
    ],
)
def test_tabulated_rejects_bad_tables_naming_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        Tabulated(**kw)


@pytest.mark.parametrize("schedule", [*LIBRARY, TanhAnneal(beta_final=1.0, gamma=0.1).shifted(3.0)])
def test_descriptions_round_trip_through_json(schedule):
    desc = json.loads(json.dumps(schedule.describe()))
    again = schedule_from_description(desc)
    assert again == schedule
    t = np.linspace(-1.0, 500.0, 97)
    np.testing.assert_array_equal(again(t), schedule(t))


def test_read_schedule_reads_any_description(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text('{"kind": "tabulated", "times": [0, 500, 2000], "values": [0.2, 0.2, 1.8]}')
    assert read_schedule(path) == Tabulated(times=[0, 500, 2000], values=[0.2, 0.2, 1.8])
    path.write_text(json.dumps(TanhAnneal(beta_final=1.8, gamma=0.002).describe()))
    assert read_schedule(str(path)) == TanhAnneal(beta_final=1.8, gamma=0.002)


def test_read_schedule_reads_the_schedule_of_a_result_file(tmp_path):
    """A ``linvae protocol --out`` file holds the schedule under "schedule" beside numbers."""
    path = tmp_path / "protocol.json"
    table = {"kind": "tabulated", "times": [0, 800], "values": [0.2, 1.8]}
    path.write_text(json.dumps({"speedup": 3.9, "schedule": table}))
    assert read_schedule(path) == Tabulated(times=[0, 800], values=[0.2, 1.8])


@pytest.mark.parametrize(
    "text, match",
    [
        (None, r"`path` parameter of read_schedule .* readable JSON file"),
        ("{kind: tanh", r"not valid JSON"),
        ('{"kind": "cosine"}', r"does not describe a schedule.*kind.*one of"),
        ("[0, 1, 2]", r"does not describe a schedule.*dict with a `kind`"),
        ('{"kind": "tabulated", "times": [0, 1]}', r"does not describe a schedule"),
        ('{"kind": "tabulated", "times": [1, 0], "values": [1, 1]}', r"strictly increasing"),
    ],
)
def test_read_schedule_says_what_is_wrong_with_the_file(tmp_path, text, match):
    path = tmp_path / "schedule.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_schedule(path)


def test_shifted_is_the_schedule_from_a_later_start():
    t = np.linspace(0.0, 300.0, 301)
    for schedule in LIBRARY:
        s = schedule.shifted(40.0)
        np.testing.assert_array_equal(s(t), schedule(t + 40.0))
        assert s.final == schedule.final
        assert s.final_decay_rate == schedule.final_decay_rate
        assert s.breakpoints == tuple(b - 40.0 for b in schedule.breakpoints) or isinstance(
            schedule, Constant
        )
    ramp = LinearRamp(beta_final=1.0, t_ramp=100.0)
    assert ramp.shifted(0.0) is ramp
    assert ramp.shifted(10.0).shifted(30.0) == Shifted(schedule=ramp, t0=40.0)
    assert ramp.shifted(40.0).horizon == 60.0 and ramp.shifted(400.0).horizon == 0.0
    with pytest.raises(ValueError, match=r"`t0` parameter"):
        ramp.shifted(math.nan)


def test_final_rates_and_horizons():
    tanh = TanhAnneal(beta_final=1.0, gamma=0.01)
    assert tanh.final_decay_rate == 0.02 and tanh.horizon == 1000.0
    assert abs(1.0 - tanh(tanh.horizon)) < 1e-8
    for schedule in LIBRARY:
        if not isinstance(schedule, TanhAnneal):
            assert schedule.final_decay_rate == math.inf
            assert (
                schedule(schedule.horizon + np.array([0.0, 1.0, 1e6])).tolist()
                == [schedule.final] * 3
            )


def test_registries_are_built_from_the_classes():
    assert {cls.kind for cls in SCHEDULES.values()} == set(SCHEDULES)
    assert all(issubclass(cls, Schedule) for cls in SCHEDULES.values())
    # the kind codes of the compiled forms before Tabulated existed are kept
    assert COMPILED_KINDS[:5] == [Constant, TanhAnneal, LinearRamp, StepSchedule, Tabulated]
    assert list(CLI_KINDS)[:4] == ["none", "tanh", "linear", "step"]
    assert all(cls.cli_kind == kind for kind, cls in CLI_KINDS.items())
    for schedule in LIBRARY:
        code = schedule.compiled()
        assert COMPILED_KINDS[code.kind] is type(schedule)
        assert code.values[0] == 0.0  # no time shift
        np.testing.assert_array_equal(code.breakpoints, schedule.breakpoints)


def test_a_callable_says_where_it_cannot_go():
    s = CallableSchedule(func=lambda t: 0.5 + 0 * np.asarray(t), name="half")
    assert not s.has_compiled_form and not s.shifted(2.0).has_compiled_form
    assert s.breakpoints == () and s(3.0) == 0.5 and s.shifted(2.0)(1.0) == 0.5
    with pytest.raises(ValueError, match=r"'half' is a Python callable.*Tabulated"):
        s.compiled()
    with pytest.raises(ValueError, match=r"'half' is a Python callable.*Tabulated"):
        s.shifted(2.0).compiled()
    with pytest.warns(UserWarning, match="cannot be rebuilt"):
        assert schedule_from_description(s.describe()) == Constant(beta=0.5)


def test_labels_are_mathtext_with_symbols_only_inside_math():
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("agg")
    for schedule in [*LIBRARY, LIBRARY[2].shifted(5.0), CallableSchedule(func=np.cos)]:
        for k, part in enumerate(schedule.label.split("$")):
            if k % 2:
                parser.parse(f"${part}$")
            else:
                assert "beta" not in part and "gamma" not in part


def test_schedules_from_command_line_options():
    assert schedule_from_options("none", 1.5, gamma=None, t_ramp=None) == Constant(beta=1.5)
    assert schedule_from_options("tanh", 1.5, gamma=0.1, t_ramp=None) == TanhAnneal(
        beta_final=1.5, gamma=0.1
    )
    assert schedule_from_options("linear", 1.5, gamma=None, t_ramp=9.0) == LinearRamp(
        beta_final=1.5, t_ramp=9.0
    )
    with pytest.raises(ValueError, match=r"--anneal tanh needs --gamma"):
        schedule_from_options("tanh", 1.0, gamma=None, t_ramp=None)
    with pytest.raises(
        ValueError, match=r"--t-ramp belongs to --anneal linear or step \(the ramp length or"
    ):
        schedule_from_options("tanh", 1.0, gamma=0.1, t_ramp=3.0)
    with pytest.raises(
        ValueError, match=r"--gamma is the rate of --anneal tanh.*Add --anneal tanh"
    ):
        schedule_from_options("step", 1.0, gamma=0.1, t_ramp=3.0)


# ------------------------------------------------------------------ every schedule class
# Each class gives an example of itself; a new class is held to all of the following (and
# to the compiled-form test of tests/linvae/theory/test_theory_integrate.py) without an edit.
CLASSES = list(SCHEDULES.values())
IDS = list(SCHEDULES)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_every_class_is_a_frozen_schedule_with_a_value_and_a_final_value(cls):
    s = cls.example()
    assert isinstance(s, cls) and isinstance(s, Schedule) and SCHEDULES[cls.kind] is cls
    with pytest.raises(AttributeError):
        s.kind_of_field = 1.0  # frozen
    t = np.linspace(0.0, 3000.0, 301)
    beta = s(t)
    assert beta.shape == t.shape and beta.dtype == np.float64
    assert np.all(np.isfinite(beta)) and np.all(beta >= 0.0)
    assert s(12.5) == s(np.array([12.5]))[0]
    assert s.final == pytest.approx(s(1e7), rel=1e-6)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_every_class_holds_its_final_value_after_its_horizon_and_decays_at_its_rate(cls):
    """After the horizon beta is beta_f to 1e-8 relative; a finite final_decay_rate r is that of
    the tail: |beta - beta_f| shrinks by exp(-r dt) over dt, half way to the horizon (to 1e-4:
    the approach is exponential up to relative corrections of the size of the remaining
    deviation, e.g. exp(-10) = 5e-5 for tanh there; |beta - beta_f| ~ 1e-4 is far above
    round-off)."""
    s = cls.example()
    if not s.has_compiled_form:  # a Python callable: its horizon is unknown, and it says so
        with pytest.raises(ValueError, match="Tabulate it"):
            s.horizon
        return
    after = s.horizon + np.array([0.0, 10.0, 1e3, 1e6])
    np.testing.assert_allclose(s(after), s.final, rtol=1e-8, atol=0)
    assert all(b <= s.horizon for b in s.breakpoints)
    r = s.final_decay_rate
    if math.isfinite(r):
        t1 = 0.5 * s.horizon
        t2 = t1 + 1.0 / r
        ratio = (s.final - s(t2)) / (s.final - s(t1))
        assert ratio == pytest.approx(math.exp(-1.0), rel=1e-4)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_every_class_round_trips_and_shifts(cls):
    s = cls.example()
    t = np.linspace(-5.0, 2000.0, 203)
    if cls is not CallableSchedule:
        again = schedule_from_description(json.loads(json.dumps(s.describe())))
        assert again == s
        np.testing.assert_array_equal(again(t), s(t))
    shifted = s.shifted(125.0)
    np.testing.assert_array_equal(shifted(t), s(t + 125.0))
    assert shifted.final == s.final and shifted.has_compiled_form == s.has_compiled_form


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_every_class_writes_its_label_in_mathtext(cls):
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("agg")
    label = cls.example().label
    assert label.count("$") % 2 == 0 and label.count("$") >= 2
    for k, part in enumerate(label.split("$")):
        if k % 2:
            parser.parse(f"${part}$")
        else:
            assert "beta" not in part and "gamma" not in part


@pytest.mark.parametrize("cls", [c for c in CLASSES if c in COMPILED_KINDS], ids=str)
def test_every_compiled_class_encodes_itself(cls):
    """The compiled form's beta, evaluated by the class's compiled_beta in plain Python, is the
    schedule's value to 2 ulp (numpy's and libm's exp and tanh differ by up to 2 ulp; a
    schedule of arithmetic only is exact: tests/linvae/theory checks the compiled code)."""
    s = cls.example()
    code = s.compiled()
    assert COMPILED_KINDS[code.kind] is cls and code.values[0] == 0.0
    np.testing.assert_array_equal(code.breakpoints, s.breakpoints)
    t = np.linspace(-10.0, 2500.0, 500)
    params = tuple(code.values[1:])
    got = np.array([cls.compiled_beta(params, float(x)) for x in t])
    np.testing.assert_array_max_ulp(got, s(t), maxulp=2)
    assert all(b in code.breakpoints for b in s.breakpoints)


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.cli_kind], ids=str)
def test_every_command_line_class_builds_from_its_options(cls):
    s = cls.example()
    desc = s.describe()
    options = {name: desc[field] for name, (field, _) in cls.cli_options.items()}
    built = schedule_from_options(cls.cli_kind, s.final, **options)
    assert type(built) is cls and built.final == s.final
    for field, _ in cls.cli_options.values():
        assert getattr(built, field) == desc[field]
