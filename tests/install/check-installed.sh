#!/bin/sh
# The installed tree works on its own: `meson install` into a scratch
# DESTDIR, then the installed wabot-server runs without LD_LIBRARY_PATH
# (its RUNPATH finds the installed libwabot), and an outside C program
# builds against the installed headers and wabot.pc and runs.
#   check-installed.sh BUILD_DIR
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
root=$tmp$prefix
unset LD_LIBRARY_PATH
out=$("$root/bin/wabot-server" --version)
case $out in
  "wabot-server (libwabot "*) echo "ok: installed wabot-server runs: $out" ;;
  *) echo "FAIL: installed wabot-server printed: $out"; exit 1 ;;
esac
# The man pages: one per exported symbol, readable with man -l.
mandir=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="mandir"))')
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
exported=$(grep -c '^ *wabot_[a-z0-9_]*;' "$(dirname "$0")/../../lib/libwabot.sym")
pages=$(ls "$tmp$mandir/man3" | grep -c '^wabot_.*\.3$' || true)
[ "$pages" -eq "$exported" ] || {
    echo "FAIL: $pages man pages installed for $exported exported symbols"; exit 1; }
if command -v man >/dev/null 2>&1; then
    (cd "$tmp$mandir" && MANWIDTH=80 man -l man3/wabot_storage_set.3) 2>&1 |
        grep -q 'wabot_storage_set' || {
        echo "FAIL: man -l cannot read the installed wabot_storage_set(3)"; exit 1; }
fi
echo "ok: $pages man pages installed under $mandir/man3"
datadir=$(meson introspect "$build" --buildoptions |
          python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="datadir"))')
case $datadir in /*) ;; *) datadir=$prefix/$datadir ;; esac
for f in README.md LICENSE CHANGELOG.md reference.md abi.md; do
    [ -f "$tmp$datadir/doc/libwabot/$f" ] || {
        echo "FAIL: $datadir/doc/libwabot/$f is not installed"; exit 1; }
done
echo "ok: the documentation is installed under $datadir/doc/libwabot"

# An outside consumer through pkg-config (the .pc names the real prefix:
# point pkg-config at the scratch tree with its sysroot option).
cat > "$tmp/consumer.c" <<'C'
#include <stdio.h>
#include <wabot.h>
int main(void)
{
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, NULL) != WABOT_OK)
        return 1;
    printf("%s\n", wabot_version_str());
    wabot_ctx_free(ctx);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$tmp"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" "$tmp/consumer.c" \
   $(pkg-config --cflags --libs wabot)
LD_LIBRARY_PATH="$tmp$libdir" "$tmp/consumer" >/dev/null
echo "ok: an outside program builds with pkg-config and runs"
# Consumers get the include directory and nothing of the library's own
# build (no hiredis include path, no -D of a dependency).
cflags=$(pkg-config --cflags wabot)
case " $cflags " in
  *hiredis*|*" -D"*) echo "FAIL: wabot.pc leaks private flags: $cflags"; exit 1 ;;
esac

# The static archive (-Ddefault_library=both): the same consumer links
# libwabot.a with `pkg-config --static` and runs without libwabot.so.
if [ -f "$tmp$libdir/libwabot.a" ]; then
    # pkg-config names -lwabot, which the linker resolves to the .so when
    # both are there: name the archive instead.
    libs=$(pkg-config --static --libs wabot |
           sed "s#-lwabot\( \|\$\)#$tmp$libdir/libwabot.a #")
    # shellcheck disable=SC2086
    cc -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer-static" \
       "$tmp/consumer.c" $(pkg-config --static --cflags wabot) $libs
    if readelf -d "$tmp/consumer-static" | grep -q 'NEEDED.*libwabot'; then
        echo "FAIL: the static consumer still needs libwabot.so"; exit 1
    fi
    "$tmp/consumer-static" >/dev/null
    echo "ok: an outside program links libwabot.a with pkg-config --static and runs"
elif [ "${CI:-}" = "true" ]; then
    echo "FAIL: no libwabot.a installed (CI builds with default_library=both)"; exit 1
fi

# An outside CMake project: find_package(wabot) and wabot::wabot, from
# the scratch tree (CMAKE_PREFIX_PATH), C and C++ (the C++ wrapper).
if command -v cmake >/dev/null 2>&1; then
    mkdir -p "$tmp/cm"
    cp "$tmp/consumer.c" "$tmp/cm/consumer.c"
    cat > "$tmp/cm/consumer.cpp" <<'CPP'
#include <wabot.hpp>
#include <cstdio>
int main()
{
    std::printf("%s\n", wabot_version_str());
    return 0;
}
CPP
    cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(wabot_consumer C CXX)
find_package(wabot 0.2 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE wabot::wabot)
add_executable(consumer_cpp consumer.cpp)
set_target_properties(consumer_cpp PROPERTIES CXX_STANDARD 17)
target_link_libraries(consumer_cpp PRIVATE wabot::wabot)
if(TARGET wabot::wabot_static)
  add_executable(consumer_static consumer.c)
  target_link_libraries(consumer_static PRIVATE wabot::wabot_static)
endif()
CM
    cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$root" \
        > "$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cm/build" >> "$tmp/cmake.log" 2>&1 || {
        echo "FAIL: CMake consumer:"; cat "$tmp/cmake.log"; exit 1; }
    "$tmp/cm/build/consumer" >/dev/null
    "$tmp/cm/build/consumer_cpp" >/dev/null
    if [ -f "$tmp$libdir/libwabot.a" ]; then
        [ -x "$tmp/cm/build/consumer_static" ] || {
            echo "FAIL: CMake: no wabot::wabot_static beside libwabot.a"; exit 1; }
        if readelf -d "$tmp/cm/build/consumer_static" | grep -q 'NEEDED.*libwabot'; then
            echo "FAIL: CMake: wabot::wabot_static links libwabot.so"; exit 1
        fi
        "$tmp/cm/build/consumer_static" >/dev/null
        echo "ok: an outside CMake project links wabot::wabot_static and runs"
    fi
    echo "ok: an outside CMake project finds wabot::wabot (C and C++) and runs"
elif [ "${CI:-}" = "true" ]; then
    echo "FAIL: cmake is missing (CI)"; exit 1
fi
