"""The iOS demo (ios_demo/). InvDNCore, the Swift package that holds the app's logic, is compiled by a real Swift 6
compiler in Swift 6 language mode (complete concurrency checking) and its XCTest suite is run, through
scripts/swift_toolchain.sh (a Swift 6 on PATH, else a cached Debian trixie root with Debian's swiftlang): a missing
toolchain is a named skip locally and a failure in CI. What the Linux compiler cannot build (the SwiftUI / Core ML
adapters in ios_demo/App) is parsed with tree-sitter's Swift grammar (tests/syntax.py), a syntax check only; project.yml
is read with a YAML parser. The rest are cross-checks between the Swift sources and the Python package they port: the
model names the app looks for against the iOS export recipes, every function of the golden contract against a Swift
counterpart and an XCTest test that reads the same golden file as the web port's tests, the results writer's JSON
keys against the results schema, and the manifest fixtures against what the exporter writes.

Each source check is a function of the source texts, so the tests below also feed it broken copies (a port function
removed, a test removed, a syntax error, a renamed model) and assert that it notices."""

from __future__ import annotations

import ast
import functools
import inspect
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import require_part
from syntax import parser, syntax_errors

from invdn_mobile import strength, tiling
from invdn_mobile.bench import schema as bench_schema
from invdn_mobile.export import manifest as export_manifest
from invdn_mobile.export.registry import get_format
from invdn_mobile.export.targets import load_targets

ROOT = Path(__file__).resolve().parent.parent
IOS = ROOT / "ios_demo"
CORE = IOS / "InvDNCore"
SOURCES = CORE / "Sources" / "InvDNCore"
XCTESTS = CORE / "Tests" / "InvDNCoreTests"
WEB = ROOT / "web_demo"
SCHEMA = ROOT / "benchmarks" / "schema" / "results.schema.json"


@dataclass(frozen=True)
class Contract:
    """One function of the shared contract: its Python reference, the tested web port, the Swift port and the
    XCTest test that checks the Swift port against `fixture` (a file the web port's tests read too)."""

    what: str
    python: object
    web: tuple[str, str]  # (file in web_demo/, declaration)
    swift: tuple[str, str]  # (file in Sources/InvDNCore/, declaration)
    xctest: tuple[str, str]  # (file in Tests/InvDNCoreTests/, test method)
    fixture: str  # repository path of the file the XCTest test reads


CONTRACT = (
    Contract(
        "tile plan",
        tiling.plan,
        ("tiling.js", "plan"),
        ("Tiling.swift", "plan"),
        ("GoldenTests.swift", "testPlansMatchGolden"),
        "golden/tiling/plans.json",
    ),
    Contract(
        "mirror padding",
        tiling.pad_image,
        ("tiling.js", "padImage"),
        ("Tiling.swift", "padImage"),
        ("GoldenTests.swift", "testPaddingMatchesGolden"),
        "golden/tiling/padding.json",
    ),
    Contract(
        "feathered blend, whole and row-streamed",
        tiling.run_tiled,
        ("tiling.js", "runTiled"),
        ("Tiling.swift", "runTiled"),
        ("GoldenTests.swift", "testBlendMatchesGoldenWholeAndStreamed"),
        "golden/tiling/blend.json",
    ),
    Contract(
        "strength: sigma estimate",
        strength.estimate_sigma,
        ("strength.js", "estimateSigma"),
        ("Strength.swift", "estimateSigma"),
        ("GoldenTests.swift", "testSigmaMatchesGolden"),
        "golden/tiling/strength.json",
    ),
    Contract(
        "strength: curve",
        strength.StrengthCurve.__call__,
        ("strength.js", "strengthAt"),
        ("Strength.swift", "strengthAt"),
        ("GoldenTests.swift", "testCurveMatchesGolden"),
        "golden/tiling/strength.json",
    ),
    Contract(
        "strength: blend",
        strength.blend,
        ("strength.js", "blendRows"),
        ("Strength.swift", "blendRows"),
        ("GoldenTests.swift", "testStrengthBlendMatchesGolden"),
        "golden/tiling/strength.json",
    ),
    Contract(
        "benchmark results writer",
        bench_schema.validate,
        ("app.js", "runBenchmark"),
        ("BenchResults.swift", "writeResults"),
        ("BenchResultsTests.swift", "testWritesAResultsFileForIngest"),
        "benchmarks/schema/results.schema.json",
    ),
)


