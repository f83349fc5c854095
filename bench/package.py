"""`make package`: the deployable bundle — ``chalice package`` merged with ``deploy/resources.json``.

python -m bench.package [--stage prod] [--out build/package] [--offline] [--no-lint] [--sync-tables]

Chalice builds the Lambda functions, their roles (from ``.chalice/policy-<stage>.json``), the API and the
schedules; ``deploy/resources.json`` adds what it does not create: the tables, queues, key, topic, alarms, the
partial-batch setting of the queue event sources and the environment that points the code at them. The
tables in that file are generated from the PynamoDB models (``--sync-tables`` rewrites them).

By default the dependencies are downloaded by Chalice for Lambda's platform (needs the package index).
``--offline`` copies them from this environment instead: a bundle of the right size and content for checking
the template, deployable only when every installed wheel also runs on Lambda's Python runtime (reported).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "deploy" / "resources.json"
DEFAULT_OUT = ROOT / "build" / "package"
# Lambda's python3.11 runtime runs on Amazon Linux 2: wheels must need glibc 2.26 or older.
LAMBDA_GLIBC = (2, 26)
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
IDEMPOTENCY = {"logical": "Idempotency", "key": "id", "ttl": "expiration"}
# Tables whose loss cannot be rebuilt from the marketplace: continuous backups.
PITR_TABLES = frozenset({"Sellers", "Orders"})
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class PackagingFailed(RuntimeError):
    """``chalice package`` or the offline dependency copy failed; the message says why."""


@dataclass(frozen=True)
class Bundle:
    """A packaged app: the template, the zip, its sizes, and what in it would not run on Lambda."""

    out_dir: Path
    template: dict
    zip_bytes: int
    unzipped_bytes: int
    files: int
    offline: bool
    incompatible: tuple[str, ...]

    @property
    def zip_path(self) -> Path:
        return self.out_dir / "deployment.zip"

    def summary(self) -> dict:
        """The figures ``make package`` and ``make bench`` report."""
        return {
            "zip": str(self.zip_path.relative_to(ROOT) if self.zip_path.is_relative_to(ROOT) else self.zip_path),
            "zip_bytes": self.zip_bytes,
            "zip_mb": round(self.zip_bytes / 2**20, 2),
            "unzipped_mb": round(self.unzipped_bytes / 2**20, 2),
            "files": self.files,
            "zip_limit_used": round(self.zip_bytes / LAMBDA_ZIP_LIMIT, 3),
            "unzipped_limit_used": round(self.unzipped_bytes / LAMBDA_UNZIPPED_LIMIT, 3),
            "dependencies": "copied from this environment" if self.offline else "downloaded for Lambda",
            "not_lambda_compatible": list(self.incompatible),
        }


# -- the tables, from the models ---------------------------------------------------------------------------
def table_resources() -> dict[str, dict]:
    """CloudFormation resources of every table the code uses, derived from the PynamoDB models."""
    from pynamodb.attributes import TTLAttribute

    from chalicelib.store.models import MODELS

    out = {}
    for model in MODELS:
        schema = model._get_schema()
        ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
        logical = model.Meta.logical_name
        out[f"{logical}Table"] = _table(
            logical,
            keys=_ordered_keys(schema["key_schema"]),
            attributes=sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
            indexes=[
                {
                    "IndexName": gsi["index_name"],
                    "KeySchema": _ordered_keys(gsi["key_schema"]),
                    "Projection": gsi["projection"],
                }
                for gsi in sorted(schema.get("global_secondary_indexes", []), key=lambda g: g["index_name"])
            ],
            ttl=ttl[0] if ttl else None,
        )
    out[f"{IDEMPOTENCY['logical']}Table"] = _table(
        IDEMPOTENCY["logical"],
        keys=[{"AttributeName": IDEMPOTENCY["key"], "KeyType": "HASH"}],
        attributes=[{"AttributeName": IDEMPOTENCY["key"], "AttributeType": "S"}],
        indexes=[],
        ttl=IDEMPOTENCY["ttl"],
    )
    return out


def _ordered_keys(keys: list[dict]) -> list[dict]:
    # DynamoDB wants the partition key first.
    return sorted(
        ({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in keys),
        key=lambda k: k["KeyType"] != "HASH",
    )


def _table(logical: str, *, keys: list, attributes: list, indexes: list, ttl: str | None) -> dict:
    properties: dict = {
        "TableName": {"Fn::Sub": f"haoping-${{Stage}}-{logical}"},
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": keys,
        "AttributeDefinitions": attributes,
    }
    if indexes:
        properties["GlobalSecondaryIndexes"] = indexes
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    if logical in PITR_TABLES:
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def sync_tables(path: Path = MERGE_TEMPLATE) -> bool:
    """Rewrite the table resources of the merge template from the models; True when something changed."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    resources = doc.setdefault("Resources", {})
    stale = {k for k, v in resources.items() if v.get("Type") == "AWS::DynamoDB::Table"}
    wanted = table_resources()
    changed = stale != set(wanted) or any(resources.get(k) != v for k, v in wanted.items())
    if changed:
        for key in stale - set(wanted):
            del resources[key]
        resources.update(wanted)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


