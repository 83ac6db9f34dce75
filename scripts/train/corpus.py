#!/usr/bin/env python3
"""Gather a permissively licensed source-code corpus (Python and Rust) for training Anneal's models.

Standard library only (Python 3.11+). Sources:

* Python: the local CPython standard library (PSF-2.0), without its test suites, plus pinned
  wheels of permissively licensed PyPI packages (downloaded once with ``pip download --no-deps
  --only-binary :all:``; wheels are read as zip files, nothing is installed or built).
* Rust: a pinned list of MIT/Apache crates, fetched with ``cargo vendor`` from a throwaway Cargo
  project in a temporary directory; each crate's licence is read from its Cargo.toml.

Downloads are cached under ``<out>/cache`` so a rerun does not download again, and the outputs are
byte-for-byte deterministic for the same inputs (no timestamps, fixed orderings).

Files that look generated, vendored, minified or tabular are dropped, exact duplicates (after
whitespace normalisation) are dropped, and the rest are split into train/validation by a hash of
``lang:package:path`` (so the split of a file does not depend on the package version or on the
other files). Outputs, in ``--out``:

* ``train.jsonl`` and ``valid.jsonl``: one JSON object per file, in a fixed pseudo-random order:
  ``{"lang", "source": "<package>@<version>", "path", "license", "text"}``;
* ``MANIFEST.json``: each package with version, licence and file/byte counts per split, the drop
  counts per reason, and the totals.

Nothing is ever read from the evaluation set (``/work/shared/data/eval``): every file read goes
through ``read_bytes_checked``, which refuses paths under it.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------------------------

# Pure-Python code from permissively licensed packages (licence checked from the wheel's
# METADATA). Platform wheels (numpy, pandas, scikit-learn, SQLAlchemy) are fine: only .py files
# are read.
PYTHON_PACKAGES: list[tuple[str, str]] = [
    ("django", "5.1.4"),
    ("flask", "3.1.0"),
    ("werkzeug", "3.1.3"),
    ("jinja2", "3.1.4"),
    ("click", "8.1.7"),
    ("requests", "2.32.3"),
    ("urllib3", "2.2.3"),
    ("attrs", "24.2.0"),
    ("rich", "13.9.4"),
    ("pygments", "2.18.0"),
    ("setuptools", "75.6.0"),
    ("pip", "24.3.1"),
    ("pytest", "8.3.4"),
    ("httpx", "0.28.1"),
    ("httpcore", "1.0.7"),
    ("starlette", "0.41.3"),
    ("fastapi", "0.115.6"),
    ("pydantic", "2.10.3"),
    ("sqlalchemy", "2.0.36"),
    ("networkx", "3.4.2"),
    ("packaging", "24.2"),
    ("more-itertools", "10.5.0"),
    ("numpy", "2.1.3"),
    ("pandas", "2.2.3"),
    ("scikit-learn", "1.5.2"),
]

# Crates, pinned with `=x.y.z`. Only these crates are kept from the vendor directory; their
# transitive dependencies are downloaded by `cargo vendor` but not used.
RUST_CRATES: list[tuple[str, str]] = [
    ("serde", "1.0.229"),
    ("serde_core", "1.0.229"),
    ("serde_derive", "1.0.229"),
    ("serde_json", "1.0.154"),
    ("anyhow", "1.0.105"),
    ("thiserror", "2.0.21"),
    ("thiserror-impl", "2.0.21"),
    ("regex", "1.13.2"),
    ("regex-syntax", "0.8.12"),
    ("regex-automata", "0.4.19"),
    ("aho-corasick", "1.1.5"),
    ("memchr", "2.8.3"),
    ("itertools", "0.14.0"),
    ("clap_builder", "4.6.7"),
    ("clap_derive", "4.6.9"),
    ("clap_lex", "1.1.2"),
    ("tokio", "1.54.1"),
    ("tokio-util", "0.7.20"),
    ("bytes", "1.12.2"),
    ("ropey", "1.6.1"),
    ("smallvec", "1.16.6"),
    ("hashbrown", "0.16.1"),
    ("indexmap", "2.14.2"),
    ("log", "0.4.35"),
    ("once_cell", "1.21.4"),
    ("rand", "0.9.5"),
    ("rand_core", "0.9.5"),
    ("rand_distr", "0.5.1"),
    ("syn", "2.0.119"),
    ("proc-macro2", "1.0.107"),
    ("quote", "1.0.47"),
    ("toml", "1.2.2+spec-1.1.0"),
    ("toml_edit", "0.25.20+spec-1.1.0"),
    ("toml_parser", "1.1.6+spec-1.1.0"),
    ("winnow", "1.0.5"),
    ("semver", "1.0.28"),
    ("walkdir", "2.5.1"),
    ("tempfile", "3.27.0"),
    ("similar", "2.7.0"),
    ("unicode-segmentation", "1.13.3"),
    ("nom", "7.1.3"),
    ("rayon", "1.12.0"),
    ("rayon-core", "1.13.0"),
    ("crossbeam-utils", "0.8.23"),
    ("crossbeam-epoch", "0.9.21"),
    ("crossbeam-deque", "0.8.8"),
    ("futures-util", "0.3.34"),
    ("tracing", "0.1.44"),
    ("tracing-core", "0.1.36"),
    ("tracing-subscriber", "0.3.23"),
    ("parking_lot", "0.12.5"),
    ("parking_lot_core", "0.9.12"),
    ("half", "2.7.1"),
    ("dashmap", "6.2.1"),
    ("tower", "0.5.3"),
    ("httparse", "1.10.1"),
    ("indicatif", "0.18.6"),
    ("bitflags", "2.13.2"),
    ("compact_str", "0.9.1"),
    ("fancy-regex", "0.17.0"),
    ("proptest", "1.12.0"),
    ("insta", "1.49.0"),
    ("safetensors", "0.8.0"),
    ("tokenizers", "0.22.2"),
    ("candle-core", "0.11.1"),
    ("candle-nn", "0.11.1"),
    ("tree-sitter", "0.25.10"),
    ("tower-lsp-server", "0.23.0"),
    ("ls-types", "0.0.6"),
]

# --------------------------------------------------------------------------------------------
# Licences
# --------------------------------------------------------------------------------------------

PERMISSIVE = {
    "MIT", "MIT-0", "APACHE-2.0", "BSD-1-CLAUSE", "BSD-2-CLAUSE", "BSD-3-CLAUSE", "0BSD", "BSD",
    "ISC", "ZLIB", "UNLICENSE", "CC0-1.0", "BSL-1.0", "UNICODE-DFS-2016", "UNICODE-3.0",
    "PSF-2.0", "PYTHON-2.0", "APACHE-2.0 WITH LLVM-EXCEPTION",
}

# Free-text licence names (PyPI METADATA, classifiers) mapped to SPDX ids.
LICENSE_ALIASES = {
    "MIT LICENSE": "MIT",
    "THE MIT LICENSE": "MIT",
    "BSD LICENSE": "BSD",
    "NEW BSD LICENSE": "BSD-3-Clause",
    "MODIFIED BSD LICENSE": "BSD-3-Clause",
    "BSD 3-CLAUSE": "BSD-3-Clause",
    "3-CLAUSE BSD": "BSD-3-Clause",
    "BSD-3": "BSD-3-Clause",
    "APACHE 2.0": "Apache-2.0",
    "APACHE-2": "Apache-2.0",
    "APACHE LICENSE 2.0": "Apache-2.0",
    "APACHE LICENSE, VERSION 2.0": "Apache-2.0",
    "APACHE SOFTWARE LICENSE": "Apache-2.0",
    "ISC LICENSE (ISCL)": "ISC",
    "ISC LICENSE": "ISC",
    "THE UNLICENSE": "Unlicense",
    "THE UNLICENSE (UNLICENSE)": "Unlicense",
    "ZLIB/LIBPNG LICENSE": "Zlib",
    "PYTHON SOFTWARE FOUNDATION LICENSE": "PSF-2.0",
}


def _spdx_tokens(expr: str) -> list[str]:
    # Old Cargo syntax: "MIT/Apache-2.0" means "MIT OR Apache-2.0".
    expr = expr.replace("/", " OR ")
    return re.findall(r"\(|\)|[^\s()]+", expr)


def license_is_permissive(expr: str) -> bool:
    """Evaluate an SPDX-ish expression: OR needs one permissive branch, AND needs all."""
    toks = _spdx_tokens(expr)
    pos = 0

    def atom() -> bool:
        nonlocal pos
        if pos >= len(toks):
            raise ValueError(f"unexpected end of licence expression {expr!r}")
        tok = toks[pos]
        pos += 1
        if tok == "(":
            val = disjunction()
            if pos >= len(toks) or toks[pos] != ")":
                raise ValueError(f"unbalanced licence expression {expr!r}")
            pos += 1
            return val
        name = tok.upper().rstrip("+")
        if pos + 1 < len(toks) and toks[pos].upper() == "WITH":
            name = f"{name} WITH {toks[pos + 1].upper()}"
            pos += 2
            return name in PERMISSIVE or name.split(" WITH ")[0] in PERMISSIVE
        return name in PERMISSIVE

    def conjunction() -> bool:
        nonlocal pos
        val = atom()
        while pos < len(toks) and toks[pos].upper() == "AND":
            pos += 1
            val = atom() and val
        return val

    def disjunction() -> bool:
        nonlocal pos
        val = conjunction()
        while pos < len(toks) and toks[pos].upper() == "OR":
            pos += 1
            val = conjunction() or val
        return val

    try:
        val = disjunction()
    except ValueError:
        return False
    return val and pos == len(toks)


def python_license_from_metadata(meta_text: str) -> str | None:
    """Best SPDX-ish licence string from a wheel's METADATA, or None."""
    msg = email.parser.Parser().parsestr(meta_text, headersonly=True)
    expr = msg.get("License-Expression")
    if expr:
        return expr.strip()
    lic = (msg.get("License") or "").strip()
    if lic and "\n" not in lic and len(lic) <= 60:
        spdx = LICENSE_ALIASES.get(lic.upper(), lic)
        if license_is_permissive(spdx):
            return spdx
    for classifier in msg.get_all("Classifier") or []:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and len(parts) >= 2:
            name = parts[-1]
            spdx = LICENSE_ALIASES.get(name.upper())
            if spdx:
                return spdx
    return lic.splitlines()[0] if lic else None


