#!/usr/bin/env bash
# Run before Alertmanager starts: writes the config Alertmanager should use and refuses to pass a
# secret file that is missing or empty. `amtool check-config` accepts an empty webhook file, and
# Alertmanager only notices when a notification fails, hours later, when it matters.
#
# usage: ./alertmanager-preflight.sh [CONFIG]        (CONFIG: alertmanager.yml beside this script)
#
#   ALERTMANAGER_SECRETS_DIR  where the secret files are (default /etc/alertmanager/secrets, as
#                             written in the config; another directory replaces it in the copy)
#   ALERTMANAGER_CONFIG_OUT   the copy to start Alertmanager with
#                             (default ./alertmanager.effective.yml, in the current directory)
#
# Exit status 0: the copy is written, every `*_file` it names holds a value, and amtool accepts
# it (when amtool is installed). 1: something is wrong; each problem is printed on stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${1:-$here/alertmanager.yml}
default_dir=/etc/alertmanager/secrets
secrets_dir=${ALERTMANAGER_SECRETS_DIR:-$default_dir}
out=${ALERTMANAGER_CONFIG_OUT:-alertmanager.effective.yml}

if [ ! -r "$config" ]; then
  echo "alertmanager-preflight: cannot read the config $config" >&2
  exit 1
fi
secrets_dir=${secrets_dir%/}
# `|` cannot appear in the directory: it is sed's delimiter below.
case $secrets_dir in
  *'|'*) echo "alertmanager-preflight: ALERTMANAGER_SECRETS_DIR must not contain '|'" >&2; exit 1 ;;
esac
sed "s|$default_dir/|$secrets_dir/|g" "$config" >"$out"

problems=0
# Every `<key>_file: <path>` setting (smtp_auth_password_file, api_url_file, ...).
while IFS= read -r line; do
  key=${line%%:*}
  key=$(echo "$key" | tr -d ' -')
  path=$(echo "${line#*:}" | sed -E "s/^[[:space:]]*['\"]?//; s/['\"]?[[:space:]]*(#.*)?$//")
  if [ ! -e "$path" ]; then
    echo "alertmanager-preflight: $key: $path is missing (create it, or set ALERTMANAGER_SECRETS_DIR)" >&2
    problems=$((problems + 1))
  elif [ ! -r "$path" ]; then
    echo "alertmanager-preflight: $key: $path is not readable by $(id -un)" >&2
    problems=$((problems + 1))
  elif ! grep -q '[^[:space:]]' "$path"; then
    echo "alertmanager-preflight: $key: $path is empty; write the secret into it" >&2
    problems=$((problems + 1))
  elif [ "$key" = api_url_file ] && ! grep -Eq '^[[:space:]]*https?://' "$path"; then
    echo "alertmanager-preflight: $key: $path does not hold an http(s) URL" >&2
    problems=$((problems + 1))
  fi
done < <(grep -E '^[[:space:]-]*[a-z_]+_file:' "$out")

if [ "$problems" -gt 0 ]; then
  echo "alertmanager-preflight: $problems problem(s); Alertmanager would fail to notify" >&2
  exit 1
fi
if command -v amtool >/dev/null 2>&1; then
  amtool check-config "$out" >/dev/null || {
    amtool check-config "$out" >&2 || true
    exit 1
  }
fi
echo "alertmanager-preflight: OK: start Alertmanager with --config.file=$out"
