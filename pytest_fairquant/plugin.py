"""The pytest plugin: options, the marker, fixtures and hooks. Wiring only.

The logic lives in pure modules: :mod:`.run` (the run object: split preparation, variants,
predictions, records; ``fairquant sweep`` drives the same one), :mod:`.settings` (the option
table), :mod:`.gate` (assertions), :mod:`.snapshot` (the syrupy extension), :mod:`.report`
(terminal and JSON reports). Importing this module must not import torch: models and
compression are imported inside fixtures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from .errors import ConfigError, InputError, MethodUnavailable
from .gate import gate_context
from .run import (
    MSG_CANDIDATE_IS_DENSE,
    MSG_CANDIDATE_IS_METHOD,
    MSG_FACTORY_ATTRIBUTE,
    MSG_FACTORY_IMPORT,
    MSG_FACTORY_RAISED,
    MSG_FACTORY_TYPE,
    MSG_NO_FACTORY,
    MSG_SECTION_JSON,
    MSG_SECTION_NAME,
    MSG_SECTION_TWICE,
    MSG_UNKNOWN_METHOD,
    CacheFallbackWarning,
    FairnessRun,
    Record,
    shown_setting,
)
from .settings import ACTION_FLAGS, MSG_MARKER_POSITIONAL, OPTIONS, Option, Settings, resolve

if TYPE_CHECKING:
    from .data.split import DemographicSplit
    from .stats import Comparison

__all__ = [
    "MSG_CANDIDATE_IS_DENSE",
    "MSG_CANDIDATE_IS_METHOD",
    "MSG_FACTORY_ATTRIBUTE",
    "MSG_FACTORY_IMPORT",
    "MSG_FACTORY_RAISED",
    "MSG_FACTORY_TYPE",
    "MSG_NO_CANDIDATES",
    "MSG_NO_FACTORY",
    "MSG_NO_METHODS",
    "MSG_REPORT_WRITTEN",
    "MSG_SECTION_JSON",
    "MSG_SECTION_NAME",
    "MSG_SECTION_TWICE",
    "MSG_UNKNOWN_METHOD",
]

MSG_REPORT_WRITTEN = "fairquant: report written to {path}"
MSG_NO_METHODS = (
    "fairquant: {shown} ({source}) names no compression method, so this test has no variant to gate"
)
MSG_NO_CANDIDATES = (
    "fairquant: {shown} ({source}) names no candidate, so this test has no release artifact "
    "to gate; set fairquant_candidates to lines of 'name = package.module:callable'"
)

#: The variant fixtures and the setting that lists their methods.
VARIANT_FIXTURES = {"quantized_model": "quantization", "pruned_model": "pruning"}
#: The fixture that runs over the candidates (``fairquant_candidates``), a variant fixture too.
CANDIDATE_FIXTURE = "candidate_model"
#: The fixtures whose parameter names the variant a test gates.
VARIANT_PARAMS = (*VARIANT_FIXTURES, CANDIDATE_FIXTURE)
#: The fixtures that need the model factory, and those that need the data factory.
MODEL_FIXTURES = ("fairquant_model", "model", *VARIANT_PARAMS)
DATA_FIXTURES = ("fairquant_data", "demographic_split")
RECORDS_KEY = "fairquant_records"
_PYTEST_VERSION = tuple(int(part) for part in pytest.__version__.split(".")[:2] if part.isdigit())

settings_key = pytest.StashKey[Settings]()
state_key = pytest.StashKey[FairnessRun]()
item_settings_key = pytest.StashKey[Settings]()
#: What of the run's records, methods, splits and sections a worker has already sent.
sent_key = pytest.StashKey[dict[str, Any]]()
scopes_key = pytest.StashKey[Path]()
#: The ``workerinput`` key of the directory where workers write their tests' scheduling scopes.
SCOPES_KEY = "fairquant_scopes"
#: The ``workerinput`` key that asks a worker to send its progress lines to the controller.
PROGRESS_KEY = "fairquant_progress"


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fairquant", "fairness gates for compressed models (pytest-fairquant)")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.dest, default=None, metavar=option.metavar, help=option.help
        )
        parser.addini(option.ini, help=option.help, type=_ini_type(option), default=None)
    for flag, dest, text in ACTION_FLAGS:
        group.addoption(flag, action="store_true", dest=dest, help=text)


def _ini_type(option: Option) -> Any:
    """Lists stay line lists; scalars also take TOML numbers where pytest (>= 9.2) allows a union
    (``fairquant_alpha = 0.05`` in a native ``[tool.pytest]`` table). The option's own parser
    validates the value either way."""
    if option.ini_type != "string" or _PYTEST_VERSION < (9, 2):
        return option.ini_type
    return str | int | float


def _read_settings(config: pytest.Config) -> Settings:
    cli = {o.name: config.getoption(o.dest) for o in OPTIONS}
    ini = {o.name: config.getini(o.ini) for o in OPTIONS}
    ini_file = str(config.inipath) if config.inipath is not None else None
    return resolve(cli, ini, ini_file=ini_file)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fairquant(**settings): override fairquant settings for one test "
        "(methods, attribute, alpha, tolerance, gap, ...; see docs/configuration.md)",
    )
    worker_id = getattr(config, "workerinput", {}).get("workerid")
    try:
        settings = _read_settings(config)
        run = FairnessRun(
            settings,
            root=config.rootpath,
            worker=None if worker_id is None else int(worker_id[2:]),
        )
        run.check_methods()
        run.check_candidates()
        run.check_device()
    except ConfigError as err:
        raise pytest.UsageError(f"fairquant: {err}") from err
    clear = config.getoption("fairquant_cache_clear") and not _is_worker(config)
    if clear and settings.cache_dir:
        from .cache import clear_directory

        clear_directory(config.rootpath / settings.cache_dir)
    problem = run.open_cache()
    if problem is not None:
        config.issue_config_time_warning(CacheFallbackWarning(problem), stacklevel=2)
    if not _is_worker(config):
        from .report import check_report_path

        try:
            for path in settings.report:
                check_report_path(path)
        except ConfigError as err:
            raise pytest.UsageError(f"fairquant: {err}") from err
        config.pluginmanager.register(OutcomeRecorder(config), OutcomeRecorder.name)
    config.stash[settings_key] = settings
    config.stash[state_key] = run
    # Gates called outside a test (in a fixture, at import) still see the session's settings.
    session_context = run.context(nodeid="<session>", method=None, outcome=_outcome)
    stack = contextlib.ExitStack()
    stack.enter_context(gate_context(session_context))
    config.add_cleanup(stack.close)


class TerminalProgress:
    """The run's progress lines through pytest's terminal reporter, with capturing suspended
    while they are written: a step runs inside a test, whose output pytest captures."""

    def __init__(self, config: pytest.Config, reporter: Any) -> None:
        self.reporter = reporter
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        #: Whether a started line waits for its end (a step began inside another: the variant
        #: built while it is evaluated).
        self._open = False

    def _uncaptured(self) -> contextlib.AbstractContextManager[None]:
        if self.capture is None:
            return contextlib.nullcontext()
        suspended: contextlib.AbstractContextManager[None] = (
            self.capture.global_and_fixture_disabled()
        )
        return suspended

    def start(self, text: str) -> None:
        with self._uncaptured():
            if self._open:
                self.reporter.write("\n")
            self.reporter.ensure_newline()
            self.reporter.write(f"fairquant: {text} ...", flush=True)
            self._open = True

    def done(self, text: str) -> None:
        with self._uncaptured():
            self.reporter.write(f" {text}\n", flush=True)
            self._open = False


class WorkerProgress:
    """On an xdist worker, whose output never reaches the terminal: each finished step as one
    line, which the test's next report takes to the controller (:meth:`OutcomeRecorder.show`
    prints it there), so a step shows when the test phase it ran in ends."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._open: list[str] = []

    def start(self, text: str) -> None:
        if not (self._open and self._open[-1] == text):  # a step written again after another
            self._open.append(text)

    def done(self, text: str) -> None:
        self.lines.append(f"{self._open.pop() if self._open else 'step'} ... {text}")

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


