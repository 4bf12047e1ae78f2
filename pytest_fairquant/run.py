"""One fairness run: the core that both front doors, the pytest plugin and ``fairquant sweep``, drive.

A :class:`FairnessRun` owns, for one process and one resolved :class:`~.settings.Settings`:

- the factories (:meth:`~FairnessRun.factory`, :meth:`~FairnessRun.load`): ``module:callable``
  resolved once, their import errors one :class:`~.errors.ConfigError` naming the setting;
- split preparation (:meth:`~FairnessRun.prepare`): when a method of the run calibrates
  (``static-int8``, ``onnx-int8-static``), a seeded, stratified calibration part of
  ``calibration_size`` samples set aside first (:meth:`~FairnessRun.calibration_part`), so the
  dense model and every variant are evaluated on the other samples only; the stratified
  subsample; then, per attribute, the groups below ``min_group_size`` dropped for that
  attribute's gates only;
- variants (:meth:`~FairnessRun.variant`): keyed by the dense model's fingerprint, the method
  and the calibration part, so two models in one session never share a variant; each is a
  :class:`~.compression.lazy.LazyVariant`, a torch module named by its
  :func:`~.compression.plan_variant` fingerprint before it is built, and built with
  :func:`~.compression.compress` (a calibrating method on the calibration part) only when it
  is used beyond its cached predictions: on a prediction-cache miss, inside the entry's lock
  (a second xdist worker waiting there gets the predictions, not a second compression), or
  when a test touches the model itself. A warm rerun compresses nothing, and its report takes
  each variant's compression metadata from the cached predictions. A method that cannot run
  here is remembered with its reason (:class:`~.errors.MethodUnavailable`), a broken
  third-party method included; a candidate (``fairquant_candidates``) is the model its factory
  returns (built at once: it is the user's), checked and carrying its
  :class:`~.candidates.CandidateInfo`, and is a variant everywhere else;
- predictions (:meth:`~FairnessRun.predict`): a memo keyed by (model fingerprint, split
  fingerprint, task) over the prediction cache, whose directory is checked once
  (:meth:`~FairnessRun.open_cache`; an unusable one falls back to memory);
- a sweep row in two halves: :meth:`~FairnessRun.evaluate` builds a variant and predicts (an
  :class:`Evaluation`, made here or in a Ray worker: :mod:`.ray_sweep`), and
  :meth:`~FairnessRun.judge` gates two evaluations in the process that writes the report;
- the gates (:meth:`~FairnessRun.context`, :meth:`~FairnessRun.judge`): the library's
  ``assert_no_bias_amplification`` under a :class:`~.gate.GateContext` of this run, so option
  resolution from the settings, ``min_positives``, the correction across attributes and the
  inconclusive policy are the same code in a test and in a sweep;
- the typed records (:class:`Record`): every comparison with its test, method, dense model and
  split, JSON-ready for the reports;
- progress (:class:`Progress`): one line per variant compressed and per model evaluated, with
  the elapsed time and samples/s, to whatever sink the front door gives (the plugin's goes
  through pytest's terminal reporter).

It imports neither pytest nor torch at import time; data/, compression/, metrics/ and stats/
never import it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .candidates import Candidate
from .errors import ConfigError, FairquantError, InputError, MethodUnavailable
from .gate import (
    Explanation,
    FairnessAssertionError,
    GateContext,
    InconclusiveWarning,
    gate_context,
)
from .progress import Progress, Step, step
from .settings import OPTIONS_BY_NAME, Settings

if TYPE_CHECKING:
    from .compression import FineTune, VariantPlan
    from .data.split import DemographicSplit
    from .predictions import Predictions
    from .stats import Comparison

MSG_NO_FACTORY = (
    "no {what} configured: set {ini} = 'package.module:callable' (or {flag}=...), "
    "or override the {fixture} fixture in conftest.py"
)
MSG_FACTORY_IMPORT = "{shown} ({source}): module {module!r} cannot be imported: {error}"
#: Added when the factory's package itself is not found: the usual cause is a directory that is
#: not on ``sys.path`` (pytest's ``rootdir`` is not, by itself).
MSG_FACTORY_NOT_ON_PATH = (
    "; put the directory that holds it on sys.path (the pytest setting pythonpath = DIR, which "
    "fairquant sweep reads too, or PYTHONPATH) or install its package"
)
MSG_FACTORY_ATTRIBUTE = (
    "{shown} ({source}): module {module!r} has no attribute {name!r}; name a callable the "
    "module defines"
)
MSG_FACTORY_TYPE = "{shown} ({source}): the factory returned {got}, expected {expected}"
MSG_FACTORY_RAISED = "{shown} ({source}): the factory raised {error}"
MSG_CANDIDATE_IS_METHOD = (
    "{shown} ({source}): candidate name {name!r} is also a compression method id, so the "
    "report could not tell them apart; rename the candidate"
)
MSG_CANDIDATE_IS_DENSE = (
    "{shown} ({source}): the candidate is the dense model (same weights and code), so its "
    "gates would compare the model with itself; return the compressed release artifact"
)
MSG_CALIBRATION_SPLIT = "{shown} ({source}): {error}"
MSG_UNKNOWN_METHOD = "{shown} ({source}): {error}"
MSG_BROKEN_METHOD = "the method's backend is broken: {error}"
MSG_BAD_DEVICE = "{shown} ({source}): {error}"
MSG_CACHE_FALLBACK = (
    "{shown} ({source}): the prediction cache directory {path} cannot be used ({error}); "
    "predictions are kept in memory for this run only"
)
MSG_VARIANT_FAILED = "{method}: {stage} failed: {error}"
MSG_SECTION_NAME = "fairquant_report_section: the name must be a non-empty string; got {name!r}"
MSG_SECTION_JSON = (
    "fairquant_report_section({name!r}, ...): the content must be JSON (dicts, lists, strings, "
    "finite numbers, None) or have a to_dict() that returns it; {err}"
)
MSG_SECTION_TWICE = (
    "fairquant_report_section({name!r}, ...): a different section of that name was already "
    "added in this session; give each section its own name"
)

#: What happened to one gate call, in pytest's words (``fairquant sweep`` reports the same).
Outcome = Literal["passed", "failed", "skipped", "xfailed", "warned", "error"]

#: The settings that hold method ids.
METHOD_SETTINGS = ("quantization", "pruning", "methods")

#: The method name of the dense model in an :class:`Evaluation` (and in its predictions).
DENSE = "dense"
#: The stages of a sweep row that can fail, as its error row names them.
Stage = Literal["loading the method", "loading the candidate", "compression", "evaluation"]


class CacheFallbackWarning(UserWarning):
    """The prediction cache directory is unusable; this run keeps predictions in memory."""


def shown_setting(
    settings: Settings, name: str, *, value: bool = True, entry: str | None = None
) -> tuple[str, str]:
    """How a setting is named in a message (the flag, the ini key or the marker keyword, with
    its value unless ``value=False``, or with only its ``entry`` a message is about), and where
    its value came from."""
    option = OPTIONS_BY_NAME[name]
    source = settings.sources.get(name, "default")
    current = getattr(settings, name)
    if isinstance(current, tuple):
        current = [entry] if entry is not None else [str(item) for item in current]
    if source.startswith("@pytest.mark"):
        return f"{name}={current!r}", source
    text = (",".join(current) or "none") if isinstance(current, list) else current
    if source == "command line":
        return (f"{option.flag}={text}" if value else option.flag), source
    return (f"{option.ini} = {text}" if value else option.ini), source


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One comparison a gate made, with the test, the method, the dense model and the split.

    ``model`` names the dense model (class and fingerprint), ``split`` the split (its name, and
    its fingerprint where two splits share a name), so a report of a multi-model repository says
    which model each row gated. ``diagnosis`` is ``Diagnosis.to_dict()`` and ``attribution``
    ``Attribution.to_dict()`` when the gate computed them (``fairquant_diagnose``,
    ``fairquant_attribution``); ``notes`` say why one that was asked for is absent. All three
    are JSON, so a record crosses from an xdist worker to the controller unchanged.
    """

    nodeid: str
    gate: str
    method: str | None
    comparison: Comparison | Mapping[str, Any]
    model: str | None = None
    split: str | None = None
    diagnosis: Mapping[str, Any] | None = None
    attribution: Mapping[str, Any] | None = None
    notes: Sequence[str] = ()

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        out: dict[str, Any] = {
            "nodeid": self.nodeid,
            "gate": self.gate,
            "method": self.method,
            "model": self.model,
            "split": self.split,
            "comparison": dict(c) if isinstance(c, Mapping) else c.to_dict(),
        }
        # Only when present: the records of most comparisons stay as they were.
        extras = {"diagnosis": self.diagnosis, "attribution": self.attribution}
        out.update({k: dict(v) for k, v in extras.items() if v is not None})
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def error_comparison(settings: Settings, reason: str) -> Comparison:
    """The ``error`` verdict of a method whose variant could not be built or evaluated."""
    from .stats import Comparison

    return Comparison(
        verdict="error",
        gap=settings.gap,
        metric=settings.metric,
        attribute=settings.attribute,
        base_gap=None,
        compressed_gap=None,
        delta=None,
        interval=None,
        interval_method="none",
        p_value=None,
        test="none (no predictions)",
        correction=settings.correction,
        tolerance=settings.tolerance,
        alpha=settings.alpha,
        n_boot=settings.n_boot,
        seed=settings.seed,
        groups=(),
        reasons=(reason,),
        required_n=None,
        noise_floor=None,
        n=0,
    )