# --------------------------------------------------------------------------------------------
# Safety: never read the evaluation set
# --------------------------------------------------------------------------------------------

FORBIDDEN_ROOTS = [Path("/work/shared/data/eval").resolve()]
_extra = os.environ.get("ANNEAL_EVAL_DIR")
if _extra:
    FORBIDDEN_ROOTS.append(Path(_extra).resolve())


def assert_not_eval(path: Path) -> None:
    resolved = Path(path).resolve()
    for root in FORBIDDEN_ROOTS:
        # Not an `assert`: this must hold under `python -O` too.
        if resolved.is_relative_to(root):
            raise RuntimeError(f"refusing to touch the evaluation set: {path}")


def read_bytes_checked(path: Path) -> bytes:
    assert_not_eval(path)
    return Path(path).read_bytes()


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------

MAX_FILE_BYTES = 200 * 1024
MAX_LINE_CHARS = 1000
MAX_AVG_LINE_CHARS = 200
HEADER_CHARS = 3000  # generated-file markers are looked for in the file's head only

# Generated-file markers, looked for in the file's head. Phrases are specific on purpose:
# "values generated by the RNG" or "the help text is auto-generated" are ordinary prose.
GENERATED_MARKERS = re.compile(
    r"@generated|\bDO NOT EDIT\b"
    r"|(?i:do not (?:edit|modify) (?:this|manually|by hand|directly))"
    r"|(?i:automatically generated|\bauto-?generated (?:file|code|by|from|with)\b)"
    r"|(?i:\b(?:this|the) (?:file|module|code|source|table)s? (?:is|are|was|were|has been)"
    r" (?:automatically |auto-?)?generated\b)"
    r"|(?i:\bgenerated (?:by|from|with)\b[^\n]{0,160}?[\w-]+\.(?:py|rs|sh|pl|rb)\b)"
    r"|(?i:\bgenerated (?:by|with) (?:bindgen|rust-bindgen|cbindgen|ucd-generate|protoc|prost"
    r"|flatc|lalrpop|sphinx)\b)"
)