# -- the project copy chalice packages ---------------------------------------------------------------------
def stage_project(dest: Path, *, offline: bool) -> tuple[str, ...]:
    """Copy what is deployed into ``dest`` (no caches, no tests, no sandbox); returns incompatible wheels."""
    if dest.exists():
        keep = dest / ".chalice" / "deployments"  # chalice's dependency cache survives a restage
        for child in dest.iterdir():
            if child.name != ".chalice":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in (dest / ".chalice").glob("*.json"):
            child.unlink()
        keep.mkdir(parents=True, exist_ok=True)
    (dest / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", dest / "app.py")
    shutil.copytree(ROOT / "chalicelib", dest / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for config in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(config, dest / ".chalice" / config.name)
    if not offline:
        shutil.copy2(ROOT / "requirements.txt", dest / "requirements.txt")
        return ()
    (dest / "requirements.txt").write_text("# dependencies are in vendor/ (offline build)\n", encoding="utf-8")
    return vendor_installed(requirement_closure(ROOT / "requirements.txt"), dest / "vendor")


def requirement_closure(requirements: Path) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` needs, dependencies included (markers evaluated)."""
    from packaging.requirements import Requirement

    pending = [
        Requirement(line.split("#", 1)[0].strip())
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip() and not line.startswith("-")
    ]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        name = _normal(requirement.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError as exc:
            raise PackagingFailed(f"{requirement.name} is not installed here; run without --offline") from exc
        found[name] = dist
        for spec in dist.requires or []:
            dependency = Requirement(spec)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency)
    return sorted(found.values(), key=lambda d: _normal(d.metadata["Name"]))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def vendor_installed(dists: list[metadata.Distribution], vendor: Path) -> tuple[str, ...]:
    """Copy each distribution's installed files into ``vendor``; names of those Lambda could not load."""
    incompatible = []
    for dist in dists:
        if not _runs_on_lambda(dist):
            incompatible.append(f"{dist.metadata['Name']}=={dist.version}")
        for file in dist.files or []:
            relative = Path(file)
            if relative.parts[0] == ".." or "__pycache__" in relative.parts or relative.suffix == ".pyc":
                continue
            source = Path(dist.locate_file(file))
            if source.is_file():
                target = vendor / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    return tuple(incompatible)


def _runs_on_lambda(dist: metadata.Distribution) -> bool:
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    return any(_tag_runs_on_lambda(tag) for tag in tags) if tags else True


def _tag_runs_on_lambda(tag: str) -> bool:
    _, abi, platform = tag.split("-")
    if platform == "any":
        return True
    if abi not in ("cp311", "abi3", "none") or not platform.endswith("_x86_64"):
        return False
    legacy = platform.removesuffix("_x86_64")
    if legacy in _LEGACY_MANYLINUX:
        return _LEGACY_MANYLINUX[legacy] <= LAMBDA_GLIBC
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    return bool(match) and (int(match.group(1)), int(match.group(2))) <= LAMBDA_GLIBC


# -- chalice package -------------------------------------------------------------------------------------------
def queue_name(stage: str, queue: str) -> str:
    """The name the merge template gives a queue (``haoping-${Stage}-reviews``)."""
    return f"haoping-{stage}-{queue}"


def run_chalice_package(project: Path, out: Path, *, stage: str, merge_template: Path) -> None:
    """``chalice package --stage <stage> --merge-template <file> <out>`` on ``project``."""
    if out.exists():
        shutil.rmtree(out)
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-1"),
        # app.py names the queues its event sources read; the merge template creates them under these names.
        "HAOPING_REVIEW_QUEUE_NAME": queue_name(stage, "reviews"),
        "HAOPING_RECONCILE_QUEUE_NAME": queue_name(stage, "reconcile"),
    }
    command = [
        sys.executable,
        "-c",
        "import sys; from chalice.cli import main; sys.exit(main())",
        "--project-dir",
        str(project),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_template.resolve()),
        str(out.resolve()),
    ]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackagingFailed(f"chalice package failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


def build(
    out: Path = DEFAULT_OUT,
    *,
    stage: str = "prod",
    offline: bool = False,
    work: Path | None = None,
    merge_template: Path = MERGE_TEMPLATE,
) -> Bundle:
    """Stage the project, package it, and measure the result."""
    with tempfile.TemporaryDirectory(prefix="haoping-package-") as scratch:
        project = work or Path(scratch) / "project"
        incompatible = stage_project(project, offline=offline)
        run_chalice_package(project, out, stage=stage, merge_template=merge_template)
    template = json.loads((out / "sam.json").read_text(encoding="utf-8"))
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        infos = archive.infolist()
    return Bundle(
        out_dir=out,
        template=template,
        zip_bytes=(out / "deployment.zip").stat().st_size,
        unzipped_bytes=sum(i.file_size for i in infos),
        files=len(infos),
        offline=offline,
        incompatible=incompatible,
    )


def lint(template_path: Path) -> tuple[int, str]:
    """cfn-lint's exit code and report for a template (0: clean)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(template_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def package_figure() -> dict:
    """Figure 7: the deployment zip, built offline from this environment into a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="haoping-bench-package-") as scratch:
        bundle = build(Path(scratch) / "out", offline=True)
        summary = bundle.summary()
    summary.pop("zip")
    built = DEFAULT_OUT / "deployment.zip"
    if built.exists():
        summary["make_package_zip_mb"] = round(built.stat().st_size / 2**20, 2)
    return {
        "name": "deployment_zip_size",
        "value": summary["zip_mb"],
        "unit": "MB, deployment.zip of `chalice package` (dependencies copied from this environment)",
        "baseline": {"lambda_zip_limit_mb": LAMBDA_ZIP_LIMIT // 2**20, "lambda_unzipped_limit_mb": 250},
        "target": "within Lambda's limits (50 MB zipped, 250 MB unzipped)",
        "met": bundle.zip_bytes <= LAMBDA_ZIP_LIMIT and bundle.unzipped_bytes <= LAMBDA_UNZIPPED_LIMIT,
        "detail": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", choices=["dev", "prod"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--offline", action="store_true", help="copy dependencies from this environment")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint on the packaged template")
    parser.add_argument("--sync-tables", action="store_true", help="rewrite the template's tables from the models")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.sync_tables:
        changed = sync_tables()
        print(f"{MERGE_TEMPLATE.relative_to(ROOT)}: tables {'rewritten' if changed else 'already match the models'}")
        return 0
    work = ROOT / "build" / "package-src"  # kept between runs: chalice caches downloaded dependencies there
    try:
        bundle = build(args.out, stage=args.stage, offline=args.offline, work=work)
    except PackagingFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not args.offline:
            print("hint: without access to the package index, `make package ARGS=--offline`", file=sys.stderr)
        return 2
    report = {"stage": args.stage, **bundle.summary(), "template": str(bundle.out_dir / "sam.json")}
    if not args.no_lint:
        code, text = lint(bundle.out_dir / "sam.json")
        report["cfn_lint"] = "clean" if code == 0 else text
    print(json.dumps(report, ensure_ascii=False))
    if bundle.incompatible:
        print(f"warning: not deployable as built: {', '.join(bundle.incompatible)}", file=sys.stderr)
    return 0 if report.get("cfn_lint", "clean") == "clean" else 1


if __name__ == "__main__":
    sys.exit(main())