@dataclass(frozen=True)
class Evaluation:
    """One model of a sweep row evaluated on the split, or why it could not be: what
    :meth:`FairnessRun.evaluate` returns wherever it ran (this process, a Ray worker), and all
    that :meth:`FairnessRun.judge` needs of it, so it is small and picklable.

    ``method`` is :data:`DENSE` or the variant's method id; ``info`` the variant's compression
    metadata for the report (empty for the dense model); ``unavailable`` why the method cannot
    run where it was evaluated; ``failure`` the stage that failed and the error.
    """

    method: str
    predictions: Predictions | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    unavailable: str | None = None
    failure: tuple[Stage, str] | None = None

    @classmethod
    def failed(
        cls, method: str, stage: Stage, err: BaseException, info: Mapping[str, Any] | None = None
    ) -> Evaluation:
        return cls(method, info=info or {}, failure=(stage, _describe(err)))


@dataclass(frozen=True)
class Check:
    """What :meth:`FairnessRun.judge` found: the pytest-style outcome, the comparisons, the text."""

    outcome: Outcome
    comparisons: tuple[Comparison, ...]
    text: str = ""


# --------------------------------------------------------------------------- the run


@dataclass
class FairnessRun:
    """The state of one run (see the module docstring). ``root`` anchors a relative cache dir;
    ``worker`` is the xdist worker number (gw3 -> 3), None outside xdist."""

    settings: Settings
    root: Path = field(default_factory=Path.cwd)
    worker: int | None = None
    records: list[Record] = field(default_factory=list)
    #: Compression metadata per method, for the report.
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Summaries of the prepared splits, by :meth:`split_name`.
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Named extra report sections, JSON-ready.
    sections: dict[str, Any] = field(default_factory=dict)
    #: Lines for the terminal summary (notes about the run, e.g. a dropped section).
    notes: list[str] = field(default_factory=list)
    #: Variants by (what they were made from, method or candidate name, calibration).
    _variants: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    #: The error each variant's build raised, by the variant's fingerprint (a sweep row names
    #: its stage from it).
    _build_errors: dict[str, BaseException] = field(default_factory=dict)
    #: The dense models' names (:meth:`model_name`), by fingerprint, for their variants.
    _dense_names: dict[str, str] = field(default_factory=dict)
    _unavailable: dict[str, str] = field(default_factory=dict)
    #: The unavailable methods whose backend raised (not merely "cannot run here").
    _broken: set[str] = field(default_factory=set)
    _predictions: dict[tuple[str, str, str | None], Predictions] = field(default_factory=dict)
    _prepared: dict[tuple[str, str], DemographicSplit] = field(default_factory=dict)
    _fingerprints: weakref.WeakKeyDictionary[Any, str] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _factories: dict[str, Any] = field(default_factory=dict)
    #: Method ids named outside the settings (per-test markers), for :attr:`calibrating`.
    _noted_methods: set[str] = field(default_factory=set)
    _calibrating: bool | None = None
    #: The calibration part of each prepared split, by the prepared split's fingerprint.
    _calibration: dict[str, DemographicSplit] = field(default_factory=dict)
    _cache: Any = None
    _cache_problem: str | None = None
    #: Where the long steps report (None: silently).
    progress: Progress | None = None
    _steps: list[Step] = field(default_factory=list)
    _cache_opened: bool = False

    # ------------------------------------------------------------------ configuration checks

    def check_methods(self, names: Sequence[str] = METHOD_SETTINGS) -> None:
        """Unknown method ids are a ConfigError naming the setting; a method whose backend is
        broken (an entry point that failed to import, a factory that raises) is not an error
        here: its tests skip with the reason."""
        from .compression import parse_method_id

        for name in names:
            shown, source = shown_setting(self.settings, name, value=False)
            for method in getattr(self.settings, name):
                try:
                    parse_method_id(method)
                except MethodUnavailable as err:
                    self._unavailable.setdefault(method, err.reason)
                except InputError as err:  # the registry's message names the known ids
                    raise ConfigError(
                        MSG_UNKNOWN_METHOD.format(shown=shown, source=source, error=err)
                    ) from err
                except Exception as err:  # a third party's factory: its tests skip, once named
                    self._unavailable.setdefault(
                        method, MSG_BROKEN_METHOD.format(error=_describe(err))
                    )
                    self._broken.add(method)

    def check_candidates(self, settings: Settings | None = None) -> None:
        """A candidate named like a compression method id is a ConfigError: its report rows
        and test ids could not be told from the method's."""
        from .compression import parse_method_id

        s = settings or self.settings
        for candidate in s.candidates:
            try:
                parse_method_id(candidate.name)
            except Exception:  # not a method id (or a broken one's): the name is free
                continue
            shown, source = shown_setting(s, "candidates", entry=str(candidate))
            raise ConfigError(
                MSG_CANDIDATE_IS_METHOD.format(shown=shown, source=source, name=candidate.name)
            )

    def check_device(self) -> None:
        """A device torch cannot use (``tpu``, ``cuda`` without CUDA) is one ConfigError naming
        the setting, before any test runs. ``auto`` and ``cpu`` need no check (nor torch)."""
        if self.settings.device in ("auto", "cpu"):
            return
        from .evaluate import resolve_device

        try:
            resolve_device(self.settings.device)
        except FairquantError as err:
            shown, source = shown_setting(self.settings, "device")
            raise ConfigError(MSG_BAD_DEVICE.format(shown=shown, source=source, error=err)) from err

    def open_cache(self) -> str | None:
        """Open the prediction cache once; returns the reason when its directory is unusable
        (the run then keeps predictions in memory), else None."""
        if self._cache_opened:
            return self._cache_problem
        self._cache_opened = True
        from .cache import PredictionCache

        if not self.settings.cache_dir:
            return None
        directory = self.root / self.settings.cache_dir
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as err:
            shown, source = shown_setting(self.settings, "cache_dir")
            self._cache_problem = MSG_CACHE_FALLBACK.format(
                shown=shown, source=source, path=directory, error=_describe(err)
            )
            self._cache = PredictionCache(None)
            return self._cache_problem
        self._cache = PredictionCache(directory)
        return None

    @property
    def cache(self) -> Any:
        if not self._cache_opened:
            problem = self.open_cache()
            if problem is not None:
                warnings.warn(CacheFallbackWarning(problem), stacklevel=2)
        return self._cache

    # ------------------------------------------------------------------ factories

    def factory(self, name: Literal["model", "data", "finetune"]) -> Any:
        """The object the ``model``/``data``/``finetune`` setting names, imported once
        (ConfigError if not)."""
        if name in self._factories:
            return self._factories[name]
        option = OPTIONS_BY_NAME[name]
        path = getattr(self.settings, name)
        if path is None:
            raise ConfigError(
                MSG_NO_FACTORY.format(
                    what=name, ini=option.ini, flag=option.flag, fixture=f"fairquant_{name}"
                )
            )
        self._factories[name] = _import_target(path, *shown_setting(self.settings, name))
        return self._factories[name]

    def load(self, name: Literal["model", "data"]) -> Any:
        """Call the factory of ``name`` and check what it returned (ConfigError naming it)."""
        shown, source = shown_setting(self.settings, name)
        value = _call_factory(self.factory(name), shown, source)
        expected = _is_module(value) if name == "model" else _is_split(value)
        if expected is not None:
            raise ConfigError(
                MSG_FACTORY_TYPE.format(
                    shown=shown, source=source, got=type(value).__name__, expected=expected
                )
            )
        return value

    def candidate_factory(self, candidate: Candidate, settings: Settings | None = None) -> Any:
        """The factory a candidate names, imported once (ConfigError naming the entry)."""
        key = f"candidate:{candidate.factory}"
        if key not in self._factories:
            shown = shown_setting(settings or self.settings, "candidates", entry=str(candidate))
            self._factories[key] = _import_target(candidate.factory, *shown)
        return self._factories[key]

    # ------------------------------------------------------------------ splits

    def note_methods(self, methods: Sequence[str]) -> None:
        """Methods a test runs beyond the settings' lists (its marker's ``methods=``); call
        before the first :meth:`prepare`, which decides whether splits set a part aside."""
        self._noted_methods.update(methods)

    def needs_calibration(self, method: str) -> bool:
        """Whether ``method`` observes activations on calibration data (an unknown or broken
        method does not: it fails or skips on its own)."""
        from .compression import needs_calibration

        try:
            return needs_calibration(method)
        except Exception:  # its error is the method's row (check_methods), not this question's
            return False

    def needs_split(self, method: str, settings: Settings | None = None) -> bool:
        """Whether building ``method``'s variant needs the set-aside part of the split it is
        evaluated on: to calibrate on, or to fine-tune on (``fairquant_finetune``)."""
        if self.find_candidate(method, settings) is not None:
            return False
        return self.settings.finetune is not None or self.needs_calibration(method)

    @property
    def calibrating(self) -> bool:
        """Whether any method of this run calibrates, or the run fine-tunes: then every
        prepared split sets a calibration part aside, and the dense model and every variant
        (calibrated or not) are evaluated on the rest, so all of them are compared on the same
        samples and none on one a variant saw while it was built."""
        if self._calibrating is None:
            s = self.settings
            methods = {*s.quantization, *s.pruning, *s.methods, *self._noted_methods}
            self._calibrating = s.finetune is not None or any(
                self.needs_calibration(m) for m in sorted(methods)
            )
        return self._calibrating

    def prepare(self, split: DemographicSplit) -> DemographicSplit:
        """``split`` without its calibration part when the run calibrates (:attr:`calibrating`),
        subsampled if configured, each attribute's groups below ``min_group_size`` dropped for
        that attribute's gates only (a small ``age`` group stays in the ``sex`` gate); memoised
        by fingerprint, its summary (with the calibration part's size) kept for the report.

        The calibration part is carved off the whole split, before any subsample, so a
        variant's calibration, and thus the variant, does not depend on ``subsample``."""
        s = self.settings
        key = (split.name, split.fingerprint)
        if key not in self._prepared:
            prepared, calibration = split, None
            if self.calibrating:
                calibration, prepared = self._carve(split)
            if s.subsample is not None:
                prepared = prepared.subsample(s.subsample, seed=s.seed)
            prepared = prepared.filter_groups_per_attribute(min_size=s.min_group_size)
            self._prepared[key] = prepared
            summary = prepared.summary()
            if calibration is not None:
                self._calibration[prepared.fingerprint] = calibration
                summary["calibration"] = {
                    "size": len(calibration),
                    "seed": s.seed,
                    "fingerprint": calibration.fingerprint,
                }
            self.splits[self.split_name(prepared)] = summary
        return self._prepared[key]

    def _carve(self, split: DemographicSplit) -> tuple[DemographicSplit, DemographicSplit]:
        from .compression import calibration_split

        try:
            return calibration_split(split, self.settings.calibration_size, seed=self.settings.seed)
        except InputError as err:
            shown, source = shown_setting(self.settings, "calibration_size")
            raise ConfigError(
                MSG_CALIBRATION_SPLIT.format(shown=shown, source=source, error=err)
            ) from err

    def calibration_part(self, split: DemographicSplit) -> DemographicSplit | None:
        """The samples set aside to calibrate the variants evaluated on ``split`` (a split
        :meth:`prepare` returned), or None when none were."""
        return self._calibration.get(split.fingerprint)

    def split_name(self, split: DemographicSplit) -> str:
        """The split's name in the report; ``name@fingerprint`` when another split has it."""
        known = self.splits.get(split.name)
        if known is None or known.get("fingerprint") == split.fingerprint:
            return split.name
        return f"{split.name}@{split.fingerprint[:8]}"

    def _split_label(self, fingerprint: str) -> str:
        for name, summary in self.splits.items():
            if summary.get("fingerprint") == fingerprint:
                return name
        return f"split@{fingerprint[:8]}"

    # ------------------------------------------------------------------ models + predictions

    def fingerprint(self, model: Any) -> str:
        """``model_fingerprint(model)``, computed once per model object in this run."""
        from .fingerprint import model_fingerprint

        try:
            known = self._fingerprints.get(model)
        except TypeError:  # not weak-referenceable
            return model_fingerprint(model)
        if known is None:
            known = self._fingerprints[model] = model_fingerprint(model)
        return known

    def model_name(self, model: Any) -> str:
        """The dense model in the report: its class and fingerprint (of the dense model a
        variant was made from; a variant not built yet is asked for nothing else)."""
        info = getattr(model, "fairquant_plan", None) or getattr(model, "fairquant_info", None)
        base = getattr(info, "base_fingerprint", None)
        if not isinstance(base, str):
            return f"{type(model).__name__}@{self.fingerprint(model)[:8]}"
        return self._dense_names.get(base, f"{type(model).__name__}@{base[:8]}")

    def device(self) -> str:
        """The configured device; with ``auto`` under xdist, one GPU per worker (round robin)."""
        if self.settings.device != "auto" or self.worker is None:
            return self.settings.device
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return f"cuda:{self.worker % count}" if count > 1 else "auto"

    def predict(self, model: Any, split: DemographicSplit, task: Any = None) -> Predictions:
        """Each model is evaluated once per split and task in this run (memo keyed by the
        model's fingerprint); the disk cache spans runs and processes."""
        from .evaluate import predict

        key = (
            self.fingerprint(model),
            split.fingerprint,
            None if task is None else task.fingerprint(),
        )
        if key not in self._predictions:
            info = getattr(model, "fairquant_plan", None) or getattr(model, "fairquant_info", None)
            method = getattr(info, "method_id", None) or "dense"
            what = f"evaluating {method} ({self.model_name(model)}) on {split.name}"
            with self._step(f"{what}, {len(split)} samples") as step:
                found = predict(
                    model,
                    split,
                    task=task,
                    device=self.device(),
                    batch_size=self.settings.batch_size,
                    cache=self.cache,
                )
                step.result = _throughput(found, step.elapsed)
            compression = found.metadata.get("compression")
            if method != DENSE and isinstance(compression, Mapping):
                # A variant served from the cache was never built: its metadata is the report's.
                self.methods.setdefault(method, _report_info(compression))
            self._predictions[key] = found
        return self._predictions[key]

    def _step(self, text: str) -> contextlib.AbstractContextManager[Step]:
        """Report ``text`` as started on :attr:`progress`, then its elapsed time and the step's
        own result (or that it failed) when it ends (:func:`.progress.step`, nested steps
        included: a variant built while it is evaluated)."""
        return step(self.progress, text, open_steps=self._steps)

    def find_candidate(self, name: str, settings: Settings | None = None) -> Candidate | None:
        """The candidate called ``name`` in ``settings`` (default: the run's), if any."""
        candidates = (settings or self.settings).candidates
        return next((c for c in candidates if c.name == name), None)

    def variant(
        self,
        dense: Any,
        method: str,
        *,
        split: DemographicSplit | None = None,
        settings: Settings | None = None,
    ) -> Any:
        """The variant of ``dense`` by ``method`` (a :class:`~.compression.lazy.LazyVariant`,
        built when first used beyond its cached predictions), or the candidate of that name in
        ``settings`` (default: the run's), kept until :meth:`release`.
        A calibrating method observes the part :meth:`prepare` set aside from ``split`` (the
        prepared split the variant is evaluated on); with ``fairquant_finetune`` every variant
        is fine-tuned on that part. Raises MethodUnavailable (remembered)
        when the method cannot run here, ConfigError naming the entry when a candidate's
        factory fails or returns no model."""
        candidate = self.find_candidate(method, settings)
        if candidate is not None:
            return self._candidate(dense, candidate, settings or self.settings)
        if method in self._unavailable:
            raise MethodUnavailable(method, self._unavailable[method])
        part = None
        if split is not None and self.needs_split(method, settings):
            part = self.calibration_part(split)
        key = (self.fingerprint(dense), method, "" if part is None else part.fingerprint)
        if key not in self._variants:
            from .compression import FineTune, plan_variant
            from .compression.lazy import LazyVariant

            self._check_available(method)
            finetune = None
            if self.settings.finetune is not None:
                steps = self.settings.finetune_steps
                finetune = FineTune(self.factory("finetune"), part, steps)
            calibration = part if self.needs_calibration(method) else None
            # The checks compress makes before it copies the model are made now, so a variant
            # that cannot be built is its tests' error (or skip) at setup, as when it was built.
            try:
                plan = plan_variant(
                    dense,
                    method,
                    calibration=calibration,
                    finetune=finetune,
                    base_fingerprint=key[0],
                )
            except MethodUnavailable as err:
                self._unavailable[method] = err.reason
                raise
            self._dense_names.setdefault(key[0], self.model_name(dense))
            build = functools.partial(self._build, dense, plan, calibration, finetune)
            self._variants[key] = LazyVariant(plan, build)
        return self._variants[key]

    def _candidate(self, dense: Any, candidate: Candidate, settings: Settings) -> Any:
        """The model ``candidate``'s factory returns, checked and carrying its CandidateInfo."""
        key = (f"candidate:{candidate.factory}", candidate.name, "")
        if key not in self._variants:
            from .candidates import (
                CANDIDATE_MODELS,
                as_candidate_model,
                own_fingerprint,
                tag_candidate,
            )
            from .compression.core import info_dict

            shown, source = shown_setting(settings, "candidates", entry=str(candidate))
            value = _call_factory(self.candidate_factory(candidate, settings), shown, source)
            try:
                model = as_candidate_model(value)
            except InputError as err:  # a session that cannot be fingerprinted
                raise ConfigError(f"{shown} ({source}): {err}") from err
            if model is None:
                raise ConfigError(
                    MSG_FACTORY_TYPE.format(
                        shown=shown,
                        source=source,
                        got=type(value).__name__,
                        expected=CANDIDATE_MODELS,
                    )
                )
            fingerprint = own_fingerprint(model)
            if fingerprint == self.fingerprint(dense):
                raise ConfigError(MSG_CANDIDATE_IS_DENSE.format(shown=shown, source=source))
            self._variants[key] = tag_candidate(model, candidate, fingerprint)
            self.methods[candidate.name] = info_dict(model)
        return self._variants[key]

    def _build(
        self, dense: Any, plan: VariantPlan, calibration: Any, finetune: FineTune | None
    ) -> Any:
        """Compress the variant ``plan`` names (what its LazyVariant calls on first use)."""
        from .compression import compress
        from .compression.core import info_dict

        method = plan.method_id
        try:
            with self._step(f"compressing {self.model_name(dense)} with {method}"):
                built = compress(dense, method, calibration=calibration, finetune=finetune)
        except MethodUnavailable as err:  # a backend that finds out only when compressing
            self._unavailable[method] = err.reason
            self._build_errors[plan.fingerprint] = err
            raise
        except Exception as err:
            self._build_errors[plan.fingerprint] = err
            raise
        self.methods[method] = info_dict(built)
        return built

    def _check_available(self, method: str) -> None:
        """A third party's ``available()`` that raises is the method's reason to skip."""
        from .compression.registry import build_method

        try:
            build_method(method).available()
        except MethodUnavailable:
            raise
        except Exception as err:
            self._unavailable[method] = MSG_BROKEN_METHOD.format(error=_describe(err))
            self._broken.add(method)
            raise MethodUnavailable(method, self._unavailable[method]) from err

    @property
    def live_methods(self) -> list[str]:
        """The methods whose variants are held (handed out, built or not yet, and not yet
        released)."""
        return sorted({method for _, method, _ in self._variants})

    def release(self, method: str) -> None:
        """Drop every variant of ``method`` (of every dense model) after its last test."""
        for key in [k for k in self._variants if k[1] == method]:
            del self._variants[key]

    # ------------------------------------------------------------------ gates

    def context(
        self,
        settings: Settings | None = None,
        *,
        nodeid: str,
        method: str | None,
        outcome: Callable[[str, str], None] | None = None,
        on_record: Callable[[Record], None] | None = None,
        dense: tuple[Any, Predictions] | None = None,
    ) -> GateContext:
        """The GateContext a test's (or a sweep row's) gates run under: the settings, this
        run's predictions, and a record sink that names the dense model and split the gate
        evaluated (the most recent predictions it made). ``dense`` is the dense model and its
        predictions when the gate is given predictions instead of models (a sweep row), which
        its records then name."""
        seen: list[Predictions] = []
        names: dict[str, str] = {}

        def saw(model: Any, result: Predictions) -> None:
            seen.append(result)
            if result.method == DENSE:
                names[result.model_fingerprint] = self.model_name(model)

        if dense is not None:
            saw(*dense)

        def predict(model: Any, split: DemographicSplit, task: Any = None) -> Predictions:
            result = self.predict(model, split, task)
            saw(model, result)
            return result

        def record(gate: str, comparison: Comparison, explained: Explanation | None) -> None:
            base = next((p for p in reversed(seen) if p.method == DENSE), None)
            entry = Record(
                nodeid,
                gate,
                method,
                comparison,
                model=None if base is None else names.get(base.model_fingerprint),
                split=None if not seen else self._split_label(seen[-1].split_fingerprint),
                diagnosis=None if explained is None else explained.diagnosis,
                attribution=None if explained is None else explained.attribution,
                notes=() if explained is None else explained.notes,
            )
            self.records.append(entry)
            if on_record is not None:
                on_record(entry)

        return GateContext(
            settings or self.settings,
            predict=predict,
            record=record,
            outcome=outcome,
            progress=self.progress,
        )

    def evaluate(self, dense: Any, split: DemographicSplit, method: str) -> Evaluation:
        """The first half of a sweep row: ``dense`` (``method`` :data:`DENSE`) or its ``method``
        variant, built and evaluated on ``split`` in this process. What cannot run here, a
        broken backend and a build or evaluation that raises come back in the Evaluation, so
        one method never ends the sweep."""
        model = dense
        if method != DENSE:
            try:
                model = self.variant(dense, method, split=split)
            except MethodUnavailable as err:
                return self._unavailable_row(method, err)
            except Exception as err:  # a backend's own error: this method's row, not the run's end
                candidate = self.find_candidate(method) is not None
                stage: Stage = "loading the candidate" if candidate else "compression"
                return Evaluation.failed(method, stage, err)
        try:
            predictions = self.predict(model, split)  # builds a variant on a cache miss
        except Exception as err:
            built = self._build_errors.get(self.fingerprint(model))
            if err is built and isinstance(err, MethodUnavailable):
                return self._unavailable_row(method, err)
            if err is built:
                return Evaluation.failed(method, "compression", err)
            if isinstance(err, (FairquantError, RuntimeError)):  # NaN outputs, a failing kernel
                return Evaluation.failed(method, "evaluation", err, self.methods.get(method))
            raise
        return Evaluation(method, predictions, info=self.methods.get(method, {}))

    def _unavailable_row(self, method: str, err: MethodUnavailable) -> Evaluation:
        if method in self._broken:  # a run that names the method must show it is broken
            return Evaluation.failed(method, "loading the method", err)
        return Evaluation(method, unavailable=err.reason)

    def judge(
        self,
        dense: Any,
        split: DemographicSplit,
        base: Evaluation,
        compressed: Evaluation,
        *,
        nodeid: str,
        settings: Settings | None = None,
    ) -> Check:
        """The second half of a sweep row: gate ``compressed`` against ``base`` (``dense``'s
        evaluation) as a test calling ``assert_no_bias_amplification(dense, variant, split)``
        would, under ``settings`` (default: the run's), and record it here, wherever the two
        evaluations ran. A method that cannot run is ``skipped``; a failed stage is an
        ``error`` record naming it."""
        from .gate import assert_no_bias_amplification

        s = settings or self.settings
        method = compressed.method
        if compressed.unavailable is not None:
            return Check("skipped", (), f"{method}: {compressed.unavailable}")
        # The failure one process meets first: building the variant, then evaluating the dense
        # model, then the variant (whose failure the dense model's may well explain).
        failure = compressed.failure
        if failure is None or failure[0] == "evaluation":
            failure = base.failure or failure
        if failure is not None:
            return self._error(nodeid, method, dense, split, s, *failure)
        assert base.predictions is not None and compressed.predictions is not None  # no failure
        undecided: list[str] = []
        context = self.context(
            s,
            nodeid=nodeid,
            method=method,
            outcome=lambda mode, text: undecided.append(mode),
            dense=(dense, base.predictions),
        )
        try:
            with gate_context(context), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", InconclusiveWarning)
                comparisons = assert_no_bias_amplification(
                    base.predictions, compressed.predictions, split
                )
        except FairnessAssertionError as err:
            return Check("failed", err.comparisons, str(err))
        found = comparisons if isinstance(comparisons, tuple) else (comparisons,)
        if undecided:
            return Check("skipped" if undecided[0] == "skip" else "xfailed", found)
        if any(issubclass(w.category, InconclusiveWarning) for w in caught):
            return Check("warned", found)
        return Check("passed", found)

    def _error(
        self,
        nodeid: str,
        method: str,
        dense: Any,
        split: DemographicSplit,
        settings: Settings,
        stage: Stage,
        error: str,
    ) -> Check:
        reason = MSG_VARIANT_FAILED.format(method=method, stage=stage, error=error)
        self.records.append(
            Record(
                nodeid,
                "sweep",
                method,
                error_comparison(settings, reason),
                model=self.model_name(dense),
                split=self.split_name(split),
            )
        )
        return Check("error", (), reason)

    # ------------------------------------------------------------------ the report

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

    def record_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]

    def report(
        self, command: Sequence[str], records: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The session report of this run (``records``: JSON records gathered elsewhere, e.g.
        from xdist workers, instead of this run's)."""
        from .report import build_report

        return build_report(
            self.record_dicts() if records is None else records,
            settings=self.settings.to_dict(),
            methods=self.methods,
            splits=self.splits,
            command=list(command),
            sections=self.sections,
        )


def _import_target(path: str, shown: str, source: str) -> Any:
    """The object ``package.module:attr.attr`` names (ConfigError naming the setting if not)."""
    module_name, attr = path.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        missing = isinstance(err, ModuleNotFoundError) and err.name == module_name.split(".")[0]
        raise ConfigError(
            MSG_FACTORY_IMPORT.format(
                shown=shown, source=source, module=module_name, error=_describe(err)
            )
            + (MSG_FACTORY_NOT_ON_PATH if missing else "")
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
    return target


def _call_factory(target: Any, shown: str, source: str) -> Any:
    """What the factory returns (a non-callable target is the value itself)."""
    try:
        return target() if callable(target) else target
    except Exception as err:
        raise ConfigError(
            MSG_FACTORY_RAISED.format(shown=shown, source=source, error=_describe(err))
        ) from err


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _report_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's compression metadata as its cached predictions carry it (JSON), for the
    report: without its wall time, as :func:`~.compression.core.info_dict` gives it."""
    data: dict[str, Any] = json.loads(json.dumps(dict(info), default=str))
    data.pop("wall_time_s", None)
    return data


def _throughput(found: Predictions, elapsed: float) -> str:
    """The model's samples/s over its forward passes; a result the prediction cache served
    (far faster than the passes it records took) says so instead."""
    n, wall = found.metadata.get("n"), found.metadata.get("wall_time_s")
    if not isinstance(n, int) or not isinstance(wall, float) or wall <= 0:
        return ""
    rate = f"{n / wall:,.0f} samples/s"
    return f"from the cache ({rate} when computed)" if elapsed < wall / 2 else rate


def _is_module(value: Any) -> str | None:
    import torch

    return None if isinstance(value, torch.nn.Module) else "a torch.nn.Module"


def _is_split(value: Any) -> str | None:
    from .data.split import DemographicSplit

    return None if isinstance(value, DemographicSplit) else "a DemographicSplit"


__all__ = [
    "DENSE",
    "CacheFallbackWarning",
    "Check",
    "Evaluation",
    "FairnessRun",
    "Outcome",
    "Progress",
    "Record",
    "shown_setting",
]
