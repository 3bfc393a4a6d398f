#!/usr/bin/env bash
# The two commands of the README; each sets up everything it needs first.
#
#   bash tasks.sh demo [ARGS...]   set up, then run the main job: .venv/bin/l2m-sim demo ARGS
#   bash tasks.sh test [ARGS...]   set up, then run the test suite: .venv/bin/python -m pytest ARGS
#
# Set-up (only Python 3.11 and pip needed): create .venv if missing, install torch first
# with an exact pin (resolves to the CPU wheel; an unpinned torch can pull a multi-GB CUDA
# build), then this package with its dev extra in editable mode. A stamp file in .venv
# keyed on pyproject.toml and the torch pin skips the install when nothing changed.
set -euo pipefail

TORCH_PIN="torch==2.13.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.l2m-sim-installed"

say() { printf '[tasks.sh] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

usage() {
    cat >&2 <<'EOF'
usage: bash tasks.sh COMMAND [ARGS...]

commands:
  demo [ARGS...]   set up .venv if needed, then run `l2m-sim demo ARGS`
                   (tables on stdout; results/demo.nc, demo.png, demo_families.nc,
                   demo_families_exact_mi.png)
  test [ARGS...]   set up .venv if needed, then run `python -m pytest ARGS`
EOF
}

find_python() {
    local cand
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

install_key() {
    # The install depends on pyproject.toml (dependencies, entry points) and the torch pin.
    "$VENV/bin/python" - "$ROOT/pyproject.toml" "$TORCH_PIN" <<'EOF'
import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(sys.argv[2].encode())
print(h.hexdigest())
EOF
}

setup() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        local py
        py="$(find_python)" || die "Python >= 3.11 not found (tried python3.11, python3)"
        say "creating virtual environment .venv with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$VENV" || die "could not create .venv (is the venv module installed?)"
    fi
    local key
    key="$(install_key)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$key" ]]; then
        return 0
    fi
    rm -f "$STAMP"
    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
    # pip's progress goes to stderr so that stdout carries only the task's own output.
    say "installing $TORCH_PIN (CPU build) into .venv"
    "${pip[@]}" install "$TORCH_PIN" >&2
    say "installing l2m-sim with its dev extra (editable) into .venv"
    "${pip[@]}" install -e "$ROOT[dev]" >&2
    echo "$key" >"$STAMP"
    say "set-up done"
}

main() {
    if [[ $# -lt 1 ]]; then
        usage
        exit 2
    fi
    local cmd="$1"
    shift
    case "$cmd" in
        demo)
            cd "$ROOT"
            setup
            exec "$VENV/bin/l2m-sim" demo "$@"
            ;;
        test)
            cd "$ROOT"
            setup
            exec "$VENV/bin/python" -m pytest "$@"
            ;;
        -h | --help | help)
            usage
            ;;
        *)
            say "unknown command: $cmd"
            usage
            exit 2
            ;;
    esac
}

main "$@"
