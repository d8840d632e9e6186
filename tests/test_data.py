"""Training data: synthetic targets checked against hand-written formulas, splits and batches,
file round trips, and one DataError with the specific detail for every malformed input."""

import math

import numpy as np
import pytest

from kancc.data import SYNTHETIC, Dataset, from_arrays, load_data, synthetic
from kancc.errors import DataError, KanccError

THETA = 0.175


def f_exp_sin(x, y):
    return math.exp(math.sin(math.pi * x) + y * y)


def f_sin_sin(x, y):
    return math.sin(math.pi * x) * math.sin(math.pi * y)


def f_unrotated(x, y):
    """Seed 000, eq. (26), before the rotation."""
    return (math.cos(4 * math.pi * x) + math.sin(math.pi * y) + math.sin(2 * math.pi * y)
            + abs(math.sin(3 * math.pi * y * y)))


def f_rotated(x, y):
    """f turned counter-clockwise by THETA about the origin: f at the point turned back."""
    c, s = math.cos(THETA), math.sin(THETA)
    return f_unrotated(c * x + s * y, -s * x + c * y)


def f_polar5(x1, x2, x3, x4, x5):
    a = math.atan(20 * math.exp(x5) * (x1 - 0.5 + x2 / 6)) + math.pi / 2
    b = math.atan(20 * math.exp(x5) * (x1 - 0.5 - x2 / 6)) + math.pi / 2
    return (2 + 2 * x3) / (3 * math.pi) * a + (2 + 2 * x4) / (3 * math.pi) * b


def f_triangle(x1, y1, x2, y2, x3, y3):
    """Heron's formula: an independent route to the area."""
    a, b, c = math.dist((x1, y1), (x2, y2)), math.dist((x2, y2), (x3, y3)), \
        math.dist((x3, y3), (x1, y1))
    p = (a + b + c) / 2
    return math.sqrt(max(p * (p - a) * (p - b) * (p - c), 0.0))


def f_disk_bump(x, y):
    """Seed 004's pretraining solution; zero outside the unit disk."""
    r = math.hypot(x, y)
    return math.sin(math.pi / 2 * (1 - r) ** 2.5) if r < 1 else 0.0


def f_disk_bump_shifted(x, y):
    r = math.hypot(x, y)
    return f_disk_bump(x, y) + (math.sin(math.pi / 2 * (1 - r)) if r < 1 else 0.0)


FORMULAS = {"exp_sin": f_exp_sin, "sin_sin": f_sin_sin, "rotated": f_rotated,
            "polar5": f_polar5, "triangle": f_triangle, "disk_bump": f_disk_bump,
            "disk_bump_shifted": f_disk_bump_shifted}
SAMPLE_BOXES = {"exp_sin": (-1, 1), "sin_sin": (-1, 1), "rotated": (0.0001, 0.9999),
                "polar5": (0, 1), "triangle": (0, 1), "disk_bump": (-1, 1),
                "disk_bump_shifted": (-1, 1)}


def evaluate(name, *point):
    return float(SYNTHETIC[name].function(np.array([point], dtype=np.float64))[0, 0])


# -- synthetic targets ----------------------------------------------------------------------

