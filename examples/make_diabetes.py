"""Write scikit-learn's diabetes data set as the CSV files examples/diabetes.toml trains on.

    python examples/make_diabetes.py     # needs scikit-learn (pip install scikit-learn)

The split is the one the README reports against: train_test_split(test_size=0.2,
random_state=0), 353 training rows and 89 test rows. Columns: the 10 features (age, sex,
bmi, bp, s1..s6, as scikit-learn scales them), then the target (disease progression after
one year). The test file is for ``kancc eval`` only: the spec never sees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

HERE = Path(__file__).parent


def main() -> None:
    data = load_diabetes()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2,
                                                        random_state=0)
    header = ",".join([*data.feature_names, "target"])
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        path = HERE / f"diabetes_{name}.csv"
        np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="",
                   fmt="%.17g")
        print(f"wrote {path}: {len(y)} rows")


if __name__ == "__main__":
    main()
