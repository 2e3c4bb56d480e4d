"""Only the optional C reader for flat Avro records (fabtel/_avro_flat.c);
everything else is in pyproject.toml. Without a C compiler the build goes on
and fabtel uses its pure-Python reader."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("fabtel._avro_flat", ["fabtel/_avro_flat.c"], optional=True)])
