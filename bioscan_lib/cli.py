"""The `bioscan-repro` command: one subcommand per pipeline stage, each a thin adapter over a library function.

Stage modules are imported by the subcommand that runs, so `--help` stays fast without importing torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import types
import typing
import warnings
from collections.abc import Callable
from pathlib import Path

from bioscan_lib.config import AVERAGE_K_RULES, Profile, TrainConfig
from bioscan_lib.data.bioscan1m import EXPERIMENTS, PACKAGE_FORMS, RESIZED_SIDE

Handler = Callable[[argparse.Namespace], int]
DEFAULT_PROFILE = "sample"  # every command that takes --profile defaults to it
PROFILE_HELP = "parameter file params/<profile>.yaml (default %(default)s, as for every command)"
TRAIN_PROFILE_HELP = (
    f"parameter file params/<profile>.yaml whose settings the run starts from (default {DEFAULT_PROFILE}, as for "
    "every command; with --params, the profile that file names)"
)


def _profile_option(parser: argparse.ArgumentParser, default: str = DEFAULT_PROFILE) -> None:
    parser.add_argument("--profile", default=default, help=PROFILE_HELP)


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    """--submit, --wait, --profile and the resources of each job (defaults: the profile's `cluster` keys)."""
    from bioscan_lib.core.cluster import CLUSTERS, Resources

    group = parser.add_argument_group(
        "jobs through submitit",
        "each job requeued when pre-empted or out of time, resuming where it stopped; a resource flag left out "
        "takes the profile's `cluster` key, else the default shown",
    )
    group.add_argument("--submit", choices=CLUSTERS, help="submit one job per item to SLURM, or run them locally")
    group.add_argument("--wait", action="store_true", help="wait for the submitted jobs and print their results")
    group.add_argument(
        "--profile",
        help=f"params/<profile>.yaml, whose `cluster` keys give the resources (default {DEFAULT_PROFILE}, as for "
        "every command)",
    )
    defaults = Resources()
    group.add_argument("--nodes", type=int, help=f"nodes per job (default {defaults.nodes})")
    group.add_argument(
        "--gpus-per-node", type=int, help=f"GPUs per node, one task each (default {defaults.gpus_per_node})"
    )
    group.add_argument(
        "--processes-per-node", type=int, help="tasks (training processes) per node (default: one per GPU, or one)"
    )
    group.add_argument("--cpus-per-task", type=int, help=f"CPU cores per task (default {defaults.cpus_per_task})")
    group.add_argument("--mem-gb", type=int, help=f"memory per node in GB (default {defaults.mem_gb})")
    group.add_argument(
        "--timeout-min", type=int, help=f"time limit per job in minutes (default {defaults.timeout_min})"
    )
    group.add_argument("--partition", help="SLURM partition (default: the cluster's)")


def _resources(arguments: argparse.Namespace):
    """The job resources: the profile's `cluster` keys, then the flags."""
    from bioscan_lib.config import read_profile
    from bioscan_lib.core.cluster import RESOURCE_FIELDS, resources_from

    flags = {key: getattr(arguments, key, None) for key in RESOURCE_FIELDS}
    return resources_from(read_profile(arguments.profile or DEFAULT_PROFILE).cluster, flags)


# 01 download ----------------------------------------------------------------------------------------------------------


def _download(arguments: argparse.Namespace) -> int:
    from bioscan_lib.download import DownloadSettings, catalog, extract, fetch

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = DownloadSettings(timeout=arguments.timeout, attempts=arguments.attempts)
    parts = catalog.parse_parts(arguments.parts) if arguments.parts else None
    drive_ids = catalog.read_drive_ids(arguments.drive_ids) if arguments.drive_ids else None
    try:
        with fetch.mirror_url(arguments.mirror, Path.cwd()) as mirror:
            results = fetch.download_files(
                arguments.names,
                arguments.root,
                mirror=mirror,
                all_metadata=arguments.all_metadata,
                package=arguments.package,
                file_format=arguments.format,
                parts=parts,
                drive_ids=drive_ids,
                settings=settings,
            )
    except fetch.DownloadError as error:
        print(f"bioscan-repro download: {error}", file=sys.stderr)
        return 1
    print(fetch.download_status(results).to_string(index=False))
    if not arguments.extract:
        return 0
    extracted = extract.extract_archives([r.path for r in results if r.path.suffix == ".zip"], arguments.root)
    return _print_counts(extract.check_extraction(arguments.root, extracted))


def _extract(arguments: argparse.Namespace) -> int:
    from bioscan_lib.download import extract

    results = extract.extract_archives(arguments.archives, arguments.root)
    print(extract.extraction_table(results).to_string(index=False))
    return _print_counts(extract.check_extraction(arguments.root, results, arguments.metadata))


def _print_counts(counts) -> int:
    """Print the image counts against the metadata; status 1 when images named in the metadata are missing."""
    print(counts.to_string(index=False))
    return 0 if (counts["missing"] == 0).all() else 1


def _add_download(subparsers: argparse._SubParsersAction) -> None:
    from bioscan_lib.data.bioscan1m import FULL_PACKAGES, RESIZED_PACKAGES
    from bioscan_lib.download import DownloadSettings

    parser = subparsers.add_parser(
        "download",
        help="download published files from Zenodo, HuggingFace, Google Drive or a mirror, verified",
        description="Download BIOSCAN-1M files: streamed, resumed with Range requests, retried, md5-verified "
        "where published (sha256 recorded otherwise), renamed into place only when complete.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="published file names; shell wildcards allowed")
    parser.add_argument("--root", required=True, type=Path, help="download root (files go to their catalog places)")
    parser.add_argument("--all-metadata", action="store_true", help="both metadata files (TSV and JSON-LD)")
    parser.add_argument("--package", choices=RESIZED_PACKAGES + FULL_PACKAGES, help="an image package")
    parser.add_argument("--format", choices=("zip", "hdf5"), default="zip", help="format of --package (default zip)")
    parser.add_argument("--parts", help="parts of a full-size package, like 1-10,12 (default all 113)")
    parser.add_argument(
        "--mirror",
        help="base URL (http://, file://) or local folder replacing the hosts, "
        "or loopback:<folder> to serve a folder on 127.0.0.1",
    )
    parser.add_argument("--drive-ids", type=Path, help="file of `name:id` lines giving Google Drive file ids")
    parser.add_argument("--extract", action="store_true", help="extract downloaded ZIPs into <root>/bioscan1m/images")
    parser.add_argument("--timeout", type=float, default=DownloadSettings.timeout, help="seconds (default %(default)s)")
    parser.add_argument(
        "--attempts",
        type=int,
        default=DownloadSettings.attempts,
        help="consecutive failed attempts per host (default %(default)s)",
    )
    parser.set_defaults(handler=_download)

    parser = subparsers.add_parser(
        "extract",
        help="extract downloaded ZIP packages into <root>/bioscan1m/images and check the count",
        description="Extract published ZIPs into <root>/bioscan1m/images/<package>/part<N>/<file> (resumable; members "
        "leaving that folder are refused), then count the images against the metadata.",
    )
    parser.add_argument("archives", nargs="+", type=Path, metavar="ARCHIVE", help="downloaded ZIP files")
    parser.add_argument("--root", required=True, type=Path, help="dataset root (holding or to hold bioscan1m/)")
    parser.add_argument("--metadata", type=Path, help="metadata TSV for the count check (default: found under --root)")
    parser.set_defaults(handler=_extract)


# 02 dataset statistics ------------------------------------------------------------------------------------------------


def _statistics(arguments: argparse.Namespace) -> int:
    from bioscan_lib.data.metadata import read_metadata
    from bioscan_lib.dataset.statistics import write_statistics

    _, metadata, output = _profile_paths(arguments)
    written = write_statistics(read_metadata(metadata), output)
    print(f"{len(written)} tables and figures written under {output}")
    return 0


def _profile_paths(arguments: argparse.Namespace) -> tuple[Profile | None, Path, Path]:
    """The --profile read once, and --metadata and --output, each defaulting to its data_root and output_dir."""
    from bioscan_lib.config import read_profile
    from bioscan_lib.core.paths import resolve_path

    profile = read_profile(arguments.profile) if arguments.profile else None
    if not profile and not (arguments.metadata and arguments.output):
        raise ValueError("give --profile NAME, or both --metadata and --output")
    metadata = arguments.metadata or resolve_path(profile.data_root)
    return profile, Path(metadata), Path(arguments.output or resolve_path(profile.output_dir))


def _stage_profile_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--profile",
        help=f"params/<profile>.yaml giving {what} (default: none; --metadata and --output are then required)",
    )


def _add_statistics(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("statistics", help="dataset statistics tables and figures from the metadata")
    _stage_profile_option(parser, "the metadata (data_root) and the output folder (output_dir)")
    parser.add_argument("--metadata", help="metadata TSV, or a folder holding it (default: the profile's data_root)")
    parser.add_argument(
        "--output", help="output folder, tables/ and figures/ made inside (default: the profile's output_dir)"
    )
    parser.set_defaults(handler=_statistics)


# 03 split -------------------------------------------------------------------------------------------------------------


def _split(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import DEFAULT_SEED
    from bioscan_lib.data.bioscan1m import BUDGETS
    from bioscan_lib.data.metadata import find_metadata, read_metadata
    from bioscan_lib.split import rules

    profile, metadata, output_dir = _profile_paths(arguments)
    source = find_metadata(metadata)
    output = Path(arguments.output) if arguments.output else rules.split_folder(output_dir) / rules.SPLIT_FILE_NAME
    if output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the source metadata; write the split to a new file.")
    seed = _first_set(arguments.seed, profile and profile.seed, DEFAULT_SEED)
    medium = _first_set(arguments.medium_size, profile and profile.medium_size, BUDGETS["medium"])
    small = _first_set(arguments.small_size, profile and profile.small_size, BUDGETS["small"])
    frame = rules.make_splits(read_metadata(source), seed, medium, small)
    rules.write_split(frame, output)
    print(rules.split_size_table(frame).to_string(index=False))
    print(
        f"wrote {output} and its class lists classes_<experiment>.csv beside it (seed {seed}, budgets {medium}/{small})"
    )
    return 0


def _first_set(*values: int | None) -> int:
    """The first value that is set: a flag, then the profile's key, then the default."""
    return next(value for value in values if value is not None)


def _add_split(subparsers: argparse._SubParsersAction) -> None:
    from bioscan_lib.config import DEFAULT_SEED
    from bioscan_lib.data.bioscan1m import BUDGETS

    parser = subparsers.add_parser("split", help="make the six experiments' train/validation/test splits")
    _stage_profile_option(parser, "the metadata, the output, the seed and the Medium and Small budgets")
    parser.add_argument("--metadata", help="the metadata TSV, or the folder holding it (default: the profile's)")
    parser.add_argument(
        "--output", help="the split TSV to write, never the source (default: <output_dir>/split/ of the profile)"
    )
    parser.add_argument("--seed", type=int, help=f"seed of the shuffles (default: the profile's, else {DEFAULT_SEED})")
    parser.add_argument(
        "--medium-size",
        type=int,
        help=f"samples of the Medium experiments (default: the profile's, else the paper's {BUDGETS['medium']})",
    )
    parser.add_argument(
        "--small-size",
        type=int,
        help=f"samples of the Small experiments (default: the profile's, else the paper's {BUDGETS['small']})",
    )
    parser.set_defaults(handler=_split)


# 05 preprocessing -----------------------------------------------------------------------------------------------------


def _print_stage(result) -> int:
    import pandas as pd

    print(pd.DataFrame([result.summary()]).to_string(index=False))
    if len(result.problems):
        print(f"{len(result.problems)} image(s) skipped; see {result.package}_problems.csv in the output folder")
    return 0


def _by_parts(arguments: argparse.Namespace, stage: str) -> int:
    """--parts and --merge: the parts here or as submitted jobs, then the packages from them."""
    from bioscan_lib.download.catalog import parse_parts
    from bioscan_lib.preprocess import parts as by_parts
    from bioscan_lib.preprocess.process import summary_table

    job = by_parts.PartJob(
        stage,
        str(Path(arguments.input).resolve()),
        str(Path(arguments.output).resolve()),
        arguments.package,
        tuple(arguments.formats or ["folder"]),
        arguments.size,
        arguments.workers,
        getattr(arguments, "detector", "builtin"),
        getattr(arguments, "checkpoint", None),
        arguments.redo,
    )
    numbers = parse_parts(arguments.parts) if arguments.parts else None
    resources = _resources(arguments) if numbers and arguments.submit else None
    outcome = by_parts.by_parts(
        job,
        numbers,
        arguments.merge,
        arguments.submit,
        resources,
        arguments.wait,
        getattr(arguments, "boxes_csv", None),
    )
    if outcome.pending:
        print("\n".join(f"part {part}: job {job.job_id}" for part, job in zip(numbers, outcome.pending)))
        print(f"logs in {by_parts.parts_folder(arguments.output, arguments.package)}; then run again with --merge")
    if outcome.results:
        print(summary_table(outcome.results).to_string(index=False))
    return _print_stage(outcome.merged) if outcome.merged else 0


def _resize(arguments: argparse.Namespace) -> int:
    from bioscan_lib.data.images import checked_package

    checked_package(arguments.input)  # a mistyped path is refused before the image libraries load
    from bioscan_lib.preprocess.process import resize_package

    if arguments.parts or arguments.merge:
        return _by_parts(arguments, "resize")
    return _print_stage(
        resize_package(
            arguments.input,
            arguments.output,
            tuple(arguments.formats or ["folder"]),
            arguments.workers,
            arguments.package,
            arguments.size,
            arguments.redo,
        )
    )


def _crop(arguments: argparse.Namespace) -> int:
    from bioscan_lib.data.images import checked_package

    checked_package(arguments.input)  # a mistyped path is refused before the image libraries load
    from bioscan_lib.preprocess.process import crop_package

    if arguments.parts or arguments.merge:
        return _by_parts(arguments, "crop")
    return _print_stage(
        crop_package(
            arguments.input,
            arguments.output,
            tuple(arguments.formats or ["folder"]),
            arguments.workers,
            arguments.package,
            arguments.detector,
            arguments.checkpoint,
            arguments.boxes_csv,
            arguments.size,
            arguments.redo,
        )
    )


def _package_options(parser: argparse.ArgumentParser, package: str) -> None:
    from bioscan_lib.preprocess import FORMATS

    parser.add_argument(
        "--input",
        required=True,
        help=f"photographs: {PACKAGE_FORMS}",
    )
    parser.add_argument(
        "--output", required=True, help="dataset folder: writes images/<package>/, <package>.zip, <package>.hdf5 in it"
    )
    parser.add_argument(
        "--format",
        action="append",
        choices=FORMATS,
        dest="formats",
        help="package format to write; repeat for several (default: folder)",
    )
    parser.add_argument("--package", default=package, help="output package name (default %(default)s)")
    parser.add_argument("--size", type=int, default=RESIZED_SIDE, help="shorter side in pixels (default %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    parser.add_argument("--redo", action="store_true", help="process every image again, even those already written")
    parser.add_argument(
        "--parts",
        help="only these parts of a folder of full-size part<N>/ folders, like 1-10,12: each part its own job, "
        "writing its images and a record into <output>/<package>_parts/; then --merge",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="write the packages (--format) from the finished parts (--parts, default every part of --input)",
    )
    _cluster_options(parser)


def _add_preprocess(subparsers: argparse._SubParsersAction) -> None:
    resize = subparsers.add_parser(
        "resize", help="resize an image package to 256 px on the shorter side (original_256)"
    )
    _package_options(resize, "original_256")
    resize.set_defaults(handler=_resize)
    crop = subparsers.add_parser("crop", help="cut the specimen out of every photograph (cropped_256)")
    _package_options(crop, "cropped_256")
    crop.add_argument(
        "--boxes-csv", help="write image_file,left,top,right,bottom,width,height of each crop (photograph pixels)"
    )
    crop.add_argument(
        "--detector", choices=("builtin", "detr"), default="builtin", help="specimen detector (default %(default)s)"
    )
    crop.add_argument("--checkpoint", help="the published DETR crop tool checkpoint (with --detector detr)")
    crop.set_defaults(handler=_crop)


# 06 train -------------------------------------------------------------------------------------------------------------


def _train(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import check_training_inputs, train_config

    overrides = {
        f.name: getattr(arguments, f.name) for f in dataclasses.fields(TrainConfig) if f.metadata["command_line"]
    }
    profile = arguments.profile or (None if arguments.params else DEFAULT_PROFILE)
    config = train_config(profile, arguments.params, overrides)
    _check_milestones(config, given=arguments.lr_milestones is not None)
    check_training_inputs(config)
    from bioscan_lib.classify.train import train  # torch loads only once the arguments and paths are checked
    from bioscan_lib.engine import read_summary

    folder = train(config, progress=not arguments.quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        print(read_summary(folder).drop(columns="seconds").round(4).tail(3).to_string(index=False))
        print(f"run folder: {folder}")
    return 0


def _default_profile_settings() -> dict[str, typing.Any]:
    """The TrainConfig fields the default profile sets (none where its file is absent, as in a user's own tree)."""
    from bioscan_lib.config import read_profile

    try:
        return read_profile(DEFAULT_PROFILE).train_settings()
    except FileNotFoundError:
        return {}


def _default_text(item: dataclasses.Field, profile_settings: dict[str, typing.Any]) -> str:
    """Where an option's default comes from: the default profile's value, else the paper's recipe."""
    paper = item.default_factory() if item.default is dataclasses.MISSING else item.default
    if item.name in profile_settings and profile_settings[item.name] != paper:
        return f"default {profile_settings[item.name]} from profile {DEFAULT_PROFILE}; the paper's {paper}"
    return f"default {paper}, the paper's"


def _check_milestones(config: TrainConfig, given: bool) -> None:
    """Milestones past the last epoch never lower the learning rate: refused when given with --lr-milestones, a
    one-line warning when they come from the profile (a short run of a longer recipe)."""
    late = [m for m in config.lr_milestones if m > config.epochs]
    if not late:
        return
    message = (
        f"learning-rate milestones {late} lie past the last epoch ({config.epochs}), so the rate never drops there; "
        "give --lr-milestones within --epochs"
    )
    if given:
        raise ValueError(message)
    warnings.warn(f"{message} to drop it (milestones {config.lr_milestones} from the profile)", stacklevel=2)


def _train_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field (`--batch-size`, `--lr-milestones 20 25`, `--no-pretrained`, ...), each
    stating the default the default profile gives it."""
    hints = typing.get_type_hints(TrainConfig)
    profile_settings = _default_profile_settings()
    for item in (f for f in dataclasses.fields(TrainConfig) if f.metadata["command_line"]):
        flag = f"--{item.name.replace('_', '-')}"
        stated = "(default" in item.metadata["help"]
        text = item.metadata["help"] if stated else f"{item.metadata['help']} ({_default_text(item, profile_settings)})"
        text = TRAIN_PROFILE_HELP if item.name == "profile" else text
        hint = hints[item.name]
        is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kind = next(k for k in typing.get_args(hint) if k is not type(None)) if is_union else hint
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, type=typing.get_args(kind)[0], nargs="+", default=None, help=text)
        else:
            parser.add_argument(flag, type=kind, default=None, help=text)


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one classifier run (resumes a killed run)",
        description=f"A profile's settings (--profile, default {DEFAULT_PROFILE}), then a --params file's, then "
        "the options below; what none of them sets is the paper's recipe. Under `torchrun --nproc_per_node N "
        "-m bioscan_lib train ...` one run trains on N processes.",
    )
    parser.add_argument("--params", help="YAML of training parameters (e.g. one of params/sweep/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    _train_options(parser)
    parser.set_defaults(handler=_train)


# 07 test --------------------------------------------------------------------------------------------------------------


def _test(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import device_problem, run_config
    from bioscan_lib.core.runs import existing_run

    if problem := device_problem(arguments.device):
        raise ValueError(problem)
    for folder in arguments.runs:
        run_config(existing_run(folder))  # each run's parameters checked before torch loads
    from bioscan_lib.classify import test

    for folder in arguments.runs:
        result = test.evaluate_run(
            folder,
            arguments.data_root,
            arguments.workers,
            arguments.device,
            not arguments.quiet,
            arguments.average_k_rule,
        )
        shown = {key: round(100 * result[key], 2) for key in (*test.PAPER_COLUMNS, "majority_top1") if key in result}
        print(f"{result['run']} (best epoch {result['best_epoch']}): {shown}")
        print(
            f"wrote {test.METRICS_JSON}, {test.METRICS_CSV}, {test.PER_CLASS_CSV}, {test.CONFUSION_CSV} and "
            f"figures in {folder}"
        )
    return 0


def _add_test(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("test", help="test a run's best checkpoint on the test split")
    parser.add_argument(
        "--run", dest="runs", nargs="+", required=True, help="run folder(s) made by `bioscan-repro train`"
    )
    parser.add_argument("--data-root", help="data root if it moved since training")
    parser.add_argument("--workers", type=int, help="data-loading workers (default: the run's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--average-k-rule",
        choices=AVERAGE_K_RULES,
        default=AVERAGE_K_RULES[0],
        help="how average-k's threshold is chosen on validation: PlantNet-300K's rule, or the released code's "
        "(from the first and last validation samples only, so it hangs on their order) (default %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_test)


def _import_checkpoint(arguments: argparse.Namespace) -> int:
    from bioscan_lib.core.checkpoint_files import RELEASED_CHECKPOINT, existing_file

    for path in arguments.files:
        existing_file(path, RELEASED_CHECKPOINT)  # a mistyped file is refused before torch loads
    from bioscan_lib.classify import checkpoints
    from bioscan_lib.config import TRANSFORM_FIELDS, read_profile, train_config

    stated = {key: getattr(arguments, key) for key in ("experiment", "model", "loss", "seed")}
    settings = {key: getattr(arguments, key) for key in ("data_root", "output_dir", "package")}
    transform = {key: getattr(arguments, key) for key in TRANSFORM_FIELDS}
    base = train_config(arguments.profile, overrides=settings)
    if arguments.run_name and len(arguments.files) > 1:
        raise ValueError("--run-name names one run; import one file at a time with it.")
    suffix = read_profile(arguments.profile).import_suffix
    for path in arguments.files:
        name = checkpoints.stated_name(path, stated)
        run_name = arguments.run_name or checkpoints.released_run_name(base, name, suffix)
        stated_transform = {key: value for key, value in transform.items() if value is not None}
        folder = checkpoints.import_checkpoint(path, base, name, run_name, arguments.replace, stated_transform)
        print(f"{path} -> {folder}")
    return 0


def _export_checkpoint(arguments: argparse.Namespace) -> int:
    from bioscan_lib.core.runs import existing_run

    existing_run(arguments.run)
    from bioscan_lib.classify import checkpoints

    path = checkpoints.export_checkpoint(arguments.run, arguments.output, arguments.force)
    print(f"{arguments.run} -> {path} (published format: {{'epoch', 'model', 'optimizer'}})")
    return 0


def _add_checkpoints(subparsers: argparse._SubParsersAction) -> None:
    from bioscan_lib.config import LOSSES, PUBLISHED_TRANSFORM

    parser = subparsers.add_parser(
        "import-checkpoint",
        help="turn released checkpoints (*_weights_best_acc.tar) into run folders that test and predict use",
        description="Each file becomes outputs/<profile>/runs/<experiment>_<model>_<loss>_s<seed>/, read from its "
        "name (<experiment>_<model>_<CE|Focal>_s<seed>_weights_best_acc.tar, or the training script's "
        "<experiment>_<model>_<loss>_<seed>/<experiment>_weights_best_acc.tar) unless stated below. Files are "
        "loaded with weights_only: nothing in them can run. The profile's split must exist (notebook 03).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="released checkpoint file(s)")
    _profile_option(parser)
    parser.add_argument("--experiment", choices=EXPERIMENTS, help="experiment (default: from the file name)")
    parser.add_argument(
        "--model", help="timm model name, e.g. vit_base_patch16_224 or resnet50 (default: from the name)"
    )
    parser.add_argument("--loss", type=str.lower, choices=LOSSES, help="ce or focal (default: from the name)")
    parser.add_argument("--seed", type=int, help="seed (default: from the name)")
    parser.add_argument(
        "--run-name",
        help="folder name under runs/ (default <experiment>_<model>_<loss>_s<seed><the profile's import_suffix>, "
        "as notebook 07 names it)",
    )
    parser.add_argument("--data-root", help="data root (default: the profile's)")
    parser.add_argument("--output-dir", help="profile output folder holding split/ and runs/ (default: the profile's)")
    parser.add_argument("--package", help="image package to test on (default: the profile's)")
    parser.add_argument("--replace", action="store_true", help="replace an earlier import of another file")
    published = PUBLISHED_TRANSFORM
    parser.add_argument(
        "--image-size",
        type=int,
        help=f"test resize (default: the file's, {published['image_size']} for the authors' files)",
    )
    parser.add_argument(
        "--crop-size", type=int, help=f"test centre crop (default: the file's, {published['crop_size']} for theirs)"
    )
    parser.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        help="ImageNet normalisation at test (default: the file's; none for the authors' files)",
    )
    parser.set_defaults(handler=_import_checkpoint)
    parser = subparsers.add_parser(
        "export-checkpoint", help="write a run's best weights as the authors publish theirs, for their test.py"
    )
    parser.add_argument("run", help="run folder (outputs/<profile>/runs/<name>)")
    parser.add_argument(
        "--output", required=True, help="file to write, e.g. <experiment>_<model>_CE_s<seed>_weights_best_acc.tar"
    )
    parser.add_argument("--force", action="store_true", help="write even into a run folder or over a best.pt/last.pt")
    parser.set_defaults(handler=_export_checkpoint)


def _sweep(arguments: argparse.Namespace) -> int:
    from bioscan_lib.classify import sweep

    if arguments.write:
        if not arguments.profile:
            raise ValueError("sweep --write needs --profile: the profile the 72 files start from, e.g. --profile paper")
        paths = sweep.write_sweep(arguments.folder, arguments.profile)
        print(f"wrote {len(paths)} parameter files into {arguments.folder}")
        return 0
    paths = sweep.select(arguments.folder, arguments.filter)
    if arguments.submit:
        jobs = sweep.submit_sweep(paths, arguments.submit, _resources(arguments))
        print("\n".join(f"{path.stem}: job {job.job_id}" for path, job in zip(paths, jobs)))
        print(f"logs in {sweep.log_folder(paths)}")
        if arguments.wait:
            for job in jobs:
                print(f"job {job.job_id} done: {job.results()[0]}")
    elif arguments.execute:
        sweep.execute_sweep(paths)
    else:
        print("\n".join(sweep.command(path, arguments.nproc) for path in paths))
    return 0


def _add_sweep(subparsers: argparse._SubParsersAction) -> None:
    from bioscan_lib.classify import SWEEP_FOLDER

    parser = subparsers.add_parser(
        "sweep",
        help="the paper's 72 runs: write, list (as commands) or execute a subset",
        description="Without --write, --execute or --submit, print one shell command per selected run (train then "
        "test). --submit slurm submits one job per run (a job array; logs in <output_dir>/submitit/), each training "
        "on --gpus-per-node GPUs (one task each) and requeued, resuming from last.pt, when pre-empted.",
    )
    parser.add_argument("--write", action="store_true", help="write one YAML per run into --folder")
    parser.add_argument("--execute", action="store_true", help="train and test the selected runs here, one by one")
    parser.add_argument(
        "--filter",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="select runs, e.g. size=small loss=ce seed=1,2 model=vit_base_patch16_224",
    )
    parser.add_argument("--folder", default=SWEEP_FOLDER, help=f"where the files are (default {SWEEP_FOLDER})")
    parser.add_argument("--nproc", type=int, default=1, help="processes per run in the printed commands (torchrun)")
    _cluster_options(parser)
    parser.set_defaults(handler=_sweep)


# 08 generalization ----------------------------------------------------------------------------------------------------


def _predict(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import run_config
    from bioscan_lib.core.runs import existing_run
    from bioscan_lib.data.images import PhotoSource

    _check_output_file(arguments.output, "--output")
    run_config(existing_run(arguments.run))
    photos = PhotoSource(arguments.input)
    photos.names()  # a source without photographs is refused here, before torch loads
    from bioscan_lib.classify.predict import predict_photographs
    from bioscan_lib.core.outputs import write_csv

    table = predict_photographs(arguments.run, photos, arguments.crop, arguments.top_k, arguments.threshold)
    path = write_csv(table, arguments.output)
    unread = int((table["problem"] != "").sum())
    print(
        f"{len(table) - unread} photographs labelled, {int(table['uncertain'].sum()) - unread} flagged uncertain, "
        f"{unread} could not be read (see the problem column); written to {path}"
    )
    return 0


def _check_output_file(path: str, flag: str) -> None:
    """Refuse, before any work, an output file that is a folder or whose folder cannot be made."""
    target = Path(path)
    if target.is_dir() or path.endswith(("/", os.sep)):
        raise ValueError(f"{flag} {path} is a folder; give the file to write, e.g. {target / 'labels.csv'}")
    folder = next((p for p in target.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: cannot write under {folder}; choose a writable folder")


def _positive_int(text: str) -> int:
    """An option's whole number of 1 or more, else argparse's one-line error."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of 1 or more")
    return int(text)


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="label new photographs (files, or a folder, ZIP or HDF5 of them) with a trained run"
    )
    parser.add_argument("--run", required=True, help="a training run folder (outputs/<profile>/runs/<name>)")
    parser.add_argument(
        "--input",
        required=True,
        nargs="+",
        metavar="PATH",
        help="one or several photographs, or one folder (searched recursively), ZIP or HDF5 of them",
    )
    parser.add_argument(
        "--output", required=True, help="CSV to write: image_file, top-k labels and probabilities, uncertain"
    )
    parser.add_argument("--crop", action="store_true", help="cut the specimen out first (for full-size photographs)")
    parser.add_argument(
        "--top-k", type=_positive_int, default=Profile.top_k, help="labels per photograph (default %(default)s)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="confidence below which a prediction is flagged (default: chosen on the run's validation split)",
    )
    parser.set_defaults(handler=_predict)


# the whole pipeline, the report and the sample --------------------------------------------------------------------------


def _reproduce(arguments: argparse.Namespace) -> int:
    from bioscan_lib.report.render import write_report
    from bioscan_lib.report.runner import execute_profile

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    only = arguments.only.split(",") if arguments.only else None
    os.environ.setdefault("PYTHONHASHSEED", "0")
    run = execute_profile(arguments.profile, only, arguments.force)
    html, _ = write_report(arguments.profile)
    table = run.table()
    print(f"\nProfile '{arguments.profile}':\n{table.drop(columns='reason').to_string(index=False)}")
    for reason, notebooks in table[table["reason"] != ""].groupby("reason", sort=False)["notebook"]:
        print(f"  {', '.join(notebooks)}: {reason}")
    if not run.nothing_ran:
        print(
            f"\nResults:\n  executed notebooks: {run.out_dir / 'notebooks'}"
            f"\n  tables (CSV, Markdown): {run.out_dir / 'tables'}\n  figures (PNG): {run.out_dir / 'figures'}"
            f"\n  report: {html} (and report.md)"
        )
    for outcome in run.failed:
        print(f"bioscan-repro reproduce: {outcome.reason}; see {run.out_dir / 'notebooks'}", file=sys.stderr)
    if run.nothing_ran and not run.failed:
        print("bioscan-repro reproduce: no notebook could run; the table above says what is missing", file=sys.stderr)
    return 1 if run.failed or run.nothing_ran else 0


def _prepare(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import load_profile
    from bioscan_lib.report.runner import ensure_sample

    ensure_sample(load_profile(arguments.profile))
    print(f"profile '{arguments.profile}' is ready")
    return 0


def _report(arguments: argparse.Namespace) -> int:
    from bioscan_lib.report.render import write_report

    html, markdown = write_report(arguments.profile)
    print(f"report written: {html} and {markdown}")
    return 0


def _sample(arguments: argparse.Namespace) -> int:
    from bioscan_lib.sample.release import generate_sample, write_full_scale_metadata

    if arguments.full_scale_metadata:
        path = write_full_scale_metadata(arguments.output, arguments.seed)
    else:
        size = tuple(int(v) for v in arguments.image_size.lower().split("x"))
        path = generate_sample(arguments.output, arguments.records, arguments.seed, size, force=arguments.force)
    print(f"sample written to {path}")
    return 0


def _add_pipeline(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="execute the numbered notebooks headless under a profile, then the report"
    )
    _profile_option(parser)
    parser.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 02,03")
    parser.add_argument("--force", action="store_true", help="rerun notebooks even if an identical run is done")
    parser.set_defaults(handler=_reproduce)
    parser = subparsers.add_parser(
        "prepare", help="generate the profile's sample dataset if it uses one and it is absent"
    )
    _profile_option(parser)
    parser.set_defaults(handler=_prepare)
    parser = subparsers.add_parser("report", help="write outputs/<profile>/report.html and report.md")
    _profile_option(parser)
    parser.set_defaults(handler=_report)


def _add_sample(subparsers: argparse._SubParsersAction) -> None:
    from bioscan_lib.config import DEFAULT_SEED
    from bioscan_lib.sample import DEFAULT_IMAGE_SIZE, DEFAULT_RECORDS

    parser = subparsers.add_parser("sample", help="generate the synthetic sample release (or full-scale metadata)")
    parser.add_argument("--output", required=True, help="folder to write into")
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="number of specimens (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument(
        "--image-size",
        default="x".join(map(str, DEFAULT_IMAGE_SIZE)),
        help="full-size photograph WIDTHxHEIGHT, up to 2880x2160 (default %(default)s)",
    )
    parser.add_argument(
        "--full-scale-metadata",
        action="store_true",
        help="write only the 1,128,313-row metadata TSV with the published counts",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete sample is there")
    parser.set_defaults(handler=_sample)


# 09 DNA barcodes --------------------------------------------------------------------------------------------------------


def _dna(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import read_profile
    from bioscan_lib.core.paths import resolve_path
    from bioscan_lib.dna import compare
    from bioscan_lib.dna.train import train_cnn_runs, train_kmer_runs
    from bioscan_lib.split import rules

    profile = read_profile(arguments.profile)
    chosen = [arguments.experiment] if arguments.experiment else None
    frame = rules.read_split(rules.split_folder(resolve_path(profile.output_dir)))
    force = arguments.force or profile.dna_force
    folders = train_kmer_runs(profile.dna_configs(chosen), frame, force=force)
    cnn_chosen = [e for e in profile.dna_cnn_experiments if e == arguments.experiment] if chosen else None
    folders += train_cnn_runs(profile.dna_cnn_configs(cnn_chosen), frame, force=force)
    print(compare.dna_results(folders).drop(columns="run").round(2).to_string(index=False))
    print(f"run folders under {folders[0].parent}")
    return 0


def _add_dna(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dna", help="classify the experiments from the DNA barcode alone: k-mer classifier and CNN (beyond the paper)"
    )
    _profile_option(parser)  # its split (notebook 03) and its dna_ settings
    parser.add_argument(
        "--experiment", choices=EXPERIMENTS, help="one experiment only (default: the profile's dna_experiments)"
    )
    parser.add_argument("--force", action="store_true", help="train again runs that are up to date")
    parser.set_defaults(handler=_dna)


# 10 open world -----------------------------------------------------------------------------------------------------------


def _open_world(arguments: argparse.Namespace) -> int:
    from bioscan_lib.config import read_profile
    from bioscan_lib.core.paths import resolve_path
    from bioscan_lib.core.runs import run_path
    from bioscan_lib.data.later_work import DNA_TO_DNA, IMAGE_TO_IMAGE
    from bioscan_lib.data.metadata import find_metadata, read_metadata
    from bioscan_lib.open_world import compare, encoders, retrieval

    profile = read_profile(arguments.profile)
    metadata_path = find_metadata(resolve_path(profile.data_root))
    frame = retrieval.partitioned(read_metadata(metadata_path), metadata_path, profile.seed)
    runs = encoders.trained_cnn_runs(profile.dna_cnn_configs())
    checkpoint = arguments.barcodebert or profile.barcodebert_checkpoint
    out_dir = resolve_path(profile.output_dir)
    image_run = profile.generalization_run() if profile.run or profile.train_experiments else None
    by_task = {
        DNA_TO_DNA: encoders.barcode_encoders(profile.dna_kmer, runs, checkpoint),
        IMAGE_TO_IMAGE: encoders.image_encoders([run_path(out_dir, image_run)] if image_run else [], profile.data_root),
    }
    _, beside, _ = compare.write_open_world(frame, by_task, out_dir)
    print(beside.drop(columns=["source", "data"]).to_string(index=False))
    print(f"tables and figure under {out_dir}")
    return 0


def _add_open_world(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "open-world", help="barcode 1-NN retrieval of seen and unseen species on the CLIBD partition (beyond the paper)"
    )
    _profile_option(parser)  # its metadata (and CLIBD_partitioning/ beside it), seed, dna_kmer and 09's CNN runs
    parser.add_argument(
        "--barcodebert", help="a BarcodeBERT checkpoint file (default: the profile's barcodebert_checkpoint)"
    )
    parser.set_defaults(handler=_open_world)


SUBCOMMANDS = (
    _add_pipeline,
    _add_sample,
    _add_download,
    _add_statistics,
    _add_split,
    _add_preprocess,
    _add_train,
    _add_test,
    _add_checkpoints,
    _add_sweep,
    _add_predict,
    _add_dna,
    _add_open_world,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bioscan-repro")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every stage's subcommands."""
    parser = argparse.ArgumentParser(
        prog="bioscan-repro",
        description="Reproduce the BIOSCAN-1M Insect paper: data, statistics, splits, preprocessing, training, tests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _one_line_warnings(command: str) -> None:
    """Warnings print as one line naming the command, without the Python source line."""

    def show(message: Warning | str, *_: object, **__: object) -> None:
        print(f"bioscan-repro {command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a known kind of bad input prints its message and exits with status 2."""
    arguments = build_parser().parse_args(argv)
    _one_line_warnings(arguments.command)
    try:
        return int(arguments.handler(arguments) or 0)
    except (FileNotFoundError, ValueError) as error:
        print(f"bioscan-repro {arguments.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bioscan-repro {arguments.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as error:  # a full disk, a read-only or forbidden folder
        where = f"{error.filename}: " if error.filename else ""
        print(f"bioscan-repro {arguments.command}: {where}{error.strerror or error}", file=sys.stderr)
        return 1
