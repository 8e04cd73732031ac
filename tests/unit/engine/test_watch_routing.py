"""Routing changed paths to the units that watch them, and the ignore rules."""

from __future__ import annotations

from pathlib import Path

from devenv.engine.watcher import WatchSpec, ignored_by_default, route, watch_roots


def test_default_ignores() -> None:
    for path in (
        ".git/index",
        "pkg/__pycache__/m.cpython-311.pyc",
        "m.pyc",
        "node_modules/x/index.js",
        ".venv/lib/x.py",
        ".app.py.swp",
        "app.py~",
        ".#app.py",
        "4913",
        ".devenv/logs/api.log",
    ):
        assert ignored_by_default(path), path
    for path in ("app.py", "src/main.go", "templates/index.html", "gitignore.txt"):
        assert not ignored_by_default(path), path


def test_routes_only_to_watchers_of_the_path() -> None:
    specs = [
        WatchSpec("api", (Path("/p/api"), Path("/p/shared"))),
        WatchSpec("web", (Path("/p/web"),), ignore=("*.css", "dist/")),
        WatchSpec("api-2", (Path("/p/api"),)),
    ]
    routed = route(
        specs,
        [
            "/p/api/main.py",
            "/p/shared/util.py",
            "/p/web/app.js",
            "/p/web/style.css",
            "/p/web/dist/bundle.js",
            "/p/apiother/x.py",
            "/p/api/.git/HEAD",
        ],
    )
    assert routed == {
        "api": {"/p/api/main.py", "/p/shared/util.py"},
        "api-2": {"/p/api/main.py"},
        "web": {"/p/web/app.js"},
    }


def test_a_project_under_an_ignored_name_still_works() -> None:
    specs = [WatchSpec("api", (Path("/home/u/node_modules/proj/src"),))]
    assert route(specs, ["/home/u/node_modules/proj/src/a.js"]) == {
        "api": {"/home/u/node_modules/proj/src/a.js"}
    }


def test_watch_roots_drop_nested_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    roots = watch_roots([tmp_path / "a" / "b", tmp_path / "a", tmp_path / "c", tmp_path / "nope"])
    assert roots == [tmp_path / "a", tmp_path / "c"]


def test_a_watched_file_is_watched_through_its_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.toml").write_text("")
    assert watch_roots([tmp_path / "conf" / "app.toml"]) == [tmp_path / "conf"]
    specs = [WatchSpec("api", (tmp_path / "conf" / "app.toml",))]
    changed = [str(tmp_path / "conf" / "app.toml"), str(tmp_path / "conf" / "other.toml")]
    assert route(specs, changed) == {"api": {str(tmp_path / "conf" / "app.toml")}}