NUMERIC_LITERAL = re.compile(r"0x[0-9a-fA-F]{2,}|\b\d+\.\d+|\b\d{2,}\b")

# Directory names that hold vendored, generated or data files (any path component).
SKIP_DIR_NAMES = {
    "vendor", "vendored", "_vendor", "_vendored", "third_party", "third-party", "thirdparty",
    "externals", "_externals", "generated", "_generated", "testdata", "test_data", "test-data",
    "node_modules", "target", ".git", "__pycache__",
}
# Data directories under test/bench directories (`tests/data`, `benches/data`, ...).
DATA_PARENTS = {"tests", "test", "benches", "bench"}
DATA_CHILDREN = {"data", "fixtures", "corpus", "inputs", "resources", "snapshots"}
# Python test suites (stdlib and packages), plus stdlib parts that are not library code.
PYTHON_SKIP_DIR_NAMES = {"test", "tests", "idlelib", "site-packages", "lib-dynload", "_bundled"}


def skip_dir_reason(rel: PurePosixPath, lang: str) -> str | None:
    parts = rel.parts[:-1]
    for p in parts:
        if p in SKIP_DIR_NAMES:
            return "vendored_or_generated_dir"
        if lang == "python" and (p in PYTHON_SKIP_DIR_NAMES or p.startswith("config-")):
            return "test_dir"
    for a, b in zip(parts, parts[1:]):
        if a in DATA_PARENTS and b in DATA_CHILDREN:
            return "data_dir"
    return None


