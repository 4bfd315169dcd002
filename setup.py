"""Builds the procslink Python package by running the project's CMake build (python/)."""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self):
        super().__init__("procslink._core", sources=[])


class CMakeBuild(build_ext):
    """Configures and builds with CMake, then installs the package into the wheel's tree."""

    def build_extension(self, ext):
        package_root = Path(self.get_ext_fullpath(ext.name)).resolve().parent.parent
        build = Path(self.build_temp).resolve() / "cmake"
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        "-DPython3_EXECUTABLE=" + sys.executable, "-DPROCSLINK_PYTHON=ON",
                        "-DPROCSLINK_BUILD_TESTS=OFF", "-DPROCSLINK_BUILD_BENCH=OFF",
                        "-DPROCSLINK_PYTHON_INSTALL_DIR=" + str(package_root)], check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "procslink_python", "-j",
                        str(os.cpu_count() or 1)], check=True)
        subprocess.run(["cmake", "--install", str(build), "--component", "python"], check=True)


setup(packages=[], ext_modules=[CMakeExtension()], cmdclass={"build_ext": CMakeBuild},
      zip_safe=False)
