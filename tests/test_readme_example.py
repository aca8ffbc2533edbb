"""The README's Python example runs as written: the first ```python block of README.md, on a tiny checkpoint."""

import contextlib
import io
import re
from pathlib import Path

import pytest

import enresnet
from enresnet.checkpoint import save_model
from enresnet.data.fashion_mnist import SYSTEM_DIR

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    """The first ```python block of README.md."""
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason="needs the Debian package dataset-fashion-mnist")
def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    """The example loads ``runs/quickstart/best`` (what scripts/quickstart.sh trains: a PGD-trained
    Fashion-MNIST model, here an untrained tiny one of the same kind) and the test split, and prints the table."""
    monkeypatch.chdir(tmp_path)
    save_model("runs/quickstart/best", enresnet.create_model("en1_resnet8", in_channels=1),
               dataset={"name": "fashion_mnist"}, method="pgd", attack={"eps": 0.1, "alpha": 0.01, "steps": 1})
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.plan.dataset == "fashion_mnist" and result.plan.budget.eps == pytest.approx(0.1)  # its budget
    assert result.attacks == ["fgsm", "ifgsm20", "cw", "apgd-ce100", "apgd-dlr100"]  # the default set
    assert str(result) in printed.getvalue()
    assert 0 <= result.robust_accuracy.mean <= result.natural_accuracy.mean <= 1