# ---- reading Swift with tree-sitter


def _tree(text: str):
    return parser("swift").parse(text.encode())


def _text(node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode()


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


@functools.lru_cache(maxsize=512)
def declarations(text: str) -> dict[str, list[tuple[str, str]]]:
    """Name -> [(kind, text)] of every function, type (struct, class, enum) and protocol declared in Swift `text`."""
    source = text.encode()
    found: dict[str, list[tuple[str, str]]] = {}
    for node in _walk(_tree(text).root_node):
        if node.type in ("function_declaration", "class_declaration", "protocol_declaration"):
            name = node.child_by_field_name("name")
            if name is not None:
                found.setdefault(_text(name, source), []).append((node.type, _text(node, source)))
    return found


@functools.lru_cache(maxsize=512)
def without_comments(text: str) -> str:
    """Swift `text` with its comments blanked (so a name only mentioned in a comment does not count)."""
    source = bytearray(text.encode())
    for node in _walk(_tree(text).root_node):
        if "comment" in node.type:
            source[node.start_byte : node.end_byte] = b" " * (node.end_byte - node.start_byte)
    return source.decode()


def type_text(text: str, name: str) -> str:
    """The source of the struct/class/enum `name` in Swift `text`."""
    kinds = [body for kind, body in declarations(text).get(name, []) if kind == "class_declaration"]
    assert kinds, f"no type {name}"
    return kinds[0]


def enum_cases(source: str, enum_name: str) -> dict[str, str]:
    """Case name -> raw value (the name itself when it has none) of the enum `enum_name` in Swift `source`."""
    enum = type_text(source, enum_name)
    keys: dict[str, str] = {}
    for node in _walk(_tree(enum).root_node):
        if node.type == "enum_entry":
            source = enum.encode()
            names = [c for c in node.children if c.type == "simple_identifier"]
            raw = [c for c in node.children if c.type == "line_string_literal"]
            for n in names:
                keys[_text(n, source)] = (
                    _text(raw[0], source).strip('"') if raw and len(names) == 1 else _text(n, source)
                )
    return keys


def coding_keys(type_source: str) -> dict[str, str]:
    """Case name -> JSON key of the `enum CodingKeys` inside a type's source."""
    return enum_cases(type_source, "CodingKeys")


def encoded_keys(type_source: str) -> dict[str, str]:
    """Case name -> "encode" or "encodeIfPresent" for each key a type's encode(to:) writes."""
    body = without_comments(dict(declarations(type_source)["encode"])["function_declaration"])
    return {m.group(2): m.group(1) for m in re.finditer(r"\b(encode|encodeIfPresent)\([^()]*forKey:\s*\.(\w+)\)", body)}


# ---- the checks, as functions of the source texts


def swift_sources() -> dict[str, str]:
    """Every .swift file of ios_demo/ (not AppCheck's links to App/), by path relative to the repository root."""
    files = sorted(p for p in IOS.rglob("*.swift") if ".build" not in p.parts and not p.is_symlink())
    return {str(p.relative_to(ROOT)): p.read_text() for p in files}


def contract_problems(sources: dict[str, str], tests: dict[str, str], web: dict[str, str]) -> list[str]:
    """What is missing of CONTRACT: a web or Swift declaration, an XCTest test, or the test's use of the Swift
    function and of the fixture file."""
    problems = []
    for c in CONTRACT:
        web_file, web_name = c.web
        if not re.search(rf"^(export )?(async )?(function|class) {web_name}\b", web.get(web_file, ""), re.M):
            problems.append(f"{c.what}: web_demo/{web_file} has no {web_name}")
        swift_file, swift_name = c.swift
        if swift_name not in declarations(without_comments(sources.get(swift_file, ""))):
            problems.append(f"{c.what}: Sources/InvDNCore/{swift_file} declares no {swift_name}")
        test_file, test_name = c.xctest
        test_source = without_comments(tests.get(test_file, ""))
        methods = [
            body for kind, body in declarations(test_source).get(test_name, []) if kind == "function_declaration"
        ]
        if not methods or "XCTestCase" not in test_source:
            problems.append(f"{c.what}: Tests/InvDNCoreTests/{test_file} has no XCTest test {test_name}")
            continue
        body = methods[0]
        if not re.search(rf"\b{swift_name}\s*[(<]", body):
            problems.append(f"{c.what}: {test_name} does not call {swift_name}")
        if Path(c.fixture).name not in body:
            problems.append(f"{c.what}: {test_name} does not read {c.fixture}")
    return problems


def catalog(source: str) -> set[tuple[str, str, str, bool]]:
    """(target, precision, file, zin) of every CatalogArtifact the app lists (ModelStore.swift)."""
    pattern = r'CatalogArtifact\(target: "([^"]+)", precision: "([^"]+)", file: "([^"]+)", zin: (true|false)\)'
    return {(t, p, f, z == "true") for t, p, f, z in re.findall(pattern, without_comments(source))}


def expected_ios_artifacts() -> set[tuple[str, str, str, bool]]:
    """Every artifact the iOS recipes export, named as the exporter names them (run.py artifact_name)."""
    out = set()
    for target in load_targets().values():
        if not target.name.startswith("ios-"):
            continue
        fmt = get_format(target.format)
        for variant in target.variants:
            for z in (False, True) if target.z_input_variant else (False,):
                name = export_manifest.artifact_name(variant, target.tile, target.precision, z, fmt.suffix)
                out.add((target.name, target.precision, name, z))
    return out


def writer_problems(source: str, schema: dict) -> list[str]:
    """Keys BenchResults.swift writes that the results schema does not list, and required keys it may leave out."""
    problems = []
    specs = [
        ("BenchDocument", schema),
        ("BenchMachine", schema["properties"]["machine"]),
        ("BenchRow", schema["$defs"]["row"]),
    ]
    for type_name, node in specs:
        body = type_text(without_comments(source), type_name)
        keys = coding_keys(body)
        allowed, required = set(node["properties"]), set(node.get("required", ()))
        for case, key in keys.items():
            if key not in allowed:
                problems.append(f"{type_name}.{case} writes '{key}', which the schema does not list")
        if "func encode(to" in body:  # a custom encoder: required keys must be written even when nil
            written = encoded_keys(body)
            for key in required:
                case = next((c for c, k in keys.items() if k == key), None)
                if case is None or written.get(case) != "encode":
                    problems.append(f"{type_name} does not always write the required key '{key}'")
        else:
            problems += [f"{type_name} has no key '{k}' the schema requires" for k in required - set(keys.values())]
    return problems


def describe_keys() -> set[str]:
    """Every dict key the exporter writes into a manifest entry (describe and io_spec in export/manifest.py)."""
    tree = ast.parse(inspect.getsource(export_manifest))
    keys = set()
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in ("describe", "io_spec")):
        for node in ast.walk(fn):
            if isinstance(node, ast.Dict):
                keys |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys | {"strength"}  # export_artifacts adds the weights' curve to each entry