def content_reject_reason(data: bytes) -> tuple[str | None, str | None]:
    """(reason, text): reason is None when the file is kept."""
    if len(data) > MAX_FILE_BYTES:
        return "too_large", None
    if b"\x00" in data:
        return "binary", None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", None
    if not text.strip():
        return "empty", None
    if GENERATED_MARKERS.search(text[:HEADER_CHARS]):
        return "generated_marker", None
    lines = text.splitlines()
    if max(len(line) for line in lines) > MAX_LINE_CHARS:
        return "long_lines", None
    if len(text) / len(lines) > MAX_AVG_LINE_CHARS:
        return "long_lines", None
    # Tables and machine-written repetitive code: few distinct substantial lines. (Ordinary code
    # repeats short lines like `}` or `///` a lot, so only lines of 20+ characters count.)
    long_lines = [s for s in (line.strip() for line in lines) if len(s) >= 20]
    if len(long_lines) >= 200 and len(set(long_lines)) / len(long_lines) < 0.25:
        return "repetitive", None
    # Numeric tables (codec maps, Unicode ranges, lookup tables): most lines hold a number.
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) >= 150:
        numeric = sum(1 for line in nonblank if NUMERIC_LITERAL.search(line))
        if numeric / len(nonblank) >= 0.75:
            return "numeric_table", None
    return None, text


# --------------------------------------------------------------------------------------------
# Collection
# --------------------------------------------------------------------------------------------


@dataclass
class Doc:
    lang: str
    name: str  # package/crate name without version
    version: str
    path: str
    license: str
    text: str

    @property
    def source(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def key(self) -> str:
        return f"{self.lang}:{self.name}:{self.path}"


@dataclass
class Stats:
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # lang -> reason -> files
    skipped_sources: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)

    def drop(self, lang: str, reason: str) -> None:
        d = self.dropped.setdefault(lang, {})
        d[reason] = d.get(reason, 0) + 1


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def consider(docs: list[Doc], stats: Stats, lang: str, rel: PurePosixPath, data_fn, meta) -> None:
    reason = skip_dir_reason(rel, lang)
    if reason is None:
        reason, text = content_reject_reason(data_fn())
    if reason is not None:
        stats.drop(lang, reason)
        return
    name, version, lic = meta
    docs.append(Doc(lang, name, version, str(rel), lic, text))


def collect_stdlib(stats: Stats) -> list[Doc]:
    root = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert_not_eval(root)
    version = ".".join(map(str, sys.version_info[:3]))
    meta = ("cpython-stdlib", version, "PSF-2.0")
    docs: list[Doc] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        # Prune the big skipped trees early (site-packages holds hundreds of MB).
        dirnames[:] = [
            d for d in dirnames
            if skip_dir_reason(PurePosixPath(rel_dir.as_posix(), d, "x.py"), "python") is None
        ]
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                p = Path(dirpath) / fn
                rel = PurePosixPath(p.relative_to(root).as_posix())
                consider(docs, stats, "python", rel, lambda p=p: read_bytes_checked(p), meta)
    log(f"python: stdlib {root} -> {len(docs)} files")
    stats.sources.append({"lang": "python", "name": meta[0], "version": version,
                          "license": meta[2], "origin": str(root)})
    return docs


