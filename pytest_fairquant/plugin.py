"""The pytest plugin: options, the marker, fixtures and hooks. Wiring only.

The logic lives in pure modules: :mod:`.settings` (the option table), :mod:`.gate` (assertions),
:mod:`.snapshot` (the syrupy extension), :mod:`.report` (terminal and JSON reports). Importing
this module must not import torch: models and compression are imported inside fixtures.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import ConfigError, InputError, MethodUnavailable
from .gate import GateContext, gate_context
from .settings import MSG_MARKER_POSITIONAL, OPTIONS, OPTIONS_BY_NAME, Option, Settings, resolve

if TYPE_CHECKING:
    from .data.split import DemographicSplit
    from .predictions import Predictions
    from .stats import Comparison

MSG_NO_FACTORY = (
    "no {what} configured: set {ini} = 'package.module:callable' (or {flag}=...), "
    "or override the {fixture} fixture in conftest.py"
)
MSG_FACTORY_IMPORT = "{shown} ({source}): module {module!r} cannot be imported: {error}"
MSG_FACTORY_ATTRIBUTE = "{shown} ({source}): module {module!r} has no attribute {name!r}"
MSG_FACTORY_TYPE = "{shown} ({source}): the factory returned {got}, expected {expected}"
MSG_UNKNOWN_METHOD = "{shown} ({source}): {error}"

#: The variant fixtures and the setting that lists their methods.
VARIANT_FIXTURES = {"quantized_model": "quantization", "pruned_model": "pruning"}
#: The settings that hold method ids.
VARIANT_SETTINGS = ("quantization", "pruning", "methods")
RECORDS_KEY = "fairquant_records"
MSG_SECTION_NAME = "fairquant_report_section: the name must be a non-empty string; got {name!r}"
MSG_SECTION_JSON = (
    "fairquant_report_section({name!r}, ...): the content must be JSON (dicts, lists, strings, "
    "finite numbers, None) or have a to_dict() that returns it; {err}"
)
MSG_SECTION_TWICE = (
    "fairquant_report_section({name!r}, ...): a different section of that name was already "
    "added in this session; give each section its own name"
)
_PYTEST_VERSION = tuple(int(part) for part in pytest.__version__.split(".")[:2] if part.isdigit())

settings_key = pytest.StashKey[Settings]()
state_key = pytest.StashKey["SessionState"]()
item_settings_key = pytest.StashKey[Settings]()


# --------------------------------------------------------------------------- session state


@dataclass
class SessionState:
    """What one pytest process keeps for the session: variants, predictions, report records."""

    settings: Settings
    rootpath: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Named extra report sections (``fairquant_report_section``), JSON-ready.
    sections: dict[str, Any] = field(default_factory=dict)
    #: The xdist worker number (gw3 -> 3), None outside xdist.
    worker: int | None = None
    _predictions: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], Predictions]] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _cache: Any = None

    def cache(self) -> Any:
        if self._cache is None and self.settings.cache_dir:
            from .evaluate import PredictionCache

            self._cache = PredictionCache(self.rootpath / self.settings.cache_dir)
        return self._cache

    def predict(self, model: Any, split: DemographicSplit, task: Any = None) -> Predictions:
        """Each model is evaluated once per split and task per process; the disk cache spans
        processes."""
        from .evaluate import predict

        try:
            memo = self._predictions.setdefault(model, {})
        except TypeError:  # not weak-referenceable: no in-process memo, the disk cache remains
            memo = {}
        key = (split.fingerprint, None if task is None else task.fingerprint())
        if key not in memo:
            memo[key] = predict(
                model,
                split,
                task=task,
                device=self.device(),
                batch_size=self.settings.batch_size,
                cache=self.cache(),
            )
        return memo[key]

    def device(self) -> str:
        """The configured device; with ``auto`` under xdist, one GPU per worker (round robin)."""
        if self.settings.device != "auto" or self.worker is None:
            return self.settings.device
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return f"cuda:{self.worker % count}" if count > 1 else "auto"

    def variant(self, method: str, dense: Any) -> Any:
        """The compressed model for ``method``, built on first use; unavailable ones skip."""
        if method in self.unavailable:
            pytest.skip(self.unavailable[method])
        if method not in self.variants:
            from .compression import compress

            try:
                built = compress(dense, method)
            except MethodUnavailable as err:
                self.unavailable[method] = f"{method}: {err.reason}"
                pytest.skip(self.unavailable[method])
            self.variants[method] = built
            self.methods[method] = _info_dict(built)
        return self.variants[method]

    def release(self, method: str) -> None:
        self.variants.pop(method, None)

    def add_section(self, name: str, content: Any) -> None:
        """Keep a named report section; a second, different section of the same name is refused."""
        if not isinstance(name, str) or not name.strip():
            raise InputError(MSG_SECTION_NAME.format(name=name))
        data = content.to_dict() if hasattr(content, "to_dict") else content
        try:
            data = json.loads(json.dumps(data, allow_nan=False))
        except (TypeError, ValueError) as err:
            raise InputError(MSG_SECTION_JSON.format(name=name, err=err)) from None
        if name in self.sections and self.sections[name] != data:
            raise InputError(MSG_SECTION_TWICE.format(name=name))
        self.sections[name] = data

    def record(self, nodeid: str, gate: str, method: str | None, comparison: Comparison) -> None:
        self.records.append(
            {"nodeid": nodeid, "gate": gate, "method": method, "comparison": comparison.to_dict()}
        )


def _info_dict(variant: Any) -> dict[str, Any]:
    """The variant's compression metadata for the report, without its wall time (the same run
    must give a byte-identical report)."""
    info = getattr(variant, "fairquant_info", None)
    if info is None:
        return {}
    to_dict = getattr(info, "to_dict", None)
    data = dict(to_dict()) if callable(to_dict) else {"info": repr(info)}
    data.pop("wall_time_s", None)
    return data


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fairquant", "fairness gates for compressed models (pytest-fairquant)")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.dest, default=None, metavar=option.metavar, help=option.help
        )
        parser.addini(option.ini, help=option.help, type=_ini_type(option), default=None)


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
    try:
        settings = _read_settings(config)
        check_methods(settings)
    except ConfigError as err:
        raise pytest.UsageError(f"fairquant: {err}") from err
    if not _is_worker(config):
        from .report import json_path
        from .report.jsonreport import check_writable

        try:
            for path in settings.report:
                check_writable(json_path(path))
        except ConfigError as err:
            raise pytest.UsageError(f"fairquant: {err}") from err
    config.stash[settings_key] = settings
    worker_id = getattr(config, "workerinput", {}).get("workerid")
    state = config.stash[state_key] = SessionState(
        settings, config.rootpath, worker=None if worker_id is None else int(worker_id[2:])
    )
    # Gates called outside a test (in a fixture, at import) still see the session's settings.
    session_context = GateContext(
        settings,
        predict=state.predict,
        record=lambda gate, comparison: state.record("<session>", gate, None, comparison),
        outcome=_outcome,
    )
    stack = contextlib.ExitStack()
    stack.enter_context(gate_context(session_context))
    config.add_cleanup(stack.close)


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(settings_key, None)
    if settings is None:
        return None
    return (
        f"fairquant: quantization={','.join(settings.quantization) or 'none'} "
        f"pruning={','.join(settings.pruning) or 'none'} alpha={settings.alpha:g} "
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


def check_methods(settings: Settings, names: tuple[str, ...] = tuple(VARIANT_SETTINGS)) -> None:
    """Unknown method ids are a ConfigError naming the setting and where it was set."""
    from .compression import parse_method_id

    for name in names:
        option = OPTIONS_BY_NAME[name]
        source = settings.sources.get(name, "default")
        if source == "command line":
            shown = option.flag
        elif source.startswith("@pytest.mark"):
            shown = f"{name}={list(getattr(settings, name))!r}"
        else:
            shown = option.ini
        for method in getattr(settings, name):
            try:
                parse_method_id(method)
            except ValueError as err:  # InputError: the registry's message names the known ids
                raise ConfigError(
                    MSG_UNKNOWN_METHOD.format(shown=shown, source=source, error=err)
                ) from err


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [name for name in VARIANT_FIXTURES if name in metafunc.fixturenames]
    if not wanted:
        return
    try:
        settings = _test_settings(metafunc.config, metafunc.definition)
        if "methods" in settings.sources and settings.sources["methods"].startswith("@pytest"):
            check_methods(settings, ("methods",))
    except ConfigError as err:
        # A collection error of this module only, shown as the message without a traceback.
        raise pytest.Collector.CollectError(f"fairquant: {err}") from err
    for name in wanted:
        methods = settings.methods or getattr(settings, VARIANT_FIXTURES[name])
        metafunc.parametrize(name, list(methods), indirect=True, ids=list(methods))


def _variant_key(item: pytest.Item) -> tuple[str, ...]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ()
    return tuple(str(callspec.params[n]) for n in VARIANT_FIXTURES if n in callspec.params)


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
    """Validate markers, and run each method's tests as one block so its variant lives briefly.

    Under ``pytest -n N --dist loadgroup`` each method's tests are also one xdist group, so one
    worker runs them all and the variant is compressed once in the whole run.
    """
    first_seen: dict[tuple[str, ...], int] = {}
    grouped = _loadgroup(config)
    for item in items:
        try:
            item.stash[item_settings_key] = _test_settings(config, item)
        except ConfigError as err:
            raise pytest.UsageError(f"fairquant: {err}") from err
        _offer_group_report(item)
        keys = _variant_key(item)
        first_seen.setdefault(keys, len(first_seen))
        if grouped and keys and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_group_name(keys)))
    if len(first_seen) > 1:
        items.sort(key=lambda item: first_seen[_variant_key(item)])


def _plain_nodeid(item: pytest.Item) -> str:
    """The test id without the ``@group`` that xdist's loadgroup mode appends to it, so reports
    and ``fairquant compare`` match serial runs."""
    nodeid = item.nodeid
    if _loadgroup(item.config):
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        suffix = "@" + "_".join(names)
        if names and nodeid.endswith(suffix):
            return nodeid[: -len(suffix)]
    return nodeid


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
    state = item.config.stash[state_key]
    settings = item.stash.get(item_settings_key, state.settings)
    keys = _variant_key(item)
    method = keys[-1] if keys else None

    def record(gate: str, comparison: Comparison) -> None:
        state.record(_plain_nodeid(item), gate, method, comparison)
        for key, value in _headline(gate, comparison).items():
            item.user_properties.append((key, value))

    context = GateContext(settings, predict=state.predict, record=record, outcome=_outcome)
    with gate_context(context):
        return (yield)


def _headline(gate: str, comparison: Comparison) -> dict[str, Any]:
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


def load_factory(settings: Settings, name: str) -> Any:
    """Call the ``package.module:callable`` factory of setting ``name`` (model or data)."""
    option = OPTIONS_BY_NAME[name]
    path = getattr(settings, name)
    source = settings.sources.get(name, "default")
    shown = f"{option.flag}={path}" if source == "command line" else f"{option.ini} = {path}"
    module_name, attr = path.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise ConfigError(
            MSG_FACTORY_IMPORT.format(
                shown=shown, source=source, module=module_name, error=f"{type(err).__name__}: {err}"
            )
        ) from err
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                MSG_FACTORY_ATTRIBUTE.format(
                    shown=shown, source=source, module=module_name, name=attr
                )
            )
        target = getattr(target, part)
    return target() if callable(target) else target


def _factory_value(settings: Settings, name: str, check: Callable[[Any], str | None]) -> Any:
    option = OPTIONS_BY_NAME[name]
    if getattr(settings, name) is None:
        raise ConfigError(
            MSG_NO_FACTORY.format(
                what=name, ini=option.ini, flag=option.flag, fixture=f"fairquant_{name}"
            )
        )
    value = load_factory(settings, name)
    expected = check(value)
    if expected is not None:
        source = settings.sources.get(name, "default")
        path = getattr(settings, name)
        shown = f"{option.flag}={path}" if source == "command line" else f"{option.ini} = {path}"
        raise ConfigError(
            MSG_FACTORY_TYPE.format(
                shown=shown, source=source, got=type(value).__name__, expected=expected
            )
        )
    return value


def _is_module(value: Any) -> str | None:
    import torch

    return None if isinstance(value, torch.nn.Module) else "a torch.nn.Module"


def _is_split(value: Any) -> str | None:
    from .data.split import DemographicSplit

    return None if isinstance(value, DemographicSplit) else "a DemographicSplit"


@pytest.fixture(scope="session")
def fairquant_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's resolved fairquant settings."""
    return pytestconfig.stash[settings_key]


