"""Spec files: format_version, migrations, located errors, atomic writes."""

from __future__ import annotations

import os

import pytest

import initspec
from initspec import SpecError, files


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def err(path) -> SpecError:
    with pytest.raises(SpecError) as e:
        initspec.load(path)
    return e.value


def test_load_yaml_and_json(tmp_path):
    y = write(tmp_path, "he.yaml", "format_version: 1\nscheme: he\ndistribution: truncated_normal\n")
    j = write(tmp_path, "he.json", '{"format_version": 1, "scheme": "he", "distribution": "truncated_normal"}')
    assert initspec.load(y) == initspec.load(j) == initspec.parse({"scheme": "he", "distribution": "truncated_normal"})


def test_yaml_floats_like_1e_3(tmp_path):
    p = write(tmp_path, "n.yaml", "format_version: 1\nscheme: normal\nstd: 1e-3\n")
    assert initspec.load(p).std == 0.001


def test_format_version_required_newer_and_wrong(tmp_path):
    e = err(write(tmp_path, "a.yaml", "scheme: zeros\n"))
    assert e.errors[0].code == "missing_format_version" and "format_version: 1" in e.errors[0].message
    e = err(write(tmp_path, "b.yaml", "format_version: 7\nscheme: zeros\n"))
    d = e.errors[0]
    assert d.code == "format_version_newer" and "upgrade" in d.message and (d.line, d.col) == (1, 17)
    assert err(write(tmp_path, "c.yaml", "format_version: '1'\nscheme: zeros\n")).errors[0].code == "wrong_type"
    assert err(write(tmp_path, "d.yaml", "format_version: 0\nscheme: zeros\n")).errors[0].code == "bad_format_version"


def test_older_versions_are_migrated_by_pure_steps(tmp_path):
    # Pretend the current format is 2 and version 1 named `std` `sigma`: the registered
    # dict -> dict step renames it.
    from initspec import _document, formats

    def v1_to_v2(d):
        d = dict(d)
        if "sigma" in d:
            d["std"] = d.pop("sigma")
        return d

    p = write(tmp_path, "old.yaml", "format_version: 1\nscheme: normal\nsigma: 0.5\n")
    before = p.read_bytes()
    doc = _document.load_path(p)
    body = formats.migrate(doc.data, kind="spec", document=doc, current=2, migrations={("spec", 1): v1_to_v2})
    assert initspec.parse(body).std == 0.5
    assert p.read_bytes() == before  # migration never rewrites the user's file
    with pytest.raises(SpecError, match="upgrade initspec"):
        formats.migrate({"format_version": 3, "scheme": "zeros"}, kind="spec", current=2)


def test_errors_carry_file_line_col(tmp_path):
    p = write(tmp_path, "bad.yaml", "format_version: 1\nscheme: he\ndistribution: normall\nmode: fan_inn\nstdd: 3\n")
    e = err(p)
    by_code = {d.code: d for d in e.errors}
    assert by_code["invalid_choice"].file == str(p)
    assert (by_code["unknown_field"].line, by_code["unknown_field"].col) == (5, 1)
    lines = str(e).splitlines()
    assert any(l.strip().startswith(f"distribution ({p}:3:15): unknown value 'normall'") for l in lines)
    assert any("did you mean 'fan_in'" in l for l in lines)


def test_unknown_scheme_located(tmp_path):
    p = write(tmp_path, "s.json", '{\n  "format_version": 1,\n  "scheme": "he_normall"\n}')
    d = err(p).errors[0]
    assert d.code == "unknown_scheme" and (d.line, d.col) == (3, 13) and "keras.he_normal" in d.message


@pytest.mark.parametrize("text,code", [
    (b"", "empty_document"),
    (b"# only a comment\n", "empty_document"),
    (b"format_version: 1\nscheme: &a zeros\n", "yaml_alias"),
    (b"format_version: 1\nscheme: !!python/object/apply:os.system ['true']\n", "yaml_tag"),
    (b"format_version: 1\nscheme: normal\nstd: 1\nstd: 2\n", "duplicate_key"),
    (b"format_version: 1\nscheme: normal\nstd: .nan\n", "non_finite"),
    (b"format_version: 1\nscheme: normal\nstd: .inf\n", "non_finite"),
    (b"format_version: 1\nscheme: normal\nstd: yes\n", "wrong_type"),
    (b"format_version: 1\nscheme: normal\nstd: true\n", "bool_as_number"),
    (b"format_version: 1\n1: x\n", "non_string_key"),
    (b"format_version: 1\nscheme: zeros\n---\nscheme: ones\n", "multiple_documents"),
    (b"format_version: 1\nscheme: \xff\n", "not_utf8"),
    (b"- format_version: 1\n", "not_a_mapping"),
    (b"format_version: 1\nscheme: normal\nstd: " + b"[" * 5000 + b"]" * 5000 + b"\n", "too_deep"),
    (b"format_version: 1\nscheme: he_normall\n", "unknown_scheme"),
])
def test_hostile_yaml_corpus(tmp_path, text, code):
    p = write(tmp_path, "h.yaml", text)
    e = err(p)
    assert code in [d.code for d in e.errors]
    assert all(d.file == str(p) for d in e.errors)


def test_oversize_and_missing_files(tmp_path):
    big = write(tmp_path, "big.yaml", b"format_version: 1\n" + b"# pad\n" * 300_000)
    assert err(big).errors[0].code == "too_large"
    assert err(tmp_path / "nope.yaml").errors[0].code == "file_not_found"
    assert err(write(tmp_path, "x.toml", "a = 1")).errors[0].code == "unknown_format"


def test_json_duplicate_keys_and_nan(tmp_path):
    e = err(write(tmp_path, "d.json", '{"format_version": 1, "scheme": "normal", "std": 1, "std": 2}'))
    assert e.errors[0].code == "duplicate_key"
    e = err(write(tmp_path, "n.json", '{"format_version": 1, "scheme": "normal", "std": NaN}'))
    assert e.errors[0].code == "non_finite"


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_dump_round_trip_canonical(tmp_path, suffix):
    spec = initspec.parse({"scheme": "kaiming", "distribution": "normal",
                           "nonlinearity": "leaky_relu", "negative_slope": 0.2})
    p = initspec.dump(spec, tmp_path / f"s{suffix}")
    assert initspec.load(p) == spec
    text = p.read_text()
    assert "format_version" in text.splitlines()[0] or text.lstrip("{\n ").startswith('"format_version"')
    assert "kaiming" not in text and "he" in text  # the canonical form is what is stored


def test_dump_is_atomic_and_refuses_unknown_suffix(tmp_path, monkeypatch):
    p = tmp_path / "keep.yaml"
    p.write_text("format_version: 1\nscheme: zeros\n")
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(SpecError) as info:  # a located error naming the user's file, never the temp file
        initspec.dump(initspec.parse({"scheme": "ones"}), p)
    assert info.value.codes == ["file_unwritable"] and info.value.errors[0].file == str(p)
    assert "disk full" in str(info.value) and ".tmp" not in str(info.value)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["keep.yaml"]  # no temp file left behind
    monkeypatch.undo()
    with pytest.raises(SpecError):
        initspec.dump(initspec.parse({"scheme": "ones"}), tmp_path / "s.txt")


def test_loads_from_text():
    assert initspec.loads("format_version: 1\nscheme: ones\n").scheme == "ones"
    assert initspec.loads('{"format_version": 1, "scheme": "ones"}', fmt="json").scheme == "ones"