# ---- tests: syntax


def compiled_here() -> set[str]:
    """The .swift files the Linux compiler builds (InvDNCore, AppCheck and the App files AppCheck links)."""
    packages = [CORE, IOS / "AppCheck"]
    files = {p.resolve() for package in packages for p in package.rglob("*.swift") if ".build" not in p.parts}
    return {str(p.relative_to(ROOT)) for p in files}


def test_what_the_compiler_cannot_build_parses_clean():
    """The SwiftUI views, PhotoIO.swift and InvDNApp.swift need Apple's SDK: here they are only parsed."""
    sources = swift_sources()
    parsed_only = {path: text for path, text in sources.items() if path not in compiled_here()}
    views = ("InvDNApp", "ContentView", "PhotoIO", "BeforeAfterView", "BenchmarkView")
    tool = ("Package.swift", "Sources/TilerSpeed/main.swift")  # ios_demo/TilerSpeed: a measuring tool, built when run
    expected = {f"ios_demo/App/{name}.swift" for name in views} | {f"ios_demo/TilerSpeed/{path}" for path in tool}
    assert expected == set(parsed_only)
    assert {"ios_demo/App/DenoiseModel.swift", "ios_demo/InvDNCore/Package.swift"} <= compiled_here()
    problems = {path: syntax_errors(text, "swift") for path, text in parsed_only.items()}
    assert {path: errors for path, errors in problems.items() if errors} == {}


