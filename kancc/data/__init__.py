"""kancc.data: training and evaluation data, checked on load.

Files (.npz, .npy, .csv) and built-in synthetic targets become a read-only ``Dataset``;
every bad input is one ``DataError`` naming the file and the row and column.
"""

from .data_files import from_arrays, load_data
from .dataset import Dataset
from .synthetic import SYNTHETIC, SyntheticTarget, disk_bump, disk_bump_shifted, synthetic

__all__ = ["Dataset", "SYNTHETIC", "SyntheticTarget", "disk_bump", "disk_bump_shifted",
           "from_arrays", "load_data", "synthetic"]
