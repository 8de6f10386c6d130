"""L-BFGS-B on pixels in [0, 1], without scipy.optimize.minimize's work per variable in Python.

``scipy.optimize.minimize(method="L-BFGS-B", bounds=...)`` turns the bounds into a Python list of
one ``(low, high)`` tuple per variable and back again, then fills the routine's bound codes in a
Python loop over the variables. For an image that is one variable per pixel and channel: measured
here (``benchmarks/lbfgsb_overhead.py``, README "SciPy's bounds"), 2.7 million variables (1024 x
874 px) cost 17 CPU seconds and raised the peak memory by 775 MiB in one call, before the first
loss is evaluated or around it; stylize makes one call per smoothing phase and scale.

``minimize_box`` drives the same compiled routine (``scipy.optimize._lbfgsb.setulb``) with the
bounds made by NumPy in one go, in the loop ``minimize`` runs: the same iterates, evaluations and
messages, bit for bit (tests/test_lbfgsb.py compares the two). Unlike ``minimize`` it does not
memoise the loss of a point asked for twice (L-BFGS-B asks for each point once). The routine is
SciPy's private interface, so it is used only on the SciPy versions in SCIPY_VERSIONS, and only
when the module still looks as expected; anywhere else ``minimize_box`` calls ``minimize``.
Used by stylize's L-BFGS (notebook 07); not part of the public API.

Both run with BLAS limited to one thread (``blas_single_thread``): the routine's vector operations
are small, and OpenBLAS's worker threads otherwise take CPU from TensorFlow's between them
(``benchmarks/openblas_threads.py``; README "SciPy's bounds").
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np

#: SciPy versions whose private L-BFGS-B interface this module was written against and tested on
#: (1.17.1 in make test, 1.16.3 in Colab's set): from the C implementation (1.15) up to, not
#: including, the first version not checked.
SCIPY_VERSIONS = ((1, 15), (1, 18))


def _scipy_version() -> tuple[int, int]:
    import scipy

    major, minor = scipy.__version__.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _routine():
    """SciPy's compiled L-BFGS-B and its messages, or None when their interface may be another."""
    if not SCIPY_VERSIONS[0] <= _scipy_version() < SCIPY_VERSIONS[1]:
        return None
    try:
        from scipy.optimize import _lbfgsb, _lbfgsb_py
    except ImportError:
        return None
    status = getattr(_lbfgsb_py, "status_messages", None)
    tasks = getattr(_lbfgsb_py, "task_messages", None)
    if not (hasattr(_lbfgsb, "setulb") and isinstance(status, dict) and isinstance(tasks, dict)):
        return None
    if not (all(isinstance(k, int) for k in status) and 504 in tasks and 3 in status):
        return None
    return _lbfgsb.setulb, status, tasks


#: Whether minimize_box limits BLAS to one thread while it runs (benchmarks/openblas_threads.py
#: sets it False to time the difference).
LIMIT_BLAS = True

#: threadpoolctl's threading layer for a process-wide pool: OpenBLAS (or BLIS) with threads of its
#: own, as in NumPy's and SciPy's PyPI wheels (threadpoolctl reports Windows threads under this
#: name too). OpenMP builds are left alone: their limit is per calling thread, and they were not
#: measured; so are MKL and libraries threadpoolctl does not find.
_SHARED_POOLS = ["pthreads"]

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_blas_warned = False


@contextmanager
def blas_single_thread() -> Iterator[None]:
    """Limit the loaded BLAS libraries with a shared thread pool to one thread, then restore them.

    Used around minimize_box's run (see the module's docstring); does nothing when LIMIT_BLAS is
    False. The limit is process-wide, so runs in several threads share one: the first to enter
    sets it, the last to leave restores what was there before (not what another run saw). Load
    SciPy's L-BFGS-B before entering: threadpoolctl limits the libraries loaded when it is called.
    If threadpoolctl fails, the run goes on unlimited, with one warning per process.
    """
    global _blas_users, _blas_limiter
    if not LIMIT_BLAS:
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = _threadpoolctl_call(_limit_shared_pools)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _threadpoolctl_call(_blas_limiter.restore_original_limits)
                _blas_limiter = None


def _limit_shared_pools():
    """threadpoolctl's limiter holding every BLAS library with a shared pool at one thread."""
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    return blas.select(threading_layer=_SHARED_POOLS).limit(limits=1)