@pytest.mark.parametrize(
    "broken",
    [
        "func plan(height: Int) -> Int { return height ",  # a brace missing
        "let x = (1 + ;",
        "struct TilePlan { let tile: Int }}",
        "func f() -> { }",
        'let s = "unterminated\nlet y = 2',
    ],
)
def test_the_syntax_check_catches_broken_swift(broken):
    assert syntax_errors(broken, "swift")
    tiling_swift = (SOURCES / "Tiling.swift").read_text()
    assert syntax_errors(tiling_swift + "\n" + broken, "swift")  # also inside a real file


def test_modern_swift_the_app_uses_parses():
    """Constructs the grammar must accept: if it could not, the code would be restructured, not the check weakened."""
    code = """
    import PhotosUI
    import SwiftUI

    @MainActor
    struct V: View {
        @State private var model = Model()
        @State private var pick: PhotosPickerItem?
        @GestureState private var pinch: CGFloat = 1
        @Environment(\\.displayScale) private var displayScale

        var body: some View {
            GeometryReader { geometry in
                let fit = min(geometry.size.width, 1)
                if let photo = model.photo { Image(decorative: photo.display, scale: 1) } else { Text("none") }
                Slider(value: $model.progress, in: 0...1).frame(width: fit)
            }
            .toolbar {
                ToolbarItem(placement: .topBarLeading) {
                    PhotosPicker(selection: $pick, matching: .images, preferredItemEncoding: .current) { Text("Photo") }
                }
            }
            .onChange(of: pick) { _, item in model.open(item) }
            .disabled(!model.flow.canRun || model.selected == nil)
        }
    }
    func encode(_ rgba: [UInt8]) throws -> Data {
        try rgba.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { throw PhotoError("empty") }
            return try body(base)
        }
    }
    """
    assert syntax_errors(code, "swift") == []


BENCH_FLAGS = {"--benchmark", "--sizes", "--repeats", "--warmup", "--units", "--models"}


def test_project_yml_describes_the_app():
    spec = yaml.safe_load((IOS / "project.yml").read_text())
    target = spec["targets"]["InvDNDemo"]
    assert target["type"] == "application" and target["platform"] == "iOS" and target["deploymentTarget"] == "17.0"
    for source in target["sources"]:
        assert (IOS / source["path"]).is_dir()
    assert spec["packages"]["InvDNCore"]["path"] == "InvDNCore" and (IOS / "InvDNCore" / "Package.swift").is_file()
    assert {"package": "InvDNCore"} in target["dependencies"]
    properties = target["info"]["properties"]
    assert properties["NSPhotoLibraryAddUsageDescription"] and properties["UIFileSharingEnabled"] is True
    (script,) = target["postCompileScripts"]
    script_path = IOS / script["path"]
    assert script_path.is_file() and script_path.stat().st_mode & 0o111, "the model build phase must be executable"
    assert subprocess.run(["sh", "-n", str(script_path)], capture_output=True).returncode == 0
    assert "--benchmark" in next(iter(target["scheme"]["commandLineArguments"]))
    assert target["settings"]["base"]["SWIFT_VERSION"] == "6.0"  # the app in Swift 6 mode, as InvDNCore
    orientations = {"Portrait", "PortraitUpsideDown", "LandscapeLeft", "LandscapeRight"}
    assert set(properties["UISupportedInterfaceOrientations~ipad"]) == {
        f"UIInterfaceOrientation{o}" for o in orientations
    }
    bench = spec["schemes"]["InvDNDemo-Benchmark"]  # timings from a Release build (a Debug one is refused)
    assert bench["run"]["config"] == "Release" and bench["build"]["targets"] == {"InvDNDemo": "all"}
    (arguments, enabled), *_ = bench["run"]["commandLineArguments"].items()
    assert enabled is True and BENCH_FLAGS <= set(arguments.split()) and "--allow-debug" not in arguments
    tracked = subprocess.run(["git", "ls-files", "ios_demo"], cwd=ROOT, capture_output=True, text=True).stdout
    assert ".pbxproj" not in tracked and ".mlpackage" not in tracked and ".mlmodelc" not in tracked


# ---- tests: the models the app looks for


def test_app_names_every_model_of_the_ios_recipes():
    expected = expected_ios_artifacts()
    assert len(expected) == 6 and {n for _, _, n, _ in expected} >= {"invdn-compact-256-fp16.mlpackage"}
    assert catalog((IOS / "App" / "ModelStore.swift").read_text()) == expected


