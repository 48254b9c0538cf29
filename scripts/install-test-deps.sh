#!/usr/bin/env bash
# Installs the system programs the tests use besides npm packages: Chromium (the browser
# test drives it with playwright-core), openssl (the TLS test makes a certificate),
# PostgreSQL's server programs (the tests start a throwaway server of their own) and h2load
# (nghttp2-client: npm run bench drives servers with it, and CI runs its smoke), and gRPC's C
# core for Python with protoc and its Python plugin (the interop test calls the server from a
# client nobody here wrote: python3-grpcio, python3-protobuf, protobuf-compiler,
# protobuf-compiler-grpc).
# A no-op when all are present; installs them with apt-get when run as root.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 ||
  missing+=(postgresql)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
/usr/bin/python3 -c "import grpc" >/dev/null 2>&1 || missing+=(python3-grpcio)
/usr/bin/python3 -c "import google.protobuf" >/dev/null 2>&1 || missing+=(python3-protobuf)
[ -x /usr/bin/protoc ] || missing+=(protobuf-compiler)
[ -x /usr/bin/grpc_python_plugin ] || missing+=(protobuf-compiler-grpc)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need: ${missing[*]}. Install them (Debian: apt-get install ${missing[*]}) and run npm test again." >&2
  exit 1
fi
echo "Installing ${missing[*]} for the tests…" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
