"""`make package`: the deployable bundle — ``chalice package`` merged with ``deploy/resources.json``.

python -m deploy.package [--stage prod] [--out build/package] [--offline] [--no-lint] [--sync-tables]

Chalice builds the Lambda functions (runtime ``python3.13`` on ``arm64``, from the interpreter running it and
``lambda_architecture`` in ``.chalice/config.json``), their roles (from ``.chalice/policy-<stage>.json``), the API
and the schedules; ``deploy/resources.json`` adds what it does not create: the tables, queues, key, topic,
secrets, alarms, the partial-batch setting of the queue event sources, each function's secret ids and the grant
to read exactly those. The tables in that file are generated from the PynamoDB models (``--sync-tables``
rewrites them).

The dependencies are vendored here, not by Chalice: Chalice's packager downloads the whole closure of
``requirements.txt``, and pynamodb's closure includes botocore (15.7 MB zipped), which the Lambda runtime
already provides together with boto3 and their dependencies. So ``pip`` resolves the closure for the runtime's
platform (CPython 3.13, manylinux aarch64, glibc 2.34 of Amazon Linux 2023) with botocore held at the version
the runtime ships (the pin in ``requirements-dev.txt``), the runtime's packages are left out, the remaining
wheels are downloaded as binaries only, and every wheel's tags are checked: a wheel that would not load on
the runtime fails the build.

``--offline`` copies the same closure from this environment instead (no package index needed): a bundle of the
right content and size for checking the template, reported as not deployable when a native wheel here is not
built for Lambda's platform (on an x86_64 machine, pydantic-core).

The zip then gets the bytecode of every module the app imports (``deploy/bytecode.py``): Lambda's task root is
read-only, so without it every new container compiles those modules again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from chalicelib.config import DEFAULT_REGION
from chalicelib.queue_names import QUEUE_ENV
from deploy.bytecode import BytecodeFailed, BytecodeReport, add_bytecode, imported_modules

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "deploy" / "resources.json"
DEFAULT_OUT = ROOT / "build" / "package"
REQUIREMENTS = ROOT / "requirements.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"

# The Lambda runtime the bundle targets: python3.13 on Graviton, Amazon Linux 2023 (glibc 2.34).
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
PYTHON_VERSION = "3.13"
WHEEL_ABI = "cp313"
WHEEL_MACHINE = "aarch64"
RUNTIME_GLIBC = (2, 34)
# What the python3.13 runtime ships in /var/runtime: the SDK and its dependencies. Never vendored.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "urllib3", "six"})
# Their import names, to check the zip holds none of them.
RUNTIME_PROVIDED_MODULES = frozenset({"boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six.py"})
ZIP_TARGET_BYTES = 5 * 2**20
LAMBDA_ZIP_LIMIT = 50 * 2**20
LAMBDA_UNZIPPED_LIMIT = 250 * 2**20
IDEMPOTENCY = {"logical": "Idempotency", "key": "id", "ttl": "expiration"}
# Tables whose loss cannot be rebuilt from the marketplace: continuous backups.
PITR_TABLES = frozenset({"Sellers", "Orders"})
# The tables whose writes follow the trades (every review writes the first three; ratings and refunds alert through
# the inbox): provisioned capacity with target tracking auto-scaling when the ``TableCapacity`` parameter says so (a
# steady unit costs about 0.29 of on-demand's price at full use), on-demand otherwise (the Double-11 weeks, a dev
# stack). The other tables' load is small or comes in runs (the daily jobs): on-demand always.
PROVISIONED_TABLES = ("Tasks", "Audit", "Stats", "Outbox")
PROVISIONED_CONDITION = "ProvisionedTables"
SCALING_TARGET_UTILIZATION = 70.0  # percent of the provisioned units in use that the scaling policies keep
SCALING_MIN_UNITS = 5
SCALING_MAX_UNITS = 40_000  # an account's default per-table quota
# Written once per posted review and read back rarely (the seller's history, an operator's audit): kept 400 days on
# the Standard-Infrequent-Access table class, whose storage costs 0.4 of Standard's and whose writes 1.25 times.
INFREQUENT_ACCESS_TABLES = frozenset({"Audit"})
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class PackagingFailed(RuntimeError):
    """``chalice package``, the dependency resolution or a runtime check failed; the message says why."""


@dataclass(frozen=True)
class Wheel:
    """One vendored distribution and the wheel tags it was built for (empty: installed without a wheel)."""

    name: str
    version: str
    tags: tuple[str, ...]
    has_native_code: bool = False

    @property
    def native(self) -> bool:
        return self.has_native_code or any(not tag.endswith("-any") for tag in self.tags)

    @property
    def runs_on_lambda(self) -> bool:
        if not self.tags:
            return not self.has_native_code
        return any(tag_runs_on_lambda(tag) for tag in self.tags)

    def describe(self) -> str:
        return f"{self.name}=={self.version} ({', '.join(self.tags) or 'no wheel tags'})"


def tag_runs_on_lambda(tag: str) -> bool:
    """Whether a wheel tag (``cp313-cp313-manylinux_2_17_aarch64``) loads on the python3.13 arm64 runtime."""
    interpreter, abi, platform = tag.split("-")
    if platform == "any":
        return abi == "none" and (interpreter.startswith("py3") or interpreter == WHEEL_ABI)
    if abi == WHEEL_ABI:
        pass
    elif abi == "abi3":
        # The stable ABI of CPython 3.N loads on every CPython >= 3.N.
        match = re.fullmatch(r"cp3(\d+)", interpreter)
        if not match or int(match.group(1)) > int(WHEEL_ABI[3:]):
            return False
    elif abi != "none":
        return False
    glibc = _manylinux_glibc(platform)
    return glibc is not None and glibc <= RUNTIME_GLIBC


def _manylinux_glibc(platform: str) -> tuple[int, int] | None:
    """The glibc a manylinux aarch64 platform tag needs; ``None`` for any other platform."""
    legacy = platform.removesuffix(f"_{WHEEL_MACHINE}")
    if legacy != platform and legacy in _LEGACY_MANYLINUX:
        return _LEGACY_MANYLINUX[legacy]
    match = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{WHEEL_MACHINE}", platform)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _expand_tags(compressed: str) -> tuple[str, ...]:
    """``py2.py3-none-any`` → ``('py2-none-any', 'py3-none-any')`` (PEP 425 compressed tag sets)."""
    interpreters, abis, platforms = compressed.split("-")
    return tuple(f"{i}-{a}-{p}" for i in interpreters.split(".") for a in abis.split(".") for p in platforms.split("."))


@dataclass(frozen=True)
class Bundle:
    """A packaged app: the template, the zip, its sizes and contents, and what in it would not run on Lambda."""

    out_dir: Path
    template: dict
    zip_bytes: int
    unzipped_bytes: int
    files: int
    offline: bool
    wheels: tuple[Wheel, ...]
    contents: tuple[tuple[str, int], ...]
    bytecode: BytecodeReport

    @property
    def zip_path(self) -> Path:
        return self.out_dir / "deployment.zip"

    @property
    def incompatible(self) -> tuple[str, ...]:
        """The vendored distributions the runtime could not load (only an offline build can have any)."""
        return tuple(w.describe() for w in self.wheels if not w.runs_on_lambda)

    @property
    def deployable(self) -> bool:
        return not self.incompatible and self.zip_bytes <= LAMBDA_ZIP_LIMIT

    @property
    def within_target(self) -> bool:
        return self.zip_bytes <= ZIP_TARGET_BYTES

    def summary(self, top: int = 8) -> dict:
        """The figures ``make package`` and ``make bench`` report."""
        return {
            "zip": str(self.zip_path.relative_to(ROOT) if self.zip_path.is_relative_to(ROOT) else self.zip_path),
            "zip_bytes": self.zip_bytes,
            "zip_mb": round(self.zip_bytes / 2**20, 2),
            "zip_target_mb": ZIP_TARGET_BYTES // 2**20,
            "within_target": self.within_target,
            "unzipped_mb": round(self.unzipped_bytes / 2**20, 2),
            "files": self.files,
            "zip_limit_used": round(self.zip_bytes / LAMBDA_ZIP_LIMIT, 3),
            "unzipped_limit_used": round(self.unzipped_bytes / LAMBDA_UNZIPPED_LIMIT, 3),
            "runtime": RUNTIME,
            "architecture": ARCHITECTURE,
            "dependencies": (
                "copied from this environment"
                if self.offline
                else f"wheels for {WHEEL_ABI} manylinux {WHEEL_MACHINE} (glibc <= {'.'.join(map(str, RUNTIME_GLIBC))})"
            ),
            "from_the_runtime": sorted(RUNTIME_PROVIDED),
            "wheels": [w.describe() for w in self.wheels],
            "top_contents_kb": {name: round(size / 1024) for name, size in self.contents[:top]},
            "deployable": self.deployable,
            "not_lambda_compatible": list(self.incompatible),
            **self.bytecode.summary(),
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
    for logical in PROVISIONED_TABLES:
        table = out[f"{logical}Table"]
        names = [i["IndexName"] for i in table["Properties"].get("GlobalSecondaryIndexes", [])]
        out.update(_scaling(logical, None))
        for index in names:
            out.update(_scaling(logical, index))
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


def _if_provisioned(yes: object, no: object) -> dict:
    return {"Fn::If": [PROVISIONED_CONDITION, yes, no]}


_THROUGHPUT = {"ReadCapacityUnits": SCALING_MIN_UNITS, "WriteCapacityUnits": SCALING_MIN_UNITS}


def _table(logical: str, *, keys: list, attributes: list, indexes: list, ttl: str | None) -> dict:
    provisioned = logical in PROVISIONED_TABLES
    properties: dict = {
        "TableName": {"Fn::Sub": f"haoping-${{Stage}}-{logical}"},
        "BillingMode": _if_provisioned("PROVISIONED", "PAY_PER_REQUEST") if provisioned else "PAY_PER_REQUEST",
        "KeySchema": keys,
        "AttributeDefinitions": attributes,
    }
    if provisioned:
        # The starting units; the scaling policies move them (a stack update leaves moved units alone).
        properties["ProvisionedThroughput"] = _if_provisioned(_THROUGHPUT, {"Ref": "AWS::NoValue"})
        indexes = [
            {**i, "ProvisionedThroughput": _if_provisioned(_THROUGHPUT, {"Ref": "AWS::NoValue"})} for i in indexes
        ]
    if logical in INFREQUENT_ACCESS_TABLES:
        properties["TableClass"] = "STANDARD_INFREQUENT_ACCESS"
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


def _scaling(logical: str, index: str | None) -> dict[str, dict]:
    """Target tracking of read and write units for a provisioned table or one of its indexes (present only while
    the tables are provisioned)."""
    name = logical + "".join(part.title() for part in (index or "").split("_"))
    resource_id = {"Fn::Sub": f"table/${{{logical}Table}}" + (f"/index/{index}" if index else "")}
    kind = "index" if index else "table"
    out = {}
    for verb, unit in (("Read", "ReadCapacityUnits"), ("Write", "WriteCapacityUnits")):
        target = f"{name}{verb}Scaling"
        out[target] = {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Condition": PROVISIONED_CONDITION,
            "Properties": {
                "ServiceNamespace": "dynamodb",
                "ResourceId": resource_id,
                "ScalableDimension": f"dynamodb:{kind}:{unit}",
                "MinCapacity": SCALING_MIN_UNITS,
                "MaxCapacity": SCALING_MAX_UNITS,
            },
        }
        out[f"{name}{verb}ScalingPolicy"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Condition": PROVISIONED_CONDITION,
            "Properties": {
                "PolicyName": {"Fn::Sub": f"haoping-${{Stage}}-{name}-{verb.lower()}"},
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": target},
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": SCALING_TARGET_UTILIZATION,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": f"DynamoDB{verb}CapacityUtilization"},
                },
            },
        }
    return out


# The resource types ``sync_tables`` owns: every one of them is derived from the models.
SYNCED_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    }
)


def sync_tables(path: Path = MERGE_TEMPLATE) -> bool:
    """Rewrite the table resources (and their scaling) of the merge template from the models; True when something
    changed."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    resources = doc.setdefault("Resources", {})
    stale = {k for k, v in resources.items() if v.get("Type") in SYNCED_TYPES}
    wanted = table_resources()
    changed = stale != set(wanted) or any(resources.get(k) != v for k, v in wanted.items())
    if changed:
        for key in stale - set(wanted):
            del resources[key]
        resources.update(wanted)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