def _shows_progress(config: pytest.Config) -> bool:
    """Progress lines on a terminal only: not under ``-q``, not into a log or a pipe."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter is not None and config.get_verbosity() >= 0 and bool(reporter.isatty())


def pytest_sessionstart(session: pytest.Session) -> None:
    """Progress lines where :func:`_shows_progress`; an xdist worker collects its lines for the
    controller when the controller shows them (``pytest_configure_node``)."""
    config = session.config
    run = config.stash.get(state_key, None)
    if run is None:
        return
    if _is_worker(config):
        if config.workerinput.get(PROGRESS_KEY):  # type: ignore[attr-defined]
            run.progress = WorkerProgress()
    elif _shows_progress(config):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        run.progress = TerminalProgress(config, reporter)


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(settings_key, None)
    if settings is None:
        return None
    candidates = f" candidates={','.join(c.name for c in settings.candidates)}"
    return (
        f"fairquant: quantization={','.join(settings.quantization) or 'none'} "
        f"pruning={','.join(settings.pruning) or 'none'}"
        f"{candidates if settings.candidates else ''} alpha={settings.alpha:g} "
        f"inconclusive={settings.inconclusive}"
    )


# --------------------------------------------------------------------------- marker + params


def _where(node: pytest.Item | pytest.Function | Any) -> str:
    return str(getattr(node, "nodeid", node))


def _test_settings(config: pytest.Config, node: Any) -> Settings:
    """The session settings with the node's ``@pytest.mark.fairquant`` applied (ConfigError)."""
    settings = config.stash[settings_key]
    marker = node.get_closest_marker("fairquant")
    if marker is None:
        return settings
    if marker.args:
        raise ConfigError(MSG_MARKER_POSITIONAL.format(source=_where(node), args=marker.args))
    return settings.with_marker(marker.kwargs, where=_where(node))


