#!/usr/bin/env bash
# Builds the zap and logrus adapters as someone outside this repository gets
# them: from a temporary module whose go.mod is the only one with a replace
# (the adapters' own `replace ../` applies only inside this repository).
#
# Checks, each failing the run:
#   - every adapter requires the core module at a release version vX.Y.Z
#     (a tag sdk/go/vX.Y.Z can name it; a pseudo-version cannot be fetched);
#   - every module's go directive is a language version (1.N), not a patch
#     release that would make users download a toolchain;
#   - the temporary module, replacing the core at exactly that version (so
#     any other requirement of it would fail to resolve), tidies without
#     raising its go directive, builds and vets.
# Run from anywhere; `make test-sdk-go` runs it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core=github.com/logflux/agent/sdk/go
export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod

fail() { echo "build-outside: $*" >&2; exit 1; }

gover=$(cd "$here" && go list -m -f '{{.GoVersion}}')
corever=""
for dir in "$here" "$here/zapadapter" "$here/logrusadapter"; do
	v=$(cd "$dir" && go list -m -f '{{.GoVersion}}')
	[[ "$v" =~ ^1\.[0-9]+(\.0)?$ ]] || fail "$dir/go.mod says go $v: use the language version (go 1.N) the code needs, not a patch release"
	[ "$v" = "$gover" ] || fail "$dir/go.mod says go $v, the core says go $gover: keep them equal (an adapter cannot need less than the core)"
	[ "$dir" = "$here" ] && continue
	req=$(cd "$dir" && go list -m -f '{{.Version}}' "$core")
	[[ "$req" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$dir/go.mod requires $core $req: require a release version vX.Y.Z (tag sdk/go/vX.Y.Z)"
	[ -z "$corever" ] || [ "$corever" = "$req" ] || fail "the adapters require different core versions ($corever and $req)"
	corever=$req
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/logflux-sdk-outside.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/go.mod" <<MOD
module example.com/outside

go $gover

require (
	$core/zapadapter v0.1.0
	$core/logrusadapter v0.1.0
)

// Only here: the core at exactly the version the adapters name, and the
// adapters at the version this test calls them.
replace (
	$core $corever => $here
	$core/zapadapter v0.1.0 => $here/zapadapter
	$core/logrusadapter v0.1.0 => $here/logrusadapter
)
MOD
cat >"$tmp/main.go" <<'GO'
// Command outside uses both adapters as a program outside the repository would.
package main

import (
	"context"

	logflux "github.com/logflux/agent/sdk/go"
	"github.com/logflux/agent/sdk/go/logrusadapter"
	"github.com/logflux/agent/sdk/go/zapadapter"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
)

func main() {
	client, err := logflux.New(logflux.Config{})
	if err != nil {
		panic(err)
	}
	defer client.Close(context.Background())
	zap.New(zapadapter.NewCore(client, zap.InfoLevel)).Info("from zap")
	logrus.AddHook(logrusadapter.NewHook(client))
	logrus.Info("from logrus")
}
GO
cd "$tmp"
go mod tidy
now=$(go list -m -f '{{.GoVersion}}')
[ "$now" = "$gover" ] || fail "a dependency raised the outside module's go directive from $gover to $now"
go build ./...
go vet ./...
echo "build-outside: the adapters build outside the repository against $core $corever with go $gover"
