"""The package's top level."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_applications_are_named_at_the_top_and_imported_only_when_named() -> None:
    import lstmkit
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.tagging import Tagger

    assert (lstmkit.Forecaster, lstmkit.Classifier, lstmkit.Tagger) == (
        Forecaster, Classifier, Tagger)
    assert {"Forecaster", "Classifier", "Tagger", "LSTM"} <= set(dir(lstmkit))
    with pytest.raises(AttributeError, match="module 'lstmkit' has no attribute 'Nothing'"):
        lstmkit.Nothing  # noqa: B018
    # the layer alone does not bring the applications' Lightning in
    code = "import sys, lstmkit; print('lightning' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def _lstmkit_imports() -> dict[str, set[str]]:
    """Each top-level part of the package (``nn``, ``text``, ``saving``...) and the other parts
    its modules import, in functions too, however written: ``import lstmkit.nn``, ``from
    lstmkit.nn import LSTM``, ``from lstmkit import Classifier`` (the part that defines it,
    lazily or not) and relative imports (``from ..cli import main``)."""
    import ast
    from pathlib import Path

    import lstmkit

    root = Path(lstmkit.__file__).parent

    def part_of(module: str, name: str | None = None) -> str:
        """The part ``module`` (``lstmkit.x.y``) is in, or with ``from lstmkit import name``
        the part ``name`` is (a subpackage or module, or a name the top level holds)."""
        parts = module.split(".")
        if len(parts) > 1:
            return parts[1]
        if name is None or (root / name).is_dir() or (root / f"{name}.py").is_file():
            return name or "__init__"
        defined = lstmkit._APPLICATIONS.get(name) or getattr(
            getattr(lstmkit, name, None), "__module__", None) or "lstmkit"
        return part_of(defined) if defined.startswith("lstmkit.") else "__init__"

    imports: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        package = ["lstmkit", *path.relative_to(root).parts[:-1]]
        part = path.relative_to(root).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found = []
            if isinstance(node, ast.Import):
                found = [part_of(a.name) for a in node.names if a.name.startswith("lstmkit")]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
                module = ".".join(p for p in (base, node.module) if p)
                if module == "lstmkit" or module.startswith("lstmkit."):
                    found = [part_of(module, a.name) for a in node.names]
            imports.setdefault(part, set()).update(p for p in found if p != part)
    return imports


def test_the_layers_import_only_what_is_below_them() -> None:
    imports = _lstmkit_imports()
    applications = {"forecasting", "classification", "tagging"}
    # an application never imports another; the shared layers none, nor what sits on top
    for app in applications:
        assert not imports.get(app, set()) & (applications - {app}), app
    for shared in ("nn", "kernels", "text", "training"):
        assert not imports.get(shared, set()) & (applications | {"serving", "cli"}), shared
    # nn: the kernels behind its dispatch, and the standard-library path checks of saving
    assert imports["nn"] <= {"kernels", "saving"}


def test_import_lstmkit_registers_its_torch_operators() -> None:
    # a saved torch.export program that holds lstmkit's operator (zoneout's mask, in
    # training) loads after `import lstmkit`, as the docs have it; a lazy top level broke it
    code = ("import lstmkit, torch; "
            "print(torch.ops.lstmkit_reference.keep_mask.default.name())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "lstmkit_reference::keep_mask"



def test_a_model_folder_named_with_glob_characters_is_pointed_to_after_a_cut_off_save(
        tmp_path) -> None:
    from lstmkit.saving import not_saved

    aside = tmp_path / ".run[1].tmp-42.old"
    aside.mkdir()
    (aside / "meta.json").write_text("{}")
    message = str(not_saved(tmp_path / "run[1]", "forecaster"))
    assert message.endswith(f"the forecaster saved there before is in {str(aside)!r}: rename "
                            f"that folder to {str(tmp_path / 'run[1]')!r}")


def test_a_folder_moved_aside_that_cannot_be_read_is_passed_over(tmp_path, monkeypatch) -> None:
    # (another user's folder: reading its meta.json raised PermissionError out of the hint)
    from pathlib import Path

    from lstmkit.saving import not_saved

    for name in (".model.tmp-1.old", ".model.tmp-2.old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text("{}")
    stat = Path.stat

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        if self == tmp_path / ".model.tmp-2.old" / "meta.json":
            raise PermissionError(13, "Permission denied", str(self))
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", denied)
    for given in (tmp_path / "model", tmp_path):  # the model folder, or the run's
        message = str(not_saved(given, "forecaster"))
        assert message.endswith(f"is in {str(tmp_path / '.model.tmp-1.old')!r}: rename that "
                                f"folder to {str(tmp_path / 'model')!r}")




def _loaders() -> dict[str, tuple[object, str]]:
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster, load_config
    from lstmkit.serving.http import ModelService, make_server
    from lstmkit.tagging import Tagger
    from lstmkit.text.vocab import Vocabulary

    return {"Forecaster.load": (Forecaster.load, "path"), "load_config": (load_config, "path"),
            "Classifier.load": (Classifier.load, "directory"),
            "Tagger.load": (Tagger.load, "directory"),
            "Vocabulary.load": (Vocabulary.load, "path"),
            "Vocabulary.save": (Vocabulary(["a"]).save, "path"),
            "ModelService": (ModelService, "directory"), "make_server": (make_server, "directory"),
            "plot_trace": (_plot_trace, "path")}


def _plot_trace(path: object) -> None:
    import torch

    from lstmkit import LSTM, plot_trace

    plot_trace(LSTM(2, 3).trace(torch.zeros(1, 4, 2)), path)  # type: ignore[arg-type]


@pytest.mark.parametrize("loader", ["Forecaster.load", "load_config", "Classifier.load",
                                    "Tagger.load", "Vocabulary.load", "Vocabulary.save",
                                    "ModelService", "make_server", "plot_trace"])
@pytest.mark.parametrize("value", [None, 3, b"model"])
def test_a_path_that_is_no_path_is_named(loader: str, value: object) -> None:
    load, argument = _loaders()[loader]
    # (pathlib named it only as 'expected str, bytes or os.PathLike object, not NoneType')
    with pytest.raises(TypeError, match=rf"^{argument} must be a file or folder name \(a str or "
                                        rf"os.PathLike\), got {type(value).__name__} "):
        load(value)  # type: ignore[operator]
