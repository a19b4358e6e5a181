#!/bin/sh
# weir installer, shipped at the top of every release tarball:
#
#   sudo ./install.sh              install or upgrade to this release, (re)start weir
#   sudo ./install.sh --rollback   switch back to the previous release, restart weir
#
# Options:
#   --root DIR   install under DIR instead of / (tests, image builds): no user is
#                created, nothing is chowned, systemctl is not called
#   --no-start   install, enable, but do not (re)start the service
#   --force      roll back even to a release with an older state schema
#
# Layout: /opt/weir/releases/VERSION (this release and the previous one are
# kept; older ones are removed), /opt/weir/current and /opt/weir/previous
# (symlinks), /usr/local/bin/weir, /etc/weir (config: written only when absent,
# never overwritten; each release's defaults land beside it as *.dist),
# /var/lib/weir (state: created if missing, its contents never touched),
# /etc/systemd/system/weir.service, weir-health.service, weir-health.timer.
# Running it twice changes nothing the second time.
set -eu

say() { printf 'weir install: %s\n' "$*"; }
die() { printf 'weir install: error: %s\n' "$*" >&2; exit 1; }

ROOT=
ROLLBACK=0
START=1
FORCE=0
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --rollback) ROLLBACK=1; shift ;;
    --no-start) START=0; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
fi

PKG=$(cd "$(dirname "$0")" && pwd)
OPT=$ROOT/opt/weir
ETC=$ROOT/etc/weir
STATE=$ROOT/var/lib/weir
UNITS=$ROOT/etc/systemd/system
BINDIR=$ROOT/usr/local/bin
SERVICE_USER=weir

# systemd and ownership only on the real root.
SYSTEMD=0
OWNERSHIP=0
if [ -z "$ROOT" ]; then
  [ "$(id -u)" = 0 ] || die "run as root (sudo), or give --root DIR"
  OWNERSHIP=1
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then SYSTEMD=1; fi
fi

build_value() { # FILE KEY → value of KEY=... in a BUILD file
  sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1
}

# Points symlink $2 at $1 in one rename, so a reader never sees it missing.
relink() {
  ln -sfn "$1" "$2.new.$$"
  if ! mv -f -T "$2.new.$$" "$2" 2>/dev/null; then
    rm -f "$2"
    mv -f "$2.new.$$" "$2"
  fi
}

restart_service() {
  if [ "$SYSTEMD" = 1 ]; then
    systemctl daemon-reload
    systemctl enable weir.service weir-health.timer >/dev/null
    if [ "$START" = 1 ]; then
      systemctl restart weir.service
      systemctl start weir-health.timer
      say "weir restarted: systemctl status weir; journalctl -u weir -f"
    else
      say "not started (--no-start): systemctl start weir"
    fi
  elif [ -z "$ROOT" ]; then
    say "systemd not found: start it with $OPT/current/bin/weir run --config $ETC/gateway.yaml"
  fi
}

# ---- rollback ---------------------------------------------------------------
if [ "$ROLLBACK" = 1 ]; then
  prev=$(readlink "$OPT/previous" 2>/dev/null) || die "no previous release to roll back to ($OPT/previous is missing)"
  cur=$(readlink "$OPT/current" 2>/dev/null) || die "no current release ($OPT/current is missing)"
  [ -d "$OPT/$prev" ] || die "the previous release $OPT/$prev is gone"
  prev_schema=$(build_value "$OPT/$prev/BUILD" state_schema)
  cur_schema=$(build_value "$OPT/$cur/BUILD" state_schema)
  if [ -n "$prev_schema" ] && [ -n "$cur_schema" ] && [ "$prev_schema" -lt "$cur_schema" ]; then
    msg="$(basename "$prev") knows state schema $prev_schema; $(basename "$cur") writes $cur_schema. Schema migrations are forward-only: if $(basename "$cur") has run, $(basename "$prev") refuses $STATE/weir.db (E_STATE_SCHEMA_NEWER). Move that file aside (weir starts fresh) or restore it from the cloud (weir restore --from-cloud) after rolling back."
    [ "$FORCE" = 1 ] || die "$msg Give --force to roll back anyway."
    say "warning: $msg"
  fi
  relink "$prev" "$OPT/current"
  relink "$cur" "$OPT/previous"
  say "rolled back: current -> $prev (previous -> $cur)"
  restart_service
  exit 0
fi

# ---- install / upgrade ------------------------------------------------------
[ -f "$PKG/VERSION" ] || die "$PKG/VERSION is missing: run install.sh from an unpacked weir release"
VERSION=$(cat "$PKG/VERSION")
case $VERSION in
  ''|*[!A-Za-z0-9._+-]*) die "bad version in $PKG/VERSION: '$VERSION'" ;;
esac

if command -v sha256sum >/dev/null 2>&1; then
  (cd "$PKG" && sha256sum -c --quiet --strict SHA256SUMS) >/dev/null 2>&1 ||
    die "the release files do not match SHA256SUMS (a partial download or copy?): cd $PKG && sha256sum -c SHA256SUMS"
fi