def test_registry_lists_exactly_the_documented_targets():
    assert set(SYNTHETIC) == set(FORMULAS)
    assert {k: (t.n_in, t.n_out) for k, t in SYNTHETIC.items()} == {
        "exp_sin": (2, 1), "sin_sin": (2, 1), "rotated": (2, 1), "polar5": (5, 1),
        "triangle": (6, 1), "disk_bump": (2, 1), "disk_bump_shifted": (2, 1)}
    assert SYNTHETIC["exp_sin"].domain == (-1, 1)
    assert SYNTHETIC["rotated"].domain == (0, 1)
    assert SYNTHETIC["polar5"].domain == (0, 1)
    assert {k: t.sample for k, t in SYNTHETIC.items()} == SAMPLE_BOXES


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_synthetic_shape_range_and_rows_match_the_formula(name):
    data = synthetic(name, 50, seed=3)
    n_in = SYNTHETIC[name].n_in
    assert data.x.shape == (50, n_in) and data.y.shape == (50, 1) and data.n == 50
    assert data.x.dtype == data.y.dtype == np.float64
    assert data.x.flags.c_contiguous and data.y.flags.c_contiguous
    low, high = SAMPLE_BOXES[name]
    assert data.x.min() >= low and data.x.max() < high
    assert data.x.min() < low + 0.2 and data.x.max() > high - 0.2  # fills the box
    for row in range(0, 50, 7):
        expected = FORMULAS[name](*data.x[row])
        assert data.y[row, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_synthetic_is_deterministic_for_a_seed(name):
    a, b, c = synthetic(name, 20, seed=7), synthetic(name, 20, seed=7), synthetic(name, 20, 8)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_hand_computed_values():
    assert evaluate("exp_sin", 0.5, 0.5) == pytest.approx(math.exp(1.25), rel=1e-14)
    assert evaluate("exp_sin", 0.0, -1.0) == pytest.approx(math.e, rel=1e-14)
    assert evaluate("sin_sin", 0.5, -0.5) == pytest.approx(-1.0, rel=1e-14)
    # Polar: at x1 = 1/2, x2 = 0 both arctans vanish: 2 * (2 / (3 pi)) * (pi / 2) = 2/3.
    assert evaluate("polar5", 0.5, 0.0, 0.0, 0.0, 0.0) == pytest.approx(2 / 3, rel=1e-14)
    # x1 = 1/2, x2 = 0.3, x5 = 0: the arctans are of +1 and -1, i.e. +pi/4 and -pi/4, so
    # y = (2 + 2 x3) / 4 + (2 + 2 x4) / 12; x3 weighs the "+ x2/6" term, x4 the other.
    assert evaluate("polar5", 0.5, 0.3, 0.0, 1.0, 0.0) == pytest.approx(5 / 6, rel=1e-12)
    assert evaluate("polar5", 0.5, 0.3, 1.0, 0.0, 0.0) == pytest.approx(7 / 6, rel=1e-12)
    point = (0.9, 0.6, 0.2, 0.7, 0.4)
    assert evaluate("polar5", *point) == pytest.approx(f_polar5(*point), rel=1e-14)
    assert evaluate("rotated", 0.0, 0.0) == pytest.approx(1.0, abs=1e-15)  # the center stays


def test_rotation_is_counter_clockwise_about_the_origin():
    c, s = math.cos(THETA), math.sin(THETA)
    # Along f's x-axis f(t, 0) = cos(4 pi t): t = 1/4 gives -1. Rotated counter-clockwise,
    # that point sits at angle +THETA, and g takes the value there.
    t = 0.25
    assert evaluate("rotated", t * c, t * s) == pytest.approx(-1.0, abs=1e-12)
    # The clockwise reading would put it at angle -THETA: there g is far from -1.
    assert abs(evaluate("rotated", t * c, -t * s) + 1.0) > 0.5
    # In general g(R(theta) q) = f(q).
    qx, qy = 0.4, 0.3
    assert evaluate("rotated", c * qx - s * qy, s * qx + c * qy) == pytest.approx(
        f_unrotated(qx, qy), abs=1e-12)


def test_load_data_generates_synthetic_targets():
    data = load_data("polar5", 5, 1, n=30, seed=2)
    assert data.name == "polar5" and data.x.shape == (30, 5)
    assert np.array_equal(data.x, synthetic("polar5", 30, seed=2).x)
    assert load_data("exp_sin", 2, 1).n == 2000


def test_arrays_are_read_only():
    data = synthetic("exp_sin", 4)
    with pytest.raises(ValueError):
        data.x[0, 0] = 1.0


# -- split and batches ----------------------------------------------------------------------

def numbered(n, labels=False):
    """Row i holds (i, -i) and target i, so rows can be identified after shuffling."""
    x = np.stack([np.arange(n, dtype=np.float64), -np.arange(n, dtype=np.float64)], axis=1)
    y = np.arange(n, dtype=np.int64) if labels else np.arange(n, dtype=np.float64)[:, None]
    return Dataset(x, y, "numbered")


def ids(data):
    assert np.array_equal(data.x[:, 1], -data.x[:, 0])  # x and y rows stayed together
    assert np.array_equal(np.asarray(data.y).reshape(-1), data.x[:, 0])
    return data.x[:, 0].astype(int).tolist()


@pytest.mark.parametrize("fraction, n_val", [(0.2, 20), (0.29, 29), (0.0, 0), (0.999, 99)])
def test_split_sizes_disjoint_complete(fraction, n_val):
    train, val = numbered(100).split(fraction, seed=5)
    assert (train.n, val.n) == (100 - n_val, n_val)
    assert sorted(ids(train) + ids(val)) == list(range(100))
    assert ids(train) == sorted(ids(train)) and ids(val) == sorted(ids(val))  # order kept
    assert train.name == val.name == "numbered"


def test_split_leaves_at_least_one_training_row():
    train, val = numbered(2).split(0.9, seed=0)  # round(1.8) = 2 would leave none
    assert (train.n, val.n) == (1, 1)
    assert numbered(1).split(0.5, seed=0)[0].n == 1


def test_split_is_seeded():
    data = numbered(100)
    assert ids(data.split(0.3, seed=1)[1]) == ids(data.split(0.3, seed=1)[1])
    assert ids(data.split(0.3, seed=1)[1]) != ids(data.split(0.3, seed=2)[1])
    assert ids(data.split(0.3, seed=1)[1]) != list(range(30))  # actually shuffled


def test_split_keeps_labels():
    train, val = numbered(10, labels=True).split(0.5, seed=0)
    assert train.y.dtype == np.int64 and train.y.shape == (5,)
    assert sorted(ids(train) + ids(val)) == list(range(10))


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan")])
def test_split_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(DataError, match=r"numbered: validation fraction must be in \[0, 1\)"):
        numbered(10).split(fraction, seed=0)


def test_batches_cover_every_row_once_per_epoch():
    data = numbered(10)
    rng = np.random.default_rng(0)
    epochs = []
    for _ in range(2):
        batches = list(data.batches(3, rng))
        assert [len(bx) for bx, _ in batches] == [3, 3, 3, 1]
        rows = [ids(Dataset(bx, by, "batch")) for bx, by in batches]
        flat = [i for batch in rows for i in batch]
        assert sorted(flat) == list(range(10))
        epochs.append(flat)
    assert epochs[0] != epochs[1] and epochs[0] != list(range(10))  # shuffled each epoch


def test_full_batch_is_the_whole_set_in_original_order():
    data = numbered(10)
    for size in (10, 11, 1000):
        [(bx, by)] = list(data.batches(size, np.random.default_rng(size)))
        assert np.array_equal(bx, data.x) and np.array_equal(by, data.y)


def test_batches_of_an_empty_set_and_bad_sizes():
    _, empty = numbered(10).split(0.0, seed=0)
    assert list(empty.batches(4, np.random.default_rng(0))) == []
    with pytest.raises(DataError, match="batch size must be positive, got 0"):
        numbered(10).batches(0, np.random.default_rng(0))  # raised before iterating


# -- file round trips -----------------------------------------------------------------------

X = np.array([[0.5, -1.0], [0.25, 2.0], [1e-3, 3.5], [7.0, -0.125]])
Y = np.array([[1.0, 2.0], [3.0, 4.0], [5.5, 6.5], [-7.0, 8.0]])
LABELS = np.array([0, 2, 1, 2])


def check(data, x, y):
    assert data.x.dtype == np.float64 and data.x.flags.c_contiguous
    assert np.array_equal(data.x, x) and np.array_equal(data.y, y)
    assert data.y.dtype == y.dtype and data.y.shape == y.shape


def test_npz_round_trips(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=Y)
    check(load_data(path, 2, 2), X, Y)
    np.savez(path, x=X.astype(np.float32), y=Y[:, 0])  # (n,) y for one output
    check(load_data(path, 2, 1), X.astype(np.float32).astype(np.float64), Y[:, :1])
    np.savez(path, x=X, y=LABELS.astype(np.uint8), extra=np.zeros(3))
    data = load_data(str(path), 2, 3, labels=True)
    check(data, X, LABELS.astype(np.int64))
    assert data.name == str(path)


def test_npy_round_trips(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.hstack([X, Y]))
    check(load_data(path, 2, 2), X, Y)
    np.save(path, np.hstack([X, LABELS[:, None].astype(np.float64)]))
    check(load_data(path, 2, 3, labels=True), X, LABELS.astype(np.int64))


def test_from_arrays_checks_like_a_file():
    x = X.astype(np.float32)
    data = from_arrays(x, LABELS.tolist(), 2, 3, labels=True, name="mine")
    check(data, x.astype(np.float64), LABELS.astype(np.int64))
    assert data.name == "mine" and x.flags.writeable  # copied, the caller's array untouched
    check(from_arrays(X, Y[:, 0], 2, 1), X, Y[:, :1])
    x[1, 0] = np.inf
    with pytest.raises(DataError, match=r"^arrays: x has inf at row 1, column 0$"):
        from_arrays(x, Y, 2, 2)
    with pytest.raises(DataError, match=r"^mine: row 3: label 3.0 is not an integer class"):
        from_arrays(X, [0, 1, 2, 3], 2, 3, labels=True, name="mine")
    with pytest.raises(DataError, match=r"y has non-numeric dtype <U1"):
        from_arrays(X, np.array(list("abcd")), 2, 1)


def write_csv(path, rows, header=None):
    lines = ([header] if header else []) + [",".join(repr(float(v)) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_csv_round_trips(tmp_path):
    path = tmp_path / "d.csv"
    write_csv(path, np.hstack([X, Y]))
    check(load_data(path, 2, 2), X, Y)
    write_csv(path, np.hstack([X, Y]), header="a,b,target one,target two")
    check(load_data(path, 2, 2), X, Y)
    path.write_text("x, y, label\n0.5, -1, 0\n\n0.25, 2, 2.0\n")  # spaces, blank line, 2.0
    check(load_data(path, 2, 3, labels=True), X[:2], np.array([0, 2]))


# -- bad input: one DataError naming the source and the detail ------------------------------

def test_data_error_message_is_source_then_message():
    error = DataError("d.csv", "line 3: boom")
    assert str(error) == "d.csv: line 3: boom" and isinstance(error, KanccError)
    assert (error.source, error.message) == ("d.csv", "line 3: boom")


def bad(path, match, n_in=2, n_out=1, **kw):
    with pytest.raises(DataError, match=match) as info:
        load_data(path, n_in, n_out, **kw)
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, KanccError) and info.value.source == str(path)
    return str(info.value)


def test_missing_unreadable_and_unsupported_files(tmp_path):
    bad(tmp_path / "nope.csv", "cannot read: No such file")
    bad(tmp_path / "nope.npz", "cannot read: No such file")
    folder = tmp_path / "dir.npy"
    folder.mkdir()
    bad(folder, "not a regular file")
    bad(tmp_path / "d.txt", r"unsupported file type '\.txt'; supported: \.npz, \.npy, \.csv")
    bad(tmp_path / "exp_sn", r"neither a synthetic target .disk_bump, disk_bump_shifted, "
                             r"exp_sin, polar5, rotated, sin_sin.")


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"e{suffix}"
    path.write_bytes(b"")
    bad(path, "file is empty")


def test_zero_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("a,b,c\n\n")
    bad(path, "no data rows")
    np.save(tmp_path / "z.npy", np.zeros((0, 3)))
    bad(tmp_path / "z.npy", "no data rows")
    np.savez(tmp_path / "z.npz", x=np.zeros((0, 2)), y=np.zeros(0))
    bad(tmp_path / "z.npz", "no data rows")


def test_wrong_number_of_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("1,2,3\n4,5,6\n7,8\n")
    bad(path, r"line 3: expected 3 columns \(2 inputs, then 1 target\), got 2")
    path.write_text("a,b\n1,2,3\n")
    bad(path, "line 1: expected 3 columns .*got 2")  # the header is checked too
    np.save(tmp_path / "c.npy", np.zeros((4, 4)))
    bad(tmp_path / "c.npy", r"expected 3 columns \(2 inputs, then 1 target\), got 4")
    bad(tmp_path / "c.npy", r"expected 5 columns \(2 inputs, then 3 targets\), got 4", n_out=3)
    np.savez(tmp_path / "c.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    bad(tmp_path / "c.npz", "x has 3 columns, expected 2")
    np.savez(tmp_path / "c.npz", x=np.zeros((4, 2)), y=np.zeros((4, 2)))
    bad(tmp_path / "c.npz", r"y has shape \(4, 2\), expected \(n, 3\)", n_out=3)
    bad(tmp_path / "c.npz", r"y has shape \(4, 2\), expected \(n,\) or \(n, 1\)",
        n_out=3, labels=True)
    np.savez(tmp_path / "c.npz", x=np.zeros((4, 2)), y=np.zeros(4))
    bad(tmp_path / "c.npz", r"y has shape \(4,\), expected \(n, 2\)", n_out=2)
    np.savez(tmp_path / "c.npz", x=np.zeros(4), y=np.zeros(4))
    bad(tmp_path / "c.npz", r"x must be 2-D, got \(4,\)")


def test_npz_row_mismatch_and_missing_key(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, x=np.zeros((5, 2)), y=np.zeros(4))
    bad(path, "x has 5 rows but y has 4")
    np.savez(path, x=np.zeros((5, 2)), target=np.zeros(5))
    bad(path, "missing array 'y'")
    np.savez(path, inputs=np.zeros((5, 2)), y=np.zeros(5))
    bad(path, "missing array 'x'")


@pytest.mark.parametrize("array, dtype", [
    (np.array([["a", "b", "c"]]), "<U1"),
    (np.ones((2, 3), dtype=bool), "bool"),
    (np.ones((2, 3), dtype=complex), "complex128"),
])
def test_non_numeric_dtypes(tmp_path, array, dtype):
    np.save(tmp_path / "t.npy", array)
    bad(tmp_path / "t.npy", f"array has non-numeric dtype {dtype}")
    np.savez(tmp_path / "t.npz", x=np.zeros((1, 2)), y=array[:, 0])
    bad(tmp_path / "t.npz", f"y has non-numeric dtype {dtype}")


def test_non_numeric_csv_cell(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("a,b,c\n1,2,3\n4,five,6\n")
    bad(path, r"line 3, column 2: 'five' is not a number")
    path.write_text("1,2,3\n4,,6\n")
    bad(path, r"line 2, column 2: '' is not a number")


def test_nan_and_inf(tmp_path):
    x = np.zeros((5, 2))
    x[3, 1] = np.nan
    np.savez(tmp_path / "f.npz", x=x, y=np.zeros(5))
    bad(tmp_path / "f.npz", "x has nan at row 3, column 1")
    y = np.zeros(5)
    y[2] = -np.inf
    np.savez(tmp_path / "f.npz", x=np.zeros((5, 2)), y=y)
    bad(tmp_path / "f.npz", "y has -inf at row 2$")
    table = np.zeros((4, 3))
    table[1, 2] = np.inf
    np.save(tmp_path / "f.npy", table)
    bad(tmp_path / "f.npy", "array has inf at row 1, column 2")
    path = tmp_path / "f.csv"
    path.write_text("a,b,c\n1,2,3\n\n4,5,6\n7,nan,9\n")  # blank lines still count
    bad(path, r"line 5, column 2: 'nan' is not finite")
    path.write_text("1,2,-Infinity\n")
    bad(path, r"line 1, column 3: '-Infinity' is not finite")


def test_pickled_object_arrays_are_refused(tmp_path):
    objects = np.array([[1, "a", None]], dtype=object)
    np.save(tmp_path / "o.npy", objects, allow_pickle=True)
    bad(tmp_path / "o.npy", r"cannot load as \.npy: Object arrays cannot be loaded")
    np.savez(tmp_path / "o.npz", x=objects, y=np.zeros(1))
    bad(tmp_path / "o.npz", r"cannot load as \.npz: Object arrays cannot be loaded")


def test_corrupt_and_mislabelled_files(tmp_path):
    np.save(tmp_path / "good.npy", np.zeros((50, 3)))
    whole = (tmp_path / "good.npy").read_bytes()
    cases = {"garbage.npy": b"this is not numpy", "cut.npy": whole[:200],
             "header.npy": whole[:60], "garbage.npz": b"PK not a zip", "text.csv": b"\xff\xfe1,2"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        suffix = name.split(".")[1]
        bad(tmp_path / name, "not a UTF-8 CSV file" if suffix == "csv" else
            rf"cannot load as \.{suffix}: ")
    np.save(tmp_path / "one.npz", np.zeros((3, 3)))  # np.save keeps the name as given
    (tmp_path / "one.npz.npy").rename(tmp_path / "one.npz")
    bad(tmp_path / "one.npz", "holds one array, not an .npz archive")
    np.savez(tmp_path / "arch.npy", x=np.zeros((3, 2)), y=np.zeros(3))
    (tmp_path / "arch.npy.npz").rename(tmp_path / "arch.npy")
    bad(tmp_path / "arch.npy", "is an .npz archive, not one .npy array")
    path = tmp_path / "broken.npz"
    np.savez(path, x=np.zeros((30, 2)), y=np.zeros(30))
    raw = bytearray(path.read_bytes())
    raw[100:140] = bytes(40)  # damage the stored x
    path.write_bytes(bytes(raw))
    bad(path, r"cannot load as \.npz: .*CRC")


@pytest.mark.parametrize("value, where", [
    (1.5, "row 2: label 1.5 is not an integer class in 0..2"),
    (3.0, "row 2: label 3.0 is not an integer class in 0..2"),
    (-1.0, "row 2: label -1.0 is not"),
    (2.0000001, "row 2: label 2.0000001 is not"),  # printed exactly, not rounded to "2"
])
def test_bad_labels(tmp_path, value, where):
    y = np.array([0.0, 2.0, value, 1.0])
    np.savez(tmp_path / "l.npz", x=np.zeros((4, 2)), y=y)
    bad(tmp_path / "l.npz", where, n_out=3, labels=True)
    path = tmp_path / "l.csv"
    write_csv(path, np.hstack([np.zeros((4, 2)), y[:, None]]), header="a,b,class")
    bad(path, where.replace("row 2", "line 4"), n_out=3, labels=True)


def test_bad_synthetic_requests():
    with pytest.raises(DataError, match=r"^nope: unknown synthetic target; known: disk_bump, "
                                        r"disk_bump_shifted, exp_sin, polar5, rotated, "
                                        r"sin_sin, triangle$"):
        synthetic("nope", 10)
    for n in (0, -5, 2.5, True):
        with pytest.raises(DataError, match=r"^rotated: number of rows must be a positive"):
            synthetic("rotated", n)
    with pytest.raises(DataError, match=r"^polar5: is a regression target with n_in=5, "
                                        r"n_out=1; asked for n_in=2, n_out=1$"):
        load_data("polar5", 2, 1)
    with pytest.raises(DataError, match=r"n_in=2, n_out=1; asked for n_in=2, n_out=3$"):
        load_data("sin_sin", 2, 3)
    with pytest.raises(DataError, match=r"asked for n_in=2, n_out=1, labels$"):
        load_data("exp_sin", 2, 1, labels=True)
    with pytest.raises(DataError, match="number of rows must be a positive integer, got 0"):
        load_data("exp_sin", 2, 1, n=0)


def test_row_count_is_for_synthetic_targets_only(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((4, 3)))
    bad(tmp_path / "d.npy", "applies only to synthetic targets", n=2)