def test_renamed_or_missing_model_is_noticed():
    source = (IOS / "App" / "ModelStore.swift").read_text()
    assert (
        catalog(source.replace("invdn-compact-256-int8-zin", "invdn-compact-256-int8zin")) != expected_ios_artifacts()
    )
    line = next(x for x in source.splitlines() if "fp16-zin" in x)
    assert catalog(source.replace(line, "")) != expected_ios_artifacts()
    assert catalog(source.replace(line, "//" + line)) != expected_ios_artifacts()  # a commented-out entry is gone


def test_build_phase_brings_in_every_ios_export():
    """Every iOS recipe exports to export/out/<target>/ (invdn export); the script compiles every ios-* folder's
    .mlpackage files into Models/<target>/, where ModelStore.swift looks for <stem>.mlmodelc and manifest.json."""
    script = (IOS / "scripts" / "copy_models.sh").read_text()
    assert '"$EXPORT_DIR"/ios-*' in script and "xcrun coremlcompiler compile" in script
    # compiled for the platform and deployment target being built, and only when the package or those changed
    assert (
        '--platform "$PLATFORM" --deployment-target "$TARGET_OS"' in script and "IPHONEOS_DEPLOYMENT_TARGET" in script
    )
    assert "cksum" in script and '"$stamp"' in script and "DERIVED_FILE_DIR" in script
    assert "export/out" in script and '"$dir"/*.mlpackage' in script and "manifest.json" in script
    assert all(t.startswith("ios-") for t, _, _, _ in expected_ios_artifacts())
    assert {t.name for t in load_targets().values() if t.format == "coreml"} == {
        t for t, _, _, _ in expected_ios_artifacts()
    }
    store = without_comments((IOS / "App" / "ModelStore.swift").read_text())
    assert '"Models/\\(artifact.target)"' in store and 'withExtension: "mlmodelc"' in store


# ---- tests: the golden contract


def _contract_inputs():
    sources = {p.name: p.read_text() for p in SOURCES.glob("*.swift")}
    tests = {p.name: p.read_text() for p in XCTESTS.glob("*.swift")}
    web = {p.name: p.read_text() for p in WEB.glob("*.js")}
    return sources, tests, web


def test_every_contract_function_has_a_swift_port_and_a_test():
    for c in CONTRACT:
        assert callable(c.python), c.what
        assert (ROOT / c.fixture).is_file(), c.fixture
    assert contract_problems(*_contract_inputs()) == []


@pytest.mark.parametrize("c", CONTRACT, ids=[c.what for c in CONTRACT])
def test_removing_a_port_function_or_its_test_fails(c):
    sources, tests, web = _contract_inputs()
    swift_file, swift_name = c.swift
    decl = next(body for kind, body in declarations(sources[swift_file])[swift_name] if kind != "protocol_declaration")
    broken = dict(sources, **{swift_file: sources[swift_file].replace(decl, "")})
    assert any(f"declares no {swift_name}" in p for p in contract_problems(broken, tests, web))
    commented = dict(sources, **{swift_file: sources[swift_file].replace(decl, "/*" + decl + "*/")})
    assert any(f"declares no {swift_name}" in p for p in contract_problems(commented, tests, web))

    test_file, test_name = c.xctest
    test_decl = dict(declarations(tests[test_file])[test_name])["function_declaration"]
    no_test = dict(tests, **{test_file: tests[test_file].replace(test_decl, "")})
    assert any(f"no XCTest test {test_name}" in p for p in contract_problems(sources, no_test, web))
    other_fixture = dict(tests, **{test_file: tests[test_file].replace(Path(c.fixture).name, "other.json")})
    assert any("does not read" in p for p in contract_problems(sources, other_fixture, web))


