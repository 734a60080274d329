"""Figures are real PNG files."""

from llm_router.eval.plots import confusion_matrix_png, training_curves_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_png(tmp_path):
    path = confusion_matrix_png(
        [[5, 1, 0], [2, 3, 1], [0, 0, 4]],
        ["Claude", "gemini-mini", "gpt-o1"],
        tmp_path / "sub" / "cm.png",
        title="test",
    )
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def test_training_curves_png_tolerates_missing_values(tmp_path):
    history = [
        {"epoch": 0, "train_loss": None, "val_macro_f1": None},
        {"epoch": 1, "train_loss": 1.0, "val_macro_f1": None},
        {"epoch": 2, "train_loss": 0.7, "val_macro_f1": 0.6},
    ]
    path = training_curves_png(history, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_training_curves_png_with_soup_members(tmp_path):
    history = [
        {"epoch": e, "member": m, "train_loss": 1 / e, "val_macro_f1": 0.5} for m in (0, 1) for e in (1, 2)
    ]
    history.append({"epoch": 2, "member": "soup", "train_loss": None, "val_macro_f1": 0.6})
    assert training_curves_png(history, tmp_path / "soup.png").read_bytes().startswith(PNG_MAGIC)
