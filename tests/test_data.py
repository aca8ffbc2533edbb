"""Datasets: official-format CIFAR archives, IDX files, synthetic task, split, augmentation."""

import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from enresnet.checkpoint import save_model
from enresnet.cli import main
from enresnet.data import (
    DEFAULT_DATA_DIR,
    DatasetError,
    fashion_mnist,
    iterate_batches,
    load_cifar,
    load_dataset,
    load_fashion_mnist,
    random_crop_flip,
    synthetic_dataset,
    train_val_split,
)
from enresnet.data.cifar import CIFAR10, CIFAR100
from enresnet.data.dataset import epoch_permutation, step_generator
from enresnet.data.fashion_mnist import SYSTEM_DIR
from enresnet.errors import ConfigError
from enresnet.models import create_model


def _pickle_bytes(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def write_cifar_archive(path, source, per_batch=7, seed=0, extra_members=()):
    """Write a tiny archive in the official python-version layout of ``source``."""
    rng = np.random.default_rng(seed)
    expected = {}
    with tarfile.open(path, "w:gz") as tar:

        def add(name, payload):
            info = tarfile.TarInfo(f"{source.folder}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        for split, files in (("train", source.train_files), ("test", source.test_files)):
            datas, labels = [], []
            for fname in files:
                data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
                lab = rng.integers(0, source.num_classes, per_batch).tolist()
                add(fname, _pickle_bytes({b"batch_label": b"x", source.label_key: lab, b"data": data}))
                datas.append(data)
                labels += lab
            expected[split] = (np.concatenate(datas).reshape(-1, 3, 32, 32), np.array(labels))
        names = [f"c{i}".encode() for i in range(source.num_classes)]
        add(source.meta_file, _pickle_bytes({source.names_key: names}))
        for name, payload in extra_members:
            add(name, payload)
    return hashlib.md5(path.read_bytes()).hexdigest(), expected


@pytest.mark.parametrize("source", [CIFAR10, CIFAR100])
@pytest.mark.parametrize("as_url", [True, False])
def test_cifar_archive_loads_through_download_path(tmp_path, source, as_url):
    archive = tmp_path / "src" / source.filename
    archive.parent.mkdir()
    md5, expected = write_cifar_archive(archive, source)
    url = archive.as_uri() if as_url else str(archive)
    data_dir = tmp_path / "data"
    train = load_cifar(source.name, data_dir, train=True, url=url, md5=md5)
    test = load_cifar(source.name, data_dir, train=False, url=url, md5=md5)
    assert (data_dir / source.filename).exists()
    assert train.images.dtype == torch.uint8 and train.images.shape == (7 * len(source.train_files), 3, 32, 32)
    assert test.images.shape == (7, 3, 32, 32)
    assert train.labels.dtype == torch.int64 and train.num_classes == source.num_classes
    assert np.array_equal(train.images.numpy(), expected["train"][0])
    assert np.array_equal(train.labels.numpy(), expected["train"][1])
    assert np.array_equal(test.labels.numpy(), expected["test"][1])
    assert train.class_names[:2] == ["c0", "c1"]


def test_cifar_checksum_mismatch_is_a_clear_error(tmp_path):
    archive = tmp_path / CIFAR10.filename
    md5, _ = write_cifar_archive(archive, CIFAR10)
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupted = tmp_path / "corrupted" / CIFAR10.filename
    corrupted.parent.mkdir()
    corrupted.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="checksum mismatch.*download it again"):
        load_cifar("cifar10", tmp_path / "data", url=corrupted.as_uri(), md5=md5)
    assert not (tmp_path / "data" / CIFAR10.filename).exists()  # nothing half-written is kept


def test_official_checksum_is_checked_for_a_placed_file(tmp_path):
    write_cifar_archive(tmp_path / CIFAR10.filename, CIFAR10)
    with pytest.raises(DatasetError, match="expected c58f30108f718f92721af3b95e74349a"):
        load_dataset("cifar10", tmp_path)


def test_offline_error_names_the_file_to_place(tmp_path):
    with pytest.raises(DatasetError, match=r"place the file cifar-100-python.tar.gz in .*--data-dir"):
        load_cifar("cifar100", tmp_path, url=(tmp_path / "nowhere" / "x.tar.gz").as_uri())


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_batches_that_would_run_code_are_refused(tmp_path):
    archive = tmp_path / CIFAR10.filename
    md5, _ = write_cifar_archive(archive, CIFAR10)
    # Replace a batch by a pickle that calls a function when loaded.
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            payload = src.extractfile(member).read()
            if member.name.endswith("data_batch_1"):
                payload = pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=2)
                member.size = len(payload)
            dst.addfile(member, io.BytesIO(payload))
    md5 = hashlib.md5(evil.read_bytes()).hexdigest()
    refused = "not a valid CIFAR batch.*refusing to load global (__builtin__|builtins).print"
    with pytest.raises(DatasetError, match=refused):
        load_cifar("cifar10", tmp_path / "d", url=str(evil), md5=md5)


