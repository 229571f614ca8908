#!/bin/sh
# Builds a minimal agent image for the e2e tests from host files (sh,
# coreutils, curl and the libraries ldd lists, CA roots) with docker import,
# for machines where scripts/setup has not built moat-agent:latest.
# usage: mkimage.sh TAG
set -eu
tag=${1:?usage: mkimage.sh TAG}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" \
    "$root/dev" "$root/workspace" "$root/root" "$root/etc/ssl"
chmod 1777 "$root/tmp"
copy() {
	for f in "$@"; do
		p=$(which "$f")
		cp -L "$p" "$root/bin/$(basename "$p")"
		ldd "$p" 2>/dev/null | awk '/=>/ { print $3 } /^\t\// { print $1 }' |
		while read -r lib; do
			[ -n "$lib" ] || continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}
copy sh env cat true false sleep id ls tr sha256sum head grep curl touch \
    rm mkdir stat tail wc sed
cp -RL /etc/ssl/certs "$root/etc/ssl/certs"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' \
    -c 'CMD ["/bin/sh"]' - "$tag" >/dev/null
echo "$tag"
