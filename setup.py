"""Only the optional compiled parts; everything else is in pyproject.toml.
- fabtel._avro_flat (C): the reader for flat Avro records;
- fabtel._native (Rust, PyO3): the sFlow, gNMI and BMP hot paths (fabtel/rust).
Each is optional: without a C compiler or cargo the build goes on and fabtel
runs the Python code they mirror (and says so once)."""
from setuptools import Extension, setup
from setuptools_rust import Binding, RustExtension

setup(ext_modules=[Extension("fabtel._avro_flat", ["fabtel/_avro_flat.c"], optional=True)],
      # release even for `pip install -e`: a debug build is ten times slower than the Python it replaces
      rust_extensions=[RustExtension("fabtel._native", "fabtel/rust/Cargo.toml", binding=Binding.PyO3,
                                     optional=True, debug=False)])
