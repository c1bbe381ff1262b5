#!/usr/bin/env bash
# Publishes the silo or the gateway into a folder: the one build step of the Dockerfiles, and what CI runs
# to keep them honest.   deploy/publish.sh silo|gateway OUTPUT_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  silo) project="$root/src/Silo" ;;
  gateway) project="$root/src/Api" ;;
  *) echo "usage: $0 silo|gateway OUTPUT_DIR" >&2; exit 2 ;;
esac
dotnet publish "$project" -c Release -o "${2:?output directory}" -nologo -v quiet
