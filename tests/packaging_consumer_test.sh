#!/usr/bin/env bash
# ctest packaging.out_of_tree_consumer (label unit): cowtree as a library, three ways.
#   1. cmake --install <build dir> --prefix $tmp/prefix, then examples/ configured and built as a
#      standalone project against it (find_package(cowtree CONFIG)); every example runs with a
#      fresh store dir and must exit 0.
#   2. A one-file consumer compiled with `c++ $(pkg-config --cflags --libs cowtree)`.
#   3. A CMake project doing add_subdirectory(<repo> cowtree) + cowtree::cowtree (only the
#      library targets it needs are built, tests/benchmarks are off there).
#   1b. (always) a one-file find_package(cowtree CONFIG) project, so that the package is checked
#      even before examples/ has programs.
# The consumer program of 1b, 2 and 3 opens (creates) a store in a temp dir and exits 0 only if
# that and Close succeeded; it uses the public API (cowtree/cowtree.h, Store::Open) when
# include/cowtree/cowtree.h exists, else the layer header recovery/open.h (recovery::Open).
# Usage: packaging_consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cowtree-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
jobs=-j2
step() { echo "== packaging: $*"; }

step "install $build_dir -> $tmp/prefix"
# The CLI and libraries must be current (ctest does not build): only the installed targets.
cmake --build "$build_dir" $jobs --target cowtree cowtree_persistence cowtree_tree \
  cowtree_recovery cowtree_tools $(cmake --build "$build_dir" --target help 2>/dev/null |
                                   grep -q '^cowtree_api:' && echo cowtree_api) >/dev/null
cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
for f in lib/cmake/cowtree/cowtreeConfig.cmake lib/cmake/cowtree/cowtreeConfigVersion.cmake \
         lib/pkgconfig/cowtree.pc bin/cowtree include/cowtree/internal/recovery/open.h \
         lib/libcowtree_persistence.a lib/libcowtree_tree.a lib/libcowtree_recovery.a; do
  [ -e "$tmp/prefix/$f" ] || { echo "FAIL: install tree lacks $f"; exit 1; }
done
"$tmp/prefix/bin/cowtree" --help >/dev/null

# ---- the consumer program for 1b, 2 and 3 ----
mkdir -p "$tmp/consumer"
if [ -f "$src_dir/include/cowtree/cowtree.h" ]; then
  # The public API (include/cowtree/, cowtree_api): what cowtree::cowtree stands for.
  consumer_api="public API: cowtree/cowtree.h, cowtree::Store::Open"
  cat > "$tmp/consumer/main.cc" <<'CC'
#include "cowtree/cowtree.h"

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  cowtree::Options options;
  options.create_if_missing = true;
  auto store = cowtree::Store::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", argv[1], store.status().ToString().c_str());
    return 1;
  }
  cowtree::Status st = (*store)->Close();
  if (!st.ok()) {
    std::fprintf(stderr, "close: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("opened and closed %s (public API)\n", argv[1]);
  return 0;
}
CC
else
  consumer_api="layer headers: recovery/open.h, recovery::Open (no include/cowtree/cowtree.h yet)"
  cat > "$tmp/consumer/main.cc" <<'CC'
#include <cstdio>

#include "recovery/open.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  cowtree::RuntimeOptions options;
  options.create_if_missing = true;
  auto rt = cowtree::recovery::Open(argv[1], options);
  if (!rt.ok()) {
    std::fprintf(stderr, "open %s: %s\n", argv[1], rt.status().ToString().c_str());
    return 1;
  }
  cowtree::Status st = (*rt)->Close();
  if (!st.ok()) {
    std::fprintf(stderr, "close: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("opened and closed %s (layer headers)\n", argv[1]);
  return 0;
}
CC
fi
step "consumer program for 1b/2/3 uses the $consumer_api"
if [ -f "$src_dir/include/cowtree/cowtree.h" ]; then
  for f in include/cowtree/cowtree.h lib/libcowtree_api.a; do
    [ -e "$tmp/prefix/$f" ] || { echo "FAIL: install tree lacks $f"; exit 1; }
  done
fi

# ---- 1. examples/ against the installed package ----
shopt -s nullglob
examples=("$src_dir"/examples/*.cc)
if [ ${#examples[@]} -eq 0 ]; then
  step "examples/*.cc: none on this branch; building the package consumers only"
else
  step "examples/: configure + build against the installed package"
  cmake -S "$src_dir/examples" -B "$tmp/build-examples" -G Ninja \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$tmp/build-examples" $jobs >/dev/null
  for src in "${examples[@]}"; do
    name=$(basename "$src" .cc)
    step "run example $name"
    "$tmp/build-examples/$name" "$tmp/store-$name" ||
      { echo "FAIL: example $name exited $?"; exit 1; }
  done
fi

# ---- 1b. find_package() from a temp project (also when examples/ has no programs yet) ----
step "find_package(cowtree CONFIG) consumer: configure + build + run"
mkdir -p "$tmp/findpkg"
cat > "$tmp/findpkg/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(cowtree_findpkg_consumer CXX)
find_package(cowtree 0.1 CONFIG REQUIRED)
add_executable(findpkg_consumer "$tmp/consumer/main.cc")
target_link_libraries(findpkg_consumer PRIVATE cowtree::cowtree)
CM
cmake -S "$tmp/findpkg" -B "$tmp/build-findpkg" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build-findpkg" $jobs >/dev/null
"$tmp/build-findpkg/findpkg_consumer" "$tmp/store-findpkg"

# ---- 2. pkg-config ----
step "pkg-config consumer: c++ \$(pkg-config --cflags --libs cowtree)"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2046
c++ -O1 "$tmp/consumer/main.cc" -o "$tmp/consumer/pc_consumer" $(pkg-config --cflags --libs cowtree)
step "run pkg-config consumer"
"$tmp/consumer/pc_consumer" "$tmp/store-pc"

# ---- 3. add_subdirectory() ----
step "add_subdirectory() consumer: configure + build (library targets only)"
mkdir -p "$tmp/subdir"
cat > "$tmp/subdir/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(cowtree_subdir_consumer CXX)
add_subdirectory("$src_dir" cowtree)
add_executable(subdir_consumer "$tmp/consumer/main.cc")
target_link_libraries(subdir_consumer PRIVATE cowtree::cowtree)
foreach(t COWTREE_TESTS COWTREE_BENCHMARKS COWTREE_INSTALL)
  if(\${t})
    message(FATAL_ERROR "\${t} is ON in a project that only add_subdirectory()s cowtree")
  endif()
endforeach()
CM
# -O0 without -g: this checks the build wiring, not the code (which the suites test).
cmake -S "$tmp/subdir" -B "$tmp/build-subdir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-O0 >/dev/null
cmake --build "$tmp/build-subdir" $jobs --target subdir_consumer >/dev/null
step "run add_subdirectory() consumer"
"$tmp/build-subdir/subdir_consumer" "$tmp/store-subdir"

step "OK: install tree, ${#examples[@]} example(s), find_package() consumer, pkg-config consumer, add_subdirectory() consumer"