def _threadpoolctl_call(action: Callable):
    """action() as the thread allowed to change OpenBLAS's threads; None (and a warning) if it fails.

    From threadpoolctl 3.8 on, only one "controlling" thread may change an OpenBLAS built with
    its own threads; calls from other threads do nothing, silently. The run that restores the
    limit may not be the one that set it, so this thread takes control for the call and gives it
    up after (a threadpoolctl call in another thread at that moment may then do nothing). Earlier
    versions have no such control. A failure here only costs speed, so it does not end the run.
    """
    global _blas_warned
    try:
        import threadpoolctl

        controller = getattr(threadpoolctl, "OpenBLASController", None)
        release = getattr(controller, "clear_controlling_thread", None)
        if release is not None:
            release(force=True)
        try:
            return action()
        finally:
            if release is not None:
                release(force=True)
    except Exception as exc:  # noqa: BLE001 (any failure: run on without the limit)
        if not _blas_warned:
            _blas_warned = True
            warnings.warn(
                f"stylelib could not limit BLAS to one thread for L-BFGS-B ({exc!r}); "
                "it runs on with BLAS's own threads (slower on few cores, same method)",
                RuntimeWarning,
                stacklevel=2,
            )
        return None


def driver_in_use() -> bool:
    """Whether minimize_box drives SciPy's routine itself (else it calls scipy's minimize)."""
    return _routine() is not None


def minimize_box(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    low: float,
    high: float,
    *,
    maxiter: int,
    maxfun: int,
    maxcor: int,
    callback: Callable | None = None,
    maxls: int = 20,
) -> SimpleNamespace:
    """L-BFGS-B with every variable in [low, high], ftol = gtol = 0 (run until maxiter or maxfun).

    Args:
        fun: x (float64 [n], the routine's own array: copy it to keep it) -> (loss, gradient as
            float64 [n]).
        x0: the start, any shape (flattened; clipped to the bounds, as minimize does).
        maxiter, maxfun, maxcor, maxls: as scipy's L-BFGS-B options of the same names.
        callback: called after each iteration with an object whose ``x`` is the new iterate and
            ``fun`` its loss, as minimize's ``callback(intermediate_result)``.

    Returns: an object with ``x`` (float64 [n]), ``fun``, ``nit``, ``nfev`` and ``message``
    (minimize's text, e.g. "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT").
    """
    routine = _routine()
    if routine is None:
        import scipy.optimize  # noqa: F401  (loads SciPy's BLAS, so that the limit reaches it)

        with blas_single_thread():
            return _with_minimize(fun, x0, low, high, maxiter, maxfun, maxcor, callback, maxls)
    with blas_single_thread():
        return _drive(routine, fun, x0, low, high, maxiter, maxfun, maxcor, callback, maxls)


def _drive(routine, fun, x0, low, high, maxiter, maxfun, maxcor, callback, maxls):
    """minimize_box's loop around SciPy's compiled routine (the SCIPY_VERSIONS)."""
    setulb, status_messages, task_messages = routine
    x = np.clip(np.array(x0, dtype=np.float64).ravel(), low, high)
    n, m = x.size, maxcor
    lower, upper = np.full(n, low, np.float64), np.full(n, high, np.float64)
    nbd = np.full(n, 2, np.int32)  # 2: bounded below and above
    f, g = np.array(0.0, np.float64), np.zeros(n, np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, np.int32)
    task, ln_task = np.zeros(2, np.int32), np.zeros(2, np.int32)
    lsave, isave, dsave = np.zeros(4, np.int32), np.zeros(44, np.int32), np.zeros(29, np.float64)
    nit = nfev = 0
    while True:
        g = g.astype(np.float64)
        setulb(m, x, lower, upper, nbd, f, g, 0.0, 0.0, wa, iwa, task, lsave, isave, dsave, maxls,
               ln_task)  # fmt: skip
        if task[0] == 3:  # the routine asks for the loss and gradient at x
            f, g = fun(x)
            nfev += 1
        elif task[0] == 1:  # a new iterate
            nit += 1
            halt = False
            if callback is not None:
                try:
                    callback(SimpleNamespace(x=x, fun=f))
                except StopIteration:  # as minimize: the callback asks to end the run
                    halt = True
            if halt:
                task[0], task[1] = 5, 505
            elif nit >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > maxfun:
                task[0], task[1] = 5, 502
        else:
            break
    message = f"{status_messages[int(task[0])]}: {task_messages[int(task[1])]}"
    if task[1] == 505:  # what minimize says then
        message = "`callback` raised `StopIteration`."
    return SimpleNamespace(x=x, fun=float(f), nit=nit, nfev=nfev, message=message)


def _with_minimize(fun, x0, low, high, maxiter, maxfun, maxcor, callback, maxls):
    """The same through scipy.optimize.minimize (other SciPy versions)."""
    from scipy.optimize import Bounds, minimize

    x0 = np.asarray(x0, dtype=np.float64).ravel()

    def each_iteration(intermediate_result):  # minimize passes the result under this name only
        callback(intermediate_result)

    result = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(np.full_like(x0, low), np.full_like(x0, high)),
        callback=None if callback is None else each_iteration,
        options=dict(maxiter=maxiter, maxfun=maxfun, maxcor=maxcor, maxls=maxls, ftol=0, gtol=0),
    )
    return SimpleNamespace(
        x=result.x, fun=float(result.fun), nit=result.nit, nfev=result.nfev, message=result.message
    )