def _norm_pkg(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(wheel_dir: Path, name: str, version: str) -> Path | None:
    want = f"{_norm_pkg(name)}-{version}-"
    for p in sorted(wheel_dir.glob("*.whl")):
        n = p.name
        if _norm_pkg(n.split("-")[0]) + "-" + n.split("-")[1] + "-" == want:
            return p
    return None


def fetch_wheels(cache: Path, offline: bool) -> Path:
    wheel_dir = cache / "python" / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    missing = [(n, v) for n, v in PYTHON_PACKAGES if find_wheel(wheel_dir, n, v) is None]
    if missing and not offline:
        log(f"python: downloading {len(missing)} wheels into {wheel_dir}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "-d", str(wheel_dir)]
        cmd += [f"{n}=={v}" for n, v in missing]
        subprocess.run(cmd, check=True)
    return wheel_dir


def collect_wheels(stats: Stats, cache: Path, offline: bool) -> list[Doc]:
    wheel_dir = fetch_wheels(cache, offline)
    docs: list[Doc] = []
    for name, version in PYTHON_PACKAGES:
        whl = find_wheel(wheel_dir, name, version)
        if whl is None:
            log(f"python: WARNING no wheel for {name}=={version}; skipped")
            stats.skipped_sources.append({"lang": "python", "name": name, "version": version,
                                          "reason": "not downloaded"})
            continue
        assert_not_eval(whl)
        with zipfile.ZipFile(whl) as zf:
            metas = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
            lic = python_license_from_metadata(zf.read(metas[0]).decode("utf-8")) if metas else None
            if not lic or not license_is_permissive(lic):
                log(f"python: skipping {name}=={version}: licence {lic!r} not permissive")
                stats.skipped_sources.append({"lang": "python", "name": name, "version": version,
                                              "reason": f"licence {lic!r}"})
                continue
            before = len(docs)
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                fn = info.filename
                if not fn.endswith(".py") or info.is_dir():
                    continue
                top = fn.split("/")[0]
                if top.endswith((".dist-info", ".data")):
                    continue
                rel = PurePosixPath(fn)
                if info.file_size > MAX_FILE_BYTES:
                    stats.drop("python", "too_large")
                    continue
                consider(docs, stats, "python", rel, lambda fn=fn: zf.read(fn),
                         (name, version, lic))
        log(f"python: {name}=={version} ({lic}) -> {len(docs) - before} files")
        stats.sources.append({"lang": "python", "name": name, "version": version, "license": lic,
                              "origin": f"pypi:{whl.name}"})
    return docs


def vendor_crates(cache: Path, offline: bool) -> Path:
    vendor_dir = cache / "rust" / "vendor"
    stamp = cache / "rust" / "STAMP.json"
    want = json.dumps(RUST_CRATES)
    if stamp.exists() and stamp.read_text() == want and vendor_dir.is_dir():
        return vendor_dir
    if offline:
        raise SystemExit(f"rust: vendored crates not cached in {vendor_dir} and --offline given")
    log(f"rust: cargo vendor of {len(RUST_CRATES)} pinned crates into {vendor_dir}")
    with tempfile.TemporaryDirectory(prefix="anneal-corpus-") as tmp:
        tmp = Path(tmp)
        deps = "\n".join(
            f'{name} = {{ version = "={version}", default-features = false }}'
            for name, version in RUST_CRATES
        )
        (tmp / "Cargo.toml").write_text(
            '[package]\nname = "anneal-corpus-vendor"\nversion = "0.0.0"\nedition = "2021"\n'
            "publish = false\n\n[workspace]\n\n[dependencies]\n" + deps + "\n"
        )
        (tmp / "src").mkdir()
        (tmp / "src" / "lib.rs").write_text("")
        if vendor_dir.exists():
            shutil.rmtree(vendor_dir)
        vendor_dir.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["cargo", "vendor", "--versioned-dirs", "--quiet", str(vendor_dir.resolve())],
            cwd=tmp, check=True, stdout=subprocess.DEVNULL,
        )
    # Keep only the pinned crates (the transitive dependencies, Windows bindings among them,
    # are most of the download and are never read).
    keep = {f"{name}-{version}" for name, version in RUST_CRATES}
    for d in vendor_dir.iterdir():
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d)
    stamp.write_text(want)
    return vendor_dir


