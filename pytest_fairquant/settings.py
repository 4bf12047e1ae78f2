"""The option table of the pytest plugin, its resolution and its validation.

Every setting is one :class:`Option` record in :data:`OPTIONS`. The plugin builds both the
``--fairquant-*`` command-line flag and the ``fairquant_*`` ini key from that record (same help
text, one ``--help`` group), :func:`resolve` reads them with the precedence marker > command line
> ini > default into a frozen :class:`Settings`, and :func:`configuration_markdown` renders
``docs/configuration.md``. This module does not import pytest: the plugin passes in what it read.

A bad value raises :class:`~pytest_fairquant.errors.ConfigError` naming the setting, the value
and where it came from, e.g. ``--fairquant-alpha=1.5 (command line): alpha must be in (0, 1)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .candidates import Candidate, parse_candidates
from .errors import ConfigError

if TYPE_CHECKING:
    from .stats.spec import GateSpec

MSG_INVALID = "{shown} ({source}): {problem}"
MSG_UNKNOWN_MARKER_KEY = (
    "@pytest.mark.fairquant got unknown keyword {key!r} ({source}); known keywords: {known}"
)
MSG_MARKER_POSITIONAL = "@pytest.mark.fairquant takes keywords only ({source}); got {args!r}"

InconclusiveOutcome = Literal["fail", "xfail", "skip", "pass-with-warning"]
DiagnoseMode = Literal["failing", "all", "off"]
IniType = Literal["string", "linelist"]

CORRECTIONS = ("holm", "bonferroni", "bh", "none")
INCONCLUSIVE_OUTCOMES: tuple[InconclusiveOutcome, ...] = (
    "fail",
    "xfail",
    "skip",
    "pass-with-warning",
)
DIAGNOSE_MODES: tuple[DiagnoseMode, ...] = ("failing", "all", "off")

# --------------------------------------------------------------------------- parsers
# A parser turns the raw text of a flag or an ini value (or a marker keyword's Python value) into
# the typed value, or raises ValueError with the sentence shown after "setting=value (source): ".


def _text(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def _strings(value: Any) -> tuple[str, ...]:
    """A list of names: a Python sequence, a linelist, or comma/whitespace separated text."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out.extend(part for part in str(item).replace(",", " ").split() if part)
    if out == ["none"]:
        return ()
    return tuple(dict.fromkeys(out))


def _integer(name: str, minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"{name} must be an integer >= {minimum}")
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ValueError(f"{name} must be an integer >= {minimum}") from None
        if number < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}")
        return number

    return parse


def _number(name: str, low: float, high: float, *, closed_low: bool) -> Callable[[Any], float]:
    interval = f"{'[' if closed_low else '('}{low:g}, {high:g})" if math.isfinite(high) else ""
    problem = f"{name} must be in {interval}" if interval else f"{name} must be a number >= {low:g}"

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(problem)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(problem) from None
        above = number >= low if closed_low else number > low
        if not (math.isfinite(number) and above and number < high):
            raise ValueError(problem)
        return number

    return parse


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip()
        if text not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}")
        return text

    return parse


def _boolean(name: str) -> Callable[[Any], bool]:
    """true/false, yes/no, on/off, 1/0 (any case), or a Python bool (a marker keyword)."""
    words = {"true": True, "yes": True, "on": True, "1": True}
    words |= {"false": False, "no": False, "off": False, "0": False}

    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        found = words.get(str(value).strip().lower())
        if found is None:
            raise ValueError(f"{name} must be true or false")
        return found

    return parse


def _factory_path(value: Any) -> str | None:
    text = _text(value)
    if text is not None and (":" not in text or not all(text.split(":", 1))):
        raise ValueError("a factory must be written 'package.module:callable'")
    return text


def _count_or_fraction(value: Any, problem: str) -> int | float:
    """A sample count >= 1, or a fraction in (0, 1) of the split (ValueError ``problem``)."""
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(problem) from None
    if number.is_integer() and number >= 1:
        return int(number)
    if 0 < number < 1:
        return number
    raise ValueError(problem)