@pytest.fixture(scope="session")
def fairquant_model(fairquant_settings: Settings) -> Any:
    """The dense model, from the ``fairquant_model`` factory (override in conftest.py)."""
    return _factory_value(fairquant_settings, "model", _is_module)


@pytest.fixture(scope="session")
def model(fairquant_model: Any) -> Any:
    """The dense model (``fairquant_model``); a ``model`` fixture of your own takes precedence."""
    return fairquant_model


@pytest.fixture(scope="session")
def fairquant_data(fairquant_settings: Settings) -> Any:
    """The evaluation split, from the ``fairquant_data`` factory (override in conftest.py)."""
    return _factory_value(fairquant_settings, "data", _is_split)


@pytest.fixture(scope="session")
def demographic_split(
    pytestconfig: pytest.Config, fairquant_data: Any, fairquant_settings: Settings
) -> DemographicSplit:
    """``fairquant_data``, subsampled if configured, without groups below the minimum size."""
    problem = _is_split(fairquant_data)
    if problem is not None:
        raise ConfigError(
            MSG_FACTORY_TYPE.format(
                shown="fixture fairquant_data",
                source="conftest.py",
                got=type(fairquant_data).__name__,
                expected=problem,
            )
        )
    split: DemographicSplit = fairquant_data
    s = fairquant_settings
    if s.subsample is not None:
        split = split.subsample(s.subsample, seed=s.seed)
    for attribute in split.attribute_names:
        split = split.filter_groups(attribute, min_size=s.min_group_size)
    pytestconfig.stash[state_key].splits[split.name] = split.summary()
    return split