def collect_crates(stats: Stats, cache: Path, offline: bool) -> list[Doc]:
    vendor_dir = vendor_crates(cache, offline)
    assert_not_eval(vendor_dir)
    by_id: dict[tuple[str, str], Path] = {}
    for d in sorted(vendor_dir.iterdir()):
        manifest = d / "Cargo.toml"
        if not manifest.is_file():
            continue
        pkg = tomllib.loads(read_bytes_checked(manifest).decode("utf-8")).get("package", {})
        by_id[(pkg.get("name"), pkg.get("version"))] = d
    docs: list[Doc] = []
    for name, version in RUST_CRATES:
        d = by_id.get((name, version))
        if d is None:
            log(f"rust: WARNING {name}={version} not in the vendor directory; skipped")
            stats.skipped_sources.append({"lang": "rust", "name": name, "version": version,
                                          "reason": "not vendored"})
            continue
        pkg = tomllib.loads(read_bytes_checked(d / "Cargo.toml").decode("utf-8"))["package"]
        lic = pkg.get("license")
        if not lic or not license_is_permissive(lic):
            log(f"rust: skipping {name}={version}: licence {lic!r} (license-file: "
                f"{pkg.get('license-file')!r})")
            stats.skipped_sources.append({"lang": "rust", "name": name, "version": version,
                                          "reason": f"licence {lic!r}"})
            continue
        before = len(docs)
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith(".rs"):
                    p = Path(dirpath) / fn
                    rel = PurePosixPath(p.relative_to(d).as_posix())
                    consider(docs, stats, "rust", rel, lambda p=p: read_bytes_checked(p),
                             (name, version, lic))
        log(f"rust: {name}={version} ({lic}) -> {len(docs) - before} files")
        stats.sources.append({"lang": "rust", "name": name, "version": version, "license": lic,
                              "origin": f"crates.io:{name}-{version}"})
    return docs


# --------------------------------------------------------------------------------------------
# Dedup, split, cap, output
# --------------------------------------------------------------------------------------------


def h01(s: str) -> float:
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big") / 2.0**64


def dedup(docs: list[Doc], stats: Stats) -> list[Doc]:
    seen: set[bytes] = set()
    out = []
    for doc in docs:
        k = hashlib.sha256(" ".join(doc.text.split()).encode("utf-8")).digest()
        if k in seen:
            stats.drop(doc.lang, "duplicate")
            continue
        seen.add(k)
        out.append(doc)
    return out