def _subsample(value: Any) -> int | float | None:
    """0 or empty means the whole split; an int is a sample count, a float in (0, 1) a fraction."""
    problem = "subsample must be 0 (off), a sample count >= 1, or a fraction in (0, 1)"
    if not isinstance(value, bool) and str(value).strip() in ("", "0", "none"):
        return None
    return _count_or_fraction(value, problem)


def _calibration_size(value: Any) -> int | float:
    """A sample count, or a fraction in (0, 1) of the split (what ``calibration_split`` takes)."""
    return _count_or_fraction(
        value, "calibration_size must be a sample count >= 1 or a fraction in (0, 1)"
    )


def _gate(name: str, convert: Callable[[str], Any] = str) -> Callable[[Any], Any]:
    """The parser of a gate setting: the library's one check of ``name``
    (:data:`pytest_fairquant.stats.spec.CHECKS`, which ``compare`` runs on its keywords too),
    after ``convert`` turned the text of a flag or ini value into the Python value it spells.
    'off'/'none' (any case) stay text for the checks that accept them."""

    def parse(value: Any) -> Any:
        from .errors import InputError
        from .stats.spec import CHECKS, problem_of

        if isinstance(value, str):
            text = value.strip()
            with contextlib.suppress(ValueError):
                value = text if text.lower() in ("off", "none") else convert(text)
        try:
            return CHECKS[name](value)
        except InputError as err:
            raise ValueError(problem_of(err)) from None

    return parse


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Option:
    """One setting: its name (``--fairquant-<name>``, ``fairquant_<name>``), parser, default, help."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    ini_type: IniType = "string"
    metavar: str = "VALUE"
    #: Whether ``@pytest.mark.fairquant(<name>=...)`` may override it for one test.
    per_test: bool = False

    @property
    def flag(self) -> str:
        return "--fairquant-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "fairquant_" + self.name

    @property
    def dest(self) -> str:
        return "fairquant_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        _factory_path,
        None,
        "Factory of the dense model, 'package.module:callable' returning a torch.nn.Module "
        "(or override the fairquant_model fixture in conftest.py).",
        metavar="MODULE:CALLABLE",
    ),
    Option(
        "data",
        _factory_path,
        None,
        "Factory of the evaluation data, 'package.module:callable' returning a DemographicSplit "
        "(or override the fairquant_data fixture in conftest.py).",
        metavar="MODULE:CALLABLE",
    ),
    Option(
        "quantization",
        _strings,
        ("torch-dynamic-int8",),
        "Quantization method ids the quantized_model fixture runs over (comma separated on "
        "the command line, a list in the ini file; 'none' for no method).",
        ini_type="linelist",
        metavar="IDS",
    ),
    Option(
        "pruning",
        _strings,
        ("global-magnitude-0.5",),
        "Pruning method ids the pruned_model fixture runs over (comma separated on the "
        "command line, a list in the ini file; 'none' for no method).",
        ini_type="linelist",
        metavar="IDS",
    ),
    Option(
        "device",
        lambda v: str(v).strip() or "auto",
        "auto",
        "Device for inference: 'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:1'.",
        metavar="DEVICE",
    ),
    Option("batch_size", _integer("batch_size", 1), 64, "Inference batch size.", metavar="N"),
    Option(
        "alpha",
        _gate("alpha", float),
        0.05,
        "Significance level of the gates' tests (family-wise, after correction).",
        metavar="P",
        per_test=True,
    ),
    Option(
        "tolerance",
        _gate("tolerance", float),
        0.02,
        "Default tolerance of assert_no_bias_amplification: the largest acceptable increase "
        "of the gap (absolute, in the gap's units).",
        metavar="X",
        per_test=True,
    ),
    Option(
        "gap",
        _gate("gap"),
        "fvo",
        "Default gap of assert_no_bias_amplification (fvo, equalized_odds, tpr, fpr, "
        "demographic_parity, bias_amplification, accuracy_drop, max_skew, min_skew).",
        metavar="NAME",
        per_test=True,
    ),
    Option(
        "metric",
        _gate("metric"),
        "accuracy",
        "Default per-group metric of the gates and group_report.",
        metavar="NAME",
        per_test=True,
    ),
    Option(
        "max_utility_drop",
        _gate("max_utility_drop", float),
        0.05,
        "Utility guard of every comparison: fail when any group's (or the overall) accuracy, or "
        "the gate's metric, drops significantly by more than this, whatever the gap did (a gap "
        "can narrow because every group got worse); 'off' disables it.",
        metavar="X",
        per_test=True,
    ),
    Option(
        "skew_reference",
        _choice("skew_reference", ("prior", "equal")),
        "prior",
        "Desired shares of the retrieval skews (max_skew, min_skew): 'prior' (each value's share "
        "of the whole dataset, paper 000) or 'equal' (1 / number of values).",
        metavar="NAME",
        per_test=True,
    ),
    Option(
        "min_group_size",
        _gate("min_group_size", int),
        30,
        "Minimum samples per group; smaller groups are dropped from demographic_split and make "
        "a comparison insufficient_data.",
        metavar="N",
        per_test=True,
    ),
    Option(
        "min_positives",
        _gate("min_positives", int),
        10,
        "Minimum positives (and negatives) per group for rate gaps (tpr, fpr, equalized_odds).",
        metavar="N",
        per_test=True,
    ),
    Option(
        "n_boot",
        _gate("n_boot", int),
        1000,
        "Bootstrap resamples of the intervals shown. They decide no verdict: a pass needs a "
        "confidence bound, a fail an exact or permutation test (fairquant_n_permutations).",
        metavar="N",
        per_test=True,
    ),
    Option(
        "n_permutations",
        _gate("n_permutations", int),
        1999,
        "Permutations of the fail side's swap permutation tests (the gap gates); the smallest "
        "p-value is 1/(N+1), so N must be at least 1/alpha.",
        metavar="N",
        per_test=True,
    ),
    Option("seed", _gate("seed", int), 0, "Seed of every resampling.", metavar="N", per_test=True),
    Option(
        "correction",
        _gate("correction"),
        "holm",
        "Multiple-testing correction across groups and attributes: " + ", ".join(CORRECTIONS) + ".",
        metavar="NAME",
        per_test=True,
    ),
    Option(
        "inconclusive",
        _choice("inconclusive", INCONCLUSIVE_OUTCOMES),
        "fail",
        "Outcome of an inconclusive or insufficient_data gate: "
        + ", ".join(INCONCLUSIVE_OUTCOMES)
        + ". Never a silent pass.",
        metavar="OUTCOME",
        per_test=True,
    ),
    Option(
        "subsample",
        _subsample,
        None,
        "Evaluate on a stratified subsample of the split for fast CI runs: a sample count or a "
        "fraction in (0, 1); 0 for the whole split.",
        metavar="N",
    ),
    Option(
        "snapshot_tolerance",
        _number("snapshot_tolerance", 0.0, math.inf, closed_low=True),
        0.005,
        "Absolute tolerance of fairquant_snapshot comparisons; the interval half-width is used "
        "when larger.",
        metavar="X",
        per_test=True,
    ),
    Option(
        "cache_dir",
        _text,
        ".fairquant_cache",
        "Directory of the prediction cache (relative to the rootdir), shared by xdist workers; "
        "empty to disable.",
        metavar="DIR",
    ),
    Option(
        "report",
        _strings,
        (),
        "Write the session report: PATH.json (JSON) or PATH.html (JSON next to it plus HTML "
        "when the renderer is installed). Several paths may be given.",
        ini_type="linelist",
        metavar="PATH",
    ),
    Option(
        "methods",
        _strings,
        (),
        "Run quantized_model/pruned_model over these method ids instead of the configured "
        "lists (mostly per test: @pytest.mark.fairquant(methods=[...])).",
        ini_type="linelist",
        metavar="IDS",
        per_test=True,
    ),
    Option(
        "attribute",
        _text,
        None,
        "Default sensitive attribute of the gates (None: every attribute of the split).",
        metavar="NAME",
        per_test=True,
    ),
    Option(
        "candidates",
        parse_candidates,
        (),
        "Your own already-compressed models, 'name = package.module:callable' each (one per "
        "line in the ini file, comma separated on the command line): factories returning a "
        "torch.nn.Module (a Hugging Face model loaded with its quantization config too) or an "
        "onnxruntime.InferenceSession. The candidate_model fixture runs over them; each is "
        "gated and reported under its name.",
        ini_type="linelist",
        metavar="NAME=MODULE:CALLABLE",
        per_test=True,
    ),
    Option(
        "calibration_size",
        _calibration_size,
        512,
        "Samples (or a fraction of the split) set aside, stratified and seeded, to calibrate "
        "the methods that observe activations (static-int8, onnx-int8-static, gptq-int4) when "
        "one is configured, and to fine-tune on with fairquant_finetune; the dense model and "
        "every variant are then evaluated on the other samples only.",
        metavar="N",
    ),
    Option(
        "finetune",
        _factory_path,
        None,
        "Recovery fine-tuning after compression, 'package.module:callable' called as "
        "fn(variant, split, steps) on the part fairquant_calibration_size sets aside; pruning "
        "masks are re-applied after every optimizer step, and gmp-S (gradual magnitude "
        "pruning) needs it.",
        metavar="MODULE:CALLABLE",
    ),
    Option(
        "finetune_steps",
        _integer("finetune_steps", 1),
        200,
        "Steps passed to fairquant_finetune (gmp-S reaches its sparsity at the last one).",
        metavar="N",
    ),
    Option(
        "diagnose",
        _choice("diagnose", DIAGNOSE_MODES),
        "failing",
        "Which comparisons of assert_no_bias_amplification on two torch models carry "
        "diagnose()'s per-group loss, gradient norm, uncertainty and flips (at most 256 "
        "samples) into the report's diagnostics panel: failing (computed once, also the "
        "failure message's diagnosis line), all, or off (none, and no such line).",
        metavar="WHICH",
        per_test=True,
    ),
    Option(
        "diagnose_hessian",
        _boolean("diagnose_hessian"),
        False,
        "Also compute each group's Hessian eigenvalue lambda-max for the diagnosis (power "
        "iteration, about two backward passes per iteration on 64 samples per group and "
        "model; off by default to keep test runs fast).",
        metavar="BOOL",
        per_test=True,
    ),
    Option(
        "attribution",
        _boolean("attribution"),
        False,
        "When a gate on a variant made by a compression method fails, run attribute_harm with "
        "the gate's settings (two evaluations per layer) and name the layers that did the harm "
        "and a skip list with which the gate passes, in the failure message and the report.",
        metavar="BOOL",
        per_test=True,
    ),
)

OPTIONS_BY_NAME: Mapping[str, Option] = {o.name: o for o in OPTIONS}
#: Command-line flags that are actions of one run, not settings (no ini key, no marker).
ACTION_FLAGS: tuple[tuple[str, str, str], ...] = (
    (
        "--fairquant-cache-clear",
        "fairquant_cache_clear",
        "Delete the prediction cache's entries in fairquant_cache_dir before the session "
        "(only files the cache wrote; every prediction is recomputed).",
    ),
)

#: The settings that are also fields of the library's GateSpec (the gates' decision settings).
GATE_SETTINGS: tuple[str, ...] = (
    "gap",
    "metric",
    "tolerance",
    "alpha",
    "n_boot",
    "n_permutations",
    "seed",
    "min_group_size",
    "min_positives",
    "correction",
    "max_utility_drop",
)
MARKER_KEYS: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.per_test)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of a session (or of one test, with its marker applied)."""

    model: str | None = None
    data: str | None = None
    quantization: tuple[str, ...] = ("torch-dynamic-int8",)
    pruning: tuple[str, ...] = ("global-magnitude-0.5",)
    device: str = "auto"
    batch_size: int = 64
    alpha: float = 0.05
    tolerance: float = 0.02
    gap: str = "fvo"
    metric: str = "accuracy"
    max_utility_drop: float | None = 0.05
    skew_reference: Literal["prior", "equal"] = "prior"
    min_group_size: int = 30
    min_positives: int = 10
    n_boot: int = 1000
    n_permutations: int = 1999
    seed: int = 0
    correction: str = "holm"
    inconclusive: InconclusiveOutcome = "fail"
    subsample: int | float | None = None
    snapshot_tolerance: float = 0.005
    cache_dir: str | None = ".fairquant_cache"
    report: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    attribute: str | None = None
    candidates: tuple[Candidate, ...] = ()
    #: compression.calibration.DEFAULT_CALIBRATION_SIZE (not imported: loading the plugin
    #: imports no compression code); a test pins that they agree.
    calibration_size: int | float = 512
    finetune: str | None = None
    finetune_steps: int = 200
    diagnose: DiagnoseMode = "failing"
    diagnose_hessian: bool = False
    attribution: bool = False
    #: Where each value that is not the default came from, e.g. {"alpha": "command line"}.
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def with_marker(self, kwargs: Mapping[str, Any], *, where: str) -> Settings:
        """These settings overridden by a ``@pytest.mark.fairquant(**kwargs)`` at ``where``."""
        source = f"@pytest.mark.fairquant on {where}"
        changes: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key not in MARKER_KEYS:
                raise ConfigError(
                    MSG_UNKNOWN_MARKER_KEY.format(
                        key=key, source=where, known=", ".join(MARKER_KEYS)
                    )
                )
            changes[key] = _parse(OPTIONS_BY_NAME[key], value, f"{key}={value!r}", source)
        if not changes:
            return self
        sources = {**self.sources, **dict.fromkeys(changes, source)}
        return dataclasses.replace(self, **changes, sources=sources).checked()

    def gate_spec(self, **overrides: Any) -> GateSpec:
        """The gate specification of these settings, with ``overrides`` (a gate call's keyword
        arguments; ``None`` keeps the setting) applied and validated by the same checks."""
        from .stats.spec import GateSpec

        values = {name: getattr(self, name) for name in GATE_SETTINGS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return GateSpec.build(**values)

    def checked(self) -> Settings:
        """These settings, after the rules that tie two gate settings together (e.g. enough
        permutations for alpha); a violation names where both values came from."""
        from .errors import InputError
        from .stats.spec import problem_of

        gap = self.gap if self.gap not in ("max_skew", "min_skew") else "fvo"
        try:
            self.gate_spec(gap=gap)
        except InputError as err:
            where = "; ".join(
                f"{OPTIONS_BY_NAME[name].ini} = {getattr(self, name)} ({self.sources[name]})"
                for name in GATE_SETTINGS
                if name in self.sources
            )
            raise ConfigError(f"{problem_of(err)} ({where or 'the defaults'})") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        out = {o.name: getattr(self, o.name) for o in OPTIONS}
        # Tuples hold names, or candidates written as their "name=factory" entries.
        return {k: [str(i) for i in v] if isinstance(v, tuple) else v for k, v in out.items()}


def _parse(option: Option, raw: Any, shown: str, source: str) -> Any:
    try:
        return option.parse(raw)
    except ValueError as err:
        raise ConfigError(MSG_INVALID.format(shown=shown, source=source, problem=err)) from None


@functools.lru_cache(maxsize=8)
def ini_section(ini_file: str | None) -> str:
    """How the ini source is named in messages: the file and its pytest section."""
    if ini_file is None:
        return "ini file"
    path = Path(ini_file)
    if path.name == "pyproject.toml":
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            pytest_table = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["pytest"]
            if "ini_options" not in pytest_table:
                return f"{path.name} [tool.pytest]"
        return f"{path.name} [tool.pytest.ini_options]"
    section = "[tool:pytest]" if path.name == "setup.cfg" else "[pytest]"
    return f"{path.name} {section}"


#: The files pytest reads its configuration from, in the order it looks for them per directory.
INI_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def find_ini(start: str | Path) -> Path | None:
    """The configuration file pytest would use for a run started in ``start``: the first of
    :data:`INI_FILES` (in that order per directory, walking up to the filesystem root) that
    holds a pytest section (pytest.ini and .pytest.ini count even when empty)."""
    here = Path(start).resolve()
    for directory in (here, *here.parents):
        for name in INI_FILES:
            path = directory / name
            if path.is_file() and (name.startswith(("pytest", ".pytest")) or _pytest_table(path)):
                return path
    return None


def _pytest_table(path: Path) -> dict[str, Any] | None:
    """The pytest section of ``path`` as a dict of raw values, or None when it has none."""
    if path.name == "pyproject.toml":
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest")
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML ({err}); fix the file") from None
        if not isinstance(table, dict):
            return None
        options = table.get("ini_options", table)
        return dict(options) if isinstance(options, dict) else None
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as err:
        raise ConfigError(f"{path}: not a valid ini file ({err}); fix the file") from None
    section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    if not parser.has_section(section):
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return dict(parser.items(section))


def read_ini(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The ``fairquant_*`` settings of a pytest configuration file, by option name, as raw
    values for :func:`resolve` (what ``fairquant sweep`` shares with the pytest run), and the
    ``fairquant_*`` keys that name no setting (pytest warns about those; so does the sweep)."""
    table = _pytest_table(Path(path)) or {}
    out: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in table.items():
        name = key[len("fairquant_") :] if key.startswith("fairquant_") else None
        if name is None:
            continue
        if name not in OPTIONS_BY_NAME:
            unknown.append(key)
            continue
        option = OPTIONS_BY_NAME[name]
        if option.ini_type == "linelist" and isinstance(value, str):
            value = [line for line in (v.strip() for v in value.splitlines()) if line]
        out[name] = value
    return out, unknown


def ini_pythonpath(path: str | Path) -> list[Path]:
    """The directories a pytest configuration file's ``pythonpath`` puts on ``sys.path``
    (relative to the file, as pytest reads them), so that ``fairquant`` imports the factories
    the plugin would."""
    raw = (_pytest_table(Path(path)) or {}).get("pythonpath", [])
    entries = raw.split() if isinstance(raw, str) else [str(entry) for entry in raw]
    return [Path(path).parent / entry for entry in entries]


def resolve(
    cli: Mapping[str, Any], ini: Mapping[str, Any], *, ini_file: str | None = None
) -> Settings:
    """Settings from command-line values and ini values (``None`` where not given).

    ``cli`` and ``ini`` map option names to raw values; ``ini_file`` is the path of the config
    file, for messages.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        raw = cli.get(option.name)
        if raw is not None:
            values[option.name] = _parse(option, raw, f"{option.flag}={raw}", "command line")
            sources[option.name] = "command line"
            continue
        raw = ini.get(option.name)
        if raw is not None and raw != []:
            shown_raw = " ".join(raw) if isinstance(raw, list) else raw
            source = ini_section(ini_file)
            values[option.name] = _parse(option, raw, f"{option.ini} = {shown_raw}", source)
            sources[option.name] = source
    return Settings(**values, sources=sources).checked()


def options_table_markdown() -> str:
    """The option table as Markdown (in docs/configuration.md and README.md, tested there)."""
    lines = [
        "| ini key | flag | default | per test | meaning |",
        "|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        default = o.default
        if isinstance(default, tuple):
            default = ", ".join(default) if default else "(none)"
        shown = "(none)" if default is None else f"`{default}`"
        per_test = f"`{o.name}=`" if o.per_test else ""
        lines.append(f"| `{o.ini}` | `{o.flag}={o.metavar}` | {shown} | {per_test} | {o.help} |")
    return "\n".join(lines)


def configuration_markdown() -> str:
    """The text of ``docs/configuration.md``, generated from :data:`OPTIONS`."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by pytest_fairquant.settings.configuration_markdown(); do not edit. -->",
        "",
        "Every setting has a command-line flag and an ini key (in `pyproject.toml` under",
        "`[tool.pytest.ini_options]`, or in `pytest.ini`). Precedence: the",
        "`@pytest.mark.fairquant(...)` marker of a test (for the settings marked *per test*),",
        "then the command line, then the ini file, then the default.",
        "",
        options_table_markdown(),
        "",
        "Flags of one run (command line only):",
        "",
        "| flag | what |",
        "|---|---|",
        *(f"| `{flag}` | {text} |" for flag, _, text in ACTION_FLAGS),
        "",
        "`fairquant sweep` reads the same `fairquant_*` keys from the configuration file pytest",
        "would use (or `-c FILE`; `--no-config` for none); its flags override them.",
    ]
    lines += [
        "",
        "Example:",
        "",
        "```toml",
        "[tool.pytest.ini_options]",
        'fairquant_model = "mypkg.fairness:load_model"',
        'fairquant_data = "mypkg.fairness:load_eval_split"',
        'fairquant_quantization = ["bnb-int8", "bnb-nf4", "torch-dynamic-int8"]',
        'fairquant_pruning = ["global-magnitude-0.5", "nm-2:4"]',
        'fairquant_candidates = ["int8-release = mypkg.release:load_onnx_int8"]',
        "fairquant_alpha = 0.05",
        "```",
        "",
        "## Per test",
        "",
        "```python",
        '@pytest.mark.fairquant(methods=["bnb-nf4"], attribute="race", alpha=0.01, inconclusive="xfail")',
        "def test_nf4_keeps_race_fvo(model, quantized_model, demographic_split): ...",
        "```",
        "",
        "Unknown keywords are an error that lists the known ones: "
        + ", ".join(f"`{k}`" for k in MARKER_KEYS)
        + ".",
        "",
        "## Fixtures",
        "",
        "| fixture | scope | what |",
        "|---|---|---|",
        "| `fairquant_model` | session | the dense model from `fairquant_model` |",
        "| `model` | test | alias of `fairquant_model` (yours wins if you define one) |",
        "| `fairquant_data` | session | the split from `fairquant_data` |",
        "| `demographic_split` | test | `fairquant_data`, subsampled if configured, each "
        "attribute without its groups under `fairquant_min_group_size` (prepared once per "
        "split; test-scoped so a conftest.py override of `fairquant_data` in a sub-directory "
        "reaches it) |",
        "| `quantized_model`, `pruned_model` | test | the dense model compressed by one method; "
        "the test runs once per method (`test_x[bnb-nf4]`); unavailable methods skip with the "
        'backend\'s reason; an empty list (`methods="none"` or `[]`) runs no method: one '
        "`test_x[none]`, skipped with the reason |",
        "| `candidate_model` | test | one of your own already-compressed models "
        "(`fairquant_candidates`): the factory's torch module, Hugging Face model or "
        "onnxruntime `InferenceSession` (wrapped so `predict` runs it), carrying a "
        "`CandidateInfo` (name, factory, the returned model's fingerprint) at "
        "`fairquant_info`; the test runs once per candidate (`test_x[int8-release]`) and every "
        "gate, snapshot and report names it as a method; with none configured, one "
        "`test_x[none]`, skipped with the reason |",
        "| `fairquant_snapshot` | test | syrupy's `snapshot` comparing GroupReports with a "
        "tolerance |",
        "| `fairquant_settings` | session | the resolved settings |",
        "| `fairquant_report_section` | session | `add(name, content)`: a named extra section "
        "(a dict or anything with `to_dict()`, e.g. paper 000's tables) in the JSON and HTML "
        "report |",
        "",
        "Override `fairquant_model`/`fairquant_data` in conftest.py instead of naming "
        "factories; the variants are made from `fairquant_model`, and `model` is its alias "
        "unless you define a `model` fixture of your own. Tests of one method run as one block so each variant is built once "
        "and released after its last test; under pytest-xdist each worker builds the variants "
        "its tests need, the prediction cache is shared, and with `fairquant_device = auto` "
        "worker *k* uses GPU *k* mod the GPU count. With `--dist loadgroup` each method's tests "
        "form one xdist group, so one worker builds each variant (pytest-xdist 3.8 ignores "
        "groups on pytest 9.2: pytest-xdist#1386).",
        "",
    ]
    return "\n".join(lines)
