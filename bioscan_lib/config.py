"""The suite's one typed configuration: a training run's parameters (`TrainConfig`, the paper's recipe as defaults)
and a profile's parameters (`Profile`, validated when `params/<profile>.yaml` is loaded)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bioscan_lib.classify.model_names import check_model_name
from bioscan_lib.core.paths import project_root, resolve_path
from bioscan_lib.core.runs import DNA_RUNS_FOLDER, PARAMS_FILE, RESTORE, RunFolder, RunFolderError, run_path
from bioscan_lib.data import DEFAULT_RELEASE, RELEASES
from bioscan_lib.data.bioscan1m import DATASET_FOLDER, EXPERIMENTS, IMAGES_FOLDER, checked_experiment

LOSSES = ("ce", "focal")
DEFAULT_SEED = 2023  # every seeded step: the sample, the splits, training
AVERAGE_K_RULES = ("plantnet", "published")  # how average-k's threshold is chosen; the first is the default
TRAIN_PREFIX = "train_"
TRAINING_PARAMETER = "training"  # the papermill parameter holding a profile's train_<field> keys, unprefixed


def _option(default: Any, text: str, command_line: bool = True) -> Any:
    metadata = {"help": text, "command_line": command_line}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class EngineConfig:
    """The parameters every training run has, whatever its input; the defaults are the paper's recipe (BIOSCAN1M.md
    section 5)."""

    experiment: str = _option("large_insect_order", "experiment (split column), e.g. large_diptera_family")
    model: str = _option(
        "vit_base_patch16_224", "model name (a timm model for images), e.g. resnet50.tv_in1k or test_resnet"
    )
    loss: str = _option("ce", "ce (cross-entropy) or focal")
    seed: int = _option(DEFAULT_SEED, "seed of initialisation, shuffling and augmentation")
    profile: str = _option("paper", "profile the run belongs to")
    data_root: str = _option(f"data/{DATASET_FOLDER}_release", f"folder holding {DATASET_FOLDER}/")
    output_dir: str = _option("outputs/paper", "profile output folder (holds split/ and runs/)")
    pretrained: bool = _option(True, "start from the hub's ImageNet weights")
    weights: str | None = _option(None, "local weights file (safetensors or torch state dict) instead of the hub")
    epochs: int = _option(100, "epochs")
    batch_size: int = _option(32, "batch size per process")
    lr: float = _option(1e-3, "learning rate")
    momentum: float = _option(0.9, "SGD momentum")
    nesterov: bool = _option(True, "Nesterov momentum")
    weight_decay: float = _option(1e-4, "weight decay")
    lr_milestones: list[int] = _option([20, 25], "epochs at which the learning rate is multiplied by lr_gamma")
    lr_gamma: float = _option(0.1, "learning-rate decay factor")
    focal_gamma: float = _option(2.0, "focusing parameter of the focal loss")
    precise_bn_batches: int = _option(
        0,
        "before each validation, recompute batch-norm statistics over this many "
        "training batches at the epoch's final weights (0: running averages, as the "
        "paper)",
    )
    topk: list[int] = _option([1, 3, 5, 10], "k of the top-k accuracies logged per epoch")
    workers: int = _option(4, "data-loading worker processes per training process")
    threads: int | None = _option(
        None, "torch CPU threads (fix it for identical CPU runs on machines with other core counts)"
    )
    device: str = _option("auto", "auto (GPU when present), cpu, cuda or cuda:N")
    amp: bool | None = _option(None, "bf16 autocast (default: on GPU only)")
    imported_from: str | None = _option(
        None, "released checkpoint the run was imported from, not trained (`bioscan-repro import-checkpoint`)", False
    )

    def __post_init__(self) -> None:
        checked_experiment(self.experiment)
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if min(self.epochs, self.batch_size) < 1:
            raise ValueError(f"epochs and batch_size must be positive; got {self.epochs} and {self.batch_size}.")
        problems = self._problems()
        if problems:
            raise ValueError(problems[0])

    def _problems(self) -> list[str]:
        """One line per parameter out of its range, naming the option and what it accepts."""
        numbers = {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}
        numbers |= {"lr_gamma": self.lr_gamma, "focal_gamma": self.focal_gamma}
        problems = [f"--{k.replace('_', '-')} {v!r}: not a finite number" for k, v in numbers.items() if not _finite(v)]
        checks = [
            (self.lr > 0, f"--lr {self.lr!r}: the learning rate must be above 0"),
            (0 <= self.momentum < 1, f"--momentum {self.momentum!r}: must be at least 0 and below 1"),
            (self.weight_decay >= 0, f"--weight-decay {self.weight_decay!r}: must be 0 or more"),
            (0 < self.lr_gamma <= 1, f"--lr-gamma {self.lr_gamma!r}: must be above 0 and at most 1"),
            (self.focal_gamma >= 0, f"--focal-gamma {self.focal_gamma!r}: must be 0 or more"),
            (bool(self.topk) and min(self.topk) >= 1, f"--topk {self.topk}: every k must be 1 or more"),
            (all(m >= 1 for m in self.lr_milestones), f"--lr-milestones {self.lr_milestones}: epochs from 1"),
            (self.precise_bn_batches >= 0, f"--precise-bn-batches {self.precise_bn_batches}: must be 0 or more"),
            (self.workers >= 0, f"--workers {self.workers}: must be 0 or more"),
            (self.threads is None or self.threads >= 1, f"--threads {self.threads}: must be 1 or more"),
        ]
        found = [message for passed, message in checks if not passed]
        device = device_problem(self.device)
        return problems or found + ([device] if device else [])

    @property
    def run_name(self) -> str:
        """`<experiment>_<model>_<loss>_s<seed>`, the run's folder name."""
        return f"{self.experiment}_{self.model.replace('/', '-')}_{self.loss}_s{self.seed}"

    @property
    def run_folder(self) -> Path:
        """`<output_dir>/runs/<run name>`."""
        return run_path(self.output_dir, self.run_name)