def check_methods(settings: Settings, names: tuple[str, ...] = ("methods",)) -> None:
    """Unknown method ids are a ConfigError naming the setting and where it was set."""
    FairnessRun(settings).check_methods(names)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [name for name in VARIANT_PARAMS if name in metafunc.fixturenames]
    if not wanted:
        return
    try:
        settings = _test_settings(metafunc.config, metafunc.definition)
        marked = {k for k, v in settings.sources.items() if v.startswith("@pytest")}
        if "methods" in marked:
            check_methods(settings, ("methods",))
        if "candidates" in marked:
            FairnessRun(settings).check_candidates()
    except ConfigError as err:
        # A collection error of this module only, shown as the message without a traceback.
        raise pytest.Collector.CollectError(f"fairquant: {err}") from err
    for name in wanted:
        if name == CANDIDATE_FIXTURE:
            setting, message = "candidates", MSG_NO_CANDIDATES
            ids = [c.name for c in settings.candidates]
        else:
            setting = "methods" if "methods" in settings.sources else VARIANT_FIXTURES[name]
            message, ids = MSG_NO_METHODS, list(settings.methods or getattr(settings, setting))
        if ids:
            metafunc.parametrize(name, ids, indirect=True, ids=ids)
            continue
        # An empty list runs nothing: one skipped instance that says why, rather than every
        # method (or pytest's anonymous "empty parameter set").
        shown, source = shown_setting(settings, setting)
        skip = pytest.mark.skip(reason=message.format(shown=shown, source=source))
        metafunc.parametrize(name, [pytest.param(None, marks=skip)], indirect=True, ids=["none"])


