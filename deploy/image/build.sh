#!/usr/bin/env bash
# Builds the Suilong image (deploy/Dockerfile) with podman, from nothing pulled.
#
#   deploy/image/build.sh [IMAGE]      default IMAGE: $SUILONG_IMAGE, else localhost/suilong:latest
#
# No registry is needed: the build stage runs in a builder image made here, once per Go version and set of modules, from
#   - the host's Go toolchain (go env GOROOT; a static toolchain, so no libc is needed),
#   - Debian's busybox-static (a shell and coreutils for the Dockerfile's RUN lines),
#   - the host's CA certificates (copied into the final image),
#   - a module cache holding exactly the modules ./cmd/suilong builds from, filled from the host's module cache
#     (GOPROXY=file://...) and, for what it lacks, the Go module proxy.
# The builder is localhost/suilong-builder:GOVERSION-HASH; the final image is FROM scratch.
# As root, missing packages (podman, busybox-static) are installed with apt-get. The last line printed on stdout
# is the image name; progress goes to stderr, the build's own output to var/log/image-build.log.
set -euo pipefail
SL_PROG=image
# shellcheck source=../local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"
cd "$SL_ROOT"
mkdir -p "$SL_LOG" "$SL_VAR/image"

IMAGE=${1:-${SUILONG_IMAGE:-localhost/suilong:latest}}
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
BUILD_LOG=$SL_LOG/image-build.log

need_pkg() { # need_pkg COMMAND PACKAGE
	have "$1" && return 0
	is_root || die "$1 is missing; install it with: sudo apt-get install -y $2"
	apt_install "$2" || die "could not install Debian's $2 (see var/log/apt.log)"
}
need_pkg podman podman
[ -x /bin/busybox ] || need_pkg busybox busybox-static
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || die "/bin/busybox is not statically linked; install Debian's busybox-static"
have go || die "Go is needed: the builder image is made from the host's toolchain"

goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
file_is_static "$goroot/bin/go" || die "$goroot/bin/go is not statically linked; the builder image has no libc for it"
# The builder holds the modules the binary imports: a new import of a module already in go.sum needs a new one.
sum=$({ cat go.mod go.sum; GOFLAGS= go list -deps -f '{{with .Module}}{{.Path}}@{{.Version}}{{end}}' ./cmd/suilong | sort -u; } |
	sha256sum | cut -c1-12)
BUILDER=localhost/suilong-builder:$gover-$sum

make_builder() {
	local work=$SL_VAR/image/builder
	say "making the builder image $BUILDER (once per Go version and set of modules; about a minute)"
	[ -d "$work" ] && chmod -R u+w "$work" && rm -rf "$work"
	local root=$work/rootfs
	mkdir -p "$root"/{bin,etc/ssl/certs,tmp,root,src,usr/local,go/pkg/mod}
	chmod 1777 "$root/tmp"
	local g
	g=$(basename "$goroot")
	tar -C "$(dirname "$goroot")" --anchored --exclude="$g/test" --exclude="$g/doc" --exclude="$g/misc" \
		--exclude="$g/api" -cf - "$g" | tar -C "$root/usr/local" -xf -
	[ "$g" = go ] || mv "$root/usr/local/$g" "$root/usr/local/go"
	cp /bin/busybox "$root/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" ||
		die "no /etc/ssl/certs/ca-certificates.crt; install Debian's ca-certificates"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	# Exactly what ./cmd/suilong needs: go list -deps loads its module graph (every go.mod) and the sources of
	# its packages. The host's cache first, the module proxy for anything it lacks.
	local hostcache
	hostcache=$(go env GOMODCACHE)/cache/download
	CGO_ENABLED=0 GOMODCACHE=$root/go/pkg/mod GOFLAGS= GOPROXY="file://$hostcache,$(go env GOPROXY)" \
		go list -deps ./cmd/suilong >/dev/null 2>>"$BUILD_LOG" ||
		die "could not fill the builder's module cache (see $BUILD_LOG)"
	tar -C "$root" -cf - . | podman import \
		--change 'ENV PATH=/usr/local/go/bin:/bin' --change 'ENV HOME=/root' \
		--change 'ENV GOPATH=/go' --change 'ENV GOMODCACHE=/go/pkg/mod' \
		--change 'ENV GOPROXY=off' --change 'ENV GOSUMDB=off' --change 'ENV GOTOOLCHAIN=local' \
		--change 'ENV GOFLAGS=-mod=readonly' --change 'WORKDIR /src' --change 'CMD ["/bin/sh"]' \
		- "$BUILDER" >>"$BUILD_LOG" 2>&1 || die "podman import of the builder failed (see $BUILD_LOG)"
	chmod -R u+w "$work" && rm -rf "$work"
	# Older builders of this checkout (another Go version or set of modules) are of no further use.
	local old
	for old in $(podman images --format '{{.Repository}}:{{.Tag}}' localhost/suilong-builder 2>/dev/null); do
		[ "$old" = "$BUILDER" ] || podman rmi "$old" >>"$BUILD_LOG" 2>&1 || true
	done
}

: >"$BUILD_LOG"
podman image exists "$BUILDER" || make_builder

prev=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
say "building $IMAGE (version $VERSION; log: ${BUILD_LOG#"$SL_ROOT"/})"
# --layers=false: no intermediate images pile up (the compile cache mount is what makes a rebuild fast).
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it). --isolation chroot runs the RUN
# lines without an OCI runtime, so the build works where containers cannot be started (no cgroup delegation).
if ! podman build --pull=never --format docker --isolation chroot --layers=false \
	--build-arg BUILDER="$BUILDER" --build-arg VERSION="$VERSION" \
	-f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore -t "$IMAGE" . >>"$BUILD_LOG" 2>&1; then
	tail -n 30 "$BUILD_LOG" >&2
	die "podman build failed (see $BUILD_LOG)"
fi
now=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# The image this tag named before is now untagged: remove it, and only it.
if [ -n "$prev" ] && [ "$prev" != "$now" ] && [ -z "$(podman image inspect --format '{{join .RepoTags ","}}' "$prev" 2>/dev/null)" ]; then
	podman rmi "$prev" >>"$BUILD_LOG" 2>&1 || true
fi
say "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}'))"
echo "$IMAGE"
