"""stylelib.lbfgsb.minimize_box runs SciPy's L-BFGS-B exactly as scipy.optimize.minimize does."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy
from scipy.optimize import Bounds, minimize

from stylelib import lbfgsb

from .conftest import run_benchmark


def problem(n: int = 60, seed: int = 0):
    """A bounded, non-convex loss (f, gradient) whose minimiser has coordinates on both bounds."""
    rng = np.random.default_rng(seed)
    target = rng.normal(0.5, 0.6, n)  # some outside [0, 1]: those end on a bound
    coupling = rng.normal(0, 0.3, (n, n))

    def fun(x):
        d = x - target
        mixed = coupling @ x
        f = 0.5 * d @ d + 0.1 * np.sum(np.sin(3 * mixed)) + 0.25 * np.sum(d**4)
        g = d + 0.3 * coupling.T @ np.cos(3 * mixed) + d**3
        return float(f), g

    return fun, rng.random(n)


def with_scipy(fun, x0, stop=None, **options):
    """scipy.optimize.minimize's L-BFGS-B, and the iterates its callback saw (then ``stop``'s)."""
    seen = []

    def callback(intermediate_result):  # minimize passes the result object under this name only
        seen.append((intermediate_result.x.copy(), float(intermediate_result.fun)))
        if stop is not None:
            stop(intermediate_result)

    result = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(np.zeros_like(x0), np.ones_like(x0)),
        callback=callback,
        options=dict(ftol=0.0, gtol=0.0, **options),
    )
    return result, seen


@pytest.mark.parametrize(
    "options", [dict(maxiter=25, maxfun=95, maxcor=5), dict(maxiter=40, maxfun=12, maxcor=20)]
)
def test_the_same_iterates_evaluations_and_message_as_scipy_minimize(options):
    fun, x0 = problem()
    expected, expected_seen = with_scipy(fun, x0, **options)
    seen = []
    got = lbfgsb.minimize_box(
        fun, x0, 0.0, 1.0, callback=lambda r: seen.append((r.x.copy(), float(r.fun))), **options
    )
    assert np.array_equal(got.x, expected.x)  # bit for bit
    assert (got.nit, got.nfev, got.fun) == (expected.nit, expected.nfev, float(expected.fun))
    assert got.message == expected.message
    assert len(seen) == len(expected_seen) == got.nit
    for (x, f), (x_ref, f_ref) in zip(seen, expected_seen, strict=True):
        assert np.array_equal(x, x_ref) and f == f_ref
    assert np.all((got.x >= 0) & (got.x <= 1)) and np.any(got.x == 0) and np.any(got.x == 1)


def test_limits_end_the_run_with_minimizes_messages():
    fun, x0 = problem()
    assert (
        "ITERATIONS REACHED LIMIT"
        in lbfgsb.minimize_box(fun, x0, 0.0, 1.0, maxiter=5, maxfun=100, maxcor=10).message
    )
    assert (
        "EVALUATIONS EXCEEDS LIMIT"
        in lbfgsb.minimize_box(fun, x0, 0.0, 1.0, maxiter=50, maxfun=4, maxcor=10).message
    )


def test_scipys_routine_is_driven_directly_where_its_interface_is_known(monkeypatch):
    """On SciPy 1.15+ no per-variable bounds conversion runs (what costs seconds per call at
    1024 px); on older SciPy, minimize is called instead."""
    low, high = lbfgsb.SCIPY_VERSIONS
    assert lbfgsb.driver_in_use() == (low <= lbfgsb._scipy_version() < high)
    assert lbfgsb._scipy_version() == tuple(int(p) for p in scipy.__version__.split(".")[:2])
    if not lbfgsb.driver_in_use():
        return
    import scipy.optimize._constraints as constraints
    import scipy.optimize._minimize as wrapper

    def refuse(*args, **kwargs):
        raise AssertionError("bounds converted one variable at a time")

    monkeypatch.setattr(constraints, "new_bounds_to_old", refuse)
    monkeypatch.setattr(wrapper, "new_bounds_to_old", refuse)
    fun, x0 = problem()
    assert lbfgsb.minimize_box(fun, x0, 0.0, 1.0, maxiter=3, maxfun=20, maxcor=5).nit == 3


def test_the_overhead_benchmark_runs_and_reports_both_calls(tmp_path):
    run_benchmark("lbfgsb_overhead.py", "--sizes", "128", "--out", tmp_path, timeout=300)
    (row,) = json.loads((tmp_path / "lbfgsb_overhead.json").read_text())["rows"]
    assert row["variables"] == 128 * 109 * 3
    for kind in ("minimize", "minimize_box"):
        assert row[kind]["cpu_seconds"] > 0 and row[kind]["peak_rise_mib"] >= 0
    if lbfgsb.driver_in_use():  # SciPy's routine timed by itself: about two calls per iteration
        assert row["routine"]["iterations"] == 40
        assert row["routine"]["ms_per_call"] > 0 and 2 <= row["routine"]["calls_per_iteration"] < 4
    else:
        assert row["routine"] == {}
    assert "minimize_box" in (tmp_path / "lbfgsb_overhead.md").read_text()


def test_the_threads_benchmark_can_leave_blas_unlimited_to_time_the_difference():
    done = run_benchmark("openblas_threads.py", "hopper-waves", "40", "3", "unlimited")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["limited_by_stylelib"] is False and row["steps"] == 3
    # BLAS kept the threads it had outside the run (as many as cores, unless the environment
    # says otherwise), where stylelib's limit would have shown 1.
    assert row["blas_threads_in_run"] == row["blas_threads_outside"]
    assert row["wall_seconds"] > 0 and np.isfinite(row["final_loss"])


def test_a_callback_raising_stopiteration_ends_the_run_as_minimize_does():
    fun, x0 = problem()

    def stopper():
        calls = []

        def stop_at_3(intermediate_result):
            calls.append(1)
            if len(calls) == 3:
                raise StopIteration

        return stop_at_3

    options = dict(maxiter=20, maxfun=80, maxcor=5)
    got = lbfgsb.minimize_box(fun, x0, 0.0, 1.0, callback=stopper(), **options)
    expected, _ = with_scipy(fun, x0, stop=stopper(), **options)
    assert got.nit == expected.nit == 3
    assert np.array_equal(got.x, expected.x) and got.message == expected.message


def blas_threads() -> list[int]:
    """The thread count of every BLAS library loaded in this process (SciPy's, NumPy's)."""
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_minimize_box_runs_blas_on_one_thread_and_restores_the_setting_after():
    from threadpoolctl import threadpool_limits

    fun, x0 = problem()
    seen = []

    def watched(x):
        seen.append(blas_threads())
        return fun(x)

    with threadpool_limits(limits=2, user_api="blas"):  # not 1 already, whatever the machine
        before = blas_threads()
        assert before and all(n == 2 for n in before), before
        lbfgsb.minimize_box(watched, x0, 0.0, 1.0, maxiter=3, maxfun=20, maxcor=5)
        assert blas_threads() == before
    assert seen and all(threads == [1] * len(before) for threads in seen), seen


def test_runs_in_two_threads_share_one_limit_and_the_last_to_leave_restores_it():
    import threading

    from threadpoolctl import threadpool_limits

    second_inside, first_left = threading.Event(), threading.Event()
    seen = {}

    def second():
        with lbfgsb.blas_single_thread():
            second_inside.set()
            first_left.wait(30)
            seen["after the first left"] = blas_threads()

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with lbfgsb.blas_single_thread():
            worker = threading.Thread(target=second)
            worker.start()
            second_inside.wait(30)
        first_left.set()
        worker.join(30)
        assert seen["after the first left"] == [1] * len(before)  # still limited for the second
        assert blas_threads() == before  # restored to what was there before either run


def test_the_iterates_do_not_depend_on_the_blas_thread_setting(monkeypatch):
    # 200,000 variables: enough for OpenBLAS to split the routine's vector sums between its
    # threads, which changes the iterates' last bits. The loss itself uses no BLAS (np.sum).
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    n = 200_000
    target, w = rng.normal(0.5, 0.6, n), rng.normal(0, 3, n)

    def fun(x):
        d = x - target
        f = 0.5 * np.sum(d * d) + 0.1 * np.sum(np.sin(w * x)) + 0.25 * np.sum(d**4)
        return float(f), d + 0.1 * w * np.cos(w * x) + d**3

    def ends():
        out = []
        for threads in (1, 2):
            with threadpool_limits(limits=threads, user_api="blas"):
                result = lbfgsb.minimize_box(fun, np.full(n, 0.5), 0.0, 1.0, maxiter=30,
                                             maxfun=100, maxcor=20)  # fmt: skip
            out.append(result.x.copy())
        return out

    limited = ends()
    np.testing.assert_array_equal(limited[0], limited[1])
    monkeypatch.setattr(lbfgsb, "LIMIT_BLAS", False)
    unlimited = ends()
    if np.array_equal(unlimited[0], unlimited[1]):
        pytest.skip("BLAS's threads give the same bits here even without the limit")


def test_when_threadpoolctl_fails_the_run_goes_on_with_one_warning(monkeypatch):
    def broken():
        raise OSError("no BLAS found")

    monkeypatch.setattr(lbfgsb, "_limit_shared_pools", broken)
    monkeypatch.setattr(lbfgsb, "_blas_warned", False)
    fun, x0 = problem()
    expected = lbfgsb._with_minimize(fun, x0, 0.0, 1.0, 5, 30, 5, None, 20)
    with pytest.warns(RuntimeWarning, match="could not limit BLAS"):
        result = lbfgsb.minimize_box(fun, x0, 0.0, 1.0, maxiter=5, maxfun=30, maxcor=5)
    np.testing.assert_array_equal(result.x, expected.x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only one warning per process
        lbfgsb.minimize_box(fun, x0, 0.0, 1.0, maxiter=5, maxfun=30, maxcor=5)