def _variant_key(item: pytest.Item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ()
    return tuple(str(callspec.params[n]) for n in VARIANT_PARAMS if n in callspec.params)


def _loadgroup(config: pytest.Config) -> bool:
    """``--dist loadgroup``: the controller has it as ``dist``; xdist's workers run with
    ``dist == "no"`` and a ``loadgroup`` flag of their own."""
    return bool(getattr(config.option, "loadgroup", False)) or (
        config.getoption("dist", "no") == "loadgroup"
    )


def _group_name(keys: tuple[str, ...]) -> str:
    return "fairquant-" + "+".join(keys)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook reads the xdist_group marks
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run each method's tests as one block so its variant lives briefly.

    Under ``pytest -n N --dist loadgroup`` each method's tests are also one xdist group, so one
    worker runs them all and the variant is compressed once in the whole run.
    """
    first_seen: dict[tuple[str, ...], int] = {}
    grouped = _loadgroup(config)
    for item in items:
        _offer_group_report(item)
        keys = _variant_key(item)
        first_seen.setdefault(keys, len(first_seen))
        if grouped and keys and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_group_name(keys)))
    if len(first_seen) > 1:
        items.sort(key=lambda item: first_seen[_variant_key(item)])


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reports its collection
def pytest_collection_finish(session: pytest.Session) -> None:
    """Resolve and validate each test's settings once every hook has marked the items, and on
    an xdist worker write each test's scheduling scope for the controller (:mod:`.schedule`).

    Not in ``pytest_collection_modifyitems``: that one runs first, and a marker a conftest adds
    in its own ``pytest_collection_modifyitems`` would be ignored without a word.
    """
    directory = getattr(session.config, "workerinput", {}).get(SCOPES_KEY)
    if directory is not None:
        from .schedule import write_scopes

        scopes = {item.nodeid: _schedule_scope(item) for item in session.items}
        write_scopes(directory, session.config.workerinput["workerid"], scopes)  # type: ignore[attr-defined]
    run = session.config.stash[state_key]
    for item in session.items:
        try:
            item.stash[item_settings_key] = _test_settings(session.config, item)
        except ConfigError as err:
            raise pytest.UsageError(f"fairquant: {err}") from err
        # Before any split is prepared: a marker's calibrating method sets a part aside.
        run.note_methods(item.stash[item_settings_key].methods)
    _import_factories(session.config, session.items)


def _schedule_scope(item: pytest.Item) -> str:
    """The unit ``-n N`` schedules a test in (:mod:`.schedule`): its ``xdist_group``, else its
    variant, else the test alone."""
    groups = _xdist_groups(item)
    if groups:
        return "_".join(groups)
    keys = _variant_key(item)
    return _group_name(keys) if keys else item.nodeid


def _scopes_directory(config: pytest.Config) -> Path:
    """On the xdist controller: the directory its workers write their tests' scopes to."""
    directory = config.stash.get(scopes_key, None)
    if directory is None:
        directory = config.stash[scopes_key] = Path(tempfile.mkdtemp(prefix="fairquant-xdist-"))
        config.add_cleanup(functools.partial(shutil.rmtree, directory, ignore_errors=True))
    return directory


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput[SCOPES_KEY] = str(_scopes_directory(node.config))
    node.workerinput[PROGRESS_KEY] = _shows_progress(node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``load`` (what ``-n N`` uses) and ``loadgroup`` schedule by variant, since pytest-xdist
    ignores ``xdist_group`` on pytest 9.2 (pytest-xdist#1386); xdist's other modes
    (``worksteal`` for test by test) are left to it."""
    if config.getoption("dist", "no") not in ("load", "loadgroup"):
        return None
    from .schedule import VariantScheduling

    return VariantScheduling(config, log, _scopes_directory(config))


def _import_factories(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A factory (a candidate's too) that cannot be imported is one usage error before the
    tests, not an error in every test that needs it; checked only when a collected test
    needs it."""
    run = config.stash[state_key]
    used = {name for item in items for name in getattr(item, "fixturenames", ())}
    factories: tuple[tuple[Literal["model", "data", "finetune"], tuple[str, ...]], ...] = (
        ("model", MODEL_FIXTURES),
        ("data", DATA_FIXTURES),
        ("finetune", tuple(VARIANT_FIXTURES)),
    )
    try:
        for setting, fixtures in factories:
            if getattr(run.settings, setting) is not None and not used.isdisjoint(fixtures):
                run.factory(setting)
        for item in items:
            callspec = getattr(item, "callspec", None)
            name = None if callspec is None else callspec.params.get(CANDIDATE_FIXTURE)
            settings = item.stash[item_settings_key]
            candidate = None if name is None else run.find_candidate(name, settings)
            if candidate is not None:
                run.candidate_factory(candidate, settings)
    except ConfigError as err:
        raise pytest.UsageError(f"fairquant: {err}") from err


def _plain_nodeid(item: pytest.Item) -> str:
    """The test id without the ``@group`` that xdist's loadgroup mode appends to it, so reports
    and ``fairquant compare`` match serial runs."""
    nodeid = item.nodeid
    if _loadgroup(item.config):
        names = _xdist_groups(item)
        suffix = "@" + "_".join(names)
        if names and nodeid.endswith(suffix):
            return nodeid[: -len(suffix)]
    return nodeid


def _xdist_groups(item: pytest.Item) -> list[str]:
    """The names of the test's ``xdist_group`` marks, sorted, as xdist joins them."""
    return sorted(
        {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
    )


def _offer_group_report(item: pytest.Item) -> None:
    """DESIGN.md's example calls ``group_report`` without importing it; a test module that uses
    the name without defining it gets the library's."""
    module, function = getattr(item, "module", None), getattr(item, "function", None)
    code = getattr(function, "__code__", None)
    if module is None or code is None or "group_report" not in code.co_names:
        return
    if not hasattr(module, "group_report"):
        from .gate import group_report

        module.group_report = group_report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    run = item.config.stash[state_key]
    keys = _variant_key(item)

    def headline(record: Record) -> None:
        for key, value in _headline(record.comparison).items():
            item.user_properties.append((key, value))

    context = run.context(
        item.stash.get(item_settings_key, run.settings),
        nodeid=_plain_nodeid(item),
        method=keys[-1] if keys else None,
        outcome=_outcome,
        on_record=headline,
    )
    with gate_context(context):
        try:
            return (yield)
        except MethodUnavailable as err:  # a variant whose backend found out while building it
            pytest.skip(f"{err.method_id}: {err.reason}")


def _headline(comparison: Comparison | Any) -> dict[str, Any]:
    """The numbers a CI dashboard shows, as flat JUnit properties of plain JSON values (xdist
    sends them between processes; NaN-with-reason floats would not travel)."""
    c = comparison.to_dict()
    prefix = f"fairquant.{c['attribute']}.{c['gap']}"
    keys = ("verdict", "base_gap", "compressed_gap", "delta", "p_value", "worst_group")
    return {f"{prefix}.{key}": c[key] for key in keys}


def _outcome(mode: str, text: str) -> None:
    __tracebackhide__ = True
    if mode == "skip":
        pytest.skip(text)
    pytest.xfail(text)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Release a variant after the last test of its block."""
    keys = _variant_key(item)
    if keys and (nextitem is None or _variant_key(nextitem) != keys):
        state = item.config.stash[state_key]
        for method in keys:
            state.release(method)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fairquant_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's resolved fairquant settings."""
    return pytestconfig.stash[settings_key]


@pytest.fixture(scope="session")
def fairquant_model(pytestconfig: pytest.Config) -> Any:
    """The dense model, from the ``fairquant_model`` factory (override in conftest.py)."""
    return pytestconfig.stash[state_key].load("model")


# ``model`` and ``demographic_split`` are test-scoped: a session-scoped fixture keeps the first
# value it computed, so a sub-directory's conftest.py override of fairquant_model/fairquant_data
# would never reach them. The run object memoises the work.
@pytest.fixture
def model(fairquant_model: Any) -> Any:
    """The dense model (``fairquant_model``); a ``model`` fixture of your own takes precedence."""
    return fairquant_model


@pytest.fixture(scope="session")
def fairquant_data(pytestconfig: pytest.Config) -> Any:
    """The evaluation split, from the ``fairquant_data`` factory (override in conftest.py)."""
    return pytestconfig.stash[state_key].load("data")


@pytest.fixture
def demographic_split(pytestconfig: pytest.Config, fairquant_data: Any) -> DemographicSplit:
    """``fairquant_data``, subsampled if configured, without groups below the minimum size."""
    from .data.split import DemographicSplit

    if not isinstance(fairquant_data, DemographicSplit):
        raise ConfigError(
            MSG_FACTORY_TYPE.format(
                shown="fixture fairquant_data",
                source="conftest.py",
                got=type(fairquant_data).__name__,
                expected="a DemographicSplit",
            )
        )
    split: DemographicSplit = pytestconfig.stash[state_key].prepare(fairquant_data)
    return split


def _variant(request: pytest.FixtureRequest) -> Any:
    run = request.config.stash[state_key]
    name = str(request.param)
    dense = request.getfixturevalue("fairquant_model")
    settings = request.node.stash.get(item_settings_key, run.settings)
    # A calibrating (or fine-tuned) variant sees the part set aside from the split the test
    # evaluates on.
    split = None
    if run.needs_split(name, settings):
        split = request.getfixturevalue("demographic_split")
    try:
        return run.variant(dense, name, split=split, settings=settings)
    except MethodUnavailable as err:
        pytest.skip(f"{name}: {err.reason}")


@pytest.fixture
def quantized_model(request: pytest.FixtureRequest) -> Any:
    """The dense model compressed by one quantization method (the test id names it)."""
    return _variant(request)


@pytest.fixture
def pruned_model(request: pytest.FixtureRequest) -> Any:
    """The dense model compressed by one pruning method (the test id names it)."""
    return _variant(request)


@pytest.fixture
def candidate_model(request: pytest.FixtureRequest) -> Any:
    """One of your own already-compressed models (``fairquant_candidates``), gated and
    reported as a variant under its name (the test id names it)."""
    return _variant(request)


@pytest.fixture(scope="session")
def fairquant_report_section(pytestconfig: pytest.Config) -> Callable[[str, Any], None]:
    """``add(name, content)``: put a named section (a dict, or anything with ``to_dict()``,
    e.g. paper 000's tables) into the session report, under ``sections``; the HTML report
    shows it. Works under xdist (the controller merges the workers' sections)."""
    return pytestconfig.stash[state_key].add_section


@pytest.fixture
def fairquant_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` with the fairquant extension (tolerant numeric comparison)."""
    from .snapshot import FairquantSnapshotExtension

    return snapshot.use_extension(FairquantSnapshotExtension)


# --------------------------------------------------------------------------- reports + xdist


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


#: The fixtures that make a test a fairquant test: it is in the report whatever its outcome
#: (a test that errors before its gate too), as is every test that called a gate.
FAIRQUANT_FIXTURES = frozenset(
    {
        *MODEL_FIXTURES,
        *DATA_FIXTURES,
        "fairquant_settings",
        "fairquant_snapshot",
        "fairquant_report_section",
    }
)
#: The attribute of a test report that carries the test's part of the session report (JSON).
REPORT_ATTRIBUTE = "fairquant"


def _unsent(config: pytest.Config, state: FairnessRun) -> tuple[list[Record], dict[str, Any]]:
    """The records made since the last call, and the methods, splits and sections not sent
    yet; both marked as sent."""
    sent = config.stash.setdefault(sent_key, {"records": 0, "keys": set()})
    records = state.records[sent["records"] :]
    sent["records"] = len(state.records)
    parts: dict[str, Any] = {}
    for part in ("methods", "splits", "sections"):
        new = {k: v for k, v in getattr(state, part).items() if (part, k) not in sent["keys"]}
        sent["keys"].update((part, k) for k in new)
        parts[part] = new
    return records, parts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Put the test's part of the session report on each of its reports: whether it is a
    fairquant test, and under xdist the records it made, so the controller has every test
    that finished even when its worker dies later."""
    report = yield
    state = item.config.stash.get(state_key, None)
    if state is None:
        return report
    records, parts = _unsent(item.config, state)
    nodeid = _plain_nodeid(item)
    uses = any(r.nodeid == nodeid for r in records) or not FAIRQUANT_FIXTURES.isdisjoint(
        getattr(item, "fixturenames", ())
    )
    payload: dict[str, Any] = {}
    if _is_worker(item.config):
        payload = {"records": [r.to_dict() for r in records], **parts}
        if isinstance(state.progress, WorkerProgress):
            payload["progress"] = state.progress.take()
    if uses or any(payload.values()):
        keys = _variant_key(item)
        payload.update(nodeid=nodeid, uses=uses, method=keys[-1] if keys else None)
        setattr(report, REPORT_ATTRIBUTE, json.dumps(payload))
    return report


def _merge(config: pytest.Config, data: dict[str, Any], source: str) -> None:
    """Add what a worker sent (with a test's report, or at its end) to the session's run."""
    state = config.stash[state_key]
    state.records.extend(Record(**record) for record in data.get("records", ()))
    state.methods.update(data.get("methods", {}))
    state.splits.update(data.get("splits", {}))
    for name, content in data.get("sections", {}).items():
        try:
            state.add_section(name, content)
        except InputError as err:  # two workers made different sections of one name
            state.notes.append(f"fairquant: report section from {source} dropped: {err}")


def _why(report: pytest.TestReport) -> str:
    """The first line of a report's error, or its skip reason."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        text = str(longrepr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = str(crash.message if crash is not None else longrepr or "")
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


class OutcomeRecorder:
    """On the controller (or in a serial run): each fairquant test's pytest outcome, from the
    reports of its phases (xdist's report of a crashed worker's test among them), and the
    records the workers send with them."""

    name = "fairquant-outcomes"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from .report.model import BAD_OUTCOMES, phase_outcome

        payload = getattr(report, REPORT_ATTRIBUTE, None)
        data = json.loads(payload) if isinstance(payload, str) else None
        node = getattr(report, "node", None)  # xdist's controller names the sending worker
        if data is not None and node is not None:
            worker = getattr(node, "workerinput", {}).get("workerid", "a worker")
            _merge(self.config, data, worker)
            self.show(worker, data.get("progress", ()))
        entry = self.tests.get(report.nodeid)
        if entry is None:
            if data is None or not data["uses"]:
                return
            entry = self.tests[report.nodeid] = {
                "nodeid": data["nodeid"],
                "method": data["method"],
                "outcome": None,
                "message": None,
            }
        found = phase_outcome(
            report.when or "",
            report.outcome,
            wasxfail=getattr(report, "wasxfail", None),
            text=_why(report),
        )
        # A teardown error does not hide the failure the call already had.
        if found is not None and entry["outcome"] not in BAD_OUTCOMES:
            entry["outcome"], entry["message"] = found

    def show(self, worker: str, lines: Iterable[str]) -> None:
        """A worker's progress lines (see :class:`WorkerProgress`), named by the worker."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for line in lines:
            # Not after xdist's progress dots: the controller's reporter keeps no current
            # path, so its own ensure_newline() would not end their line.
            writer = getattr(reporter, "_tw", None)
            if getattr(writer, "width_of_current_line", 0):
                reporter.write("\n")
            reporter.write_line(f"fairquant [{worker}]: {line}")

    def records(self) -> list[Any]:
        from .report.model import TestRecord

        return [TestRecord(**entry) for entry in self.tests.values() if entry["outcome"]]


def _test_records(config: pytest.Config) -> list[Any]:
    recorder = config.pluginmanager.get_plugin(OutcomeRecorder.name)
    return recorder.records() if isinstance(recorder, OutcomeRecorder) else []


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None:
        return
    if _is_worker(config):
        # What no test's report carried: records of gates run after the last test.
        records, parts = _unsent(config, state)
        config.workeroutput[RECORDS_KEY] = json.dumps(  # type: ignore[attr-defined]
            {"records": [r.to_dict() for r in records], **parts}
        )
        return
    if state.settings.report:
        from .report import SessionReport, write_reports

        report = SessionReport.from_dict(state.report(config.invocation_params.args))
        typed = report.with_tests(_test_records(config))
        written: list[str] = []
        notes = write_reports(
            state.settings.report,
            typed.to_dict(),
            on_written=lambda path: written.append(str(path)),
        )
        state.notes.extend([*notes, *(MSG_REPORT_WRITTEN.format(path=path) for path in written)])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: merge what a worker sent at its end into the session's run."""
    payload = getattr(node, "workeroutput", {}).get(RECORDS_KEY)
    if payload is None:
        return
    worker = getattr(node, "workerinput", {}).get("workerid", "a worker")
    _merge(node.config, json.loads(payload), worker)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is None or _is_worker(config):
        return
    tests = _test_records(config)
    if not (state.records or state.notes or tests):
        return
    from .report.terminal import summary_lines

    verbosity = config.get_verbosity()
    if verbosity >= 0:
        terminalreporter.write_sep("-", "fairquant")
    records = state.record_dicts()
    lines = (
        summary_lines(records, tests=tests, methods=state.methods, verbosity=verbosity)
        if records or tests
        else []
    )
    for line in [*lines, *state.notes]:
        terminalreporter.write_line(line)
