//! The map in `lib.rs`, checked: a test reads every file under `src/` and
//! fails on a `crate::` path that points up a layer, so a shortcut through
//! the layers is caught when it is written rather than found later.
//!
//! From the bottom:
//! 0. primitives — `db`, `crypto`, `ranges`, `telemetry`, `memory`, and
//!    the text and date parsing in `input` (`input::text`, `input::dates`);
//! 1. `domain` — the rules, one transaction each; names nothing of the web
//!    (no actix, no askama, no pages);
//! 2. `worker` — runs deployments through the domain;
//! 3. the web — `auth` (sessions, CSRF, the current user), `views`,
//!    `error`, `middleware`, `urls`, `input`'s extractors and limits, and
//!    `routes`, which nothing else in the web layer reaches into; none of
//!    it names a table (`db::schema`): it asks the domain;
//! 4. the application — `startup`, `config`, `cli`, `client` (the API's
//!    command-line client, which speaks HTTP only), `main`, `lib`, and the
//!    property tests (`properties`) and the fuzz targets' door (`fuzzing`);
//!    only `main` and `lib` reach `cli`.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The layer of a file, by its path under `src/`.
    fn layer_of_file(path: &str) -> u8 {
        let module = path.trim_end_matches(".rs");
        match module.split('/').collect::<Vec<_>>().as_slice() {
            ["input", "text" | "dates"] => 0,
            ["input", ..] => 3,
            [top, ..] => layer_of_module(top, None),
            [] => unreachable!("a file has a path"),
        }
    }

    /// The layer of what `crate::top::next` names.
    #[allow(
        clippy::match_same_arms,
        reason = "one arm per reason a module is where it is"
    )]
    fn layer_of_module(top: &str, next: Option<&str>) -> u8 {
        match (top, next) {
            ("db" | "crypto" | "ranges" | "telemetry" | "memory" | "layers", _) => 0,
            // Macros exported at the crate root, defined in `db`.
            ("text_constants" | "text_enum", _) => 0,
            ("input", Some("text" | "dates")) => 0,
            ("domain", _) => 1,
            ("worker", _) => 2,
            ("auth" | "views" | "error" | "middleware" | "urls" | "routes" | "input", _) => 3,
            ("startup" | "config" | "cli" | "client" | "main" | "lib" | "fuzzing", _) => 4,
            // Property tests of every layer's parsers, the client's too.
            ("properties", _) => 4,
            (other, _) => panic!("crate::{other} has no layer: add it to src/layers.rs"),
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("reading src/") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Each `crate::a::b` in code (comments left out): (line, a, b).
    fn crate_paths(source: &str) -> Vec<(usize, String, Option<String>)> {
        let mut found = Vec::new();
        for (n, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let before = code[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                    continue; // `stagecoach_crate::`, `$crate::`
                }
                let rest = &code[at + "crate::".len()..];
                let mut parts = rest.split("::").map(|part| {
                    part.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                });
                let top = parts.next().unwrap_or_default();
                let next = parts.next().filter(|p| !p.is_empty());
                if !top.is_empty() {
                    found.push((n + 1, top, next));
                }
            }
        }
        found
    }

    /// Words the domain must not use in code: it knows nothing of the web.
    const NOT_IN_DOMAIN: [&str; 4] = ["actix", "askama", "HttpRequest", "css"];

    #[test]
    fn every_crate_path_points_down_or_across() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for file in &files {
            let relative = file
                .strip_prefix(&src)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            if relative == "layers.rs" {
                continue; // its own examples are strings
            }
            let source = std::fs::read_to_string(file).expect("reading a source file");
            let from = layer_of_file(&relative);
            let top_of_file = relative.split('/').next().unwrap_or_default();
            for (line, top, next) in crate_paths(&source) {
                let to = layer_of_module(&top, next.as_deref());
                let target = match &next {
                    Some(next) => format!("crate::{top}::{next}"),
                    None => format!("crate::{top}"),
                };
                if to > from {
                    wrong.push(format!(
                        "{relative}:{line}: layer {from} uses {target} (layer {to})"
                    ));
                }
                let outside_routes = top_of_file != "routes" && from < 4;
                if top == "routes" && outside_routes {
                    wrong.push(format!(
                        "{relative}:{line}: only routes and the application reach {target}"
                    ));
                }
                if from == 3 && top == "db" && next.as_deref() == Some("schema") {
                    wrong.push(format!(
                        "{relative}:{line}: the web layer reads tables through the domain, not {target}"
                    ));
                }
                if top == "cli" && !matches!(relative.as_str(), "main.rs" | "lib.rs" | "cli.rs") {
                    wrong.push(format!("{relative}:{line}: only main reaches {target}"));
                }
            }
            if from == 1 {
                for (n, line) in source.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    for word in NOT_IN_DOMAIN {
                        if code.contains(word) {
                            wrong.push(format!("{relative}:{}: the domain names `{word}`", n + 1));
                        }
                    }
                }
            }
        }
        assert!(
            files.len() > 50,
            "read only {} files: is src/ where it was?",
            files.len()
        );
        assert!(
            wrong.is_empty(),
            "imports against the layers:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn the_check_sees_a_path_that_points_up() {
        let paths = crate_paths(
            "use crate::routes::login; // crate::cli in a comment\nlet x = $crate::db::y; crate::input::text::f();",
        );
        let names: Vec<(String, Option<String>)> = paths
            .into_iter()
            .map(|(_, top, next)| (top, next))
            .collect();
        assert_eq!(
            names,
            [
                ("routes".to_owned(), Some("login".to_owned())),
                ("input".to_owned(), Some("text".to_owned())),
            ]
        );
        assert_eq!(layer_of_file("domain/users.rs"), 1);
        assert_eq!(layer_of_file("input/dates.rs"), 0);
        assert_eq!(layer_of_file("input/extract.rs"), 3);
    }
}
