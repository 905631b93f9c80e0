# Sourced by the scripts in tools/ after their options are read: sets $root (the repository)
# and $pais (the release build, unless --pais already set it) and stops if it is not built.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pais=${pais:-$root/.build/release/pais}
[[ -x "$pais" ]] || { echo "error: $pais not built (swift build -c release --product pais)" >&2; exit 1; }