@dataclass
class TrainConfig(EngineConfig):
    """An image classifier's run: the engine's parameters and the image package, sizes and memory format."""

    package: str = _option(
        f"{DATASET_FOLDER}/{IMAGES_FOLDER}/cropped_256", "image package under data_root: folder, .zip or .hdf5"
    )
    image_size: int = _option(256, "shorter side after resizing")
    crop_size: int = _option(224, "square crop fed to the model")
    normalize: bool = _option(False, "normalise with the ImageNet mean and std (the paper did not)")
    channels_last: bool | None = _option(None, "channels-last memory format (default: on GPU only)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_model_name(self.model)
        if not 1 <= self.crop_size <= self.image_size:
            raise ValueError(
                f"crop_size must be positive and at most image_size; got {self.crop_size} and {self.image_size}."
            )


def check_training_inputs(config: TrainConfig) -> None:
    """Refuse, before any model loads, a run whose split TSV, class list or image package is not where it says."""
    from bioscan_lib.split.files import existing_class_list, existing_split_file, split_folder

    folder = split_folder(resolve_path(config.output_dir))
    existing_split_file(folder)
    existing_class_list(folder, config.experiment)
    from bioscan_lib.data.images import checked_package  # the image libraries load only once the split is there

    checked_package(resolve_path(config.data_root) / config.package)


def device_problem(device: str) -> str | None:
    """What is wrong with a `--device` value, or None when it is auto, cpu, cuda or cuda:N."""
    return (
        None
        if re.fullmatch(r"auto|cpu|cuda(:\d+)?", device)
        else f"--device {device!r}: choose auto, cpu, cuda or cuda:N"
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


TRANSFORM_FIELDS = ("image_size", "crop_size", "normalize")  # a run's test transform
PUBLISHED_TRANSFORM = {key: getattr(TrainConfig(), key) for key in TRANSFORM_FIELDS}  # resize 256, crop 224, raw


@dataclass
class KmerConfig:
    """A k-mer barcode classifier's run (notebook 09): the k-mer frequencies of the cleaned barcode into a
    multinomial logistic regression. It has no image and no engine settings."""

    experiment: str = _option("large_insect_order", "experiment (split column), e.g. large_diptera_family")
    seed: int = _option(DEFAULT_SEED, "seed of the solver")
    profile: str = _option("paper", "profile the run belongs to")
    output_dir: str = _option("outputs/paper", "profile output folder (holds split/ and dna_runs/)")
    kmer: int = _option(5, "k-mer length (1-8; 4**k features)")
    regularization: float = _option(1.0, "inverse L2 strength C of the logistic regression")
    max_iter: int = _option(1000, "most solver iterations")
    unique_barcodes: bool = _option(False, "train on each distinct barcode once (BIOSCAN-5M's protocol)")

    def __post_init__(self) -> None:
        checked_experiment(self.experiment)
        checks = [
            (1 <= self.kmer <= 8, f"dna_kmer {self.kmer}: from 1 to 8"),
            (_finite(self.regularization) and self.regularization > 0, "dna_regularization: a number above 0"),
            (self.max_iter >= 1, f"dna_max_iter {self.max_iter}: 1 or more"),
        ]
        problems = [message for passed, message in checks if not passed]
        if problems:
            raise ValueError(problems[0])

    @property
    def method(self) -> str:
        """What the classifier is, in words."""
        return f"{self.kmer}-mer frequencies, logistic regression"

    @property
    def run_name(self) -> str:
        """`<experiment>_kmer<k>_linear_s<seed>`, the run's folder name."""
        return f"{self.experiment}_kmer{self.kmer}_linear_s{self.seed}"

    @property
    def run_folder(self) -> Path:
        """`<output_dir>/dna_runs/<run name>`."""
        return run_path(self.output_dir, self.run_name, DNA_RUNS_FOLDER)


@dataclass
class BarcodeCnnConfig(EngineConfig):
    """The CNN baseline of the BIOSCAN-5M DNA task on one-hot barcodes (660 x 5), trained by the engine: the engine's
    settings, with the defaults changed where barcodes differ (no pretrained weights, a short schedule)."""

    model: str = _option("barcode_cnn", "the CNN baseline (three convolutions, a 500-unit layer)")
    pretrained: bool = _option(False, "no pretrained weights exist for the CNN baseline")
    epochs: int = _option(20, "epochs")
    batch_size: int = _option(64, "batch size per process")
    lr: float = _option(0.01, "learning rate")
    lr_milestones: list[int] = _option([15, 18], "epochs at which the learning rate is multiplied by lr_gamma")
    workers: int = _option(0, "data-loading worker processes (the one-hot barcodes are made in memory)")

    @property
    def method(self) -> str:
        """What the classifier is, in words."""
        return "CNN on one-hot barcodes"

    @property
    def run_folder(self) -> Path:
        """`<output_dir>/dna_runs/<run name>`."""
        return run_path(self.output_dir, self.run_name, DNA_RUNS_FOLDER)


def dna_configs(
    profile: str, output_dir: str, seed: int, experiments: list[str], settings: dict[str, Any]
) -> list[KmerConfig]:
    """One KmerConfig per experiment: what notebook 09 and `bioscan-repro dna` train (`settings` are its fields)."""
    where = f"DNA settings of profile {profile!r}"
    base = {"profile": profile, "output_dir": output_dir, "seed": seed, **settings}
    return [config_from({**base, "experiment": experiment}, where, KmerConfig) for experiment in experiments]


def cnn_configs(
    profile: str, output_dir: str, seed: int, experiments: list[str], epochs: int | None
) -> list[BarcodeCnnConfig]:
    """One BarcodeCnnConfig per experiment (what notebook 09 trains through the engine); `epochs` None: the default."""
    base = {"profile": profile, "output_dir": output_dir, "seed": seed} | ({"epochs": epochs} if epochs else {})
    where = f"DNA CNN settings of profile {profile!r}"
    return [config_from({**base, "experiment": e}, where, BarcodeCnnConfig) for e in experiments]


@dataclass(frozen=True)
class Profile:
    """The parameters of `params/<profile>.yaml`, as papermill passes them to the notebooks declaring them."""

    profile: str
    data_root: str
    output_dir: str
    seed: int = DEFAULT_SEED
    release: str = DEFAULT_RELEASE  # which release data_root holds: a module of bioscan_lib.data (data.RELEASES)
    skip_notebooks: list[str] = field(default_factory=list)
    # the embedded sample (absent on the paper profile)
    sample_records: int | None = None
    sample_image_size: list[int] | None = None
    heldout_records: int | None = None
    recorded_numbers: str | None = None  # the trained numbers the report checks a run against (tests/expected/)
    # 01 download
    download_root: str | None = None
    mirror: str | None = None
    empty_download_root_first: bool = False
    files: list[str] = field(default_factory=list)
    # 03 split
    medium_size: int | None = None
    small_size: int | None = None
    # 05 preprocessing
    formats: list[str] = field(default_factory=lambda: ["folder"])
    workers: int | None = None
    detector: str = "builtin"
    checkpoint: str | None = None
    examples: int = 6
    rebuild_root: str | None = None
    compare_count: int = 60
    # 06 train: train_<TrainConfig field>, and
    train_experiments: list[str] = field(default_factory=list)
    train_from_scratch: bool = False
    # 07 test
    test_force: bool = False
    test_workers: int | None = None
    checkpoints_dir: str | None = None
    export_runs: list[str] = field(default_factory=list)
    import_suffix: str = "_released"
    average_k_rule: str = AVERAGE_K_RULES[0]
    # 08 generalization
    run: str | None = None
    photographs: str | None = None
    crop_first: bool = True
    refresh_threshold: bool = False
    study_conditions: bool = False  # sample: trace the held-out drop to the imaging settings (notebook 08)
    top_k: int = 3
    gallery_count: int = 12
    # 09 DNA barcodes (beyond the paper): the k-mer classifier's settings, KmerConfig's fields
    dna_experiments: list[str] = field(default_factory=lambda: list(EXPERIMENTS))
    dna_kmer: int = 5
    dna_regularization: float = 1.0
    dna_max_iter: int = 1000
    dna_unique_barcodes: bool = False
    dna_force: bool = False
    dna_cnn_experiments: list[str] = field(default_factory=list)  # the CNN baseline's (trained by the engine)
    dna_cnn_epochs: int | None = None  # None: BarcodeCnnConfig's
    # 10 open world (beyond the paper): the encoders beside the k-mers (dna_kmer) and 09's CNN runs
    barcodebert_checkpoint: str | None = None  # a BarcodeBERT checkpoint file in its published format (a local file)
    # jobs through submitit (`--submit slurm|local`): the fields of core.cluster.Resources (gpus_per_node, partition, ...)
    cluster: dict[str, Any] = field(default_factory=dict)

    training: dict[str, Any] = field(default_factory=dict)  # the `train_<TrainConfig field>` keys, unprefixed

    def train_settings(self, experiment: str | None = None) -> dict[str, Any]:
        """TrainConfig fields set by the profile: profile, data_root, output_dir, seed and its `train_<field>` keys."""
        settings = {key: getattr(self, key) for key in ("profile", "data_root", "output_dir", "seed")}
        return {**settings, **self.training, **({"experiment": experiment} if experiment else {})}

    def train_configs(self, **changes: Any) -> list[TrainConfig]:
        """One TrainConfig per experiment of `train_experiments` (what notebook 06 trains), with `changes` applied."""
        return [
            config_from({**self.train_settings(experiment), **changes}, f"profile {self.profile!r}")
            for experiment in self.train_experiments
        ]

    def dna_configs(self, experiments: list[str] | None = None) -> list[KmerConfig]:
        """One KmerConfig per experiment of `experiments` (default `dna_experiments`, what notebook 09 trains)."""
        settings = {"kmer": self.dna_kmer, "regularization": self.dna_regularization, "max_iter": self.dna_max_iter}
        settings |= {"unique_barcodes": self.dna_unique_barcodes}
        chosen = self.dna_experiments if experiments is None else experiments
        return dna_configs(self.profile, self.output_dir, self.seed, chosen, settings)

    def dna_cnn_configs(self, experiments: list[str] | None = None) -> list[BarcodeCnnConfig]:
        """One BarcodeCnnConfig per experiment of `experiments` (default `dna_cnn_experiments`)."""
        return cnn_configs(
            self.profile,
            self.output_dir,
            self.seed,
            self.dna_cnn_experiments if experiments is None else experiments,
            self.dna_cnn_epochs,
        )

    def generalization_run(self) -> str:
        """The run notebook 08 labels with: `run` if the profile names one, else its first training run."""
        if self.run:
            return self.run
        if not self.train_experiments:
            raise ValueError(f"profile {self.profile!r} names no `run` and no `train_experiments`; set one of them.")
        return self.train_configs()[0].run_name


TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
PROFILE_FIELDS = {f.name for f in dataclasses.fields(Profile)} - {"training"}
TRAIN_KEYS_IN_PROFILE = {f"{TRAIN_PREFIX}{name}" for name in TRAIN_FIELDS} - {
    "train_profile",
    "train_data_root",
    "train_output_dir",
    "train_seed",
}


def unknown_key_error(where: str, key: str, known: set[str]) -> ValueError:
    """An error naming an unknown key and the nearest known one."""
    nearest = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else f"; the keys are {', '.join(sorted(known))}"
    return ValueError(f"{where}: unknown key {key!r}{hint}")


def _check_type(where: str, key: str, value: Any, kind: Any) -> None:
    """Raise when `value` does not have the declared type (ints pass as floats)."""
    allowed = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    for option in allowed:
        if option is type(None) and value is None:
            return
        if _is_of(value, option):
            return
    name = kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")
    raise ValueError(f"{where}: {key} is {value!r}, which is not of type {name}")


def _is_of(value: Any, kind: Any) -> bool:
    """Whether `value` is of the plain or `list[...]` type `kind` (ints pass as floats, booleans never as numbers)."""
    plain = typing.get_origin(kind) or kind
    if plain is list and isinstance(value, list) and typing.get_args(kind):
        return all(_is_of(item, typing.get_args(kind)[0]) for item in value)
    if plain is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(plain, type) and isinstance(value, plain) and not (plain is int and isinstance(value, bool))


def profile_from(values: dict[str, Any], where: str = "profile") -> Profile:
    """A validated Profile from a mapping; an unknown key or a value of the wrong type is an error naming it."""
    profile_hints = typing.get_type_hints(Profile)
    train_hints = typing.get_type_hints(TrainConfig)
    plain, train = {}, {}
    for key, value in values.items():
        if key in PROFILE_FIELDS:
            _check_type(where, key, value, profile_hints[key])
            plain[key] = value
        elif key in TRAIN_KEYS_IN_PROFILE:
            _check_type(where, key, value, train_hints[key.removeprefix(TRAIN_PREFIX)])
            train[key.removeprefix(TRAIN_PREFIX)] = value
        else:
            raise unknown_key_error(where, key, PROFILE_FIELDS | TRAIN_KEYS_IN_PROFILE)
    missing = [key for key in ("profile", "data_root", "output_dir") if key not in plain]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    if plain.get("release", DEFAULT_RELEASE) not in RELEASES:
        raise ValueError(f"{where}: release is {plain['release']!r}; the releases are {', '.join(RELEASES)}")
    return Profile(**plain, training=train)


def profile_file(profile: str) -> Path:
    """The papermill parameter file of a profile."""
    path = project_root() / "params" / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (project_root() / "params").glob("*.yaml"))
        raise FileNotFoundError(f"No profile {profile!r}: {path} does not exist; known profiles: {known}")
    return path


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds (empty for an empty file); a syntax error or another kind of value is one line."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{path}:{where}: not valid YAML ({problem}); fix the file and run again") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: holds a {type(values).__name__}, not `key: value` lines")
    return values