# -- the project copy chalice packages ---------------------------------------------------------------------
def stage_project(dest: Path, *, offline: bool, requirements: Path = REQUIREMENTS) -> tuple[Wheel, ...]:
    """Copy what is deployed into ``dest`` (no caches, no tests, no sandbox) and vendor its dependencies."""
    if dest.exists():
        for child in dest.iterdir():
            if child.name != ".chalice":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in (dest / ".chalice").glob("*.json"):
            child.unlink()
    (dest / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", dest / "app.py")
    shutil.copytree(ROOT / "chalicelib", dest / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for config in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(config, dest / ".chalice" / config.name)
    # Chalice installs nothing itself: the dependencies are in vendor/, which it zips as they are.
    (dest / "requirements.txt").write_text("# dependencies are vendored in vendor/ by deploy.package\n", "utf-8")
    vendor = dest / "vendor"
    if offline:
        return vendor_installed(requirement_closure(requirements), vendor)
    return vendor_downloaded(requirements, vendor)


def _requirement_lines(path: Path) -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip() and not line.lstrip().startswith("-")
    ]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_sdk_pins(dev_requirements: Path = DEV_REQUIREMENTS) -> list[str]:
    """The boto3/botocore pins of the dev requirements: the versions the Lambda runtime ships."""
    from packaging.requirements import Requirement

    pins = [
        line for line in _requirement_lines(dev_requirements) if _normal(Requirement(line).name) in RUNTIME_PROVIDED
    ]
    if not any(_normal(Requirement(p).name) == "botocore" for p in pins):
        raise PackagingFailed(f"{dev_requirements.name} must pin botocore to the Lambda runtime's version")
    return pins


# offline: from this environment ------------------------------------------------------------------------------
def requirement_closure(requirements: Path = REQUIREMENTS) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` needs (markers evaluated), minus the runtime's own."""
    from packaging.requirements import Requirement

    pending = [Requirement(line) for line in _requirement_lines(requirements)]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        name = _normal(requirement.name)
        if name in found or name in RUNTIME_PROVIDED:
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


def vendor_installed(dists: list[metadata.Distribution], vendor: Path) -> tuple[Wheel, ...]:
    """Copy each distribution's installed files into ``vendor``; what each was built for."""
    wheels = []
    for dist in dists:
        native = False
        for file in dist.files or []:
            relative = Path(file)
            if relative.parts[0] == ".." or "__pycache__" in relative.parts or relative.suffix == ".pyc":
                continue
            native = native or relative.suffix in (".so", ".pyd")
            source = Path(dist.locate_file(file))
            if source.is_file():
                target = vendor / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        wheel_file = dist.read_text("WHEEL") or ""
        tags = [line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")]
        wheels.append(Wheel(dist.metadata["Name"], dist.version, tuple(tags), has_native_code=native))
    return tuple(wheels)


# online: wheels for the runtime ----------------------------------------------------------------------------
def _platform_args() -> list[str]:
    # pip takes --platform literally: name every manylinux glibc level up to the runtime's, plus the legacy
    # alias that brings in manylinux1/2010 (as Chalice's own packager does).
    major, newest = RUNTIME_GLIBC
    platforms = [f"manylinux_{major}_{minor}_{WHEEL_MACHINE}" for minor in range(17, newest + 1)]
    platforms.append(f"manylinux2014_{WHEEL_MACHINE}")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION]
    args += ["--abi", WHEEL_ABI]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def _pip(args: list[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        noise = re.compile(r"^WARNING: Location .* is ignored", re.MULTILINE)
        text = noise.sub("", done.stderr or done.stdout).strip()
        raise PackagingFailed(f"{what} failed ({done.returncode}): {text[-2000:]}")


def resolve_for_lambda(requirements: Path, scratch: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of the closure of ``requirements`` on the runtime, botocore held at the runtime's."""
    constraints = scratch / "runtime-sdk.txt"
    constraints.write_text("\n".join(runtime_sdk_pins()) + "\n", encoding="utf-8")
    report = scratch / "resolved.json"
    args = ["install", "--dry-run", "--ignore-installed", "--report", str(report), "--target", str(scratch / "t")]
    args += [*_platform_args(), "-r", str(requirements), "-c", str(constraints)]
    _pip(args, "resolving the dependencies for the Lambda runtime")
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return sorted(
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in installs
        if _normal(item["metadata"]["name"]) not in RUNTIME_PROVIDED
    )


def check_wheel_file(path: Path) -> Wheel:
    """A downloaded wheel's name, version and tags, as its file name and its WHEEL metadata both say."""
    parts = path.name.removesuffix(".whl").split("-")
    if not path.name.endswith(".whl") or len(parts) not in (5, 6):
        raise PackagingFailed(f"{path.name}: not a wheel (only binary wheels are vendored)")
    named = _expand_tags("-".join(parts[-3:]))
    with zipfile.ZipFile(path) as archive:
        wheel_meta = next((n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)), None)
        declared = archive.read(wheel_meta).decode("utf-8") if wheel_meta else ""
        native = any(n.endswith((".so", ".pyd")) or ".so." in n for n in archive.namelist())
    tags = tuple(line.split(":", 1)[1].strip() for line in declared.splitlines() if line.startswith("Tag:"))
    if set(tags) != set(named):
        raise PackagingFailed(f"{path.name}: its WHEEL metadata declares other tags: {', '.join(tags)}")
    return Wheel(parts[0], parts[1], named, has_native_code=native)


def unpack_wheel(path: Path, vendor: Path) -> None:
    """Install a wheel's files into ``vendor`` the way ``pip install --target`` lays them out (no byte code)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts:
                raise PackagingFailed(f"{path.name}: unsafe path {info.filename!r}")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data files: not importable, not needed in Lambda
                parts = parts[2:]
            if "__pycache__" in parts or info.filename.endswith(".pyc"):
                continue
            target = vendor.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode | 0o600)


def vendor_downloaded(requirements: Path, vendor: Path) -> tuple[Wheel, ...]:
    """Resolve, download and check the runtime's wheels, then unpack them into ``vendor``."""
    with tempfile.TemporaryDirectory(prefix="haoping-wheels-") as scratch:
        scratch_dir = Path(scratch)
        pins = [f"{name}=={version}" for name, version in resolve_for_lambda(requirements, scratch_dir)]
        wheel_dir = scratch_dir / "wheels"
        _pip(["download", "--no-deps", "--dest", str(wheel_dir), *_platform_args(), *pins], "downloading wheels")
        wheels = [check_wheel_file(path) for path in sorted(wheel_dir.iterdir())]
        wrong = [w.describe() for w in wheels if not w.runs_on_lambda]
        if wrong:
            raise PackagingFailed(f"wheels that would not load on {RUNTIME} {ARCHITECTURE}: {', '.join(wrong)}")
        downloaded = {_normal(w.name) for w in wheels}
        missing = [pin for pin in pins if _normal(pin.split("==")[0]) not in downloaded]
        if missing:
            raise PackagingFailed(f"no wheel downloaded for {', '.join(missing)}")
        for path in sorted(wheel_dir.iterdir()):
            unpack_wheel(path, vendor)
    return tuple(sorted(wheels, key=lambda w: _normal(w.name)))


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
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
        # app.py names the queues its event sources read; the merge template creates them under these names.
        **{variable: queue_name(stage, queue) for queue, variable in QUEUE_ENV.items()},
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


def runtime_problems(template: dict) -> list[str]:
    """Functions of the template not set to the runtime and architecture the wheels were chosen for."""
    problems = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if props.get("Runtime") != RUNTIME:
            problems.append(f"{name}: Runtime {props.get('Runtime')} (run the packager with Python {PYTHON_VERSION})")
        if props.get("Architectures") != [ARCHITECTURE]:
            problems.append(f"{name}: Architectures {props.get('Architectures')} (lambda_architecture in config)")
    return problems


def zip_contents(infos: list[zipfile.ZipInfo]) -> tuple[tuple[str, int], ...]:
    """Compressed bytes per top-level package of the zip, largest first (``*.dist-info`` counted together)."""
    sizes: Counter[str] = Counter()
    for info in infos:
        top = info.filename.split("/", 1)[0]
        sizes["*.dist-info" if top.endswith(".dist-info") else top] += info.compress_size
    return tuple(sizes.most_common())


def build(
    out: Path = DEFAULT_OUT,
    *,
    stage: str = "prod",
    offline: bool = False,
    work: Path | None = None,
    merge_template: Path = MERGE_TEMPLATE,
) -> Bundle:
    """Stage the project, vendor its dependencies, package it, check it, and measure the result."""
    with tempfile.TemporaryDirectory(prefix="haoping-package-") as scratch:
        project = work or Path(scratch) / "project"
        wheels = stage_project(project, offline=offline)
        run_chalice_package(project, out, stage=stage, merge_template=merge_template)
        # Which modules the app imports is asked of this environment: it pins the versions the zip holds.
        installed = [Path(p) for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}]
        bytecode = add_bytecode(out / "deployment.zip", imported_modules(project, installed))
    template = json.loads((out / "sam.json").read_text(encoding="utf-8"))
    problems = runtime_problems(template)
    if problems:
        raise PackagingFailed(
            "the template does not target the runtime the bundle was built for: " + "; ".join(problems)
        )
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        infos = archive.infolist()
    shipped = sorted({i.filename.split("/", 1)[0] for i in infos} & RUNTIME_PROVIDED_MODULES)
    if shipped:
        raise PackagingFailed(f"the zip holds what the runtime provides: {', '.join(shipped)}")
    return Bundle(
        out_dir=out,
        template=template,
        zip_bytes=(out / "deployment.zip").stat().st_size,
        unzipped_bytes=sum(i.file_size for i in infos),
        files=len(infos),
        offline=offline,
        wheels=wheels,
        contents=zip_contents(infos),
        bytecode=bytecode,
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
    work = ROOT / "build" / "package-src"  # kept between runs: chalice caches its zip there
    try:
        bundle = build(args.out, stage=args.stage, offline=args.offline, work=work)
    except (PackagingFailed, BytecodeFailed) as exc:
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
    if not bundle.within_target:
        print(f"error: the zip is {report['zip_mb']} MB, over the {report['zip_target_mb']} MB target", file=sys.stderr)
    return 0 if report.get("cfn_lint", "clean") == "clean" and bundle.within_target else 1


if __name__ == "__main__":
    sys.exit(main())