def test_archive_with_path_traversal_is_refused(tmp_path):
    archive = tmp_path / CIFAR10.filename
    md5, _ = write_cifar_archive(archive, CIFAR10, extra_members=[("../../escape.txt", b"x")])
    with pytest.raises(DatasetError, match="unsafe entry"):
        load_cifar("cifar10", tmp_path / "d", url=str(archive), md5=md5)
    assert not (tmp_path / "escape.txt").exists()


def _write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx_from_data_dir(tmp_path, compress):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28))
    labels = rng.integers(0, 10, 5)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images, compress)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, compress)
    ds = load_fashion_mnist(tmp_path, train=False, download=False)
    assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert np.array_equal(ds.labels.numpy(), labels)


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28)), False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5), False)
    raw = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DatasetError, match="truncated"):
        load_fashion_mnist(tmp_path, train=False, download=False)


@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason="needs the Debian package dataset-fashion-mnist")
def test_fashion_mnist_from_the_system_package():
    ds = load_dataset("fashion_mnist", train=False)
    assert ds.images.shape == (10000, 1, 28, 28)
    assert sorted(torch.bincount(ds.labels).tolist()) == [1000] * 10


def test_unknown_dataset_lists_choices():
    with pytest.raises(DatasetError, match="accepted names.*cifar10.*cifar100.*fashion_mnist: .*fmnist.*synthetic"):
        load_dataset("mnist")


def test_synthetic_is_seeded_and_learnable_by_nearest_template():
    a = synthetic_dataset(200, seed=3)
    b = synthetic_dataset(200, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    test = synthetic_dataset(200, seed=3, train=False)
    assert not torch.equal(a.images, test.images)
    # class means from train classify test well: the task is learnable
    x, xt = a.images.float().flatten(1), test.images.float().flatten(1)
    means = torch.stack([x[a.labels == c].mean(0) for c in range(10)])
    pred = torch.cdist(xt, means).argmin(1)
    assert (pred == test.labels).float().mean() > 0.9


def test_split_is_seeded_disjoint_and_complete():
    ds = synthetic_dataset(100)
    tr, va = train_val_split(ds, 10, seed=5)
    tr2, va2 = train_val_split(ds, 10, seed=5)
    assert len(tr) == 90 and len(va) == 10
    assert torch.equal(va.images, va2.images)
    seen = torch.cat([tr.images, va.images]).flatten(1)
    assert torch.equal(seen.sum(0), ds.images.flatten(1).sum(0))


def test_crop_is_a_shift_of_the_zero_padded_image_and_flip_mirrors():
    x = torch.rand(64, 3, 8, 8)
    out = random_crop_flip(x, padding=2, flip=True, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flipped = 0
    for i in range(64):
        windows = [padded[i, :, r : r + 8, c : c + 8] for r in range(5) for c in range(5)]
        plain = any(torch.equal(out[i], w) for w in windows)
        mirrored = any(torch.equal(out[i], w.flip(2)) for w in windows)
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 15 < flipped < 49  # about half are flipped


def test_iterate_batches_covers_epoch_and_resumes_mid_epoch():
    ds = synthetic_dataset(50)
    full = list(iterate_batches(ds, 16, shuffle=True, augment=True, seed=1, epoch=2))
    assert sum(len(y) for _, y in full) == 50
    assert torch.equal(torch.cat([y for _, y in full]).sort().values, ds.labels.sort().values)
    resumed = list(iterate_batches(ds, 16, shuffle=True, augment=True, seed=1, epoch=2, start_step=2))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[2:], resumed))
    other = list(iterate_batches(ds, 16, shuffle=True, seed=1, epoch=3))
    assert not torch.equal(full[0][1], other[0][1])