def read_profile(profile: str) -> Profile:
    """The validated parameters of `params/<profile>.yaml`."""
    path = profile_file(profile)
    return profile_from(read_yaml_mapping(path), str(path))


def load_profile(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameters of a profile as papermill receives them: the file's keys with `overrides` applied, validated,
    with `run` and `training` (its `train_<field>` keys, unprefixed) derived."""
    path = profile_file(profile)
    values = {**read_yaml_mapping(path), **(overrides or {})}
    parsed = profile_from(values, str(path))
    derived = {"run": parsed.generalization_run()} if parsed.run or parsed.train_experiments else {}
    return {**values, **derived, TRAINING_PARAMETER: parsed.training}


def notebook_profile(
    profile: str, data_root: str, output_dir: str, seed: int, training: dict[str, Any], experiments: list[str]
) -> Profile:
    """The typed profile that a training notebook's papermill parameters describe."""
    values = {"profile": profile, "data_root": data_root, "output_dir": output_dir, "seed": seed}
    trained = {f"{TRAIN_PREFIX}{key}": value for key, value in training.items()}
    return profile_from({**values, **trained, "train_experiments": experiments}, f"notebook parameters of {profile!r}")


def config_from(
    settings: dict[str, Any], where: str = "training parameters", kind: type[EngineConfig] = TrainConfig
) -> EngineConfig:
    """A run configuration of type `kind` (an image run's by default) from a mapping of field names; an unknown name
    is an error naming the nearest."""
    hints = typing.get_type_hints(kind)
    for key, value in settings.items():
        if key not in hints:
            raise unknown_key_error(where, key, set(hints))
        _check_type(where, key, value, hints[key])
    return kind(**settings)


def run_config(run: RunFolder, kind: type[EngineConfig] = TrainConfig) -> EngineConfig:
    """The parameters a run folder was trained (or imported) with; a missing, empty or changed file is one line."""
    try:
        return config_from(run.params, str(run.file(PARAMS_FILE)), kind)
    except (TypeError, ValueError) as error:
        if isinstance(error, RunFolderError):
            raise
        raise RunFolderError(f"{str(error).splitlines()[0]}; {RESTORE}.") from None


def train_config(
    profile: str | None = None, params_file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Parameters from the paper's defaults, then a profile's, then a parameter file's, then `overrides`.

    A parameter file naming a `profile` (as the sweep's files do) takes that profile's settings first."""
    from_file: dict[str, Any] = {}
    if params_file:
        path = resolve_path(params_file)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file {path} not found")
        from_file = read_yaml_mapping(path)
    profile = profile or from_file.get("profile")
    settings: dict[str, Any] = read_profile(profile).train_settings() if profile else {}
    settings.update(from_file)
    settings.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return config_from(settings, str(params_file) if params_file else "training parameters")