def test_swift_tests_read_the_same_golden_files_as_the_web_tests():
    run_mjs = (WEB / "tests" / "run.mjs").read_text()
    web_files = set(re.search(r"for \(const name of \[([^\]]+)\]", run_mjs).group(1).replace('"', "").split(", "))
    swift_tests = without_comments("\n".join(p.read_text() for p in XCTESTS.glob("*.swift")))
    swift_files = set(re.findall(r'goldenDir\.appendingPathComponent\("([\w.]+)"\)', swift_tests))
    assert swift_files == web_files == {p.name for p in (ROOT / "golden" / "tiling").glob("*.json")}
    # both find the folder from the repository root: run.mjs gets tests/test_web.py's ROOT/golden/tiling, the Swift
    # tests climb from their own #filePath (as many levels as Support.swift is deep) and append golden/tiling
    support = without_comments((XCTESTS / "Support.swift").read_text())
    root_expr = re.search(r"let repositoryRoot = (.*?)\n\n", support, re.S).group(1)
    assert "#filePath" in root_expr
    depth = len((XCTESTS / "Support.swift").relative_to(ROOT).parts)
    assert root_expr.count(".deletingLastPathComponent()") == depth
    assert 'let goldenDir = repositoryRoot.appendingPathComponent("golden/tiling")' in support
    assert 'GOLDEN = ROOT / "golden" / "tiling"' in (ROOT / "tests" / "test_web.py").read_text()
    # the schema the Swift writer test reads is the one invdn bench ingest validates against
    assert json.loads(SCHEMA.read_text()) == json.loads(bench_schema.SCHEMA_PATH.read_text())


def test_tolerances_are_the_contracts():
    golden = without_comments((XCTESTS / "GoldenTests.swift").read_text())
    blend = dict(declarations(golden)["testBlendMatchesGoldenWholeAndStreamed"])["function_declaration"]
    assert blend.count("1e-6") == 3  # the file's tolerance, whole and streamed
    sigma = dict(declarations(golden)["testSigmaMatchesGolden"])["function_declaration"]
    assert "min(3e-6, doc.tolerance.sigma)" in sigma
    for exact in ("testPaddingMatchesGolden", "testCurveMatchesGolden", "testStrengthBlendMatchesGolden"):
        body = dict(declarations(golden)[exact])["function_declaration"]
        assert "XCTAssertEqual(" in body and "accuracy" not in body and "LessThan" not in body, exact
    plans = dict(declarations(golden)["testPlansMatchGolden"])["function_declaration"]
    assert "XCTAssertEqual(p.ys, c.ys" in plans and "1e-12" in plans


# ---- tests: the results writer and the manifest decoder against the Python side


def test_results_writer_writes_exactly_the_schema():
    source = (SOURCES / "BenchResults.swift").read_text()
    doc = json.loads(SCHEMA.read_text())
    assert writer_problems(source, doc) == []
    consts = without_comments(source)
    assert 'resultsSource = "ios_demo"' in consts and "ios_demo" in doc["properties"]["source"]["enum"]
    assert f"resultsSchemaVersion = {doc['properties']['schema_version']['const']}" in consts
    units = set(enum_cases(consts, "ComputeUnitChoice").values())
    readme = (ROOT / "benchmarks" / "schema" / "README.md").read_text()
    assert units == {"all", "ane", "gpu", "cpu"}
    assert all(f"coreml-{u}" in readme for u in units)  # the schema's backend names for the compute units


def test_results_writer_check_notices_a_typo_or_a_dropped_null():
    source = (SOURCES / "BenchResults.swift").read_text()
    doc = json.loads(SCHEMA.read_text())
    typo = source.replace('case medianMs = "median_ms"', 'case medianMs = "median"')
    assert any("'median'" in p for p in writer_problems(typo, doc))
    dropped = source.replace("try c.encode(p90Ms, forKey: .p90Ms)", "try c.encodeIfPresent(p90Ms, forKey: .p90Ms)")
    assert writer_problems(dropped, doc) == ["BenchRow does not always write the required key 'p90_ms'"]


def test_manifest_decoder_reads_only_what_the_exporter_writes():
    source = without_comments((SOURCES / "Manifest.swift").read_text())
    written = describe_keys()
    assert {"file", "tiling", "z", "as_input", "graph", "dtype", "min_deployment_target"} <= written
    for type_name in ("ManifestEntry", "ZSpec", "MACs", "StrengthCurve"):
        assert set(coding_keys(type_text(source, type_name)).values()) <= written | {"estimator", "sigma"}, type_name
    tiling_keys = {"tile", "overlap", "multiple", "padding", "window"}
    assert tiling_keys <= set(tiling.tiling_spec(256)) and all(
        f"let {k}:" in type_text(source, "TilingSpec") for k in tiling_keys
    )
    assert f'padding = "{tiling.PADDING}"' in source and f'window = "{tiling.WINDOW}"' in source
    assert f'sigmaEstimator = "{strength.ESTIMATOR}"' in without_comments((SOURCES / "Strength.swift").read_text())
    assert set(strength.StrengthCurve((0.0,), (1.0,)).to_dict()) >= {"estimator", "sigma", "strength"}