def split(docs: list[Doc], valid_fraction: float, min_valid: int) -> tuple[list[Doc], list[Doc]]:
    train, valid = [], []
    for lang in sorted({d.lang for d in docs}):
        ranked = sorted((d for d in docs if d.lang == lang), key=lambda d: h01("split:" + d.key))
        n_valid = sum(1 for d in ranked if h01("split:" + d.key) < valid_fraction)
        n_valid = min(max(n_valid, min_valid), len(ranked) // 2)
        valid += ranked[:n_valid]
        train += ranked[n_valid:]
    return train, valid


def cap(train: list[Doc], max_bytes: int, stats: Stats) -> list[Doc]:
    if max_bytes <= 0:
        return train
    out = []
    for lang in sorted({d.lang for d in train}):
        total = 0
        for d in sorted((d for d in train if d.lang == lang), key=lambda d: h01("cap:" + d.key)):
            n = len(d.text.encode("utf-8"))
            if total + n > max_bytes:
                stats.drop(lang, "over_byte_cap")
                continue
            total += n
            out.append(d)
    return out


def write_jsonl(path: Path, docs: list[Doc]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for d in sorted(docs, key=lambda d: h01("order:" + d.key)):
            rec = {"lang": d.lang, "source": d.source, "path": d.path, "license": d.license,
                   "text": d.text}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "corpus")
    ap.add_argument("--cache", type=Path, default=None, help="download cache (default OUT/cache)")
    ap.add_argument("--langs", default="python,rust")
    ap.add_argument("--max-bytes-per-lang", type=int, default=40_000_000,
                    help="cap on train text bytes per language (0: no cap)")
    ap.add_argument("--valid-fraction", type=float, default=0.02)
    ap.add_argument("--min-valid", type=int, default=50, help="min validation files per language")
    ap.add_argument("--no-pypi", action="store_true", help="Python: standard library only")
    ap.add_argument("--offline", action="store_true", help="use the cache only, never download")
    args = ap.parse_args(argv)

    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    for lang in langs:
        if lang not in ("python", "rust"):
            ap.error(f"unknown language {lang!r}")
    out: Path = args.out
    cache: Path = args.cache or out / "cache"
    assert_not_eval(out)
    assert_not_eval(cache)
    out.mkdir(parents=True, exist_ok=True)

    stats = Stats()
    docs: list[Doc] = []
    if "python" in langs:
        docs += collect_stdlib(stats)
        if not args.no_pypi:
            docs += collect_wheels(stats, cache, args.offline)
    if "rust" in langs:
        docs += collect_crates(stats, cache, args.offline)

    docs = dedup(docs, stats)
    train, valid = split(docs, args.valid_fraction, args.min_valid)
    train = cap(train, args.max_bytes_per_lang, stats)

    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "valid.jsonl", valid)

    def nbytes(d: Doc) -> int:
        return len(d.text.encode("utf-8"))

    per_source: dict[tuple[str, str], dict] = {}
    for split_name, part in (("train", train), ("valid", valid)):
        for d in part:
            e = per_source.setdefault((d.lang, d.name), {})
            e[f"files_{split_name}"] = e.get(f"files_{split_name}", 0) + 1
            e[f"bytes_{split_name}"] = e.get(f"bytes_{split_name}", 0) + nbytes(d)
    sources = []
    for s in stats.sources:
        counts = per_source.get((s["lang"], s["name"]), {})
        sources.append({**s, **{k: counts.get(k, 0) for k in
                                ("files_train", "bytes_train", "files_valid", "bytes_valid")}})
    totals = {}
    for lang in langs:
        totals[lang] = {}
        for split_name, part in (("train", train), ("valid", valid)):
            sel = [d for d in part if d.lang == lang]
            totals[lang][split_name] = {"files": len(sel), "bytes": sum(map(nbytes, sel))}
    manifest = {
        "generator": "scripts/train/corpus.py",
        "options": {"langs": langs, "max_bytes_per_lang": args.max_bytes_per_lang,
                    "valid_fraction": args.valid_fraction, "min_valid": args.min_valid,
                    "pypi": not args.no_pypi},
        "filters": {"max_file_bytes": MAX_FILE_BYTES, "max_line_chars": MAX_LINE_CHARS,
                    "max_avg_line_chars": MAX_AVG_LINE_CHARS,
                    "generated_markers": GENERATED_MARKERS.pattern,
                    "generated_marker_scope_chars": HEADER_CHARS,
                    "skip_dir_names": sorted(SKIP_DIR_NAMES),
                    "python_skip_dir_names": sorted(PYTHON_SKIP_DIR_NAMES)},
        "totals": totals,
        "dropped_files": {k: dict(sorted(v.items())) for k, v in sorted(stats.dropped.items())},
        "sources": sources,
        "skipped_sources": stats.skipped_sources,
    }
    tmp = out / "MANIFEST.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / "MANIFEST.json")

    print(f"corpus written to {out}")
    print(f"{'lang':<8} {'split':<6} {'files':>8} {'bytes':>14}")
    for lang, t in totals.items():
        for split_name, c in t.items():
            print(f"{lang:<8} {split_name:<6} {c['files']:>8} {c['bytes']:>14,}")
    for lang, reasons in manifest["dropped_files"].items():
        print(f"dropped ({lang}): " + ", ".join(f"{k}={v}" for k, v in reasons.items()))
    if stats.skipped_sources:
        print(f"skipped sources: {len(stats.skipped_sources)} (see MANIFEST.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