def _extracted_cifar10(data_dir, batch):
    """An extracted CIFAR-10 folder whose first training batch is ``batch`` (the others valid)."""
    folder = data_dir / CIFAR10.folder
    folder.mkdir(parents=True)
    good = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 9]}
    for name in CIFAR10.train_files:
        (folder / name).write_bytes(_pickle_bytes(batch if name == "data_batch_1" else good))
    (folder / CIFAR10.meta_file).write_bytes(_pickle_bytes({CIFAR10.names_key: [b"c"] * 10}))


@pytest.mark.parametrize("batch, match", [
    ({b"labels": [0]}, "needs the keys data and labels"),
    ([1, 2], "needs the keys"),
    ({b"data": np.zeros((2, 3000), dtype=np.uint8), b"labels": [0, 1]}, r"expected uint8 \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0]}, "labels for 2 images"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 10]}, r"labels outside \[0, 10\)"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [-1, 0]}, r"labels outside \[0, 10\)"),
])
def test_malformed_cifar_batches_are_clear_errors(tmp_path, batch, match):
    _extracted_cifar10(tmp_path, batch)
    with pytest.raises(DatasetError, match=match):
        load_cifar("cifar10", tmp_path, download=False)


def test_valid_extracted_cifar_loads(tmp_path):
    _extracted_cifar10(tmp_path, {b"data": np.ones((3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]})
    data = load_cifar("cifar10", tmp_path, download=False)
    assert len(data) == 3 + 2 * 4 and data.labels[:3].tolist() == [1, 2, 3]


def test_failed_download_leaves_no_created_folder(tmp_path):
    with pytest.raises(DatasetError, match="could not download"):
        load_cifar("cifar100", tmp_path / "new" / "deep", url=(tmp_path / "nowhere.tar.gz").as_uri())
    assert list(tmp_path.iterdir()) == []


def test_missing_fashion_mnist_data_dir_is_an_error_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-copy")
    with pytest.raises(DatasetError, match="data directory .*typo.* does not exist"):
        load_fashion_mnist(tmp_path / "typo", train=False, download=False)


@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason="needs the Debian package dataset-fashion-mnist")
def test_missing_fashion_mnist_data_dir_falls_back_to_the_system_copy(tmp_path, capsys, monkeypatch):
    """A config's default data_dir that does not exist (``enresnet reproduce fmnist`` on a fresh machine)
    reads the system copy, saying so, instead of failing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fashion_mnist, "_TOLD", set())  # as in a fresh process
    data = load_fashion_mnist(DEFAULT_DATA_DIR, train=False, download=False)
    assert len(data) == 10000
    assert capsys.readouterr().err == (f"reading Fashion-MNIST from {SYSTEM_DIR} (the installed copy; there is no "
                                       f"{DEFAULT_DATA_DIR}/ folder here)\n")  # information, once: not "note:"


@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason="needs the Debian package dataset-fashion-mnist")
def test_the_system_copy_is_mentioned_once_per_command(tmp_path, capsys, monkeypatch):
    """Issue 21: the note came twice per command (images, labels) and read like an error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fashion_mnist, "_TOLD", set())
    for split in (True, False):
        load_dataset("fashion_mnist", DEFAULT_DATA_DIR, train=split, download=False)
    assert capsys.readouterr().err.count("reading Fashion-MNIST from") == 1
    monkeypatch.setattr(fashion_mnist, "_TOLD", set())
    save_model(tmp_path / "ckpt", create_model("resnet8", in_channels=1),
               dataset={"name": "fashion_mnist", "data_dir": DEFAULT_DATA_DIR})  # as `enresnet train` records it
    assert main(["evaluate", str(tmp_path / "ckpt"), "--attacks", "fgsm", "--limit", "4", "--eot", "1",
                 "--repeats", "1", "--sanity-limit", "0", "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("reading Fashion-MNIST from") == 1 and "note" not in err and "error" not in err


@pytest.mark.parametrize("exists", [False, True])
def test_a_chosen_fashion_mnist_data_dir_is_honoured(tmp_path, exists):
    """A data dir the user chose never falls back to the system copy (issue 20: ``--data-dir /nonexistent`` was
    ignored): without the files there the error names it, whether or not the system copy is installed."""
    chosen = tmp_path / "chosen"
    if exists:
        chosen.mkdir()
    shown = "chosen" + ("" if exists else r" \(which does not exist\)")
    with pytest.raises(DatasetError, match=rf"not found in the data directory .*{shown}\. Pass the folder"):
        load_dataset("fashion_mnist", chosen, train=False, download=False)


def test_evaluate_with_a_missing_fashion_mnist_data_dir_fails_naming_it(tmp_path, capsys, monkeypatch):
    """``enresnet evaluate --dataset fashion_mnist --data-dir MISSING`` (download on, offline) exits 2 naming
    the folder instead of reading the system copy; the folder the download created is removed."""
    monkeypatch.setattr(fashion_mnist, "BASE_URL", (tmp_path / "offline").as_uri() + "/")
    path = save_model(tmp_path / "ckpt", create_model("resnet8", in_channels=1))
    code = main(["evaluate", str(path), "--dataset", "fashion_mnist", "--data-dir", str(tmp_path / "missing"),
                 "--attacks", "fgsm", "--out", str(tmp_path / "eval"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"place the file t10k-images-idx3-ubyte.gz in {tmp_path / 'missing'}" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("data_dir", ["elsewhere", "/usr/share/datasets/fashion-mnist"])
def test_a_data_dir_cannot_apply_to_synthetic_data(data_dir):
    with pytest.raises(ConfigError, match=f"data directory \\({data_dir}\\) cannot apply to the synthetic"):
        load_dataset("synthetic", data_dir, train=False, num_samples=4)
    for default in (None, DEFAULT_DATA_DIR, "./data"):  # what configs and checkpoints name when none was chosen
        assert len(load_dataset("synthetic", default, train=False, num_samples=4)) == 4


@pytest.mark.parametrize("name, options, match", [
    ("synthetic", {"size": 0}, r"size must be an integer in \[1, 512\]"),
    ("synthetic", {"colours": 3}, "colours is not an option of the synthetic loader; allowed: num_samples"),
    ("synthetic", {"noise": float("nan")}, "noise must be a number"),
    ("cifar10", {"md5": "xyz"}, "md5 must be 32 hex digits"),
    ("fashion_mnist", {"size": 28}, "fashion_mnist takes none"),
    ("synthetic", {"num_samples": 10**7, "size": 512}, "more than the .* a synthetic dataset may hold"),
])
def test_loader_options_are_checked(name, options, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset(name, train=False, **options)


def test_large_seeds_work_and_small_seeds_keep_their_streams():
    assert len(epoch_permutation(10, 20240101, 3)) == 10
    assert torch.rand(1, generator=step_generator(2**62, 10**6, 10**6)).item() < 1
    data = synthetic_dataset(num_samples=20, size=8, seed=2**62)
    assert train_val_split(data, 5, seed=2**62 + 1)[1].labels.numel() == 5
    old = torch.Generator().manual_seed((3 * 1_000_003 + 1) * 1_000_003 + 2)  # the formula before the fix
    assert torch.equal(torch.rand(4, generator=step_generator(3, 1, 2)), torch.rand(4, generator=old))