def _variant(request: pytest.FixtureRequest) -> Any:
    state = request.config.stash[state_key]
    dense = request.getfixturevalue("fairquant_model")
    return state.variant(str(request.param), dense)


@pytest.fixture
def quantized_model(request: pytest.FixtureRequest) -> Any:
    """The dense model compressed by one quantization method (the test id names it)."""
    return _variant(request)


@pytest.fixture
def pruned_model(request: pytest.FixtureRequest) -> Any:
    """The dense model compressed by one pruning method (the test id names it)."""
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


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None:
        return
    if _is_worker(config):
        config.workeroutput[RECORDS_KEY] = json.dumps(  # type: ignore[attr-defined]
            {
                "records": state.records,
                "methods": state.methods,
                "splits": state.splits,
                "sections": state.sections,
            }
        )
        return
    if state.settings.report:
        from .report import build_report, write_reports

        report = build_report(
            state.records,
            settings=state.settings.to_dict(),
            methods=state.methods,
            splits=state.splits,
            command=config.invocation_params.args,
            sections=state.sections,
        )
        state.notes.extend(write_reports(state.settings.report, report))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: merge a worker's records into the session's."""
    payload = getattr(node, "workeroutput", {}).get(RECORDS_KEY)
    if payload is None:
        return
    state = node.config.stash[state_key]
    data = json.loads(payload)
    state.records.extend(data["records"])
    state.methods.update(data["methods"])
    state.splits.update(data["splits"])
    for name, content in data.get("sections", {}).items():
        try:
            state.add_section(name, content)
        except InputError as err:  # two workers made different sections of one name
            worker = getattr(node, "workerinput", {}).get("workerid", "a worker")
            state.notes.append(f"fairquant: report section from {worker} dropped: {err}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is None or _is_worker(config) or not (state.records or state.notes):
        return
    from .report.terminal import summary_lines

    verbosity = config.get_verbosity()
    if verbosity >= 0:
        terminalreporter.write_sep("-", "fairquant")
    lines = summary_lines(state.records, verbosity=verbosity) if state.records else []
    for line in [*lines, *state.notes]:
        terminalreporter.write_line(line)
