#!/usr/bin/env bash
# Smoke test of the desktop app: start the real `charla` binary under Xvfb with software
# OpenGL (Mesa llvmpipe), take a screenshot after it has had time to draw, and fail if the
# window is blank (too few distinct colours). The screenshot is kept at
# target/app-screenshot.png for people to look at. Bounded in time: ~2 minutes plus the build.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
target_dir="${CARGO_TARGET_DIR:-target}"
shot="$target_dir/app-screenshot.png"
log="$target_dir/app-smoke.log"

echo "== app smoke: system packages"
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
[ -x /usr/bin/import ] || need+=(imagemagick)
# What winit/glutin load at run time on X11, and Mesa's software GL.
for pkg in libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 x11-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages (${need[*]}) and not root: cannot install" >&2
        exit 1
    fi
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== app smoke: build"
cargo build -p charla-app --bin charla
bin="$target_dir/debug/charla"

# A free display number: the first whose lock file, if any, names no running process (an X
# server killed without its cleanup leaves its lock; Xvfb takes such a display over).
display=""
for n in $(seq 99 140); do
    lock="/tmp/.X${n}-lock"
    if [ -e "$lock" ] && [ -d "/proc/$(tr -dc '0-9' <"$lock")" ]; then
        continue
    fi
    if [ -e "$lock" ] || [ ! -e "/tmp/.X11-unix/X${n}" ]; then
        display=":$n"
        break
    fi
done
[ -n "$display" ] || { echo "no free X display" >&2; exit 1; }

xvfb_pid=""
app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    [ -n "$app_pid" ] && wait "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && wait "$xvfb_pid" 2>/dev/null || true
    [ -n "${cfg_home:-}" ] && rm -rf "$cfg_home"
}
trap cleanup EXIT

echo "== app smoke: Xvfb on $display"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
for _ in $(seq 1 50); do
    [ -e "/tmp/.X11-unix/X${display#:}" ] && break
    sleep 0.1
done
[ -e "/tmp/.X11-unix/X${display#:}" ] || { echo "Xvfb did not start" >&2; exit 1; }

# A fresh config directory, so the screenshot shows the first-run connect screen.
cfg_home="$(mktemp -d)"
echo "== app smoke: start charla"
env -u WAYLAND_DISPLAY DISPLAY="$display" XDG_CONFIG_HOME="$cfg_home" LIBGL_ALWAYS_SOFTWARE=1 \
    RUST_LOG=info "$bin" >"$log" 2>&1 &
app_pid=$!

# Poll: a screenshot every 2 s until the window shows enough colours, for at most 40 s.
colours=0
for _ in $(seq 1 20); do
    sleep 2
    if ! kill -0 "$app_pid" 2>/dev/null; then
        echo "charla exited early; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    /usr/bin/import -display "$display" -window root "$shot" 2>/dev/null || continue
    colours="$(/usr/bin/identify -format '%k' "$shot" 2>/dev/null || echo 0)"
    [ "$colours" -gt 16 ] && break
done

echo "== app smoke: $colours distinct colours in $shot"
if [ "$colours" -le 16 ]; then
    echo "the window looks blank; charla's log:" >&2
    cat "$log" >&2
    exit 1
fi
echo "app smoke: ok"

# The README's screenshots (tests/screenshots.rs) are made the same way: check that they still
# can be, into the target directory (the committed ones are made with
# CHARLA_SCREENSHOTS=docs/screenshots).
echo "== app smoke: the README's screenshots"
CHARLA_SCREENSHOTS="$target_dir/screenshots" timeout 300 \
    cargo test -p charla-app --test screenshots -- --nocapture
ls -l "$target_dir/screenshots"
