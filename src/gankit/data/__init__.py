"""The data axis: point and image sources behind one `DataSource` contract (see docs/architecture.md).

Importing this package registers every source: gaussian1d, grid25, ring8 (toy.py), digits, folder
(images.py), mnist, fashion-mnist (mnist.py), stacked-mnist (stacked.py), each with the traits its
evaluation needs (`DataTraits`, `data_traits(name)`).
"""

from gankit.data import images, mnist, stacked, toy  # noqa: F401  (importing registers the factories)
from gankit.data.base import DATA, DataSource, DataTraits, build_data, data_traits

__all__ = ["DATA", "DataSource", "DataTraits", "build_data", "data_traits"]