@pytest.mark.parametrize("target", ["ios-fp32", "ios-fp16", "ios-int8"])
def test_manifest_fixtures_are_what_the_exporter_writes(target):
    """The XCTest fixtures are real `invdn export ios-*` manifests (the weights path made repository-relative); they
    must still agree with the exporter: every artifact of the recipe, its tiling, names and shapes of io_spec, the
    dtype the Core ML file declares (the FP16 and INT8 programs' -zin tensors are float16)."""
    doc = json.loads((XCTESTS / "Fixtures" / f"manifest-{target}.json").read_text())
    assert doc["version"] == export_manifest.MANIFEST_VERSION
    fmt = get_format("coreml")
    files = []
    for entry in doc["artifacts"]:
        tile, z = entry["tile"][0], entry["z"]
        assert entry["tiling"] == tiling.tiling_spec(tile)
        inputs, outputs = export_manifest.io_spec(fmt, tile, z["shape"], z["as_input"])
        tensor = "float32" if entry["precision"] == "fp32" else "float16"
        expected = [dict(spec, dtype=tensor if z["as_input"] else "image") for spec in inputs]
        assert entry["inputs"] == expected
        assert entry["outputs"] == [dict(spec, dtype=tensor if z["as_input"] else "image") for spec in outputs]
        strength.StrengthCurve.from_dict(entry["strength"], "fixture")
        assert entry["parity"] and entry["weights"]["file"] == "invdn_mobile/weights/invdn-compact.safetensors"
        assert set(entry) <= describe_keys() | {"parity", "gate", "export_seconds"}
        files.append((entry["precision"], entry["file"], z["as_input"]))
    assert sorted(files) == sorted((p, f, z) for t, p, f, z in expected_ios_artifacts() if t == target)


# ---- the Swift 6 compiler (scripts/swift_toolchain.sh): InvDNCore built in Swift 6 mode, its XCTest suite run

TOOLCHAIN = ROOT / "scripts" / "swift_toolchain.sh"
MIN_XCTESTS = 45  # issue 34: the XCTest suite covers the app's logic, not only the golden contract
XCTEST_SUMMARY = re.compile(
    r"Test Suite 'All tests' (passed|failed) at .*\n\s*Executed (\d+) tests?, with (\d+) failures?"
)