# The SQLite binding is compiled for one Node.js ABI: check the node that will run it.
if [ ! -x "$PKG/node/bin/node" ]; then
  want_abi=$(build_value "$PKG/BUILD" node_abi)
  want_major=$(build_value "$PKG/BUILD" node_major)
  node=${WEIR_NODE:-node}
  command -v "$node" >/dev/null 2>&1 ||
    die "Node.js $want_major is required and '$node' was not found: install it (apt-get install nodejs, from NodeSource for $want_major), or use a release built --with-node"
  have=$("$node" -p 'process.versions.modules + " " + process.version') || die "'$node' does not run"
  have_abi=${have%% *}
  if [ -n "$want_abi" ] && [ "$have_abi" != "$want_abi" ]; then
    die "this release's SQLite binding is built for Node.js $want_major (ABI $want_abi); '$node' is ${have#* } (ABI $have_abi)"
  fi
fi

if [ "$OWNERSHIP" = 1 ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/weir --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  else
    adduser --system --group --home /var/lib/weir --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  say "created system user $SERVICE_USER"
fi

# The release: copied whole into place, then moved there in one rename.
mkdir -p "$OPT/releases"
DEST=$OPT/releases/$VERSION
changed=0
if [ -d "$DEST" ] && [ "$(cd "$DEST" && pwd -P)" = "$(cd "$PKG" && pwd -P)" ]; then
  say "running from the installed release $DEST"
elif [ -d "$DEST" ] && cmp -s "$DEST/SHA256SUMS" "$PKG/SHA256SUMS"; then
  say "release $VERSION is already in $DEST"
else
  tmp=$OPT/releases/.$VERSION.new.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp -R -p "$PKG/." "$tmp/"
  if [ -d "$DEST" ]; then
    # The same version number, different files (a rebuild): replace it.
    mv "$DEST" "$OPT/releases/.$VERSION.old.$$"
    mv "$tmp" "$DEST"
    rm -rf "$OPT/releases/.$VERSION.old.$$"
  else
    mv "$tmp" "$DEST"
  fi
  changed=1
  say "installed release $VERSION in $DEST"
fi

cur=$(readlink "$OPT/current" 2>/dev/null || true)
if [ "$cur" != "releases/$VERSION" ]; then
  if [ -n "$cur" ] && [ -d "$OPT/$cur" ]; then
    relink "$cur" "$OPT/previous"
  fi
  relink "releases/$VERSION" "$OPT/current"
  changed=1
  say "current -> releases/$VERSION${cur:+ (previous -> $cur)}"
fi

# Keep the current and the previous release; remove older ones and leftovers.
prev=$(readlink "$OPT/previous" 2>/dev/null || true)
for d in "$OPT/releases"/* "$OPT/releases"/.*.new.* "$OPT/releases"/.*.old.*; do
  [ -e "$d" ] || continue
  rel=releases/$(basename "$d")
  if [ "$rel" != "releases/$VERSION" ] && [ "$rel" != "$prev" ]; then
    rm -rf "$d"
    say "removed old release $rel"
  fi
done

# Config: written only when absent.
mkdir -p "$ETC"
for f in gateway.yaml pipeline.yaml; do
  if [ ! -e "$ETC/$f" ]; then
    if [ "$f" = gateway.yaml ]; then
      host=$(hostname 2>/dev/null || true)
      case $host in
        ''|*[!A-Za-z0-9_.-]*) cp "$PKG/etc/$f" "$ETC/$f" ;;
        *) sed "s/^  id: gateway-01 /  id: $host /" "$PKG/etc/$f" > "$ETC/$f" ;;
      esac
    else
      cp "$PKG/etc/$f" "$ETC/$f"
    fi
    chmod 0640 "$ETC/$f"
    say "wrote $ETC/$f"
  fi
  cp "$PKG/etc/$f" "$ETC/$f.dist"
  chmod 0644 "$ETC/$f.dist"
done
if [ "$OWNERSHIP" = 1 ]; then
  chown root:"$SERVICE_USER" "$ETC" "$ETC/gateway.yaml" "$ETC/pipeline.yaml"
  chmod 0750 "$ETC"
fi

# State: the directory only; what is in it belongs to the running gateway.
if [ ! -d "$STATE" ]; then
  mkdir -p "$STATE"
  chmod 0750 "$STATE"
fi
if [ "$OWNERSHIP" = 1 ]; then chown "$SERVICE_USER:$SERVICE_USER" "$STATE"; fi

# systemd units (ours: replaced on every install; local changes go in drop-ins).
mkdir -p "$UNITS"
for u in weir.service weir-health.service weir-health.timer; do
  if ! cmp -s "$PKG/systemd/$u" "$UNITS/$u"; then
    cp "$PKG/systemd/$u" "$UNITS/$u"
    chmod 0644 "$UNITS/$u"
    changed=1
  fi
done

mkdir -p "$BINDIR"
for b in weir weir-sim; do
  [ "$(readlink "$BINDIR/$b" 2>/dev/null || true)" = "../../../opt/weir/current/bin/$b" ] || relink "../../../opt/weir/current/bin/$b" "$BINDIR/$b"
done

if [ "$changed" = 0 ]; then
  say "weir $VERSION is already installed and current; nothing changed"
  if [ "$SYSTEMD" = 1 ] && [ "$START" = 1 ]; then
    systemctl enable --now weir.service weir-health.timer >/dev/null
  fi
  exit 0
fi
restart_service
say "done: weir $VERSION (config $ETC/gateway.yaml, state $STATE)"