def run_swift(*args: str, cwd: Path = CORE, env: dict | None = None, timeout: int = 1800):
    """`swift ARGS` in `cwd` through the repository's toolchain script (a Swift 6 on PATH, else the cached Debian
    trixie root); skips locally and fails in CI when there is no toolchain (require_part)."""
    status = subprocess.run([str(TOOLCHAIN), "status"], capture_output=True, text=True)
    require_part("swift", None if status.returncode == 0 else status.stdout.strip() or status.stderr.strip())
    command = [str(TOOLCHAIN), "swift-in", str(cwd), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def xctest_counts(output: str) -> tuple[int, int]:
    """(tests executed, failures) of the 'All tests' summary XCTest prints last."""
    found = XCTEST_SUMMARY.findall(output)
    assert found, "no XCTest summary in the output:\n" + output[-3000:]
    _, executed, failures = found[-1]
    return int(executed), int(failures)


def xctest_methods() -> set[str]:
    """Every `func test...` of an XCTestCase in Tests/InvDNCoreTests, as Class.method."""
    methods = set()
    for path in XCTESTS.glob("*.swift"):
        text = without_comments(path.read_text())
        for cls, body in (
            (n, b) for n, decls in declarations(text).items() for k, b in decls if k == "class_declaration"
        ):
            if re.search(rf"class {cls}\s*:\s*XCTestCase", body):
                methods |= {f"{cls}.{m}" for m in re.findall(r"\bfunc (test\w*)\s*\(", body)}
    return methods


def test_xctest_summary_parser():
    passed = (
        "Test Suite 'All tests' passed at 2026-12-07 10:33:03.649\n\t Executed 26 tests, with 0 failures (0 unexpected)"
    )
    failed = passed.replace("passed", "failed").replace("26 tests, with 0 failures", "27 tests, with 2 failures")
    assert xctest_counts(passed) == (26, 0) and xctest_counts(passed + "\n" + failed) == (27, 2)
    with pytest.raises(AssertionError):
        xctest_counts("error: compile command failed")


@pytest.fixture(scope="module")
def swift_build():
    """InvDNCore and its tests compiled once for the module: Swift 6 language mode (complete concurrency checking is
    part of it), warnings as errors."""
    proc = run_swift("build", "--build-tests", "-Xswiftc", "-warnings-as-errors")
    assert proc.returncode == 0, "swift build failed:\n" + (proc.stdout + proc.stderr)[-6000:]
    return proc


def test_invdncore_is_a_swift6_package(swift_build):
    package = (CORE / "Package.swift").read_text()
    assert package.startswith("// swift-tools-version:6.0")
    dump = run_swift("package", "dump-package")
    assert dump.returncode == 0, dump.stderr[-2000:]
    described = json.loads(dump.stdout)
    assert described["toolsVersion"]["_version"].startswith("6.")
    assert described["swiftLanguageVersions"] == ["6"]  # swiftLanguageModes: [.v6]
    version = run_swift("--version")
    assert re.search(r"Swift version 6\.", version.stdout + version.stderr), version.stdout + version.stderr


def test_invdncore_xctest_suite_passes(swift_build):
    """`swift test`: every XCTest method runs and passes (none lost to discovery), at least MIN_XCTESTS of them; the
    results file the writer test leaves goes through `invdn bench ingest`'s validation."""
    results = CORE / ".build" / "xctest-results"  # inside the package: the toolchain's root sees the repository only
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    env = os.environ | {"INVDN_RESULTS_DIR": str(results)}
    proc = run_swift("test", "--skip-build", env=env)
    output = proc.stdout + proc.stderr
    executed, failures = xctest_counts(output)
    assert proc.returncode == 0 and failures == 0, output[-6000:]
    expected = xctest_methods()
    assert executed == len(expected) >= MIN_XCTESTS, (executed, len(expected))
    passed = set(re.findall(r"Test Case '(\w+)\.(test\w+)' passed", output))
    assert {f"{c}.{m}" for c, m in passed} == expected
    (written,) = results.glob("*.json")
    assert bench_schema.load(written)["source"] == "ios_demo"


# ---- the app's view models and Core ML adapters, type-checked against stand-ins (ios_demo/AppCheck)

APPCHECK = IOS / "AppCheck"


def test_app_files_type_check_in_swift6_mode(swift_build):
    """ios_demo/AppCheck compiles the app's non-UI files themselves (symlinks into ios_demo/App) in Swift 6 language
    mode against small stand-ins of CoreML, CoreVideo, PhotosUI, Metal: the view models' concurrency (main-actor
    isolation, what crosses into tasks) is checked by the compiler, not only parsed."""
    linked = {p.name: p.resolve() for p in (APPCHECK / "Sources" / "AppCheck").glob("*.swift") if p.is_symlink()}
    assert set(linked) == {
        "ModelStore.swift",
        "CoreMLRunners.swift",
        "DenoiseModel.swift",
        "BenchmarkRunner.swift",
        "DeviceFacts.swift",
    }
    assert all(path == IOS / "App" / name for name, path in linked.items())
    proc = run_swift("build", cwd=APPCHECK)
    assert proc.returncode == 0, "the app files do not type-check:\n" + (proc.stdout + proc.stderr)[-6000:]


def _declaration_lines(text: str) -> set[str]:
    """The stored properties, static functions and type headers of Swift `text`, whitespace-normalised."""
    body = re.sub(r"\s+", " ", without_comments(text))
    found = set(re.findall(r"(?:struct|enum) \w+(?:: [^{]+)?(?= \{)", body))
    found |= set(re.findall(r"let \w+: [\w\[\]?]+", body))
    found |= {m.strip() for m in re.findall(r"static func [^{]+?(?= \{)", body)}
    return found


def test_photoio_stand_in_declares_what_photoio_declares():
    """PhotoIO.swift cannot be compiled here (ImageIO, Photos): the stand-in the type-check uses must declare the same
    types, fields, functions and Sendable promises, so the check is about the real declarations."""
    stand_in = _declaration_lines((APPCHECK / "Sources" / "AppCheck" / "PhotoIOStandIn.swift").read_text())
    real = _declaration_lines((IOS / "App" / "PhotoIO.swift").read_text())
    assert len(stand_in) >= 15 and stand_in <= real, sorted(stand_in - real)
